"""Helpers shared by the local SageMaker tests (a plain module: conftest files are not importable helpers)."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest
from botocore.config import Config

from challenger.local.sagemaker import LocalSageMaker
from challenger.local.sagemaker.hosting import SERVE

REPO = Path(__file__).resolve().parents[3]
RECIPE = REPO / "recipes" / "sentiment"
REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "challenger-local-sm-test"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/sagemaker"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
SOURCE_URI = f"s3://{BUCKET}/recipes/sentiment/sourcedir.tar.gz"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": REGION}
# No client-side retries: a failed request must show up as a failure, not be papered over.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=70)


def read_tar_gz(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll until predicate() is truthy (returning it); fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


def model_server_children() -> list[psutil.Process]:
    """This process's descendants that are local model containers (the `unshare` each one starts with)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            command = child.cmdline()
            if command[:1] == ["unshare"] and str(SERVE) in command:
                found.append(child)
        except psutil.NoSuchProcess:  # exited while we looked
            continue
    return found


@dataclass
class Clients:
    sm: Any
    runtime: Any


def clients_for(service: LocalSageMaker) -> Clients:
    return Clients(
        sm=boto3.client("sagemaker", endpoint_url=service.url, config=NO_RETRIES, **CREDENTIALS),
        runtime=boto3.client("sagemaker-runtime", endpoint_url=service.url, config=NO_RETRIES, **CREDENTIALS),
    )


def training_request(name: str, train_key: str, **overrides: Any) -> dict[str, Any]:
    """A CreateTrainingJob request shaped exactly like challenger_core's SageMaker.start_training sends."""
    hyperparameters = {
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": SOURCE_URI,
        **overrides.pop("hyperparameters", {}),
    }
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE_ARN,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{BUCKET}/{train_key}",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/training/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
        "HyperParameters": hyperparameters,
        "EnableNetworkIsolation": False,
        "Tags": [{"Key": "challenger:run", "Value": "test"}],
    }
    request.update(overrides)
    return request


def wait_for_job(sm: Any, name: str, timeout: float = 60.0) -> dict[str, Any]:
    return wait_until(
        lambda: (
            (d := sm.describe_training_job(TrainingJobName=name))["TrainingJobStatus"] not in ("InProgress", "Stopping")
            and d
        ),
        timeout=timeout,
    )


def wait_for_endpoint(sm: Any, name: str, timeout: float = 120.0) -> dict[str, Any]:
    # Longer than the tests' health timeouts (test_endpoints: 90 s; the image's stack starts in 3-24 s here), so a
    # container that never gets healthy shows as Failed with its reason, not as this wait running out.
    return wait_until(
        lambda: (d := sm.describe_endpoint(EndpointName=name))["EndpointStatus"] not in ("Creating", "Updating") and d,
        timeout=timeout,
    )
