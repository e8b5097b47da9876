"""Inference capture's cost on the /predict path: what `CaptureBuffer.record` adds to one request.

The writes (S3 batch, DynamoDB counters) happen on the buffer's background thread; a request only appends to a
list under a lock. Measured here per request of 1 and 100 records at 100% sampling (the worst case; AWS samples
5%), interleaved with the same loop without capture, against a real writer thread draining to an in-memory sink.
The target: under 1% of the fastest /predict answer we measure end to end (the API's own handling plus the model
server, a few milliseconds), i.e. not measurable.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from challenger_core.capture import CaptureBuffer

RECORD = {"review_text": "Absolutely love it, works perfectly and the battery lasts for days."}
PREDICTION = {"label": 1, "label_name": "positive", "score": 0.93}
ROUNDS = 2000
BUDGET_MS = 0.03  # 1% of a 3 ms /predict: the fastest end-to-end answer on the local cloud


def measure(batch: int) -> dict[str, float]:
    sink: list[int] = []
    buffer = CaptureBuffer(
        lambda key, body: sink.append(len(body)), lambda *a: None, sample_rate=1.0, flush_seconds=0.05
    )
    instances, predictions = [RECORD] * batch, [PREDICTION] * batch
    with_capture, without = [], []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        buffer.record(1, instances, predictions, 12.0)
        with_capture.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        list(zip(instances, predictions, strict=True))  # the loop's own cost, without the capture
        without.append((time.perf_counter() - started) * 1000)
    buffer.flush()
    cost = statistics.median(with_capture) - statistics.median(without)
    return {
        "records": batch,
        "record_p50_ms": round(statistics.median(with_capture), 5),
        "record_p99_ms": round(sorted(with_capture)[int(0.99 * ROUNDS)], 5),
        "baseline_p50_ms": round(statistics.median(without), 5),
        "added_p50_ms": round(cost, 5),
        "bytes_written": sum(sink),
        "ok": cost <= BUDGET_MS * max(1, batch / 10),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {"budget_ms": BUDGET_MS, "requests": [measure(1), measure(100)]}
    for r in results["requests"]:
        print(
            f"capture, {r['records']} record(s)/request: +{r['added_p50_ms'] * 1000:.1f} µs p50 "
            f"(p99 {r['record_p99_ms'] * 1000:.1f} µs) — {'ok' if r['ok'] else 'OVER BUDGET'}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["ok"] for r in results["requests"]) else 1


if __name__ == "__main__":
    sys.exit(main())
