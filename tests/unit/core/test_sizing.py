"""Sizing a training job to its data (issue 24): FastFile for large data, the volume, the instance's memory."""

from __future__ import annotations

from typing import Any

import pytest

from challenger_core import sizing
from challenger_core.adapters.sagemaker import SageMaker, TrainingSpec
from challenger_core.models import Run, RunStatus, TriggerSource
from challenger_core.registry import Registry
from tests.support.events import load_event
from tests.support.lambda_context import context
from tests.support.stack import Stack

GB = 10**9


class RecordingClient:
    """A SageMaker client that keeps the CreateTrainingJob request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def create_training_job(self, **request: Any) -> None:
        self.requests.append(request)


def spec(**changes: Any) -> TrainingSpec:
    fields: dict[str, Any] = {
        "job_name": "job",
        "image_uri": "image",
        "role_arn": "arn:aws:iam::123456789012:role/sm",
        "instance_type": "ml.m5.large",
        "source_uri": "s3://artifacts/recipes/x/sourcedir.tar.gz",
        "train_uri": "s3://data/incoming/flights/train/",
        "test_uri": None,
        "output_uri": "s3://artifacts/training/",
        "hyperparameters": {},
        "max_seconds": 3600,
        "use_spot": False,
        "tags": {},
        "trusted_uri": "s3://artifacts/trusted/flights/v1/trusted.csv",
    }
    return TrainingSpec(**{**fields, **changes})


def test_large_data_streams_with_fastfile_and_small_data_is_copied() -> None:
    assert sizing.train_input_mode(100 * 10**6) == "File"
    assert sizing.train_input_mode(sizing.FAST_FILE_BYTES - 1) == "File"
    assert sizing.train_input_mode(sizing.FAST_FILE_BYTES) == "FastFile"
    assert sizing.volume_gb(100 * 10**6) == 10
    assert sizing.volume_gb(10 * GB) == 20  # FastFile: no copy of the channel; the kit's spill (1.6x) + 5
    assert sizing.volume_gb(900 * 10**6) == 10  # File: the copy and the spill, 2.3 GiB: the 10 GB floor
    assert sizing.volume_gb(sizing.FAST_FILE_BYTES - 1) == 10


def test_only_the_train_channel_streams_and_the_volume_follows_the_data() -> None:
    client = RecordingClient()
    SageMaker(client).start_training(spec(train_input_mode="FastFile", volume_gb=15))  # type: ignore[arg-type]
    request = client.requests[0]
    modes = {c["ChannelName"]: c.get("InputMode") for c in request["InputDataConfig"]}
    assert modes == {"train": "FastFile", "trusted": None}  # None: the job's TrainingInputMode, File
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert request["ResourceConfig"]["VolumeSizeInGB"] == 15

    SageMaker(client).start_training(spec())  # type: ignore[arg-type]
    assert all("InputMode" not in c for c in client.requests[1]["InputDataConfig"])  # unchanged for small data
    assert client.requests[1]["ResourceConfig"]["VolumeSizeInGB"] == 10


@pytest.mark.parametrize(
    ("instance", "data", "batches", "fits", "suggestion"),
    [
        ("ml.m5.large", 100 * 10**6, False, True, None),  # 1.9 GB of rows in 8 GiB
        ("ml.m5.large", 1 * GB, False, False, "ml.m5.2xlarge"),  # ~15 GB as rows: 32 GiB, same family first
        ("ml.m5.large", 1 * GB, True, True, None),  # with fit_batches: a chunk, not the data
        ("ml.c5.xlarge", 3 * GB, False, False, "ml.c5.9xlarge"),
        ("ml.m5.large", 40 * GB, False, False, "ml.r5.24xlarge"),  # past the m5 family: the smallest that holds it
    ],
)
def test_the_advice_says_whether_the_instance_holds_the_job_and_which_one_does(
    instance: str, data: int, batches: bool, fits: bool, suggestion: str | None
) -> None:
    advice = sizing.advise(instance, data, batches=batches)
    assert (advice.fits, advice.suggestion) == (fits, suggestion)
    if not fits:
        assert advice.message.startswith(f"{instance} has {sizing.INSTANCE_MEMORY_GIB[instance]} GiB")
        assert str(suggestion) in advice.message


def test_start_training_streams_a_large_dataset(stack: Stack) -> None:
    event = load_event("start_training", "validated")
    run = event["run"]
    Registry(stack.ddb, stack.env["MODELS_TABLE"]).put_run(
        Run(
            run_id=run["run_id"],
            status=RunStatus.RUNNING,
            dataset=run["dataset"],
            trigger=TriggerSource.UPLOAD,
            source_fingerprint=run["source_fingerprint"],
        )
    )
    event["manifest"]["train_bytes"] = 3 * GB
    state = stack.handler("start_training").lambda_handler(event, context("start_training"))
    job = stack.sagemaker.jobs[state["training"]["job_name"]]
    assert (job.spec.train_input_mode, job.spec.volume_gb) == ("FastFile", 10)
