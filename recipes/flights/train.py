"""SageMaker script-mode training entry point: a LightGBM gradient-boosted tree classifier (binary) over numbers,
one-hot categories and the parts of a date-time, for the ``flights`` recipe (any recipe.json with a binary target and
number / category / date / datetime features).

The model is a scikit-learn ``Pipeline``: a ``ColumnTransformer`` (numbers and date parts as float64, categories
one-hot) then ``lightgbm.LGBMClassifier``. ``fit`` exports it pickle-free — LightGBM's own text model plus the one-hot
categories (``inference.TreeModel``) — and ``predict`` scores with that export, so evaluation, the golden set and the
endpoint all run the code that serves. LightGBM is needed here only (requirements.txt, ``# training only``).

The training-job contract (channels, time-ordered hold-out on ``time_column``, champion comparison, golden set,
baseline, evaluation.json, failure file) is ``challenger_kit``'s. The kit hands ``fit`` the rows in content order and
LightGBM runs single-threaded and deterministic, so the same rows in any order fit the same trees bit for bit.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import challenger_kit
import inference  # the serving code beside this file (script mode runs train.py from its directory)
import lightgbm
import numpy as np
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).resolve().parent
DEFAULTS: dict[str, Any] = {
    "n_estimators": 100,
    "learning_rate": 0.05,
    "num_leaves": 8,
    "min_child_samples": 50,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "reg_lambda": 1.0,
    "decision_threshold": 0.3,
    "seed": 42,
}


@dataclass
class Fitted:
    """The fitted pipeline and its pickle-free export (what serves)."""

    pipeline: Pipeline
    model: inference.TreeModel
    hyperparameters: dict[str, Any]


def recipe() -> challenger_kit.Recipe:
    """This recipe's declaration, refusing targets and features this model cannot handle."""
    spec = challenger_kit.load_recipe(HERE)
    if spec.kind != "binary":
        raise challenger_kit.RecipeError(f"target kind {spec.kind!r}: this model is a binary classifier")
    inference.Columns.of(spec)
    return spec


def settings(hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """The recipe's defaults overridden by the job's hyperparameters, checked."""
    values = {**DEFAULTS, **{k: v for k, v in hyperparameters.items() if k in DEFAULTS}}
    problems = []
    for name in ("n_estimators", "num_leaves", "min_child_samples", "seed"):
        values[name] = int(values[name])
    for name in ("learning_rate", "subsample", "colsample_bytree", "reg_lambda", "decision_threshold"):
        values[name] = float(values[name])
    if values["n_estimators"] < 1 or values["num_leaves"] < 2 or values["min_child_samples"] < 1:
        problems.append("n_estimators >= 1, num_leaves >= 2 and min_child_samples >= 1")
    fractions = (values["learning_rate"], values["subsample"], values["colsample_bytree"])
    if not all(0 < value <= 1 for value in fractions):
        problems.append("learning_rate, subsample and colsample_bytree in (0, 1]")
    if not 0 < values["decision_threshold"] < 1 or values["reg_lambda"] < 0:
        problems.append("decision_threshold in (0, 1) and reg_lambda >= 0")
    if problems:
        raise challenger_kit.RecipeError(f"invalid hyperparameters: need {'; '.join(problems)}; got {values}")
    return values


def build_pipeline(columns: inference.Columns, values: dict[str, Any]) -> Pipeline:
    """Dense columns as float64 (a StandardScaler that neither centres nor scales only converts), categories one-hot
    (unseen values → all zeros), then the trees. float64 throughout: LightGBM would cast any other dtype to float32
    and split on thresholds the numpy scorer would not reproduce."""
    dense = len(columns.dense_names)
    transform = ColumnTransformer(
        [
            ("dense", StandardScaler(with_mean=False, with_std=False), list(range(dense))),
            (
                "onehot",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64),
                list(range(dense, dense + len(columns.categorical))),
            ),
        ]
    )
    trees = lightgbm.LGBMClassifier(
        n_estimators=values["n_estimators"],
        learning_rate=values["learning_rate"],
        num_leaves=values["num_leaves"],
        min_child_samples=values["min_child_samples"],
        subsample=values["subsample"],
        subsample_freq=1 if values["subsample"] < 1 else 0,
        colsample_bytree=values["colsample_bytree"],
        reg_lambda=values["reg_lambda"],
        random_state=values["seed"],
        n_jobs=1,
        deterministic=True,
        force_row_wise=True,
        verbose=-1,
    )
    return Pipeline([("columns", transform), ("trees", trees)])


def export(pipeline: Pipeline, spec: challenger_kit.Recipe, threshold: float) -> inference.TreeModel:
    """The fitted pipeline as LightGBM's text model and the one-hot categories."""
    columns = inference.Columns.of(spec)
    encoder = pipeline.named_steps["columns"].named_transformers_["onehot"]
    trees: lightgbm.LGBMClassifier = pipeline.named_steps["trees"]
    positive = spec.positive_label
    negative = next(c for c in spec.labels if c != positive)
    if [int(c) if isinstance(c, np.integer) else c for c in trees.classes_] != sorted([negative, positive]):
        raise challenger_kit.RecipeError(f"the trees learned classes {list(trees.classes_)}, not the recipe's")
    if trees.classes_[1] != positive:
        raise challenger_kit.RecipeError("the positive class must sort last (LightGBM scores the larger class value)")
    model_text = trees.booster_.model_to_string()
    categories = encoder.categories_ if columns.categorical else []
    model = inference.TreeModel(
        columns=columns,
        categories=tuple(tuple(str(v) for v in values) for values in categories),
        ensemble=inference.Ensemble.parse(model_text),
        model_text=model_text,
        threshold=threshold,
        classes=(negative, positive),
        label_names=(spec.labels[negative], spec.labels[positive]),
    )
    return model


# --- what challenger_kit.main calls -------------------------------------------------------------------------------


def fit(rows: list[dict[str, Any]], hyperparameters: dict[str, Any]) -> Fitted:
    """Fit on the training rows (features + target, typed by the kit)."""
    spec = recipe()
    values = settings(hyperparameters)
    columns = inference.Columns.of(spec)
    pipeline = build_pipeline(columns, values)
    targets = np.asarray([row[spec.target_name] for row in rows])
    pipeline.fit(columns.matrix(rows), targets)
    return Fitted(pipeline, export(pipeline, spec, values["decision_threshold"]), values)


def save(fitted: Fitted, model_dir: Path) -> None:
    """model.txt + model.json, recording what trained it (informational: serving needs numpy only)."""
    fitted.model.save(
        model_dir,
        extra={
            "trained_with": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "sklearn": sklearn.__version__,
                "lightgbm": lightgbm.__version__,
            },
            "hyperparameters": fitted.hyperparameters,
        },
    )


def predict(fitted: Fitted, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Predictions as the endpoint returns them (the exported model, not the pipeline)."""
    return fitted.model.predict(rows)


if __name__ == "__main__":
    sys.exit(challenger_kit.main(fit=fit, save=save, predict=predict, recipe_dir=HERE))
