"""ValidateData's peak memory at 1×, 10× and 100× the bundled sample (``make bench``; not part of ``make test``).

The files are ``recipes/sentiment/data/train_v1.csv`` with its data rows repeated (each copy's text suffixed with the
copy number, so rows stay distinct). Peak memory is Python's own allocations (``tracemalloc``) during one validation,
counting what the handler holds: with the streaming API (``validation.validate_stream``, fed a file object as the
handler feeds it S3's response body) the chunks in flight; with the older bytes API the whole file read into memory
first, as that handler did (``get_object()["Body"].read()``). Streaming holds when the peak does not grow with the
file. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from challenger_core import validation

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "recipes" / "sentiment" / "data" / "train_v1.csv"
RECIPE = ROOT / "recipes" / "sentiment" / "recipe.json"
FACTORS = (1, 10, 100)
# Streaming: the peak at 100× may exceed the 10× peak by this much at most (allocator noise, not the file). Not the
# 1× file: at 58 KB it is smaller than one read chunk, so its peak is lower still.
FLAT_TOLERANCE = 1.25


def make_file(directory: Path, factor: int) -> Path:
    header, *rows = SAMPLE.read_text(encoding="utf-8").splitlines()
    path = directory / f"train_x{factor}.csv"
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(header + "\n")
        for copy in range(factor):
            for row in rows:
                text, _, label = row.rpartition(",")
                if copy:
                    text = f"{text[:-1]} {copy}{text[-1]}" if text.endswith('"') else f"{text} {copy}"
                out.write(f"{text},{label}\n")
    return path


def _validator() -> tuple[str, Any]:
    """(api name, callable(path) → rows) for whichever validation API the core has."""
    if hasattr(validation, "validate_stream"):
        from challenger_core.recipe import RecipeSpec  # noqa: PLC0415

        schema = RecipeSpec.model_validate_json(RECIPE.read_text(encoding="utf-8")).data_schema

        def streamed(path: Path) -> int:
            with path.open("rb") as stream:
                summary = validation.validate_stream(
                    stream, schema, source=path.name, size=path.stat().st_size, role="train"
                )
            return int(summary.rows)

        return "validate_stream (chunks from a file object)", streamed

    parameters = inspect.signature(validation.validate_csv).parameters

    def whole(path: Path) -> int:
        data = path.read_bytes()
        kwargs: dict[str, Any] = {"source": path.name}
        if "min_rows" in parameters:
            kwargs["min_rows"] = 1
        return int(validation.validate_csv(data, **kwargs).rows)

    return "validate_csv (the whole file in memory)", whole


def measure(directory: Path) -> dict[str, Any]:
    api, validate = _validator()
    rows: list[dict[str, Any]] = []
    for factor in FACTORS:
        path = make_file(directory, factor)
        validate(path)  # warm: imports, regex compilation, the schema
        tracemalloc.start()
        started = time.perf_counter()
        count = validate(path)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = path.stat().st_size
        rows.append(
            {
                "factor": factor,
                "bytes": size,
                "rows": count,
                "peak_bytes": peak,
                "peak_over_file": peak / size,
                "seconds": seconds,
            }
        )
    flat = rows[-1]["peak_bytes"] <= FLAT_TOLERANCE * rows[-2]["peak_bytes"]
    return {"api": api, "files": rows, "peak_independent_of_size": flat, "max_bytes": validation.MAX_BYTES}


def table(result: dict[str, Any]) -> str:
    lines = [
        f"ValidateData — {result['api']}",
        "| file | size | rows | peak memory | peak / file | time |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["files"]:
        lines.append(
            f"| {row['factor']}× sample | {row['bytes'] / 1e6:.2f} MB | {row['rows']:,} | "
            f"{row['peak_bytes'] / 1e6:.2f} MB | {row['peak_over_file']:.2f}× | {row['seconds']:.2f} s |"
        )
    verdict = "PASS" if result["peak_independent_of_size"] else "FAIL"
    lines.append(f"peak memory independent of file size (100× ≤ {FLAT_TOLERANCE}× the 10× peak): {verdict}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "validate.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as directory:
        result = measure(Path(directory))
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["peak_independent_of_size"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
