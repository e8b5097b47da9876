"""GET /monitoring: serving health per version from the API's own counters, and the drift history."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from challenger_core.capture import LATENCY_BUCKETS_MS, latency_bucket
from challenger_core.drift import DriftReport, FeatureDrift
from challenger_core.monitoring import MonitoringStore
from tests.support.events import load_event
from tests.support.stack import Stack
from tests.unit.functions.api_support import call, live_model


def counts(invocations: int, errors: int, latency_ms: float) -> list[int]:
    buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    buckets[latency_bucket(latency_ms)] = invocations
    return [invocations, errors, *buckets]


def test_serving_health_and_drift_per_version(stack: Stack) -> None:
    store = MonitoringStore(stack.ddb, stack.env["MODELS_TABLE"])
    hour = datetime.now(UTC).strftime("%Y-%m-%dT%H")
    store.add_stats(3, hour, counts(90, 0, 20))
    store.add_stats(3, hour, counts(10, 2, 400))
    store.add_stats(4, hour, counts(5, 0, 40))
    store.add_stats(2, "2000-01-01T00", counts(7, 7, 20))  # outside the window
    store.put_drift(
        DriftReport(
            version=3,
            samples=120,
            min_samples=100,
            threshold=0.2,
            drifts=[FeatureDrift(feature="review_text", statistic="length", psi=0.31, samples=120)],
        )
    )
    status, body = call(stack, load_event("api", "monitoring"))
    assert status == 200
    assert [(v["version"], v["invocations"], v["errors"]) for v in body["versions"]] == [(4, 5, 0), (3, 100, 2)]
    v3 = body["versions"][1]
    assert (v3["error_rate"], v3["p50_ms"], v3["p99_ms"]) == (0.02, 25.0, 500.0)
    [drift] = body["drift"]
    assert (drift["version"], drift["drifts"][0]["psi"]) == (3, 0.31)


def test_monitoring_window_is_bounded(stack: Stack) -> None:
    event = load_event("api", "monitoring")
    event["queryStringParameters"] = {"hours": "100000"}
    event["multiValueQueryStringParameters"] = {"hours": ["100000"]}
    status, _ = call(stack, event)
    assert status == 422


def test_predictions_are_captured_and_counted_off_the_response_path(stack: Stack) -> None:
    live_model(stack)
    api = stack.handler("api")
    api.deps.capture().sample_rate = 1.0  # the stack's default samples 5%; the local cloud captures everything
    status, body = call(stack, load_event("api", "predict"))
    assert status == 200
    api.deps.capture().flush()  # what its background thread does every CAPTURE_FLUSH_SECONDS
    artifacts = stack.env["ARTIFACT_BUCKET"]
    [key] = [o["Key"] for o in stack.s3.list_objects_v2(Bucket=artifacts, Prefix="captures/")["Contents"]]
    assert key.startswith(f"captures/model=v3/date={datetime.now(UTC):%Y-%m-%d}/")
    rows = [json.loads(line) for line in stack.s3.get_object(Bucket=artifacts, Key=key)["Body"].read().splitlines()]
    assert [row["instance"] for row in rows] == [
        {"review_text": "I love this, it works great!"},
        {"review_text": "Broke after a day. Awful."},
    ]
    assert [row["prediction"] for row in rows] == body["predictions"]
    _, health = call(stack, load_event("api", "monitoring"))
    assert [(v["version"], v["invocations"], v["errors"]) for v in health["versions"]] == [(3, 1, 0)]


def test_a_failed_invocation_is_counted_as_an_error_and_not_captured(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    live_model(stack)
    monkeypatch.setattr(
        stack.sagemaker, "invoke_with_variant", lambda *_a, **_k: (json.dumps({"nope": 1}).encode(), None)
    )
    status, _ = call(stack, load_event("api", "predict"))
    assert status == 502
    stack.handler("api").deps.capture().flush()
    assert "Contents" not in stack.s3.list_objects_v2(Bucket=stack.env["ARTIFACT_BUCKET"], Prefix="captures/")
    _, health = call(stack, load_event("api", "monitoring"))
    assert [(v["version"], v["invocations"], v["errors"]) for v in health["versions"]] == [(3, 1, 1)]


def test_predict_publishes_its_metrics(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    live_model(stack)
    api = stack.handler("api")
    api.deps.capture().sample_rate = 1.0
    capsys.readouterr()
    assert call(stack, load_event("api", "predict"))[0] == 200
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    [emf] = emitted
    names = {m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names >= {"Predictions", "PredictLatency", "CapturedRows"}
    assert (emf["Predictions"], emf["CapturedRows"], emf["service"]) == ([2.0], [2.0], "challenger")
