"""Benchmark the sentiment recipe's inference handlers (run on demand: ``make bench``).

Trains on the bundled sample data into a temp dir (through ``train.main``), loads the model through
``model_fn`` and measures warm single-record latency of:

* ``predict_fn`` (compiled fast scorer),
* the plain sklearn ``pipeline.predict_proba`` it replaces,
* the whole ``input_fn`` + ``predict_fn`` + ``output_fn`` chain,

then checks the fast path gives identical predictions on the whole test set and shows where the
batch crossover to the vectorised pipeline lies. Exits 1 if the predict_fn p50 exceeds the budget
or any prediction differs.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

RECIPE_DIR = Path(__file__).resolve().parents[1] / "recipes" / "sentiment"
DATA_DIR = RECIPE_DIR / "data"
P50_BUDGET_US = 400.0
SCORE_TOLERANCE = 1e-9


def load_module(filename: str, name: str) -> ModuleType:
    """Import a recipe file by path (the recipe directory is not a package)."""
    spec = importlib.util.spec_from_file_location(name, RECIPE_DIR / filename)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def read_texts(path: Path) -> list[str]:
    """The review_text column of a recipe CSV."""
    with path.open(newline="", encoding="utf-8") as fh:
        return [row["review_text"] for row in csv.DictReader(fh)]


def percentiles(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50/p95/p99/mean in microseconds."""
    ordered = sorted(samples_ns)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "mean": statistics.fmean(ordered) / 1000}


def time_calls(
    fn: Callable[[str], object],
    texts: Sequence[str],
    iterations: int,
    warmup: int,
) -> dict[str, float]:
    """Latency of ``fn(text)``, cycling through real reviews so caches do not flatter the numbers."""
    for i in range(warmup):
        fn(texts[i % len(texts)])
    samples = []
    clock = time.perf_counter_ns
    for i in range(iterations):
        text = texts[i % len(texts)]
        start = clock()
        fn(text)
        samples.append(clock() - start)
    return percentiles(samples)


def batch_time_us(fn: Callable[[list[str]], object], batch: list[str], repeat: int = 15) -> float:
    """Median wall time of one call on ``batch`` (µs)."""
    fn(batch)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        fn(batch)
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 if within budget and identical, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=20_000, help="timed single-record calls")
    parser.add_argument("--sklearn-iterations", type=int, default=2_000)
    args = parser.parse_args(argv)

    train = load_module("train.py", "sentiment_train")
    inference = load_module("inference.py", "sentiment_inference")
    texts = read_texts(DATA_DIR / "test.csv")

    with tempfile.TemporaryDirectory(prefix="sentiment-bench-") as tmp:
        root = Path(tmp)
        for channel, name in (("train", "train_v2.csv"), ("test", "test.csv")):
            (root / channel).mkdir()
            shutil.copy(DATA_DIR / name, root / channel / name)
        argv_train = ["--train", str(root / "train"), "--test", str(root / "test")]
        argv_train += ["--model-dir", str(root / "model"), "--output-data-dir", str(root / "output")]
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the METRIC lines are for SageMaker logs
            status = train.main(argv_train)
        if status != 0:
            print("training failed", file=sys.stderr)
            return 1
        train_s = time.perf_counter() - start
        model_size = (root / "model" / "model.skops").stat().st_size
        start = time.perf_counter()
        model = inference.model_fn(str(root / "model"))
        load_ms = (time.perf_counter() - start) * 1000
        evaluation = json.loads((root / "model" / "evaluation.json").read_text())

    if model.scorer is None:
        print("FAIL: the fast scorer was not enabled", file=sys.stderr)
        return 1
    pipeline = model.pipeline

    # Identity on the whole test set: fast path (record by record) vs the sklearn pipeline.
    fast = [model.scorer.predict_one(text) for text in texts]
    expected_labels = pipeline.predict(texts).tolist()
    expected_scores = pipeline.predict_proba(texts)[:, 1]
    label_mismatches = sum(label != exp for (label, _), exp in zip(fast, expected_labels, strict=True))
    max_score_diff = float(np.max(np.abs(np.array([score for _, score in fast]) - expected_scores)))
    # The predict_fn batch path (> FAST_PATH_MAX_BATCH) must agree too.
    batch = inference.predict_fn(texts, model)
    label_mismatches += sum(p["label"] != exp for p, exp in zip(batch, expected_labels, strict=True))
    batch_scores = np.array([p["score"] for p in batch])
    max_score_diff = max(max_score_diff, float(np.max(np.abs(batch_scores - expected_scores))))

    fast_stats = time_calls(lambda t: inference.predict_fn([t], model), texts, args.iterations, 2_000)
    sklearn_stats = time_calls(lambda t: pipeline.predict_proba([t]), texts, args.sklearn_iterations, 200)
    bodies = [json.dumps({"instances": [t]}) for t in texts]
    body_of = dict(zip(texts, bodies, strict=True))

    def end_to_end(text: str) -> Any:
        data = inference.input_fn(body_of[text], "application/json")
        return inference.output_fn(inference.predict_fn(data, model), "application/json")

    e2e_stats = time_calls(end_to_end, texts, args.iterations, 2_000)

    print(
        f"model: {model_size / 1024:.1f} KiB model.skops, {len(model.vectorizer.vocabulary_)} features, "
        f"trained in {train_s:.2f} s (test F1 {evaluation['metrics']['f1']:.3f}), model_fn {load_ms:.1f} ms"
    )
    print()
    print("single-record latency (µs, warm)       p50      p95      p99     mean")
    rows = [
        ("predict_fn (fast scorer)", fast_stats),
        ("sklearn pipeline.predict_proba", sklearn_stats),
        ("input_fn+predict_fn+output_fn", e2e_stats),
    ]
    for name, stats in rows:
        cells = " ".join(f"{stats[key]:8.1f}" for key in ("p50", "p95", "p99", "mean"))
        print(f"  {name:<34} {cells}")
    print(f"  speed-up at p50: {sklearn_stats['p50'] / fast_stats['p50']:.1f}x")
    print()
    print("batch latency (µs): fast scorer loop vs vectorised pipeline")
    for size in (1, 16, 64, 128, 256, 400):
        chunk = texts[:size]
        fast_us = batch_time_us(lambda b: [model.scorer.predict_one(t) for t in b], chunk)
        sk_us = batch_time_us(model._predict_pipeline, chunk)
        chosen = "fast" if size <= inference.FAST_PATH_MAX_BATCH else "pipeline"
        print(f"  n={size:<4} fast {fast_us:9.1f}   pipeline {sk_us:9.1f}   predict_fn uses: {chosen}")
    print()
    print(
        f"identity on {len(texts)} test reviews: {label_mismatches} label mismatches, "
        f"max |score diff| {max_score_diff:.3g} (tolerance {SCORE_TOLERANCE:g})"
    )

    failures = []
    if fast_stats["p50"] > P50_BUDGET_US:
        failures.append(f"predict_fn p50 {fast_stats['p50']:.1f} µs > budget {P50_BUDGET_US:.0f} µs")
    if label_mismatches or max_score_diff > SCORE_TOLERANCE:
        failures.append("fast path predictions differ from the sklearn pipeline")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    if not failures:
        p50 = fast_stats["p50"]
        print(f"OK: predict_fn p50 {p50:.1f} µs <= {P50_BUDGET_US:.0f} µs and predictions identical")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
