from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from challenger_core.capture import CaptureBuffer, ServingStats, latency_bucket

WHEN = datetime(2026, 12, 1, 18, 30, tzinfo=UTC)


class Sink:
    def __init__(self) -> None:
        self.batches: dict[str, list[dict[str, Any]]] = {}
        self.stats: list[tuple[int, str, list[int]]] = []

    def write(self, key: str, body: bytes) -> None:
        self.batches[key] = [json.loads(line) for line in body.decode().splitlines()]

    def add(self, version: int, hour: str, counts: list[int]) -> None:
        self.stats.append((version, hour, counts))


def buffer(sink: Sink, **kwargs: Any) -> CaptureBuffer:
    return CaptureBuffer(sink.write, sink.add, **{"sample_rate": 1.0, **kwargs})


def test_captures_are_partitioned_by_version_and_day() -> None:
    sink = Sink()
    capture = buffer(sink)
    capture.record(3, [{"x": 1}, {"x": 2}], [{"label": 1}, {"label": 0}], 12.0, now=WHEN)
    capture.record(4, [{"x": 3}], [{"label": 1}], 40.0, now=WHEN)
    capture.flush()
    prefixes = sorted(key.rsplit("/", 1)[0] for key in sink.batches)
    assert prefixes == ["captures/model=v3/date=2026-12-01", "captures/model=v4/date=2026-12-01"]
    v3 = next(rows for key, rows in sink.batches.items() if "v3" in key)
    assert [(r["instance"], r["prediction"]) for r in v3] == [({"x": 1}, {"label": 1}), ({"x": 2}, {"label": 0})]


def test_unsampled_requests_are_counted_but_not_captured() -> None:
    sink = Sink()
    capture = buffer(sink, sample_rate=0.05, sampler=lambda: 0.5)
    capture.record(3, [{"x": 1}], [{"label": 1}], 12.0, now=WHEN)
    capture.record(3, [{"x": 1}], [], 3000.0, error=True, now=WHEN)
    capture.flush()
    assert sink.batches == {}
    [(version, hour, counts)] = sink.stats
    assert (version, hour, counts[0], counts[1]) == (3, "2026-12-01T18", 2, 1)
    assert counts[2 + latency_bucket(12.0)] == 1
    assert counts[2 + latency_bucket(3000.0)] == 1


def test_the_background_thread_writes_without_being_asked() -> None:
    # Recording never waits for I/O: the write runs on the flush thread, and while it is slow requests still record.
    sink = Sink()
    writing, release = threading.Event(), threading.Event()
    writers: list[threading.Thread] = []

    def slow_write(key: str, body: bytes) -> None:
        writers.append(threading.current_thread())
        writing.set()
        release.wait(10)
        sink.write(key, body)

    capture = CaptureBuffer(slow_write, sink.add, sample_rate=1.0, flush_seconds=0.05)
    capture.record(3, [{"x": 1}], [{"label": 1}], 12.0, now=WHEN)
    assert writing.wait(5)  # no flush() was called
    with ThreadPoolExecutor(1) as pool:
        during_the_write = pool.submit(capture.record, 3, [{"x": 2}], [{"label": 0}], 12.0, now=WHEN)
        try:
            during_the_write.result(timeout=5)
        finally:
            release.set()
    deadline = time.monotonic() + 5
    while not sink.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sink.batches) == 1
    assert writers[0] is not threading.current_thread()


def test_a_failing_write_is_reported_and_never_raised_to_the_caller() -> None:
    errors: list[Exception] = []

    def broken(key: str, body: bytes) -> None:
        raise OSError("s3 down")

    capture = CaptureBuffer(broken, lambda *a: None, sample_rate=1.0, flush_seconds=0.02, on_error=errors.append)
    capture.record(3, [{"x": 1}], [{"label": 1}], 12.0, now=WHEN)
    deadline = time.monotonic() + 5
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [str(e) for e in errors] == ["s3 down"]


def test_latency_percentiles_come_from_the_histogram() -> None:
    stats = ServingStats(version=1, hour="h", invocations=10, latency_buckets=[0, 5, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    assert (stats.percentile(0.5), stats.percentile(0.9), stats.percentile(0.99)) == (25.0, 50.0, float("inf"))
    assert ServingStats(version=1, hour="h").percentile(0.5) is None
