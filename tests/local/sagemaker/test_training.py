"""Local SageMaker training jobs: the recipe's train.py under the sagemaker-training toolkit, through boto3."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from challenger.local.sagemaker import LocalSageMaker
from tests.local.sagemaker.helpers import (
    BUCKET,
    clients_for,
    read_tar_gz,
    training_request,
    wait_for_job,
    wait_until,
)
from tests.support.fake_sagemaker import tar_gz

pytestmark = pytest.mark.enable_socket


@pytest.fixture
def sm(trainer: LocalSageMaker) -> Any:
    return clients_for(trainer).sm


def test_completed_job_has_sagemaker_shaped_artifacts(trained: dict[str, dict[str, Any]], s3: Any) -> None:
    job = trained["a"]
    assert job["SecondaryStatus"] == "Completed"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    model_uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert model_uri == f"s3://{BUCKET}/training/job-a/output/model.tar.gz"
    model = read_tar_gz(s3.get_object(Bucket=BUCKET, Key="training/job-a/output/model.tar.gz")["Body"].read())
    # Contents at the archive root, like /opt/ml/model; train.py packs its serving code under code/.
    assert {"model.npz", "model.json", "evaluation.json", "code/inference.py", "code/challenger_kit.py"} <= set(model)
    settings = json.loads(model["model.json"])
    # Hyperparameters reached the script as --name value (the toolkit's mapping).
    assert settings["vectorizer"]["ngram_range"] == [1, 1]
    # Trained inside the framework image's environment (sklearn 1.9-0), not the dev venv (3.13, sklearn 1.9.1).
    assert settings["versions"]["sklearn"] == "1.9.0"
    assert settings["versions"]["numpy"] == "2.5.1"
    assert settings["versions"]["python"].startswith("3.12.")
    output = read_tar_gz(s3.get_object(Bucket=BUCKET, Key="training/job-a/output/output.tar.gz")["Body"].read())
    evaluation = json.loads(output["evaluation.json"])
    assert 0.5 < evaluation["metrics"]["f1"] <= 1.0
    assert job["TrainingTimeInSeconds"] >= 1
    assert job["HyperParameters"]["sagemaker_program"] == "train.py"


def test_job_runs_under_the_toolkit(trained: dict[str, dict[str, Any]], trainer: LocalSageMaker) -> None:
    job_dir = trainer.state_dir / "jobs" / "job-b"
    logs = (job_dir / "logs.txt").read_text()
    assert "sagemaker-training-toolkit" in logs
    assert f"SM_CHANNEL_TRAIN={job_dir}/input/data/train" in logs
    assert (job_dir / "input" / "data" / "train" / "train_v2.csv").is_file()
    # FastFile: SageMaker streams the channel but the script reads it as files at the same path (AWS
    # AlgorithmSpecification.TrainingInputMode); locally the files are there, and the toolkit is told the mode.
    channels = json.loads((job_dir / "input" / "config" / "inputdataconfig.json").read_text())
    assert channels["train"]["TrainingInputMode"] == "FastFile"
    assert (job_dir / "code" / "train.py").is_file()
    assert json.loads((job_dir / "input" / "config" / "resourceconfig.json").read_text())["current_host"] == "algo-1"


def test_bad_data_fails_with_the_recipes_message(sm: Any) -> None:
    sm.create_training_job(**training_request("job-bad-labels", "datasets/bad_labels.csv"))
    job = wait_for_job(sm, "job-bad-labels")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["SecondaryStatus"] == "Failed"
    # SageMaker: "AlgorithmError: " + the failure file the script wrote (not the toolkit's generic one).
    assert job["FailureReason"].startswith("AlgorithmError: sentiment training failed: bad_labels.csv line 2:")
    assert "invalid sentiment 'pos'" in job["FailureReason"]
    assert "ModelArtifacts" not in job or not job["ModelArtifacts"].get("S3ModelArtifacts")


def test_missing_data_fails_like_sagemaker(sm: Any) -> None:
    sm.create_training_job(**training_request("job-no-data", "datasets/nothing-here/"))
    job = wait_for_job(sm, "job-no-data")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: No S3 objects found under S3 URL")


def test_stop_and_max_runtime_kill_the_algorithm(sm: Any, s3: Any) -> None:
    sleeper = b"import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n"
    s3.put_object(Bucket=BUCKET, Key="sleeper/sourcedir.tar.gz", Body=tar_gz({"train.py": sleeper}))
    source = {"sagemaker_submit_directory": f"s3://{BUCKET}/sleeper/sourcedir.tar.gz"}
    sm.create_training_job(**training_request("job-stopped", "datasets/train_v1.csv", hyperparameters=source))
    sm.create_training_job(
        **training_request(
            "job-timeout",
            "datasets/train_v1.csv",
            hyperparameters=source,
            StoppingCondition={"MaxRuntimeInSeconds": 2},
        )
    )
    wait_until(
        lambda: sm.describe_training_job(TrainingJobName="job-stopped")["SecondaryStatus"] == "Training", timeout=30
    )
    sm.stop_training_job(TrainingJobName="job-stopped")
    stopped = wait_for_job(sm, "job-stopped")
    assert (stopped["TrainingJobStatus"], stopped["SecondaryStatus"]) == ("Stopped", "Stopped")
    timed_out = wait_for_job(sm, "job-timeout")
    assert (timed_out["TrainingJobStatus"], timed_out["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    with pytest.raises(ClientError) as excinfo:
        sm.stop_training_job(TrainingJobName="job-stopped")
    assert "in status Stopped" in excinfo.value.response["Error"]["Message"]


def test_injected_training_fault_over_http(sm: Any, trainer: LocalSageMaker) -> None:
    response = requests.post(
        f"{trainer.url}/_local/faults", json={"kind": "training_fails", "message": "disk on fire"}, timeout=5
    )
    assert response.status_code == 200
    sm.create_training_job(**training_request("job-faulted", "datasets/train_v1.csv"))
    job = wait_for_job(sm, "job-faulted")
    assert (job["TrainingJobStatus"], job["FailureReason"]) == ("Failed", "AlgorithmError: disk on fire")
    # One-shot: the fault is consumed.
    assert requests.post(f"{trainer.url}/_local/faults", json={"kind": "nope"}, timeout=5).status_code == 400


def test_training_api_errors(sm: Any, trained: dict[str, dict[str, Any]]) -> None:
    with pytest.raises(ClientError) as duplicate:
        sm.create_training_job(**training_request("job-a", "datasets/train_v1.csv"))
    assert duplicate.value.response["Error"]["Code"] == "ResourceInUse"
    with pytest.raises(ClientError) as missing:
        sm.describe_training_job(TrainingJobName="no-such-job")
    assert missing.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Requested resource not found.",
    }
    with pytest.raises(ClientError) as bad_name:
        sm.create_training_job(**training_request("bad_name", "datasets/train_v1.csv"))
    assert bad_name.value.response["Error"]["Code"] == "ValidationException"
    spot = training_request("job-spot", "datasets/train_v1.csv", EnableManagedSpotTraining=True)
    with pytest.raises(ClientError, match="MaxWaitTimeInSeconds"):
        sm.create_training_job(**spot)


def test_the_archive_sagemaker_tars_is_what_the_job_hashed(trained: dict[str, dict[str, Any]], s3: Any) -> None:
    """Issue 18, F1: the kit's model_manifest.json (in output.tar.gz) names exactly the members of the model.tar.gz
    SageMaker (here the local one) tars from /opt/ml/model after the job, so RegisterCandidate can check it."""
    from challenger_core import artifacts
    from challenger_core.adapters.storage import Storage

    base = f"s3://{BUCKET}/training/job-a/output"
    digest, version_id = artifacts.register_artifact(f"{base}/model.tar.gz", f"{base}/output.tar.gz", Storage(s3))

    stored = s3.get_object(Bucket=BUCKET, Key="training/job-a/output/model.tar.gz")
    assert (digest, version_id) == (hashlib.sha256(stored["Body"].read()).hexdigest(), stored.get("VersionId"))
