"""Issue 22: GET /monitoring gives each version's hour its own latency percentiles (the dashboard's per-hour p50/p99
next to requests and errors), from that hour's histogram alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from challenger_core.capture import LATENCY_BUCKETS_MS, latency_bucket
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
