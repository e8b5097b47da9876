"""GET /monitoring: serving health per version from the API's own counters, and the drift history."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from challenger_core.capture import LATENCY_BUCKETS_MS, latency_bucket
from challenger_core.drift import DriftReport, FeatureDrift
from challenger_core.monitoring import MonitoringStore
from challenger_core.observability import capture_logger
from tests.support.capture_logs import awslogs_event
from tests.support.events import load_event
from tests.support.lambda_context import context
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


@pytest.fixture
def api_log(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """The API function's capture log stream (stdout on Lambda, where the log group's subscription reads it)."""
    stream = io.StringIO()
    monkeypatch.setattr(capture_logger.registered_handler, "stream", stream)
    return stream


def deliver(stack: Stack, api_log: io.StringIO) -> dict[str, Any]:
    """What CloudWatch Logs does with the API's log: the lines the subscription filter matches, to CaptureFunction."""
    event = awslogs_event(api_log.getvalue())
    assert event is not None, "the API logged no capture line"
    result: dict[str, Any] = stack.handler("capture").lambda_handler(event, context("CaptureFunction"))
    return result


def test_predictions_are_captured_and_counted_off_the_response_path(stack: Stack, api_log: io.StringIO) -> None:
    live_model(stack)
    api = stack.handler("api")
    api.deps.capture().sample_rate = 1.0  # the stack's default samples 5%; the local cloud captures everything
    status, body = call(stack, load_event("api", "predict"))
    assert status == 200
    assert deliver(stack, api_log)["captured"] == 2
    api.deps.capture().flush()  # the counters: what its background thread does every CAPTURE_FLUSH_SECONDS
    artifacts = stack.env["ARTIFACT_BUCKET"]
    [key] = [o["Key"] for o in stack.s3.list_objects_v2(Bucket=artifacts, Prefix="captures/")["Contents"]]
    assert key.startswith(f"captures/model=v3/date={datetime.now(UTC):%Y-%m-%d}/")
    rows = [json.loads(line) for line in stack.s3.get_object(Bucket=artifacts, Key=key)["Body"].read().splitlines()]
    assert [row["instance"] for row in rows] == [
        {"review_text": "I love this, it works great!"},
        {"review_text": "Broke after a day. Awful."},
    ]
    assert [row["prediction"] for row in rows] == body["predictions"]
    request_id = load_event("api", "predict")["requestContext"]["requestId"]
    assert [row["request_id"] for row in rows] == [f"{request_id}/0", f"{request_id}/1"]
    assert all(row["latency_ms"] >= 0 and row["error"] is None for row in rows)
    _, health = call(stack, load_event("api", "monitoring"))
    assert [(v["version"], v["invocations"], v["errors"]) for v in health["versions"]] == [(3, 1, 0)]


def test_a_redelivered_batch_writes_the_same_objects(stack: Stack, api_log: io.StringIO) -> None:
    # CloudWatch Logs invokes asynchronously and Lambda retries: a retry must not duplicate captures.
    live_model(stack)
    stack.handler("api").deps.capture().sample_rate = 1.0
    assert call(stack, load_event("api", "predict"))[0] == 200
    event = awslogs_event(api_log.getvalue(), log_stream="2026/12/01/[$LATEST]abc")
    capture_fn = stack.handler("capture")
    first = capture_fn.lambda_handler(event, context("CaptureFunction"))
    second = capture_fn.lambda_handler(event, context("CaptureFunction"))
    assert first["objects"] == second["objects"]
    listed = stack.s3.list_objects_v2(Bucket=stack.env["ARTIFACT_BUCKET"], Prefix="captures/")["Contents"]
    assert len(listed) == 1


def test_a_failed_invocation_is_counted_as_an_error_and_captured_without_a_prediction(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, api_log: io.StringIO
) -> None:
    live_model(stack)
    stack.handler("api").deps.capture().sample_rate = 1.0
    monkeypatch.setattr(
        stack.sagemaker, "invoke_with_variant", lambda *_a, **_k: (json.dumps({"nope": 1}).encode(), None)
    )
    status, _ = call(stack, load_event("api", "predict"))
    assert status == 502
    deliver(stack, api_log)
    stack.handler("api").deps.capture().flush()
    artifacts = stack.env["ARTIFACT_BUCKET"]
    [key] = [o["Key"] for o in stack.s3.list_objects_v2(Bucket=artifacts, Prefix="captures/")["Contents"]]
    rows = [json.loads(line) for line in stack.s3.get_object(Bucket=artifacts, Key=key)["Body"].read().splitlines()]
    assert [(row["prediction"], row["error"]) for row in rows] == [(None, "invalid_output")] * 2
    _, health = call(stack, load_event("api", "monitoring"))
    assert [(v["version"], v["invocations"], v["errors"]) for v in health["versions"]] == [(3, 1, 1)]


def test_the_sample_subscription_event_is_stored(stack: Stack) -> None:
    result = stack.handler("capture").lambda_handler(load_event("capture", "subscription"), context("CaptureFunction"))
    assert (result["events"], result["captured"]) == (2, 3)
    [key] = result["objects"]
    assert key.startswith("captures/model=v3/date=2026-12-01/")
    body = stack.s3.get_object(Bucket=stack.env["ARTIFACT_BUCKET"], Key=key)["Body"].read().decode()
    assert "¿Qué tal? 🙂" in body  # UTF-8 as sent, not escaped


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
