"""Inference capture and serving statistics, written off the response path.

Serverless endpoints support no DataCaptureConfig, so the API function captures for itself: a sample
(`CAPTURE_SAMPLE_RATE`) of requests with their predictions, buffered in memory and written in batches as JSON
Lines to `s3://<ArtifactBucket>/captures/model=v<version>/date=<YYYY-MM-DD>/<id>.jsonl`, plus per-hour
counters per version (invocations, errors, a latency histogram) added to ModelsTable. A daemon thread writes
the batches, so `/predict` only appends to a list. On Lambda the thread runs while the sandbox is thawed:
a batch waits at most `CAPTURE_FLUSH_SECONDS` of invocation time, and a sandbox that is reclaimed loses its
unwritten batch. That is acceptable for a drift sample and for operational counters, and it is the price of
adding nothing to the response time (bench/bench_capture.py measures it).
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
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


@dataclass
class _Pending:
    # (version, day) → (timestamp, instance, prediction); serialised by the writer thread, not the request
    records: dict[tuple[int, str], list[tuple[str, Any, Any]]] = field(default_factory=lambda: defaultdict(list))
    stats: dict[tuple[int, str], list[int]] = field(default_factory=dict)  # (version, hour) → [n, errors, *buckets]
    since: float | None = None


class CaptureBuffer:
    """Collects captures and counters; a background thread writes them every `flush_seconds`."""

    def __init__(
        self,
        write_batch: Callable[[str, bytes], object],
        add_stats: Callable[[int, str, list[int]], None],
        *,
        sample_rate: float,
        flush_seconds: float = 30.0,
        max_records: int = 500,
        clock: Callable[[], float] = time.monotonic,
        sampler: Callable[[], float] = random.random,
        on_error: Callable[[Exception], None] = lambda exc: None,
    ) -> None:
        self._write_batch = write_batch
        self._add_stats = add_stats
        self.sample_rate = sample_rate
        self.flush_seconds = flush_seconds
        self.max_records = max_records
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
        error: bool = False,
        now: datetime | None = None,
    ) -> None:
        """Count one request; capture its rows if it is sampled. Never blocks on I/O."""
        when = now or datetime.now(UTC)
        hour, day = when.strftime("%Y-%m-%dT%H"), when.strftime("%Y-%m-%d")
        with self._lock:
            stats = self._pending.stats.setdefault((version, hour), [0, 0] + [0] * (len(LATENCY_BUCKETS_MS) + 1))
            stats[0] += 1
            stats[1] += int(error)
            stats[2 + latency_bucket(latency_ms)] += 1
            if not error and predictions and self._sampler() < self.sample_rate:
                stamp = when.isoformat(timespec="milliseconds")
                rows = self._pending.records[(version, day)]
                rows.extend((stamp, i, p) for i, p in zip(instances, predictions, strict=False))
                self._captured += min(len(instances), len(predictions))
            if self._pending.since is None:
                self._pending.since = self._clock()
            full = sum(len(lines) for lines in self._pending.records.values()) >= self.max_records
        self._ensure_thread()
        if full:
            self._wake.set()

    def take_captured(self) -> int:
        """How many rows were captured since the last call (and reset the count)."""
        with self._lock:
            captured, self._captured = self._captured, 0
        return captured

    def flush(self) -> None:
        """Write everything pending now (the thread calls this; tests and shutdown may too)."""
        with self._lock:
            pending, self._pending = self._pending, _Pending()
        for (version, day), rows in pending.records.items():
            key = capture_prefix(version, day) + f"{uuid.uuid4().hex}.jsonl"
            lines = (
                json.dumps({"ts": ts, "instance": instance, "prediction": prediction})
                for ts, instance, prediction in rows
            )
            self._write_batch(key, ("\n".join(lines) + "\n").encode())
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
                due = self._pending.since is not None and (
                    self._clock() - self._pending.since >= self.flush_seconds
                    or sum(len(lines) for lines in self._pending.records.values()) >= self.max_records
                )
            if due:
                try:
                    self.flush()
                except Exception as exc:  # a lost sample must never take the API down
                    self._on_error(exc)
