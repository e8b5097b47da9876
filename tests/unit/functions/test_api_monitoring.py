"""GET /monitoring: serving health per version from the API's own counters, and the drift history."""

from __future__ import annotations

from datetime import UTC, datetime

from challenger_core.capture import LATENCY_BUCKETS_MS, latency_bucket
from challenger_core.drift import DriftReport, FeatureDrift
from challenger_core.monitoring import MonitoringStore
from tests.support.events import load_event
from tests.unit.functions.test_api import call
from tests.support.stack import Stack


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
