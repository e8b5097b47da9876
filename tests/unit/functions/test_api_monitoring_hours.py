"""Issue 22: GET /monitoring gives each version's hour its own latency percentiles (the dashboard's per-hour p50/p99
next to requests and errors), from that hour's histogram alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from challenger_core.capture import LATENCY_BUCKETS_MS, CaptureBuffer, latency_bucket, recent_window
from challenger_core.monitoring import MonitoringStore
from tests.support.events import load_event
from tests.support.stack import Stack
from tests.unit.functions.api_support import call


def counts(invocations: int, errors: int, latency_ms: float) -> list[int]:
    buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    buckets[latency_bucket(latency_ms)] = invocations
    return [invocations, errors, *buckets]


def test_each_hour_has_its_own_p50_and_p99(stack: Stack) -> None:
    store = MonitoringStore(stack.ddb, stack.env["MODELS_TABLE"])
    now = datetime.now(UTC)
    this_hour, last_hour = now.strftime("%Y-%m-%dT%H"), (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H")
    store.add_stats(3, last_hour, counts(100, 0, 20))  # a quiet hour: all under 25 ms
    store.add_stats(3, this_hour, counts(98, 0, 20))
    store.add_stats(3, this_hour, counts(2, 2, 4000))  # a slow tail this hour only
    store.add_stats(3, this_hour, counts(1, 1, 60_000))  # beyond the last bound
    status, body = call(stack, load_event("api", "monitoring"))
    assert status == 200
    hours = {row["hour"]: row for row in body["hourly"]}
    assert (hours[last_hour]["p50_ms"], hours[last_hour]["p99_ms"]) == (25.0, 25.0)
    assert (hours[this_hour]["invocations"], hours[this_hour]["p50_ms"], hours[this_hour]["p99_ms"]) == (
        101,
        25.0,
        5000.0,
    )


def test_a_request_counts_in_its_hour_and_in_its_five_minute_window() -> None:
    written: list[tuple[int, str, list[int]]] = []
    buffer = CaptureBuffer(lambda line: None, lambda v, key, c: written.append((v, key, c)), sample_rate=0.0)
    buffer.record(3, [], [], 30.0, now=datetime(2026, 12, 1, 18, 7, 59, tzinfo=UTC))
    buffer.record(3, [], [], 30.0, error="model_error", now=datetime(2026, 12, 1, 18, 9, 0, tzinfo=UTC))
    buffer.flush()
    assert sorted((key, c[0], c[1]) for _, key, c in written) == [("2026-12-01T18", 2, 1), ("2026-12-01T18:05", 2, 1)]


def test_the_last_15_minutes_count_only_their_windows(stack: Stack) -> None:
    """The live block's error rate and p99 (issue 22): `minutes=15` reads the 5-minute windows, so an hour of good
    traffic does not hide the errors of the last minutes, and a window older than 15 minutes is not counted."""
    store = MonitoringStore(stack.ddb, stack.env["MODELS_TABLE"])
    now = datetime.now(UTC)
    store.add_stats(3, now.strftime("%Y-%m-%dT%H"), counts(1000, 10, 20))  # the hour so far
    store.add_stats(3, recent_window(now), counts(20, 10, 4000))  # the last minutes: half fail, slowly
    store.add_stats(3, recent_window(now - timedelta(minutes=40)), counts(500, 0, 20))  # before the window
    event = load_event("api", "monitoring")
    event["queryStringParameters"] = {"minutes": "15"}
    event["multiValueQueryStringParameters"] = {"minutes": ["15"]}
    status, body = call(stack, event)
    assert status == 200
    [v3] = body["versions"]
    assert (v3["invocations"], v3["errors"], v3["error_rate"], v3["p99_ms"]) == (20, 10, 0.5, 5000.0)
    item = stack.ddb.get_item(
        TableName=stack.env["MODELS_TABLE"], Key={"pk": {"S": "RECENT"}, "sk": {"S": f"V#000003#{recent_window(now)}"}}
    )["Item"]
    assert 0 < int(item["ttl"]["N"]) - now.timestamp() <= 2 * 24 * 3600 + 5  # DynamoDB TTL deletes it in two days
    status, hourly = call(stack, load_event("api", "monitoring"))
    assert hourly["versions"][0]["invocations"] == 1000  # the hourly view is unchanged
