"""Real public data for a scaffolded recipe's tests (issue 21), offline: the UCI sets scikit-learn ships.

Wine (multiclass, 178 rows, 3 cultivars), Breast Cancer Wisconsin Diagnostic (binary, 569 rows) and Diabetes
(regression, 442 rows; Efron et al. 2004), as a user would bring them: a CSV of number features and a target column.
``train_v2.csv`` repeats the set until it holds more rows than one request may carry (1,000), so rows recur;
``train_v1.csv`` is the set once (a subset of v2); ``bad_empty_cell.csv`` has a missing value.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

MAX_INSTANCES = 1000


@dataclass(frozen=True)
class RealData:
    features: list[str]
    target: dict[str, Any]
    score: str
    rows_v1: list[list[str]]
    rows_v2: list[list[str]]

    def write(self, recipe_dir: Path) -> None:
        """data/train_v1.csv, data/train_v2.csv and data/bad_empty_cell.csv under ``recipe_dir``."""
        header = [*self.features, self.target["name"]]
        bad = [list(row) for row in self.rows_v1[:30]]
        bad[7][2] = ""
        for name, rows in (("train_v1.csv", self.rows_v1), ("train_v2.csv", self.rows_v2), ("bad_empty_cell.csv", bad)):
            with (recipe_dir / "data" / name).open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(header)
                writer.writerows(rows)


def _column(name: str) -> str:
    """A CSV header as a recipe feature name (letters, digits, `_`): "mean radius" → "mean_radius"."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def real_dataset(kind: str) -> RealData:
    """The kind's real data set, as CSV rows with the target last."""
    loader = {"binary": load_breast_cancer, "multiclass": load_wine, "regression": load_diabetes}[kind]
    bunch = loader()
    features = [_column(str(name)) for name in bunch.feature_names]
    if kind == "regression":
        target: dict[str, Any] = {"name": "progression", "kind": "regression"}
        score = "value = disease progression one year after baseline"
        rows = [[repr(float(v)) for v in x] + [repr(float(y))] for x, y in zip(bunch.data, bunch.target, strict=True)]
    else:
        names = [str(name) for name in bunch.target_names]
        target = {"name": "diagnosis" if kind == "binary" else "cultivar", "kind": kind}
        target["labels"] = {str(i): name for i, name in enumerate(names)}
        if kind == "binary":
            target["positive"] = "0"  # malignant
        score = "probability of malignant" if kind == "binary" else "probability of the predicted cultivar"
        rows = [[repr(float(v)) for v in x] + [str(int(y))] for x, y in zip(bunch.data, bunch.target, strict=True)]
    copies = math.ceil((MAX_INSTANCES + 1) / len(rows))
    return RealData(features, target, score, rows, rows * copies)
