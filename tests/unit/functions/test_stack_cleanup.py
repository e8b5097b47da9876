"""`sam delete` leaves no SageMaker resources: Custom::SageMakerCleanup removes this stack's endpoint, configs and
models (by the stack uid in their names) and nothing of another stack's, against moto's SageMaker."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from challenger_core.adapters.sagemaker import SageMaker
from tests.support.events import load_event
from tests.support.lambda_context import context
from tests.support.stack import Stack

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/challenger-sagemaker"


def create(sm: Any, base: str, endpoint: str | None = None) -> None:
    sm.create_model(ModelName=base, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    sm.create_endpoint_config(
        EndpointConfigName=f"{base}-config",
        ProductionVariants=[
            {"VariantName": "v1", "ModelName": base, "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}
        ],
    )
    if endpoint:
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{base}-config")


@pytest.fixture
def responses(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the function PUTs to CloudFormation's response URL."""
    sent: list[dict[str, Any]] = []

    class Answer:
        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *_: object) -> None:
            pass

        def read(self) -> bytes:
            return b""

    def urlopen(request: Any, timeout: float) -> Answer:
        sent.append(json.loads(request.data))
        return Answer()

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    return sent


def test_delete_removes_this_stacks_endpoint_configs_and_models_only(
    stack: Stack, responses: list[dict[str, Any]]
) -> None:
    sm = boto3.client("sagemaker")
    create(sm, "challenger-5f2b9c1e-v1-aaaaaa", endpoint="challenger")
    create(sm, "challenger-5f2b9c1e-v2-bbbbbb")
    create(sm, "challenger-0a1b2c3d-v1-cccccc")  # the same stack name, deployed before: another uid
    module = stack.handler("cleanup_sagemaker")
    module.sagemaker = SageMaker(sm)

    module.lambda_handler(load_event("cleanup_sagemaker", "delete"), context("CleanupSageMakerFunction"))

    assert [r["Status"] for r in responses] == ["SUCCESS"]
    assert sm.list_endpoints()["Endpoints"] == []
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["challenger-0a1b2c3d-v1-cccccc"]
    configs = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    assert configs == ["challenger-0a1b2c3d-v1-cccccc-config"]
    # Again (CloudFormation may retry a Delete): nothing left, still a success.
    module.lambda_handler(load_event("cleanup_sagemaker", "delete"), context("CleanupSageMakerFunction"))
    assert [r["Status"] for r in responses] == ["SUCCESS", "SUCCESS"]


def test_create_and_update_touch_nothing(stack: Stack, responses: list[dict[str, Any]]) -> None:
    sm = boto3.client("sagemaker")
    create(sm, "challenger-5f2b9c1e-v1-aaaaaa", endpoint="challenger")
    module = stack.handler("cleanup_sagemaker")
    module.sagemaker = SageMaker(sm)
    event = {**load_event("cleanup_sagemaker", "delete"), "RequestType": "Create"}
    module.lambda_handler(event, context("CleanupSageMakerFunction"))
    assert [r["Status"] for r in responses] == ["SUCCESS"]
    assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == ["challenger"]


def test_delete_removes_the_shadow_stages_endpoint_and_its_model_too(
    stack: Stack, responses: list[dict[str, Any]]
) -> None:
    # A shadow stage whose run was cut short (issue 23): its endpoint, config and model outlive the run.
    sm = boto3.client("sagemaker")
    create(sm, "challenger-5f2b9c1e-v1-aaaaaa", endpoint="challenger")
    create(sm, "challenger-5f2b9c1e-v2-bbbbbb-shadow", endpoint="challenger-5f2b9c1e-shadow")
    create(sm, "challenger-0a1b2c3d-v2-dddddd-shadow", endpoint="challenger-0a1b2c3d-shadow")  # another stack's
    module = stack.handler("cleanup_sagemaker")
    module.sagemaker = SageMaker(sm)

    module.lambda_handler(load_event("cleanup_sagemaker", "delete"), context("CleanupSageMakerFunction"))

    assert [r["Status"] for r in responses] == ["SUCCESS"]
    assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == ["challenger-0a1b2c3d-shadow"]
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["challenger-0a1b2c3d-v2-dddddd-shadow"]
