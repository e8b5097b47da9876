"""The shadow stage on the local cloud (issue 23): real penguins, real model containers, real captured requests.

The recipe is penguins with one change to its inference (a scratch copy, published like any recipe): a category
value the model never saw in training raises instead of getting all-zero indicators. The champion is trained on
Dream and Torgersen penguins; live traffic is real Dream records with 5% Torgersen ones, captured by the product's
own capture path. A challenger trained on Biscoe and Dream penguins is clearly better offline (the champion never saw
a Gentoo), but fails on every Torgersen request it is shown: the shadow stage stops it and the champion keeps serving.
A challenger trained on all three islands passes and is swapped. The shadow endpoint is gone after both.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from challenger.local import provision
from challenger.local.cloud import CREDENTIALS, LocalCloud
from challenger_core.naming import sagemaker_name
from tests.integration.conftest import push_and_wait, target_of
from tests.support.recipes import repository_with_the_kit

PENGUINS = Path(__file__).resolve().parents[2] / "recipes" / "penguins"
REQUESTS = 200
UNSEEN_EVERY = 20  # 1 in 20 requests (5%) is a Torgersen penguin, an island the challenger never saw
# When serving only: the training job scores both models through predict_fn too (the champion on islands it never
# saw, the challenger on the trusted set), and there an unseen island must get the recipe's all-zero indicators.
STRICT = '''def predict_fn(input_data: list[dict[str, Any]], served: Served) -> list[dict[str, float]]:
    """Score validated instances; when serving, this test recipe refuses a category value never seen in training."""
    model = served.model
    serving = "SM_CHANNEL_TRAIN" not in __import__("os").environ  # script-mode training sets it, serving does not
    for record in input_data if serving else ():
        for name, values in zip(model.categorical, model.categories, strict=True):
            if record[name] not in values:
                raise ValueError(f"{name} {record[name]!r} was never seen in training")
    return model.predict(input_data)
'''
LENIENT = '''def predict_fn(input_data: list[dict[str, Any]], served: Served) -> list[dict[str, float]]:
    """Score validated instances in one matrix product."""
    return served.model.predict(input_data)
'''


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = repository_with_the_kit(tmp_path_factory.mktemp("repo"))
    recipe = root / "recipes" / "penguins"
    shutil.copytree(PENGUINS, recipe, ignore=shutil.ignore_patterns("__pycache__"))
    inference = (recipe / "inference.py").read_text(encoding="utf-8")
    assert LENIENT in inference
    (recipe / "inference.py").write_text(inference.replace(LENIENT, STRICT), encoding="utf-8")
    spec = json.loads((recipe / "recipe.json").read_text(encoding="utf-8"))
    spec["shadow"] = {"tolerance": 150.0, "slices": ["island", "species"]}
    (recipe / "recipe.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO((PENGUINS / "data" / "train_v2.csv").read_text(encoding="utf-8"))))
    write(recipe / "data" / "without_torgersen.csv", [r for r in rows if r["island"] != "Torgersen"])
    return root


def write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def cloud(cloud_factory: Callable[..., LocalCloud], repo: Path) -> LocalCloud:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(provision, "RECIPES", repo / "recipes")
        cloud = cloud_factory(parameters={"Recipe": "penguins", "ShadowSampleSize": str(REQUESTS)})
    run = push_and_wait(target_of(cloud), repo / "recipes" / "penguins" / "data" / "train_v1.csv", dataset="penguins")
    assert (run["outcome"], run["version"]) == ("DEPLOYED", 1), run.get("error")
    live_traffic(cloud)
    return cloud


def environment(cloud: LocalCloud) -> dict[str, str]:
    [spec] = [f for f in cloud.template.functions() if f.logical_id == "ShadowStageFunction"]
    return dict(spec.environment)


def live_traffic(cloud: LocalCloud) -> None:
    """REQUESTS real records, one per /predict, 5% from Torgersen; then wait until every one was captured."""
    rows = list(csv.DictReader(io.StringIO((PENGUINS / "data" / "train_v2.csv").read_text(encoding="utf-8"))))
    dream = [r for r in rows if r["island"] == "Dream"]
    torgersen = [r for r in rows if r["island"] == "Torgersen"]
    url = f"{cloud.gateway.api_url}/predict"
    headers = {"x-api-key": cloud.api_key, "content-type": "application/json"}
    for i in range(REQUESTS):
        row = torgersen[i % len(torgersen)] if i % UNSEEN_EVERY == 0 else dream[i % len(dream)]
        instance = {k: (float(v) if k.endswith("_mm") else v) for k, v in row.items() if k != "body_mass_g"}
        answer = requests.post(url, data=json.dumps({"instances": [instance]}), headers=headers, timeout=60)
        assert answer.status_code == 200, answer.text  # the champion saw Torgersen: it answers every one
    deadline = time.monotonic() + 180
    while captured_rows(cloud) < REQUESTS:
        assert time.monotonic() < deadline, f"only {captured_rows(cloud)} of {REQUESTS} requests were captured"
        time.sleep(1)


def captured_rows(cloud: LocalCloud) -> int:
    s3, bucket = cloud.clients["s3"], environment(cloud)["ARTIFACT_BUCKET"]
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="captures/model=v1/"):
        for item in page.get("Contents", []):
            count += len(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().splitlines())
    return count


def shadow_endpoint_gone(cloud: LocalCloud) -> bool:
    env = environment(cloud)
    sagemaker = boto3.client(
        "sagemaker",
        endpoint_url=cloud.sagemaker.url,
        region_name=cloud.region,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=CREDENTIALS["AWS_SESSION_TOKEN"],
    )
    name = sagemaker_name(env["STACK_NAME"], env["STACK_UID"], "shadow")
    deadline = time.monotonic() + 120  # DeleteEndpoint is asynchronous
    while time.monotonic() < deadline:
        try:
            sagemaker.describe_endpoint(EndpointName=name)
        except sagemaker.exceptions.ClientError:
            return True
        time.sleep(1)
    return False


def shadow_rules(verdict: dict[str, Any]) -> dict[str, bool]:
    return {rule["rule"]: rule["passed"] for rule in verdict["rules"] if rule["rule"].startswith("shadow-")}


def test_a_challenger_failing_on_five_percent_of_real_requests_is_stopped_by_the_shadow(
    cloud: LocalCloud, repo: Path
) -> None:
    target = target_of(cloud)
    run = push_and_wait(target, repo / "recipes" / "penguins" / "data" / "without_torgersen.csv", dataset="penguins")

    assert (run["status"], run["outcome"]) == ("SUCCEEDED", "REJECTED"), run.get("error")
    model = target.call("GET", f"/models/{run['version']}")
    verdict = model["verdict"]
    offline = [r for r in verdict["rules"] if not r["rule"].startswith("shadow-")]
    assert all(rule["passed"] for rule in offline), offline  # offline, it would have been promoted
    assert shadow_rules(verdict)["shadow-errors"] is False
    assert verdict["decided_by"] == "shadow-errors"
    measured = verdict["shadow"]
    assert measured["requests"] == REQUESTS
    assert measured["shadow_errors_by_kind"] == {"model_error": REQUESTS // UNSEEN_EVERY}
    assert measured["champion_errors"] == 0
    assert model["status"] == "REJECTED"
    assert target.call("GET", "/models/1")["status"] == "LIVE"  # the champion keeps serving
    assert shadow_endpoint_gone(cloud)


def test_a_healthy_challenger_passes_the_shadow_and_is_swapped(cloud: LocalCloud, repo: Path) -> None:
    target = target_of(cloud)
    run = push_and_wait(target, repo / "recipes" / "penguins" / "data" / "train_v2.csv", dataset="penguins")

    assert (run["status"], run["outcome"]) == ("SUCCEEDED", "DEPLOYED"), run.get("error")
    verdict = target.call("GET", f"/models/{run['version']}")["verdict"]
    assert shadow_rules(verdict) == {"shadow-errors": True, "shadow-latency": True}, verdict["reasons"]
    assert verdict["shadow"]["requests"] == REQUESTS
    assert verdict["shadow"]["shadow_errors"] == 0
    assert shadow_endpoint_gone(cloud)
