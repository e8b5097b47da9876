from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from challenger_core.capture import (
    CAPTURE_MESSAGE,
    MAX_ROWS_BYTES,
    CaptureBuffer,
    CaptureLine,
    ServingStats,
    capture_objects,
    latency_bucket,
    parse_capture_message,
)

WHEN = datetime(2026, 12, 1, 18, 30, tzinfo=UTC)


class Sink:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.stats: list[tuple[int, str, list[int]]] = []
        self.recent: list[tuple[int, str, list[int]]] = []  # the 5-minute windows (issue 22's last 15 minutes)

    def emit(self, line: dict[str, Any]) -> None:
        self.lines.append(json.loads(json.dumps(line)))  # what a log line can carry: JSON

    def add(self, version: int, hour: str, counts: list[int]) -> None:
        (self.recent if ":" in hour else self.stats).append((version, hour, counts))

    def objects(self) -> dict[str, list[dict[str, Any]]]:
        """What CaptureFunction writes of these lines (one delivery)."""
        written = capture_objects([CaptureLine.model_validate(line) for line in self.lines], "delivery")
        return {key: [json.loads(row) for row in body.decode().splitlines()] for key, body in written.items()}


def buffer(sink: Sink, **kwargs: Any) -> CaptureBuffer:
    return CaptureBuffer(sink.emit, sink.add, **{"sample_rate": 1.0, **kwargs})


def test_captures_are_partitioned_by_version_and_day() -> None:
    sink = Sink()
    capture = buffer(sink)
    capture.record(3, [{"x": 1}, {"x": 2}], [{"label": 1}, {"label": 0}], 12.0, request_id="r1", now=WHEN)
    capture.record(4, [{"x": 3}], [{"label": 1}], 40.0, request_id="r2", now=WHEN)
    objects = sink.objects()
    assert sorted(objects) == [
        "captures/model=v3/date=2026-12-01/delivery.jsonl",
        "captures/model=v4/date=2026-12-01/delivery.jsonl",
    ]
    v3 = objects["captures/model=v3/date=2026-12-01/delivery.jsonl"]
    assert [(r["instance"], r["prediction"]) for r in v3] == [({"x": 1}, {"label": 1}), ({"x": 2}, {"label": 0})]


def test_a_capture_record_keeps_the_old_fields_and_adds_request_latency_and_error() -> None:
    sink = Sink()
    capture = buffer(sink)
    capture.record(3, [{"x": 1}, {"x": 2}], [{"label": 1}, {"label": 0}], 12.3456, request_id="r1", now=WHEN)
    capture.record(3, [{"x": 3}], [{"label": 1}], 7.0, request_id="r2", now=WHEN)
    rows = sink.objects()["captures/model=v3/date=2026-12-01/delivery.jsonl"]
    assert rows[0] == {
        "ts": "2026-12-01T18:30:00.000+00:00",
        "instance": {"x": 1},
        "prediction": {"label": 1},
        "request_id": "r1/0",  # a row of a request with several instances
        "latency_ms": 12.346,
        "error": None,
    }
    assert [r["request_id"] for r in rows] == ["r1/0", "r1/1", "r2"]


def test_a_failed_request_is_captured_with_its_error_kind_and_no_prediction() -> None:
    sink = Sink()
    capture = buffer(sink)
    capture.record(3, [{"x": 1}], [], 3000.0, error="invalid_output", request_id="r1", now=WHEN)
    [rows] = sink.objects().values()
    assert [(r["instance"], r["prediction"], r["error"]) for r in rows] == [({"x": 1}, None, "invalid_output")]
    capture.flush()
    [(_, _, counts)] = sink.stats
    assert counts[:2] == [1, 1]


def test_the_line_is_written_before_record_returns() -> None:
    # Lossless: the line is on the function's log stream (Lambda's, not the sandbox's) when the response leaves.
    sink = Sink()
    buffer(sink).record(3, [{"x": 1}], [{"label": 1}], 12.0, request_id="r1", now=WHEN)
    assert [line["request_id"] for line in sink.lines] == ["r1"]


def test_a_large_request_is_split_over_lines_under_the_log_event_limit() -> None:
    sink = Sink()
    text = "é" * 20_000  # the sentiment recipe's longest review: 40 KB of UTF-8
    instances = [{"review_text": text}] * 12
    buffer(sink).record(3, instances, [{"label": 1}] * 12, 5.0, request_id="big", now=WHEN)
    sizes = [len(json.dumps(line, ensure_ascii=False).encode()) for line in sink.lines]
    assert len(sink.lines) >= 3
    assert max(sizes) < 256 * 1024 - 26 - 1024  # the event limit, its overhead, Powertools' own keys
    [rows] = sink.objects().values()
    assert [r["request_id"] for r in rows] == [f"big/{i}" for i in range(12)]


def test_a_row_too_large_for_any_log_event_is_counted_not_truncated() -> None:
    sink = Sink()
    instances = [{"t": "a"}, {"t": "x" * (MAX_ROWS_BYTES + 1)}, {"t": "b"}]
    buffer(sink).record(3, instances, [{"label": 1}] * 3, 5.0, request_id="r", now=WHEN)
    assert sum(line.get("omitted", 0) for line in sink.lines) == 1
    [rows] = sink.objects().values()
    assert [(r["request_id"], r["instance"]) for r in rows] == [("r/0", {"t": "a"}), ("r/2", {"t": "b"})]


def test_unsampled_requests_are_counted_but_not_captured() -> None:
    sink = Sink()
    capture = buffer(sink, sample_rate=0.05, sampler=lambda: 0.5)
    capture.record(3, [{"x": 1}], [{"label": 1}], 12.0, now=WHEN)
    capture.record(3, [{"x": 1}], [], 3000.0, error=True, now=WHEN)
    capture.flush()
    assert sink.lines == []
    [(version, hour, counts)] = sink.stats
    assert (version, hour, counts[0], counts[1]) == (3, "2026-12-01T18", 2, 1)
    assert counts[2 + latency_bucket(12.0)] == 1
    assert counts[2 + latency_bucket(3000.0)] == 1


def test_the_background_thread_writes_counters_without_being_asked() -> None:
    # Recording never waits for I/O: the counters are written on the flush thread, and while it is slow requests
    # still record.
    sink = Sink()
    writing, release = threading.Event(), threading.Event()
    writers: list[threading.Thread] = []

    def slow_add(version: int, hour: str, counts: list[int]) -> None:
        writers.append(threading.current_thread())
        writing.set()
        release.wait(10)
        sink.add(version, hour, counts)

    capture = CaptureBuffer(sink.emit, slow_add, sample_rate=1.0, flush_seconds=0.05)
    capture.record(3, [{"x": 1}], [{"label": 1}], 12.0, now=WHEN)
    assert writing.wait(5)  # no flush() was called
    with ThreadPoolExecutor(1) as pool:
        during_the_write = pool.submit(capture.record, 3, [{"x": 2}], [{"label": 0}], 12.0, now=WHEN)
        try:
            during_the_write.result(timeout=5)
        finally:
            release.set()
    deadline = time.monotonic() + 5
    while not sink.stats and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.stats
    assert writers[0] is not threading.current_thread()


def test_a_failing_write_is_reported_and_never_raised_to_the_caller() -> None:
    errors: list[Exception] = []

    def broken(*_: Any) -> None:
        raise OSError("down")

    capture = CaptureBuffer(broken, broken, sample_rate=1.0, flush_seconds=0.02, on_error=errors.append)
    capture.record(3, [{"x": 1}], [{"label": 1}], 12.0, now=WHEN)  # the log write fails: reported, not raised
    deadline = time.monotonic() + 5
    while len(errors) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [str(e) for e in errors[:2]] == ["down", "down"]


def test_other_log_lines_are_not_captures() -> None:
    assert parse_capture_message('{"message": "drift checked", "capture": {"v": 1}}') is None
    assert parse_capture_message("START RequestId: 1 Version: $LATEST") is None
    line = {"message": CAPTURE_MESSAGE, "capture": {"v": 2, "request_id": "r", "ts": "2026-12-01T00:00:00+00:00"}}
    parsed = parse_capture_message(json.dumps(line))
    assert parsed is not None
    assert parsed.v == 2


def test_latency_percentiles_come_from_the_histogram() -> None:
    stats = ServingStats(version=1, hour="h", invocations=10, latency_buckets=[0, 5, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    assert (stats.percentile(0.5), stats.percentile(0.9), stats.percentile(0.99)) == (25.0, 50.0, float("inf"))
    assert ServingStats(version=1, hour="h").percentile(0.5) is None
