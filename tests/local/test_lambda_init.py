"""Lambda init does only what every invocation needs (issue 12): boto3 is not imported, no AWS client is built and
the X-Ray SDK is not imported while a handler module loads with tracing off; the API loads Powertools' parameters
utility only on the approval-link path and its OpenAPI document models only for /openapi.json and /swagger. Each
handler is imported in a fresh interpreter with the template's environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from challenger.local.template import FunctionSpec, LocalTemplate

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = LocalTemplate().functions()

PROBE = """
import json, sys
sys.path[:0] = {paths!r}
import {module}
boto3_at_init = "boto3" in sys.modules
import boto3
print(json.dumps({{
    "boto3": boto3_at_init,
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
    code = PROBE.format(paths=[str(function.code_dir), str(ROOT / "layers" / "core")], module="app")
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
