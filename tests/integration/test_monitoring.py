"""After deployment, on the local cloud: every prediction captured, the drift check against the champion's own
training baseline (alert and exactly one retrain on shifted traffic, none on in-distribution traffic), and batch
scoring by the champion through a Batch Transform job that agrees with /predict."""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from challenger.cli import Target, batch_score, drift_check
from challenger.local.cloud import LocalCloud
from challenger.local.outbox import read_messages
from challenger_core.models import NotificationKind
from tests.integration.conftest import DATA, push_and_wait, target_of

SHIFTED_WORDS = ["quantum", "lattice", "eigenvalue", "manifold", "tensor", "spectral", "homotopy", "fibration"]


@pytest.fixture(scope="module")
def cloud(cloud_factory: Callable[..., LocalCloud]) -> LocalCloud:
    cloud = cloud_factory(parameters={"RetrainOnDrift": "true"})
    run = push_and_wait(target_of(cloud), DATA / "train_v1.csv", test=DATA / "test.csv")
    assert run["outcome"] == "DEPLOYED", run
    return cloud


def held_out_texts() -> list[str]:
    with (DATA / "test.csv").open(newline="") as handle:
        return [row["review_text"] for row in csv.DictReader(handle)]


def captured_rows(cloud: LocalCloud) -> int:
    s3, bucket = cloud.clients["s3"], cloud.template.ref("ArtifactBucket")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="captures/")
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return sum(len(s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()) for key in keys)


def predict_all(cloud: LocalCloud, texts: list[str]) -> list[dict[str, Any]]:
    target = target_of(cloud)
    before = captured_rows(cloud)
    predictions: list[dict[str, Any]] = []
    for start in range(0, len(texts), 50):
        predictions += target.call("POST", "/predict", {"instances": texts[start : start + 50]})["predictions"]
    # Captures are the API's log lines, delivered by the log group's subscription to CaptureFunction (decision 0013).
    deadline = time.monotonic() + 60
    while captured_rows(cloud) < before + len(texts) and time.monotonic() < deadline:
        time.sleep(0.5)
    return predictions


def runs_by(target: Target, trigger: str) -> list[dict[str, Any]]:
    return [run for run in target.call("GET", "/runs") if run["trigger"] == trigger]


def test_a_batch_file_is_scored_by_the_champion_like_predict(cloud: LocalCloud, tmp_path: Path) -> None:
    target = target_of(cloud)
    texts = held_out_texts()[:25]
    source = tmp_path / "sample.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "review_text"])
        writer.writerows([i, text] for i, text in enumerate(texts))
    result = batch_score(target, source, "sample", tmp_path / "sample.out.csv", timeout=300)
    with result.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == [str(i) for i in range(len(texts))]
    assert {row["model_version"] for row in rows} == {"1"}
    live = target.call("POST", "/predict", {"instances": texts})["predictions"]
    assert [int(row["label"]) for row in rows] == [p["label"] for p in live]
    assert [round(float(row["score"]), 9) for row in rows] == [round(p["score"], 9) for p in live]


def test_a_bad_batch_file_fails_with_the_reason_and_the_endpoint_keeps_serving(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    target = target_of(cloud)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text\n1,hello\n")
    with pytest.raises(Exception, match=r"missing column\(s\) 'review_text'"):
        batch_score(target, bad, "bad", None, timeout=120)
    assert target.call("POST", "/predict", {"instances": ["fine"]})["model_version"] == 1


def test_in_distribution_traffic_raises_no_drift_alert(cloud: LocalCloud) -> None:
    target = target_of(cloud)
    predict_all(cloud, held_out_texts()[:300])
    result = drift_check(target)
    assert result["checked"]
    assert result["skipped"] is None
    assert result["alert"] is False, result
    assert runs_by(target, "drift") == []


def test_shifted_traffic_alerts_and_retrains_exactly_once(cloud: LocalCloud) -> None:
    target = target_of(cloud)
    rng = random.Random(5)
    predict_all(cloud, [" ".join(rng.choice(SHIFTED_WORDS) for _ in range(40)) for _ in range(600)])
    first = drift_check(target)
    assert first["alert"] is True, first
    assert first["action"].startswith("retraining on dataset 'reviews'"), first
    second = drift_check(target)  # the drift persists: no second run
    assert second["alert"] is True
    assert second["action"].startswith("no retrain"), second
    assert len(runs_by(target, "drift")) == 1
    alerts = [m for m in read_messages(cloud.state_dir / "outbox") if m.kind == NotificationKind.DRIFT]
    assert alerts
    assert all("v1" in alert.subject for alert in alerts)
