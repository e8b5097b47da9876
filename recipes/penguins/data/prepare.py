"""Derive the bundled sample CSVs from the unmodified Palmer penguins file (source/penguins.csv).

Deterministic (no randomness): running it rewrites byte-identical files.

* train_v2.csv: every complete row (333 of 344): all three islands, all three species.
* train_v1.csv: the rows of Dream and Torgersen only (the 2-island survey, 170 rows): no Biscoe, so no
  Gentoo penguins, the heaviest species. A model trained on it is clearly worse on v2's hold-out, which
  is what a paired test must detect; every v1 row is also in v2, so v1's hold-out rows stay hold-out.
* bad_missing_values.csv: the first 40 source rows as published, with their ``NA`` cells: training
  must refuse it with the file, line and column of the first ``NA``.
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "source" / "penguins.csv"
COLUMNS = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "sex", "body_mass_g"]


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    with SOURCE.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    complete = [row for row in rows if "NA" not in row.values()]
    _write(HERE / "train_v2.csv", complete)
    _write(HERE / "train_v1.csv", [row for row in complete if row["island"] != "Biscoe"])
    _write(HERE / "bad_missing_values.csv", rows[:40])


if __name__ == "__main__":
    main()
