"""SageMaker script-mode training entry point: ridge regression over standardized numeric and one-hot
categorical features, for any recipe.json with a ``regression`` target and number/category features.

The training-job contract (channels, stable hash hold-out, champion comparison, golden set, baseline,
evaluation.json, failure file) is ``challenger_kit``'s; this file supplies the model: ``fit``, ``save``,
``predict``. ``fit`` exports the fitted scikit-learn pipeline to plain arrays (``inference.LinearModel``) and
``predict`` scores with that export, so evaluation, golden set and endpoint all run the code that serves.

Python 3.10+ (the framework images' 3.10 with scikit-learn 1.4.2 and 3.12 with 1.9.0 both train it; tested also
on the dev venv's 3.13 + 1.9.1). The kit hands `fit` the rows in content order, so the same data in any order fits
the same model bit for bit.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import challenger_kit
import inference  # the serving code beside this file (script mode runs train.py from its directory)
import numpy as np
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).resolve().parent


@dataclass
class Fitted:
    """The fitted scikit-learn pipeline and its pickle-free export (what serves)."""

    pipeline: Pipeline
    model: inference.LinearModel
    alpha: float


def recipe() -> challenger_kit.Recipe:
    """This recipe's declaration, refusing targets and features this model cannot handle."""
    spec = challenger_kit.load_recipe(HERE)
    if spec.kind != "regression":
        raise challenger_kit.RecipeError(f"target kind {spec.kind!r}: this model is a ridge regression")
    inference.split_features(spec)
    return spec


def build_pipeline(n_numeric: int, n_categorical: int, alpha: float) -> Pipeline:
    """Numbers standardized, categories one-hot (unseen values → all zeros), then ridge regression.

    Columns are addressed by position in an object matrix (numbers first, then categories), which keeps pandas
    out of the recipe; dense one-hot output keeps the product the very one ``LinearModel`` computes.
    """
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), list(range(n_numeric))),
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                list(range(n_numeric, n_numeric + n_categorical)),
            ),
        ]
    )
    return Pipeline([("columns", columns), ("ridge", Ridge(alpha=alpha))])


def matrix(numeric: Sequence[str], categorical: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Rows → the object matrix ``build_pipeline`` takes (numbers first, then categories)."""
    return np.array(
        [[float(row[n]) for n in numeric] + [str(row[c]) for c in categorical] for row in rows], dtype=object
    ).reshape(len(rows), len(numeric) + len(categorical))


def export(pipeline: Pipeline, numeric: Sequence[str], categorical: Sequence[str]) -> inference.LinearModel:
    """The fitted pipeline as plain arrays."""
    columns: ColumnTransformer = pipeline.named_steps["columns"]
    ridge: Ridge = pipeline.named_steps["ridge"]
    scaler = columns.named_transformers_["num"]
    encoder = columns.named_transformers_["cat"]
    return inference.LinearModel(
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        mean=np.asarray(scaler.mean_ if numeric else [], dtype=np.float64),
        scale=np.asarray(scaler.scale_ if numeric else [], dtype=np.float64),
        categories=tuple(tuple(str(v) for v in values) for values in encoder.categories_) if categorical else (),
        coef=np.asarray(ridge.coef_, dtype=np.float64),
        intercept=float(ridge.intercept_),
    )


# --- what challenger_kit.main calls -----------------------------------------------------------------------------


def fit(rows: list[dict[str, Any]], hyperparameters: dict[str, Any]) -> Fitted:
    """Fit on the training rows (features + target, typed by the kit)."""
    spec = recipe()
    alpha = float(hyperparameters.get("alpha", 1.0))
    if not np.isfinite(alpha) or alpha < 0:
        raise challenger_kit.RecipeError(f"invalid hyperparameters: alpha must be >= 0, got {alpha}")
    numeric, categorical = inference.split_features(spec)
    pipeline = build_pipeline(len(numeric), len(categorical), alpha)
    targets = np.asarray([row[spec.target_name] for row in rows], dtype=np.float64)
    pipeline.fit(matrix(numeric, categorical, rows), targets)
    return Fitted(pipeline, export(pipeline, numeric, categorical), alpha)


def save(fitted: Fitted, model_dir: Path) -> None:
    """model.npz + model.json, recording what trained it (informational: serving needs numpy only)."""
    fitted.model.save(
        model_dir,
        extra={
            "trained_with": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "sklearn": sklearn.__version__,
            },
            "hyperparameters": {"alpha": fitted.alpha},
        },
    )


def predict(fitted: Fitted, rows: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Predictions as the endpoint returns them (the exported model, not the pipeline)."""
    return fitted.model.predict(rows)


if __name__ == "__main__":
    sys.exit(challenger_kit.main(fit=fit, save=save, predict=predict, recipe_dir=HERE))
