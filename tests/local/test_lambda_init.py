"""Lambda init does only what every invocation needs (issue 12): boto3 is not imported, no AWS client is built and
the X-Ray SDK is not imported while a handler module loads with tracing off; the API loads Powertools' parameters
utility only on the approval-link path, its OpenAPI document models only for /openapi.json and /swagger, and none
of the core a route needs only when it is called (issue 20: API init ≤ 1.2× `import boto3`). Each handler is
imported in a fresh interpreter with the template's environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from challenger.local.template import FunctionSpec, LocalTemplate

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = LocalTemplate().functions()

# What the API's init does not import, and who does (docs/performance.md, "Lambda init").
API_NOT_AT_INIT = {
    "botocore.exceptions": "the first AWS call (challenger_core.adapters.translate_errors), as boto3 itself does",
    "challenger_core.triggering": "POST /runs (operations.retrain)",
    "challenger_core.policy": "GET /health (operations.promotion_policy)",
    "challenger_core.notifications": "the email side of approvals (RequestApproval), never the API",
    "challenger_core.adapters.notifier": "RequestApproval, never the API",
    "challenger_core.deployment": "POST /predict (serving.predict: the variant's version)",
    "challenger_core.validation": "POST /predict (serving.predict: an unreadable answer's message)",
    "tarfile": "Storage.read_tar_member (the drift check), never the API",
    "html": "the approval link pages (routers/pages.py)",
}

PROBE = """
import json, sys
sys.path[:0] = {paths!r}
import {module}
boto3_at_init = "boto3" in sys.modules
lazy_at_init = [name for name in {lazy!r} if name in sys.modules]
import boto3
print(json.dumps({{
    "boto3": boto3_at_init,
    "lazy": lazy_at_init,
    "xray": "aws_xray_sdk.core" in sys.modules,
    "openapi_models": "aws_lambda_powertools.event_handler.openapi.models" in sys.modules,
    "clients_built": boto3.DEFAULT_SESSION is not None,
    "parameters": "aws_lambda_powertools.utilities.parameters" in sys.modules,
}}))
"""


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.code_dir.name)
def test_a_handler_builds_no_client_and_no_tracer_at_init(function: FunctionSpec) -> None:
    environment = {
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **function.environment,
    }
    code = PROBE.format(
        paths=[str(function.code_dir), str(ROOT / "layers" / "core")], module="app", lazy=sorted(API_NOT_AT_INIT)
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    loaded = json.loads(completed.stdout.strip().splitlines()[-1])
    assert loaded["boto3"] is False  # the first call that needs AWS imports it (challenger_core.clients)
    assert loaded["xray"] is False
    assert loaded["clients_built"] is False
    if function.code_dir.name == "api":
        assert loaded["parameters"] is False
        assert loaded["openapi_models"] is False
        assert {name: API_NOT_AT_INIT[name] for name in loaded["lazy"]} == {}
