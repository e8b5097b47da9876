"""Helpers shared by the API function's tests: call the handler, register models, wait on an approval."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from challenger_core import approvals
from challenger_core.adapters.workflow import Workflow
from challenger_core.models import Approval, Champion, ModelStatus, ModelVersion, utcnow
from challenger_core.registry import Registry
from tests.support.lambda_context import context
from tests.support.stack import Stack

KEY = b"k" * 64  # the secret the stack fixture stores
OPERATOR_ARN = "arn:aws:iam::123456789012:user/ops-alice"  # the caller in events/api/operator_*.json


def call(stack: Stack, event: dict[str, Any]) -> tuple[int, Any]:
    response = stack.handler("api").lambda_handler(event, context("ApiFunction"))
    body = response["body"]
    headers = {name: values[0] for name, values in response["multiValueHeaders"].items()}
    is_json = headers.get("Content-Type", "").startswith("application/json")
    return response["statusCode"], json.loads(body) if is_json else body


def registry_of(stack: Stack) -> Registry:
    return Registry(stack.ddb, stack.env["MODELS_TABLE"])


def put_model(stack: Stack, version: int, status: ModelStatus, **fields: Any) -> Registry:
    """Register a model version with placeholder provenance; returns the registry for further writes."""
    registry = registry_of(stack)
    registry.put_model(
        ModelVersion(
            version=version,
            status=status,
            run_id=f"r{version}",
            dataset="reviews",
            data_fingerprint="f",
            training_job_name=f"j{version}",
            **fields,
        )
    )
    return registry


def live_model(stack: Stack, version: int = 3) -> None:
    # Its archive as StartDeployment pinned it when it went live (models/sha256/<digest>/, issue 18).
    archive = f"the v{version} model.tar.gz".encode()
    digest = hashlib.sha256(archive).hexdigest()
    pinned = f"models/sha256/{digest}/model.tar.gz"
    stack.s3.put_object(Bucket=stack.env["ARTIFACT_BUCKET"], Key=pinned, Body=archive)
    registry = put_model(
        stack, version, ModelStatus.LIVE, model_data_url="s3://a/m.tar.gz", artifact_sha256=digest, was_live=True
    )
    registry.set_champion(
        Champion(
            version=version, model_name=f"challenger-v{version}", endpoint_config_name=f"challenger-v{version}-config"
        ),
        expected_version=None,
    )
    stack.sagemaker.models[f"challenger-v{version}"] = f"s3://{stack.env['ARTIFACT_BUCKET']}/{pinned}"
    stack.sagemaker.configs[f"challenger-v{version}-config"] = f"challenger-v{version}"
    stack.sagemaker.endpoints["challenger"] = {"status": "InService", "config": f"challenger-v{version}-config"}


def waiting_approval(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, version: int = 4
) -> tuple[Approval, list[tuple[str, dict[str, Any]]]]:
    """A STAGED challenger waiting on a pending approval; the list collects the pipeline resumptions."""
    registry = put_model(stack, version, ModelStatus.STAGED, model_data_url=f"s3://a/{version}.tar.gz")
    approval = Approval(
        approval_id="0123456789abcdef0123456789abcdef",
        run_id=f"r{version}",
        version=version,
        task_token="tok",
        expires_at=utcnow() + timedelta(hours=1),
    )
    registry.put_approval(approval)
    resumed: list[tuple[str, dict[str, Any]]] = []
    workflow_with(stack, succeed_task=lambda token, output: resumed.append((token, output)))
    return approval, resumed


def override(stack: Stack, dependency: str, value: Any) -> None:
    """Hand the API's routes `value` for one of its dependencies (routers/deps.py) through dependency_overrides."""
    module = stack.handler("api")
    module.app.dependency_overrides[getattr(module.deps, dependency)] = lambda: value


def workflow_with(stack: Stack, **methods: Any) -> Workflow:
    """The API's Step Functions adapter with the given methods replaced (added to any replaced before)."""
    module = stack.handler("api")
    current = module.app.dependency_overrides.get(module.deps.workflow)
    workflow: Workflow = current() if current else Workflow(stack.sfn)
    for name, method in methods.items():
        setattr(workflow, name, method)
    override(stack, "workflow", workflow)
    return workflow


def settings_with(stack: Stack, **values: Any) -> None:
    """The API's settings with the given values changed."""
    override(stack, "settings", stack.handler("api").deps.settings().model_copy(update=values))


def signed_fields(approval: Approval, decision: str) -> dict[str, str]:
    links = approvals.make_links(KEY, "https://x/v1", approval.approval_id, approval.expires_at)
    url = links.approve_url if decision == "approve" else links.reject_url
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def through_key_door(event: dict[str, Any]) -> dict[str, Any]:
    """The same request sent to the plain route with the API key (no operator identity)."""
    event["path"] = event["path"].removeprefix("/operator").removeprefix("/console")
    event["resource"] = event["resource"].removeprefix("/operator").removeprefix("/console")
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers.pop("Authorization", None)
        headers["x-api-key"] = "local-dev-key" if headers is event["headers"] else ["local-dev-key"]
    context_ = event["requestContext"]
    context_.pop("authorizer", None)
    context_["identity"] = {"sourceIp": "198.51.100.9", "apiKey": "local-dev-key", "userAgent": "curl/8.5.0"}
    return event
