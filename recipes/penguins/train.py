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

    pipeline: Pipeline | None  # None when fitted from batches (fit_batches): the export is the model
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
    alpha = _alpha(hyperparameters)
    numeric, categorical = inference.split_features(spec)
    pipeline = build_pipeline(len(numeric), len(categorical), alpha)
    targets = np.asarray([row[spec.target_name] for row in rows], dtype=np.float64)
    pipeline.fit(matrix(numeric, categorical, rows), targets)
    return Fitted(pipeline, export(pipeline, numeric, categorical), alpha)


def _alpha(hyperparameters: Mapping[str, Any]) -> float:
    alpha = float(hyperparameters.get("alpha", 1.0))
    if not np.isfinite(alpha) or alpha < 0:
        raise challenger_kit.RecipeError(f"invalid hyperparameters: alpha must be >= 0, got {alpha}")
    return alpha


def fit_batches(batches: challenger_kit.BatchesFn, hyperparameters: dict[str, Any]) -> Fitted:
    """The same ridge regression as ``fit`` from columnar chunks in two passes, memory bounded by a chunk: pass 1
    the means and the categories, pass 2 the Gram matrix of [centred numbers | one-hot] and its product with the
    target; then StandardScaler's scales, the intercept-centred normal equations Ridge solves (its dense "auto"
    solver, Cholesky) and the same export. Equal to ``fit`` up to float rounding (sums run in upload order)."""
    import pyarrow as pa  # noqa: PLC0415  # in the image; imported where batches are, never when serving
    import pyarrow.compute as pc  # noqa: PLC0415

    spec = recipe()
    alpha = _alpha(hyperparameters)
    numeric, categorical = inference.split_features(spec)
    target = spec.target_name
    seen: list[set[str]] = [set() for _ in categorical]
    n, sums = 0, np.zeros(len(numeric))
    for batch in batches():
        n += batch.num_rows
        sums += [np.asarray(batch.column(name).to_numpy(zero_copy_only=False), np.float64).sum() for name in numeric]
        for values, name in zip(seen, categorical, strict=True):
            values.update(str(v) for v in batch.column(name).unique().to_pylist())
    if n == 0:
        raise challenger_kit.RecipeError("no training rows")
    mean = sums / n
    categories = tuple(tuple(sorted(values)) for values in seen)
    width = len(numeric) + sum(len(values) for values in categories)
    gram, cross, column_sums, target_sum = np.zeros((width, width)), np.zeros(width), np.zeros(width), 0.0
    for batch in batches():
        columns = [
            np.asarray(batch.column(name).to_numpy(zero_copy_only=False), np.float64) - m
            for name, m in zip(numeric, mean, strict=True)
        ]
        blocks = [np.column_stack(columns) if columns else np.zeros((batch.num_rows, 0))]
        for name, known in zip(categorical, categories, strict=True):
            column = pc.fill_null(pc.cast(batch.column(name), pa.string()), "None")  # str(None), as pass 1 saw it
            codes = pc.index_in(column, value_set=pa.array(known, pa.string())).to_numpy(zero_copy_only=False)
            blocks.append(np.eye(len(known))[codes.astype(np.int64)])
        design = np.hstack(blocks)
        y = np.asarray(batch.column(target).to_numpy(zero_copy_only=False), np.float64)
        gram += design.T @ design
        cross += design.T @ y
        column_sums += design.sum(axis=0)
        target_sum += float(y.sum())
    k = len(numeric)
    variance = np.diag(gram)[:k] / n - (column_sums[:k] / n) ** 2
    scale = np.sqrt(np.maximum(variance, 0.0))
    scale[scale == 0.0] = 1.0  # StandardScaler leaves a constant column unscaled
    unscale = np.r_[1.0 / scale, np.ones(width - k)]
    gram, cross, column_sums = gram * np.outer(unscale, unscale), cross * unscale, column_sums * unscale
    centred_gram = gram - np.outer(column_sums, column_sums) / n
    centred_cross = cross - column_sums * (target_sum / n)
    coef = np.linalg.solve(centred_gram + alpha * np.eye(width), centred_cross)
    intercept = target_sum / n - float(column_sums @ coef) / n
    # Centring on pass 1's mean rather than the exact one shifts the intercept only, and b is fitted on that centring.
    model = inference.LinearModel(
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        mean=mean,
        scale=scale,
        categories=categories,
        coef=coef,
        intercept=intercept,
    )
    return Fitted(None, model, alpha)


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
    sys.exit(challenger_kit.main(fit=fit, save=save, predict=predict, recipe_dir=HERE, fit_batches=fit_batches))
