"""Serving code (SageMaker script mode: ``model_fn``/``input_fn``/``predict_fn``/``output_fn``) for a linear
model over standardized numeric and one-hot categorical features.

Generic over the recipe: the features, their validation and the request format come from ``recipe.json``
(copied next to this file into the model's ``code/``) through ``challenger_kit``. Nothing here names a column.

The model is plain arrays: ``model.npz`` (loaded with ``allow_pickle=False``) and ``model.json``, scored with
numpy alone, so serving needs neither scikit-learn nor pickle. ``model_fn`` refuses a model whose files do not
agree with each other or with the recipe (digest, array names, dtypes, shapes, non-finite values, features).

Python 3.10+ (no 3.11+ syntax or stdlib): the framework images' 3.10 and 3.12, the dev venv's 3.13.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import challenger_kit
import numpy as np

MODEL_FORMAT = "challenger.linear-regression/1"
MODEL_NPZ = "model.npz"
MODEL_JSON = "model.json"
HERE = Path(__file__).resolve().parent


class ModelFileError(ValueError):
    """The model files are missing, inconsistent or tampered with: the endpoint must not serve them."""


@dataclass(frozen=True)
class LinearModel:
    """``intercept + coef · [standardized numbers | one-hot categories]``, the columns in that order.

    That is the column order of scikit-learn's ``ColumnTransformer([("num", StandardScaler(), numbers), ("cat",
    OneHotEncoder(), categories)])``, so a fitted pipeline's coefficients apply unchanged. A category value the
    model never saw gets all-zero indicators, as ``OneHotEncoder(handle_unknown="ignore")`` does.
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    categories: tuple[tuple[str, ...], ...]
    coef: np.ndarray
    intercept: float

    def design_matrix(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The model's input matrix for validated records."""
        numbers = np.array([[float(r[name]) for name in self.numeric] for r in records], dtype=np.float64)
        blocks = [(numbers.reshape(len(records), len(self.numeric)) - self.mean) / self.scale]
        for name, values in zip(self.categorical, self.categories, strict=True):
            column_of = {value: i for i, value in enumerate(values)}
            block = np.zeros((len(records), len(values)), dtype=np.float64)
            for row, record in enumerate(records):
                column = column_of.get(record[name])
                if column is not None:
                    block[row, column] = 1.0
            blocks.append(block)
        return np.hstack(blocks)

    def predict_values(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Predicted targets (float64), one per record; the same product Ridge.predict computes."""
        if not records:
            return np.zeros(0, dtype=np.float64)
        return self.design_matrix(records) @ self.coef + self.intercept

    def predict(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
        """Prediction objects as the kit defines them for regression: ``{"value": <float>}``."""
        return [{"value": float(value)} for value in self.predict_values(records)]

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything fitted, as named arrays (no object dtype anywhere)."""
        arrays = {
            "mean": np.asarray(self.mean, dtype=np.float64),
            "scale": np.asarray(self.scale, dtype=np.float64),
            "coef": np.asarray(self.coef, dtype=np.float64),
            "intercept": np.asarray(self.intercept, dtype=np.float64),
        }
        for i, values in enumerate(self.categories):
            arrays[f"categories_{i}"] = np.asarray(values, dtype=np.str_)
        return arrays

    def save(self, model_dir: str | os.PathLike[str], extra: Mapping[str, Any] | None = None) -> None:
        """Write model.npz and model.json (features, array specs, digest of model.npz, ``extra``)."""
        directory = Path(model_dir)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = self.arrays()
        with open(directory / MODEL_NPZ, "wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]
        meta = dict(extra or {})
        meta.update(
            {
                "format": MODEL_FORMAT,
                "numeric": list(self.numeric),
                "categorical": list(self.categorical),
                "arrays": {name: {"dtype": a.dtype.str, "shape": list(a.shape)} for name, a in arrays.items()},
                "model_npz_sha256": _sha256(directory / MODEL_NPZ),
            }
        )
        (directory / MODEL_JSON).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str]) -> LinearModel:
        """Read and cross-check model.json and model.npz; ModelFileError on any mismatch."""
        directory = Path(model_dir)
        meta = _read_meta(directory / MODEL_JSON)
        npz_path = directory / MODEL_NPZ
        if not npz_path.is_file():
            raise ModelFileError(f"{MODEL_NPZ} not found in {directory}")
        if _sha256(npz_path) != meta["model_npz_sha256"]:
            raise ModelFileError(f"{MODEL_NPZ} does not match the sha256 recorded in {MODEL_JSON}")
        numeric, categorical = tuple(meta["numeric"]), tuple(meta["categorical"])
        try:
            # allow_pickle=False: an object array (the only way to smuggle a pickle into a .npy) fails to load.
            with np.load(npz_path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{MODEL_NPZ} cannot be read without pickle: {exc}") from None
        expected = {"mean", "scale", "coef", "intercept"} | {f"categories_{i}" for i in range(len(categorical))}
        if set(arrays) != expected or set(meta["arrays"]) != expected:
            raise ModelFileError(f"{MODEL_NPZ} holds {sorted(arrays)}, expected {sorted(expected)}")
        for name, array in arrays.items():
            spec = meta["arrays"][name]
            if not isinstance(spec, dict) or [array.dtype.str, list(array.shape)] != [
                spec.get("dtype"),
                spec.get("shape"),
            ]:
                raise ModelFileError(
                    f"{MODEL_NPZ}: {name} is {array.dtype.str}{list(array.shape)}, {MODEL_JSON} says {spec}"
                )
        categories = tuple(tuple(str(v) for v in arrays[f"categories_{i}"]) for i in range(len(categorical)))
        for i, values in enumerate(categories):
            if arrays[f"categories_{i}"].dtype.kind != "U" or not values or len(set(values)) != len(values):
                raise ModelFileError(f"{MODEL_NPZ}: categories_{i} must be distinct strings")
        width = len(numeric) + sum(len(values) for values in categories)
        shapes = {"mean": (len(numeric),), "scale": (len(numeric),), "coef": (width,), "intercept": ()}
        for name, shape in shapes.items():
            array = arrays[name]
            if array.dtype != np.float64 or array.shape != shape:
                raise ModelFileError(f"{MODEL_NPZ}: {name} must be float64 of shape {shape}, got {array.shape}")
            if not np.all(np.isfinite(array)):
                raise ModelFileError(f"{MODEL_NPZ}: {name} holds non-finite values")
        if np.any(arrays["scale"] <= 0):
            raise ModelFileError(f"{MODEL_NPZ}: scale must be positive")
        return cls(
            numeric=numeric,
            categorical=categorical,
            mean=arrays["mean"],
            scale=arrays["scale"],
            categories=categories,
            coef=arrays["coef"],
            intercept=float(arrays["intercept"]),
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{MODEL_JSON} not found in {path.parent}") from None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{MODEL_JSON} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ModelFileError(f"{MODEL_JSON}: format {found!r} is not {MODEL_FORMAT!r}")
    for key, kind in (("numeric", list), ("categorical", list), ("arrays", dict), ("model_npz_sha256", str)):
        if not isinstance(meta.get(key), kind):
            raise ModelFileError(f"{MODEL_JSON}: {key} missing or not a {kind.__name__}")
    if not all(isinstance(name, str) for name in meta["numeric"] + meta["categorical"]):
        raise ModelFileError(f"{MODEL_JSON}: feature names must be strings")
    return meta


def split_features(recipe: challenger_kit.Recipe) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(number features, category features) of a recipe, in declared order; refuses what this model cannot use."""
    unsupported = [f["name"] for f in recipe.features if f["type"] not in ("number", "category") or f.get("optional")]
    if unsupported:
        raise challenger_kit.RecipeError(
            f"features {unsupported}: this linear model takes required number and category features only"
        )
    numeric = tuple(f["name"] for f in recipe.features if f["type"] == "number")
    categorical = tuple(f["name"] for f in recipe.features if f["type"] == "category")
    return numeric, categorical


@dataclass(frozen=True)
class Served:
    """What model_fn returns: the model and the recipe its requests are checked against."""

    model: LinearModel
    recipe: challenger_kit.Recipe


# --- SageMaker inference handlers -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _recipe() -> challenger_kit.Recipe:
    return challenger_kit.load_recipe(HERE)


def model_fn(model_dir: str) -> Served:
    """Load and validate the model (once per worker); its features must be the recipe's."""
    recipe = _recipe()
    model = LinearModel.load(model_dir)
    if (model.numeric, model.categorical) != split_features(recipe):
        raise ModelFileError(
            f"{MODEL_JSON}: features {list(model.numeric + model.categorical)} are not the recipe's "
            f"{recipe.feature_names}"
        )
    return Served(model, recipe)


def input_fn(request_body: str | bytes, content_type: str | None) -> list[dict[str, Any]]:
    """``{"instances": [{<feature>: value, ...}]}`` (JSON) or CSV rows, checked against recipe.json by the kit."""
    return challenger_kit.parse_request(request_body, content_type, _recipe())


def predict_fn(input_data: list[dict[str, Any]], served: Served) -> list[dict[str, float]]:
    """Score validated instances in one matrix product."""
    return served.model.predict(input_data)


def output_fn(prediction: list[dict[str, float]], accept: str | None) -> tuple[str, str]:
    """``{"predictions": [...]}`` as JSON."""
    return challenger_kit.render_response(prediction, accept)
