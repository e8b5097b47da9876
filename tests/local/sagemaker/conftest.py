"""Fixtures for the local SageMaker tests: moto S3 on loopback, the recipe's source bundle, trained models.

Loopback HTTP is the point of these tests, so every module sets `pytestmark = pytest.mark.enable_socket`
(pytest-socket then re-enables sockets before any fixture, including these session-scoped ones, is set up).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from challenger.local.sagemaker import LocalSageMaker
from recipes.kit.bundle import build_source_bundle
from tests.local.sagemaker.helpers import (
    BUCKET,
    CREDENTIALS,
    RECIPE,
    REGION,
    clients_for,
    training_request,
    wait_for_job,
)


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3(s3_url: str) -> Any:
    """S3 client on moto, with the bucket holding the recipe's data and source bundle."""
    client = boto3.client("s3", endpoint_url=s3_url, **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    for name in ("train_v1.csv", "train_v2.csv", "test.csv", "bad_labels.csv"):
        client.upload_file(str(RECIPE / "data" / name), BUCKET, f"datasets/{name}")
    bundle = build_source_bundle(RECIPE)  # what the recipe publisher uploads: the recipe plus challenger_kit.py
    client.put_object(Bucket=BUCKET, Key="recipes/sentiment/sourcedir.tar.gz", Body=bundle)
    return client


@pytest.fixture(scope="session")
def trainer(s3: Any, s3_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSageMaker]:
    """A LocalSageMaker used for training jobs (endpoint tests get their own, to restart it freely)."""
    service = LocalSageMaker(state_dir=tmp_path_factory.mktemp("trainer"), s3_endpoint_url=s3_url, region=REGION)
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def trained(trainer: LocalSageMaker) -> dict[str, dict[str, Any]]:
    """Two real training jobs of the recipe, run concurrently: model A (train_v1, unigrams) and B (train_v2)."""
    sm = clients_for(trainer).sm
    sm.create_training_job(**training_request("job-a", "datasets/train_v1.csv", hyperparameters={"ngram-max": "1"}))
    streamed = training_request("job-b", "datasets/train_v2.csv")
    streamed["InputDataConfig"][0]["InputMode"] = "FastFile"  # as StartTraining sends large data (sizing.py)
    sm.create_training_job(**streamed)
    with ThreadPoolExecutor(2) as pool:
        jobs = dict(zip(("a", "b"), pool.map(lambda name: wait_for_job(sm, name), ("job-a", "job-b")), strict=True))
    for job in jobs.values():
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return jobs
