"""Artifacts are what was evaluated: StartDeployment refuses a model.tar.gz whose SHA-256 is not the registered
one, records the reason on the version, changes nothing on the endpoint, and the champion keeps serving."""

from __future__ import annotations

from typing import Any

import pytest

from challenger_core.errors import ArtifactIntegrityError
from challenger_core.models import Champion, ModelStatus, ModelVersion, NotificationKind
from challenger_core.registry import Registry
from tests.support.emails import email_of, sent
from tests.support.events import load_event
from tests.support.lambda_context import context
from tests.support.stack import Stack

ARCHIVE = b"the evaluated model.tar.gz"


def register(stack: Stack, version: int, status: ModelStatus, body: bytes = ARCHIVE, **fields: Any) -> str:
    """Upload an archive and register the version with the archive's digest (what RegisterCandidate records)."""
    model = stack.trained_version(version, status, body, **fields)
    Registry(stack.ddb, stack.env["MODELS_TABLE"]).put_model(model)
    return model.model_data_url.removeprefix(f"s3://{stack.env['ARTIFACT_BUCKET']}/")


def registry_model(stack: Stack, version: int) -> ModelVersion:
    return Registry(stack.ddb, stack.env["MODELS_TABLE"]).get_model(version)


def deploy(stack: Stack, version: int, reason: str = "training") -> dict[str, Any]:
    event = load_event("start_deployment", "new_version")
    event["request"].update(version=version, reason=reason)
    result: dict[str, Any] = stack.handler("start_deployment").lambda_handler(event, context("StartDeployment"))
    return result


def test_an_untouched_archive_deploys(stack: Stack) -> None:
    register(stack, 1, ModelStatus.APPROVED)
    state = deploy(stack, 1)
    model = registry_model(stack, 1)
    pinned = f"models/sha256/{model.artifact_sha256}/model.tar.gz"
    # SageMaker loads the verified copy at its content-addressed key, never the training job's mutable one.
    assert stack.sagemaker.models[state["plan"]["model_name"]] == f"s3://{stack.env['ARTIFACT_BUCKET']}/{pinned}"
    assert stack.s3.get_object(Bucket=stack.env["ARTIFACT_BUCKET"], Key=pinned)["Body"].read() == ARCHIVE


@pytest.mark.parametrize("reason", ["training", "rollback"])
def test_a_replaced_archive_is_refused_and_the_champion_keeps_serving(stack: Stack, reason: str) -> None:
    registry = Registry(stack.ddb, stack.env["MODELS_TABLE"])
    register(stack, 1, ModelStatus.LIVE, was_live=True)
    registry.set_champion(
        Champion(version=1, model_name="challenger-v1", endpoint_config_name="challenger-v1-config"),
        expected_version=None,
    )
    stack.sagemaker.endpoints["challenger"] = {"status": "InService", "config": "challenger-v1-config"}
    status = ModelStatus.APPROVED if reason == "training" else ModelStatus.RETIRED
    key = register(stack, 2, status, was_live=reason == "rollback")
    stack.s3.put_object(Bucket=stack.env["ARTIFACT_BUCKET"], Key=key, Body=b"a model that runs someone's code")
    models_before = dict(stack.sagemaker.models)

    with pytest.raises(ArtifactIntegrityError, match=r"refusing to deploy v2: its archive .* has SHA-256"):
        deploy(stack, 2, reason)

    model = registry.get_model(2)
    assert model.status is status  # unchanged: restoring the evaluated archive makes it deployable again
    assert "replaced after evaluation" in (model.failure_reason or "")
    assert stack.sagemaker.models == models_before  # no SageMaker model was created from it
    assert stack.sagemaker.endpoints["challenger"]["config"] == "challenger-v1-config"
    assert registry.get_champion().version == 1  # type: ignore[union-attr]


def test_the_failure_email_says_why(stack: Stack) -> None:
    import json

    message = "refusing to deploy v2: its archive s3://b/k has SHA-256 ab, not the cd registered"
    event = {  # what the deployment pipeline's NotifyNotDeployed sends after StartDeployment raised
        "kind": "failed",
        "deployment": {
            "request": {"version": 2, "reason": "rollback"},
            "error": {
                "Error": "ArtifactIntegrityError",
                "Cause": json.dumps({"errorMessage": message, "errorType": "ArtifactIntegrityError"}),
            },
        },
    }
    stack.handler("notify").lambda_handler(event, context("Notify"))
    assert message in email_of(sent(stack), NotificationKind.FAILED).body
