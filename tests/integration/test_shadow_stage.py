"""The shadow stage on the local cloud (issue 23): real penguins, real model containers, real captured requests.

The recipe is penguins with one change to its inference (a scratch copy, published like any recipe): a category
value the model never saw in training raises instead of getting all-zero indicators. The champion is trained on
Dream and Torgersen penguins; live traffic is real Dream records with 5% Torgersen ones, captured by the product's
own capture path. A challenger trained on Biscoe and Dream penguins is clearly better offline (the champion never saw
a Gentoo), but fails on every Torgersen request it is shown: the shadow stage stops it and the champion keeps serving.
A challenger trained on all three islands passes and is swapped while concurrent callers keep calling /predict
through the gateway, none of them failing. The shadow endpoint is gone after both, and `sam delete`'s clean-up (the
custom resource's function, invoked as CloudFormation does) leaves none of this stack's endpoints, configs or models.
"""

from __future__ import annotations

import csv
import http.server
import io
import itertools
import json
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

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
CALLERS = 6  # concurrent /predict clients during the healthy challenger's shadow stage and swap
CALLER_PERIOD = 0.2  # each caller starts at most one request every 0.2 s: up to 30 req/s in all, at least 20 asked
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


def instance_of(row: dict[str, str]) -> dict[str, Any]:
    return {k: (float(v) if k.endswith("_mm") else v) for k, v in row.items() if k != "body_mass_g"}


def live_traffic(cloud: LocalCloud) -> None:
    """REQUESTS real records, one per /predict, 5% from Torgersen; then wait until every one was captured."""
    rows = list(csv.DictReader(io.StringIO((PENGUINS / "data" / "train_v2.csv").read_text(encoding="utf-8"))))
    dream = [r for r in rows if r["island"] == "Dream"]
    torgersen = [r for r in rows if r["island"] == "Torgersen"]
    url = f"{cloud.gateway.api_url}/predict"
    headers = {"x-api-key": cloud.api_key, "content-type": "application/json"}
    for i in range(REQUESTS):
        row = torgersen[i % len(torgersen)] if i % UNSEEN_EVERY == 0 else dream[i % len(dream)]
        instance = instance_of(row)
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


def sagemaker_client(cloud: LocalCloud) -> Any:
    return boto3.client(
        "sagemaker",
        endpoint_url=cloud.sagemaker.url,
        region_name=cloud.region,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=CREDENTIALS["AWS_SESSION_TOKEN"],
    )


def shadow_endpoint_gone(cloud: LocalCloud, *, name: str | None = None) -> bool:
    env = environment(cloud)
    sagemaker = sagemaker_client(cloud)
    name = name or sagemaker_name(env["STACK_NAME"], env["STACK_UID"], "shadow")
    deadline = time.monotonic() + 120  # DeleteEndpoint is asynchronous
    while time.monotonic() < deadline:
        try:
            sagemaker.describe_endpoint(EndpointName=name)
        except sagemaker.exceptions.ClientError:
            return True
        time.sleep(1)
    return False


@dataclass(frozen=True)
class Answer:
    caller: int
    started: float
    ended: float
    status: int  # 0: no HTTP answer at all
    version: int | None
    detail: str


@dataclass
class Load:
    answers: list[Answer] = field(default_factory=list)
    seconds: float = 0.0

    def versions_of(self, caller: int) -> list[int | None]:
        return [a.version for a in sorted(self.answers, key=lambda a: a.started) if a.caller == caller]


@contextmanager
def load_on(cloud: LocalCloud, rows: list[dict[str, str]]) -> Iterator[Load]:
    """CALLERS threads calling POST /predict through the gateway until the block ends, recording every answer."""
    load, stop, lock = Load(), threading.Event(), threading.Lock()
    url = f"{cloud.gateway.api_url}/predict"

    def call(caller: int) -> None:
        session = requests.Session()
        session.headers.update({"x-api-key": cloud.api_key, "content-type": "application/json"})
        index = caller
        while not stop.is_set():
            started = time.monotonic()
            status, version, detail = 0, None, ""
            try:
                response = session.post(url, json={"instances": [instance_of(rows[index % len(rows)])]}, timeout=30)
                status, detail = response.status_code, response.text[:300]
                body = response.json()
                if status == 200 and len(body["predictions"]) == 1:
                    version = int(body["model_version"])
            except Exception as exc:  # every failure counts, whatever it is
                detail = f"{type(exc).__name__}: {exc}"
            with lock:
                load.answers.append(Answer(caller, started, time.monotonic(), status, version, detail))
            index += CALLERS
            stop.wait(max(0.0, CALLER_PERIOD - (time.monotonic() - started)))

    threads = [threading.Thread(target=call, args=(i,), name=f"predict-{i}", daemon=True) for i in range(CALLERS)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        yield load
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        load.seconds = time.monotonic() - began


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


def test_a_healthy_challenger_passes_the_shadow_and_is_swapped_with_no_failed_request_under_load(
    cloud: LocalCloud, repo: Path
) -> None:
    target = target_of(cloud)
    champion = target.call("GET", "/health")["champion_version"]
    rows = list(csv.DictReader(io.StringIO((PENGUINS / "data" / "train_v2.csv").read_text(encoding="utf-8"))))
    served = [r for r in rows if r["island"] != "Biscoe"]  # the islands the champion was trained on
    with load_on(cloud, served) as load:
        time.sleep(2)  # the callers are answered by the champion before the run starts
        run = push_and_wait(target, repo / "recipes" / "penguins" / "data" / "train_v2.csv", dataset="penguins")
        time.sleep(2)  # ... and by the challenger after it ended

    assert (run["status"], run["outcome"]) == ("SUCCEEDED", "DEPLOYED"), run.get("error")
    challenger = run["version"]
    assert isinstance(challenger, int)
    verdict = target.call("GET", f"/models/{challenger}")["verdict"]
    assert shadow_rules(verdict) == {"shadow-errors": True, "shadow-latency": True}, verdict["reasons"]
    assert verdict["shadow"]["requests"] == REQUESTS
    assert verdict["shadow"]["shadow_errors"] == 0
    assert shadow_endpoint_gone(cloud)

    failed = [a for a in load.answers if a.version is None]
    assert not failed, f"{len(failed)} of {len(load.answers)} requests failed, e.g. {failed[:3]}"
    rate = len(load.answers) / load.seconds
    print(f"under load: {len(load.answers)} requests in {load.seconds:.0f} s ({rate:.1f}/s), 0 failed")
    # Training, the shadow stage (200 replayed requests at 10/s) and the swap: ~1 minute here, 1,537 requests.
    assert len(load.answers) >= 500, len(load.answers)
    assert rate >= 20, f"{rate:.1f} requests/s"
    ordered = sorted(load.answers, key=lambda a: a.started)
    assert {a.version for a in ordered} == {champion, challenger}
    assert (ordered[0].version, ordered[-1].version) == (champion, challenger)
    for caller in range(CALLERS):  # each caller: the champion, then the challenger, never back
        versions = load.versions_of(caller)
        switch = versions.index(challenger)
        assert set(versions[:switch]) == {champion}, caller
        assert set(versions[switch:]) == {challenger}, caller
    # Without a gap: answers kept coming all along (one version's or the other's), never a pause of 5 s.
    ends = sorted(a.ended for a in ordered)
    pause = max(b - a for a, b in itertools.pairwise(ends))
    print(f"longest pause between two answers: {pause:.2f} s")
    assert pause < 5.0, f"a {pause:.1f} s pause in the answers"


class _CloudFormation(http.server.BaseHTTPRequestHandler):
    """CloudFormation's presigned ResponseURL: keeps what the custom resource's function PUTs."""

    answers: ClassVar[list[dict[str, Any]]] = []

    def do_PUT(self) -> None:
        self.answers.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def test_sam_deletes_clean_up_leaves_no_shadow_endpoint_config_or_model(cloud: LocalCloud) -> None:
    # Runs last: the clean-up deletes the serving endpoint too. A shadow stage cut short (its Lambda timed out
    # before its delete step) leaves its endpoint, config and model: made here from the serving version's model.
    env, sagemaker = environment(cloud), sagemaker_client(cloud)
    stack, uid, serving = env["STACK_NAME"], env["STACK_UID"], env["ENDPOINT_NAME"]
    shadow = sagemaker_name(stack, uid, "shadow")
    config = sagemaker.describe_endpoint_config(
        EndpointConfigName=sagemaker.describe_endpoint(EndpointName=serving)["EndpointConfigName"]
    )
    variant = config["ProductionVariants"][0]
    model = sagemaker.describe_model(ModelName=variant["ModelName"])
    leftover = f"{variant['ModelName']}-shadow"
    sagemaker.create_model(
        ModelName=leftover, PrimaryContainer=model["PrimaryContainer"], ExecutionRoleArn=model["ExecutionRoleArn"]
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{leftover}-config", ProductionVariants=[{**variant, "ModelName": leftover}]
    )
    sagemaker.create_endpoint(EndpointName=shadow, EndpointConfigName=f"{leftover}-config")
    deadline = time.monotonic() + 180
    while sagemaker.describe_endpoint(EndpointName=shadow)["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline, "the leftover shadow endpoint never came up"
        time.sleep(1)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CloudFormation)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = cloud.runtime.invoke(
            cloud.template.name("CleanupSageMakerFunction"),
            {
                "RequestType": "Delete",
                "ResponseURL": f"http://127.0.0.1:{server.server_address[1]}/presigned",
                "StackId": f"arn:aws:cloudformation:{cloud.region}:123456789012:stack/{stack}/{uid}-0000",
                "RequestId": str(uuid.uuid4()),
                "LogicalResourceId": "SageMakerCleanup",
                "PhysicalResourceId": f"{uid}-sagemaker-cleanup",
                "ResourceType": "Custom::SageMakerCleanup",
                "ResourceProperties": {"ServiceToken": cloud.template.arn("CleanupSageMakerFunction")},
            },
        )
    finally:
        server.shutdown()
    assert result.function_error is None, result.json()
    [answer] = _CloudFormation.answers
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    fragment = f"-{uid}-"
    assert sagemaker.list_models(NameContains=fragment, MaxResults=100)["Models"] == []
    assert sagemaker.list_endpoint_configs(NameContains=fragment, MaxResults=100)["EndpointConfigs"] == []
    assert shadow_endpoint_gone(cloud)
    assert shadow_endpoint_gone(cloud, name=serving)
