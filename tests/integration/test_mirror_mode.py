"""`mirror` mode on the local cloud (issue 23): while a mirror window is open, a share of live `/predict` requests is
answered by the shadow endpoint too, off the request path — callers see only the champion's answers, never an error —
and each mirrored row is recorded as a ShadowObservation beside what the champion answered.

The window is opened here the way the shadow stage opens it (challenger_core.mirror.MirrorStore), on a second
serverless endpoint of the local SageMaker; the capture path under test is the product's: the API's log lines, the
subscription filter on its log group, CaptureFunction."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import boto3
import pytest
import requests

from challenger.local.cloud import CREDENTIALS, LocalCloud
from challenger_core import mirror
from challenger_core.models import utcnow
from challenger_core.naming import sagemaker_name
from challenger_core.shadow import load_observations
from tests.integration.conftest import DATA, push_and_wait, target_of

RUN = "mirror-it"
SHARE = 0.5


@pytest.fixture(scope="module")
def cloud(cloud_factory: Callable[..., LocalCloud]) -> LocalCloud:
    cloud = cloud_factory()
    run = push_and_wait(target_of(cloud), DATA / "train_v1.csv", test=DATA / "test.csv")
    assert run["outcome"] == "DEPLOYED", run
    return cloud


def environment(cloud: LocalCloud) -> dict[str, str]:
    [spec] = [f for f in cloud.template.functions() if f.logical_id == "CaptureFunction"]
    return dict(spec.environment)


def start_shadow_endpoint(cloud: LocalCloud) -> str:
    """A second serverless endpoint on the champion's endpoint config (what the shadow stage would create)."""
    env = environment(cloud)
    sagemaker = boto3.client(
        "sagemaker",
        endpoint_url=cloud.sagemaker.url,
        region_name=cloud.region,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=CREDENTIALS["AWS_SESSION_TOKEN"],
    )
    live = sagemaker.describe_endpoint(EndpointName=env["ENDPOINT_NAME"])
    name = sagemaker_name(env["STACK_NAME"], env["STACK_UID"], "shadow")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=live["EndpointConfigName"])
    deadline = time.monotonic() + 120
    while sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline, "the shadow endpoint never came up"
        time.sleep(0.5)
    return name


def predict_all(cloud: LocalCloud, texts: list[str]) -> list[requests.Response]:
    url = f"{cloud.gateway.api_url}/predict"
    headers = {"x-api-key": cloud.api_key, "content-type": "application/json"}

    def one(text: str) -> requests.Response:
        return requests.post(url, data=json.dumps({"instances": [text]}), headers=headers, timeout=60)

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, texts))


def captured(cloud: LocalCloud, texts: set[str]) -> dict[str, str]:
    """request id → text of the captured rows of these texts."""
    s3, bucket = cloud.clients["s3"], environment(cloud)["ARTIFACT_BUCKET"]
    found: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="captures/"):
        for item in page.get("Contents", []):
            for line in s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().splitlines():
                record = json.loads(line)
                if record["instance"]["review_text"] in texts:
                    found[record["request_id"]] = record["instance"]["review_text"]
    return found


def observations(cloud: LocalCloud) -> list[Any]:
    s3, bucket = cloud.clients["s3"], environment(cloud)["ARTIFACT_BUCKET"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"shadow/{RUN}/observations/").get("Contents", [])
    found = []
    for item in listed:
        assert item["Key"].rsplit("/", 1)[1].startswith("mirror-")
        found += load_observations(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    return found


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_a_share_of_live_requests_is_mirrored_to_the_shadow_and_callers_see_no_errors(cloud: LocalCloud) -> None:
    endpoint = start_shadow_endpoint(cloud)
    store = mirror.MirrorStore(cloud.clients["dynamodb"], environment(cloud)["MODELS_TABLE"])
    store.open(
        mirror.MirrorWindow(run_id=RUN, endpoint_name=endpoint, share=SHARE, until=utcnow() + timedelta(hours=1))
    )
    texts = [f"mirror test review {n}: the battery lasted {n} days, it works" for n in range(40)]

    answers = predict_all(cloud, texts)

    assert [answer.status_code for answer in answers] == [200] * len(texts)
    assert {answer.json()["model_version"] for answer in answers} == {1}  # the champion answered, never the shadow
    wait_for(lambda: len(captured(cloud, set(texts))) == len(texts))
    requests_by_id = captured(cloud, set(texts))
    expected = {rid for rid in requests_by_id if mirror.is_mirrored(rid, SHARE)}
    assert 0 < len(expected) < len(texts)  # a share, not all and not none (2 × 0.5⁴⁰ odds otherwise)
    wait_for(lambda: {o.request_id for o in observations(cloud)} >= expected)
    seen = observations(cloud)
    assert sorted(o.request_id for o in seen) == sorted(expected)  # each mirrored request once, no other
    by_text = {answer.json()["predictions"][0]["score"]: text for answer, text in zip(answers, texts, strict=True)}
    for observation in seen:
        assert observation.source == "mirror"
        assert observation.instance == {"review_text": requests_by_id[observation.request_id]}
        assert observation.shadow_error is None
        assert observation.champion_error is None
        assert observation.shadow_prediction == observation.champion_prediction  # the same model on both
        assert observation.champion_prediction["score"] in by_text
        assert observation.shadow_latency_ms is not None
        assert observation.champion_latency_ms is not None

    store.close(RUN)
    after = [f"after the window {n}: fine" for n in range(6)]
    assert [a.status_code for a in predict_all(cloud, after)] == [200] * len(after)
    wait_for(lambda: len(captured(cloud, set(after))) == len(after))
    assert len(observations(cloud)) == len(seen)  # closed: nothing more is mirrored
