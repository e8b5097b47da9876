"""Auto mode, one cloud: deploy, reject a worse challenger, survive a failing green, roll back, schedule,
duplicate events, restart."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from challenger.local.cloud import LocalCloud
from tests.integration.conftest import DATA, push_and_wait, target_of

POSITIVE = "Absolutely love it, works perfectly and the battery lasts for days."
NEGATIVE = "Broke after two days. Terrible quality, I want my money back."


@pytest.fixture(scope="module")
def cloud(cloud_factory: Callable[..., LocalCloud]) -> LocalCloud:
    # Without the shadow stage: these tests reach the swap itself (a green that never gets healthy, a rollback). With
    # it on, the same unhealthy model is stopped on the shadow endpoint before any swap (test_shadow_stage.py).
    return cloud_factory(parameters={"ShadowMode": "off"})


def predict(cloud: LocalCloud, *texts: str) -> dict[str, object]:
    answer: dict[str, object] = target_of(cloud).call("POST", "/predict", {"instances": list(texts)})
    return answer


def test_no_model_yet_is_a_503_with_a_reason(cloud: LocalCloud) -> None:
    response = requests.post(
        f"{cloud.gateway.api_url}/predict", json={"instances": ["hi"]}, headers={"x-api-key": cloud.api_key}, timeout=10
    )
    assert response.status_code == 503
    assert "no model is live yet" in response.json()["message"]


def test_api_key_is_required(cloud: LocalCloud) -> None:
    assert requests.get(f"{cloud.gateway.api_url}/models", timeout=10).status_code == 403


def test_a_drop_produces_a_live_model_that_answers_predict(cloud: LocalCloud) -> None:
    run = push_and_wait(target_of(cloud), DATA / "train_v1.csv", test=DATA / "test.csv")
    assert (run["status"], run["outcome"], run["version"]) == ("SUCCEEDED", "DEPLOYED", 1)
    answer = predict(cloud, POSITIVE, NEGATIVE)
    assert answer["model_version"] == 1
    assert [p["label"] for p in answer["predictions"]] == [1, 0]  # type: ignore[attr-defined]
    model = target_of(cloud).call("GET", "/models/1")
    assert model["status"] == "LIVE"
    assert model["metrics"]["f1"] > 0.7


def test_a_failing_green_endpoint_leaves_blue_serving(cloud: LocalCloud) -> None:
    cloud.sagemaker.inject_fault("green_unhealthy", "model server crashed on start (injected)")
    run = push_and_wait(target_of(cloud), DATA / "train_v2.csv")
    assert (run["status"], run["version"]) == ("FAILED", 2)
    assert "did not become healthy" in str(run["error"])
    assert "ping health check" in str(run["error"])
    assert target_of(cloud).call("GET", "/models/2")["status"] == "FAILED"
    assert predict(cloud, POSITIVE)["model_version"] == 1


def test_a_better_challenger_is_swapped_in(cloud: LocalCloud) -> None:
    # The same data again: its last run failed (not the data's fault), so this upload retrains.
    run = push_and_wait(target_of(cloud), DATA / "train_v2.csv")
    assert (run["outcome"], run["version"]) == ("DEPLOYED", 3)
    assert predict(cloud, POSITIVE)["model_version"] == 3
    assert target_of(cloud).call("GET", "/models/1")["status"] == "RETIRED"


def test_a_worse_challenger_is_rejected_and_the_champion_keeps_serving(cloud: LocalCloud, tmp_path: Path) -> None:
    # New data (identical data would be skipped as unchanged), as weak as v1's: clearly worse than v2's.
    worse = tmp_path / "train.csv"
    worse.write_bytes((DATA / "train_v1.csv").read_bytes() + b"An ordinary kettle that boils water quickly.,1\n")
    run = push_and_wait(target_of(cloud), worse)
    assert (run["status"], run["outcome"]) == ("SUCCEEDED", "REJECTED")
    assert target_of(cloud).call("GET", f"/models/{run['version']}")["status"] == "REJECTED"
    assert predict(cloud, POSITIVE)["model_version"] == 3


def test_a_bad_file_fails_the_run_with_the_precise_cause(cloud: LocalCloud) -> None:
    run = push_and_wait(target_of(cloud), DATA / "bad_labels.csv")
    assert run["status"] == "FAILED"
    assert "unknown labels" in str(run["error"])
    assert predict(cloud, POSITIVE)["model_version"] == 3


def test_a_replaced_archive_never_serves(cloud: LocalCloud) -> None:
    # Someone with write access to the artifact bucket swaps v1's model.tar.gz (here: for v3's, a model that loads
    # and answers) after v1 was evaluated, both the training job's key and the pinned copy under models/sha256/
    # (issue 18, F1). Rolling back to v1 copies the registered S3 version again, hashed as it is read: v1's
    # evaluated bytes serve, never the swapped ones.
    from challenger.cli import rollback

    target = target_of(cloud)
    v1 = target.call("GET", "/models/1")
    bucket, key = v1["model_data_url"].removeprefix("s3://").split("/", 1)
    original = target.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(original).hexdigest() == v1["artifact_sha256"]
    pinned = f"models/sha256/{v1['artifact_sha256']}/model.tar.gz"
    bucket3, key3 = target.call("GET", "/models/3")["model_data_url"].removeprefix("s3://").split("/", 1)
    swapped = target.s3.get_object(Bucket=bucket3, Key=key3)["Body"].read()
    for replaced in (key, pinned):
        target.s3.put_object(Bucket=bucket, Key=replaced, Body=swapped)

    assert rollback(target, 1, timeout=120) == 1
    assert predict(cloud, POSITIVE)["model_version"] == 1
    assert target.s3.get_object(Bucket=bucket, Key=pinned)["Body"].read() == original
    # Back to v3, where the next test starts.
    assert rollback(target, 3, timeout=120) == 3
    assert predict(cloud, POSITIVE)["model_version"] == 3


def test_rollback_to_an_earlier_version(cloud: LocalCloud) -> None:
    from challenger.cli import rollback

    assert rollback(target_of(cloud), 1, timeout=120) == 1
    assert predict(cloud, POSITIVE)["model_version"] == 1
    assert target_of(cloud).call("GET", "/models/3")["status"] == "RETIRED"


def wait_for_run(cloud: LocalCloud, run_id: str) -> dict[str, object]:
    from challenger.cli import runs_wait

    return runs_wait(target_of(cloud), run_id, timeout=300, echo=lambda _: None)


def test_the_schedule_rule_starts_a_run(cloud: LocalCloud) -> None:
    target = target_of(cloud)
    before = {r["run_id"] for r in target.call("GET", "/runs")}
    rule = next(r.name for r in cloud.scheduler.rules if r.schedule)
    cloud.scheduler.fire_now(rule)
    cloud.events.wait_idle()  # scheduled events go through the bus since b58241f (retried like an upload's)
    [new] = [r for r in target.call("GET", "/runs") if r["run_id"] not in before]
    assert new["trigger"] == "schedule"
    assert new["dataset"] == "reviews"  # the dataset uploaded last; its last run failed, so it is retried
    wait_for_run(cloud, new["run_id"])


def test_a_duplicate_upload_event_starts_one_run(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    target = target_of(cloud)
    seen: list[dict[str, object]] = []
    put = cloud.events.put
    monkeypatch.setattr(cloud.events, "put", lambda event: (seen.append(event), put(event))[1])
    before = {r["run_id"] for r in target.call("GET", "/runs")}
    target.s3.upload_file(str(DATA / "train_v1.csv"), target.data_bucket, "incoming/dup/train.csv")
    cloud.events.wait_idle()
    put(seen[0])  # EventBridge delivers at least once: the same event again
    cloud.events.wait_idle()
    new = [r for r in target.call("GET", "/runs") if r["run_id"] not in before]
    assert len(new) == 1
    wait_for_run(cloud, new[0]["run_id"])


def test_state_survives_a_restart(cloud: LocalCloud) -> None:
    target = target_of(cloud)
    models_before = target.call("GET", "/models")
    champion = target.call("GET", "/health")["champion_version"]
    cloud.stop()
    cloud.fresh = False
    cloud.start()
    target = target_of(cloud)
    assert [(m["version"], m["status"]) for m in target.call("GET", "/models")] == [
        (m["version"], m["status"]) for m in models_before
    ]
    assert predict(cloud, POSITIVE)["model_version"] == champion
