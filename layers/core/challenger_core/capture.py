"""Inference capture and serving statistics, written off the response path.

Serverless endpoints support no DataCaptureConfig, so the API function captures for itself: a sample
(`CAPTURE_SAMPLE_RATE`) of requests, each written at once as one structured log line (Powertools Logger,
message `challenger-capture`, the rows under `capture`) to the function's own log stream. A CloudWatch Logs
subscription filter on the API's log group delivers those lines to CaptureFunction, which writes them as JSON
Lines to `s3://<ArtifactBucket>/captures/model=v<version>/date=<YYYY-MM-DD>/<id>.jsonl` (`store_captures`).
A line written to stdout before the response belongs to the Lambda service, not the sandbox: freezing or
reclaiming the sandbox after the response loses nothing (docs/decisions/0013-lossless-capture.md). A line stays
under CloudWatch Logs' 256 KB event limit: a request's rows are split over several lines, and a single row too
large for any line is counted as `omitted`, never truncated.

The per-hour counters per version (invocations, errors, a latency histogram), and the same per 5-minute window
(kept two days), are added to ModelsTable by a daemon thread, so `/predict` only appends to a list; a batch of
counters waits at most `CAPTURE_FLUSH_SECONDS` of invocation time. bench/bench_capture.py measures both paths.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from challenger_core.models import Model

# Upper bounds (ms) of the latency histogram's buckets; the last bucket is open-ended.
LATENCY_BUCKETS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
CAPTURE_PREFIX = "captures"


def capture_prefix(version: int, day: str) -> str:
    """Where one version's captures of one UTC day live (partitioned for listing and lifecycle)."""
    return f"{CAPTURE_PREFIX}/model=v{version}/date={day}/"


RECENT_WINDOW_MINUTES = 5


def recent_window(when: datetime) -> str:
    """The 5-minute window a request falls in (`2026-12-01T18:05`): finer counters beside the hourly ones."""
    return f"{when:%Y-%m-%dT%H}:{when.minute - when.minute % RECENT_WINDOW_MINUTES:02d}"


def latency_bucket(latency_ms: float) -> int:
    """Index of the latency histogram bucket a request falls into."""
    for index, bound in enumerate(LATENCY_BUCKETS_MS):
        if latency_ms <= bound:
            return index
    return len(LATENCY_BUCKETS_MS)


class ServingStats(Model):
    """One version's serving counters for one hour (what GET /monitoring returns per version)."""

    version: int
    hour: str  # 2026-12-01T18
    invocations: int = 0
    errors: int = 0
    latency_buckets: list[int] = Field(default_factory=list)

    def percentile(self, q: float) -> float | None:
        """The latency (ms, bucket upper bound) below which a fraction `q` of requests fell."""
        total = sum(self.latency_buckets)
        if not total:
            return None
        seen = 0
        for index, count in enumerate(self.latency_buckets):
            seen += count
            if seen >= q * total:
                return float(LATENCY_BUCKETS_MS[index]) if index < len(LATENCY_BUCKETS_MS) else float("inf")
        return None


# The log line a subscription filter selects: `"challenger-capture"` (a quoted term) in template.yaml.
CAPTURE_MESSAGE = "challenger-capture"
# CloudWatch Logs takes events of up to 256 KB (PutLogEvents quotas, 26 bytes of each for overhead); the rows of
# one line stay under this, which leaves room for Powertools' own keys around them.
MAX_ROWS_BYTES = 200_000


def _row_bytes(row: Mapping[str, Any]) -> int:
    # As Powertools' JSON formatter writes it (compact, ensure_ascii=False): the bytes the log event will hold.
    return len(json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=str).encode())


def capture_lines(header: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One request's capture as log line payloads (`header` — `v`, `request_id`, `ts`, `latency_ms`, `error` —
    then its `rows`), each under `MAX_ROWS_BYTES` of rows.

    `rows` are `{"instance": ..., "prediction": ...}` (prediction None on an error). A row that alone is over the
    limit cannot travel as a log event: it is left out and counted in the line's `omitted`.
    """
    base = dict(header)
    indexed = [{"i": index, **row} for index, row in enumerate(rows)]
    if _row_bytes({"rows": indexed}) <= MAX_ROWS_BYTES:  # the usual case: one line, one size check
        return [{**base, "rows": indexed}]
    lines: list[dict[str, Any]] = []
    chunk: list[Mapping[str, Any]] = []
    size = omitted = 0
    for row in indexed:
        row_size = _row_bytes(row)
        if row_size > MAX_ROWS_BYTES:
            omitted += 1
            continue
        if chunk and size + row_size > MAX_ROWS_BYTES:
            lines.append({**base, "rows": chunk})
            chunk, size = [], 0
        chunk.append(row)
        size += row_size + 1
    if chunk or omitted or not lines:
        lines.append({**base, "rows": chunk})
    if omitted:
        lines[-1]["omitted"] = omitted
    return lines


class CaptureRow(Model):
    """One row of a capture line: the instance's index in its request, the instance, what the champion answered."""

    i: int = 0
    instance: Any
    prediction: Any | None = None


class CaptureLine(Model):
    """What the API logs under `capture` for one sampled request (or one part of a large one)."""

    v: int
    request_id: str
    ts: str
    latency_ms: float | None = None
    error: str | None = None
    rows: list[CaptureRow] = Field(default_factory=list)
    omitted: int = 0

    def records(self) -> list[dict[str, Any]]:
        """The capture records stored in S3, one per row: `ts`, `instance`, `prediction` (what drift has always
        read) and `request_id` (`<request>/<i>` for a row of a request with several), `latency_ms`, `error`."""
        many = len(self.rows) > 1 or any(row.i for row in self.rows)
        return [
            {
                "ts": self.ts,
                "instance": row.instance,
                "prediction": row.prediction,
                "request_id": f"{self.request_id}/{row.i}" if many else self.request_id,
                "latency_ms": self.latency_ms,
                "error": self.error,
            }
            for row in self.rows
        ]


@dataclass
class _Pending:
    # (version, hour or 5-minute window) → [n, errors, *buckets]
    stats: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    since: float | None = None


class CaptureBuffer:
    """Captures sampled requests as log lines at once; collects counters that a background thread writes every
    `flush_seconds`."""

    def __init__(
        self,
        emit: Callable[[dict[str, Any]], object],
        add_stats: Callable[[int, str, list[int]], None],
        *,
        sample_rate: float,
        flush_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sampler: Callable[[], float] = random.random,
        on_error: Callable[[Exception], None] = lambda exc: None,
    ) -> None:
        self._emit = emit
        self._add_stats = add_stats
        self.sample_rate = sample_rate
        self.flush_seconds = flush_seconds
        self._clock = clock
        self._sampler = sampler
        self._on_error = on_error
        self._pending = _Pending()
        self._captured = 0  # rows captured since the last `take_captured()` (the API's CapturedRows metric)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def record(
        self,
        version: int,
        instances: Sequence[Mapping[str, Any]],
        predictions: Sequence[Mapping[str, Any]],
        latency_ms: float,
        *,
        error: str | bool | None = None,
        request_id: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Count one request; if it is sampled, log its rows now (a write to the function's log stream).

        `error` is the kind of error the endpoint's answer was (an `ErrorKind` of challenger_core.shadow); an
        errored request is captured too, with no prediction, so a replay knows what the champion failed on.
        """
        when = now or datetime.now(UTC)
        kind = ("model_error" if error is True else error) or None
        hour = when.strftime("%Y-%m-%dT%H")
        with self._lock:
            # The hour's counters, and the same in the request's 5-minute window (the live block's last 15 minutes).
            for window in (hour, recent_window(when)):
                stats = self._pending.stats.setdefault((version, window), [0, 0] + [0] * (len(LATENCY_BUCKETS_MS) + 1))
                stats[0] += 1
                stats[1] += int(kind is not None)
                stats[2 + latency_bucket(latency_ms)] += 1
            sampled = bool(instances) and self._sampler() < self.sample_rate
            if self._pending.since is None:
                self._pending.since = self._clock()
        self._ensure_thread()
        if not sampled:
            return
        answers: Sequence[Any] = [None] * len(instances) if kind else predictions
        rows = [{"instance": i, "prediction": p} for i, p in zip(instances, answers, strict=False)]
        stamp = when.isoformat(timespec="milliseconds")
        try:
            header = {
                "v": version,
                "request_id": request_id or uuid.uuid4().hex,
                "ts": stamp,
                "latency_ms": round(latency_ms, 3),
                "error": kind,
            }
            for line in capture_lines(header, rows):
                self._emit(line)
        except Exception as exc:  # a lost sample must never fail a prediction
            self._on_error(exc)
            return
        with self._lock:
            self._captured += len(rows)

    def take_captured(self) -> int:
        """How many rows were captured since the last call (and reset the count)."""
        with self._lock:
            captured, self._captured = self._captured, 0
        return captured

    def flush(self) -> None:
        """Write the pending counters now (the thread calls this; tests and shutdown may too)."""
        with self._lock:
            pending, self._pending = self._pending, _Pending()
        for (version, hour), counts in pending.stats.items():
            self._add_stats(version, hour, counts)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="capture-flush", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(timeout=self.flush_seconds)
            self._wake.clear()
            with self._lock:
                due = self._pending.since is not None and self._clock() - self._pending.since >= self.flush_seconds
            if due:
                try:
                    self.flush()
                except Exception as exc:  # a lost sample must never take the API down
                    self._on_error(exc)


def parse_capture_message(message: str) -> CaptureLine | None:
    """The capture a log event's message carries, or None when the line is anything else (the filter selects by a
    term, so another line that mentions it may arrive too)."""
    try:
        payload = json.loads(message)
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("message") != CAPTURE_MESSAGE:
        return None
    try:
        return CaptureLine.model_validate(payload.get("capture"))
    except ValueError:
        return None


def capture_objects(lines: Iterable[CaptureLine], batch_id: str) -> dict[str, bytes]:
    """The S3 objects one delivery's capture lines become: one JSON Lines object per (version, UTC day), named by
    the delivery (`batch_id`), so a redelivered batch rewrites the same keys with the same bytes."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        prefix = capture_prefix(line.v, line.ts[:10])
        grouped[prefix].extend(json.dumps(record, ensure_ascii=False) for record in line.records())
    return {prefix + f"{batch_id}.jsonl": ("\n".join(rows) + "\n").encode() for prefix, rows in grouped.items() if rows}
