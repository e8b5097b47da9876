"""Serving code (SageMaker script mode: ``model_fn``/``input_fn``/``predict_fn``/``output_fn``) for a LightGBM
gradient-boosted tree classifier over numbers, one-hot categories and the parts of a date-time, scored with numpy.

The model is LightGBM's own text model format (``model.txt``, what ``Booster.model_to_string()`` writes: every tree's
splits, thresholds and leaf values as decimal text) and ``model.json`` (the one-hot categories, the derived columns,
the decision threshold and the sha256 of ``model.txt``). ``model_fn`` parses the text into numpy arrays and refuses
anything it cannot score exactly as LightGBM does (categorical splits, linear trees, another objective, a digest or
feature count that disagrees). Serving needs neither LightGBM nor pickle: numpy alone, which the image has.

Scoring follows LightGBM's ``Tree::NumericalDecision`` (src/io/tree.h, v4.7.0): a value goes left when
``value <= threshold``; a missing value (NaN, or 0 under ``zero_as_missing``) takes the split's default side. The raw
score is the trees' leaf values added in tree order in float64, and the probability ``1 / (1 + exp(-sigmoid · raw))``
(``BinaryLogloss::ConvertOutput``), so predictions equal ``LGBMClassifier.predict_proba`` to the last bits.

Python 3.10+ (no 3.11+ syntax or stdlib): the framework images' 3.10 and 3.12, the dev venv's 3.13.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import challenger_kit
import numpy as np

MODEL_FORMAT = "challenger.lightgbm-text/1"
MODEL_TXT = "model.txt"
MODEL_JSON = "model.json"
HERE = Path(__file__).resolve().parent
# LightGBM's kZeroThreshold (include/LightGBM/meta.h): |x| at or below it counts as zero.
ZERO_THRESHOLD = 1e-35
# decision_type bits (include/LightGBM/tree.h): 1 categorical, 2 default left, (type >> 2) & 3 the missing type.
CATEGORICAL_MASK, DEFAULT_LEFT_MASK = 1, 2
MISSING_ZERO, MISSING_NAN = 1, 2  # (0: none)
# What the model sees of a date-time: these parts of the (UTC) time column, plus the numbers as given.
DATE_PARTS = ("month", "weekday", "day_of_year", "hour_utc")


class ModelFileError(ValueError):
    """The model files are missing, inconsistent or not scorable here: the endpoint must not serve them."""


# --- features -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """How recipe features become the model's columns: numbers, then date parts, then one-hot categories."""

    numeric: tuple[str, ...]
    temporal: tuple[str, ...]
    categorical: tuple[str, ...]

    @classmethod
    def of(cls, recipe: challenger_kit.Recipe) -> Columns:
        """The recipe's features by type; refuses what this model cannot take."""
        kinds = {f["name"]: f["type"] for f in recipe.features}
        unsupported = [n for n, kind in kinds.items() if kind == "text"]
        optional = [f["name"] for f in recipe.features if f.get("optional")]
        if unsupported or optional:
            raise challenger_kit.RecipeError(
                f"features {unsupported + optional}: this model takes required number, category, date and datetime "
                "features only"
            )
        return cls(
            numeric=tuple(n for n, kind in kinds.items() if kind == "number"),
            temporal=tuple(n for n, kind in kinds.items() if kind in ("date", "datetime")),
            categorical=tuple(n for n, kind in kinds.items() if kind == "category"),
        )

    @property
    def dense_names(self) -> list[str]:
        """The columns before one-hot encoding: numbers, then each date feature's parts."""
        return [*self.numeric, *(f"{name}.{part}" for name in self.temporal for part in DATE_PARTS)]

    def dense(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Numbers and date parts (float64), one row per record."""
        out = np.empty((len(records), len(self.dense_names)), dtype=np.float64)
        for i, record in enumerate(records):
            values = [float(record[name]) for name in self.numeric]
            for name in self.temporal:
                moment = challenger_kit.to_datetime(record[name])
                values += [moment.month, moment.weekday(), moment.timetuple().tm_yday, moment.hour]
            out[i] = values
        return out

    def matrix(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The object matrix a scikit-learn ColumnTransformer takes: dense columns, then the raw categories."""
        dense = self.dense(records).astype(object)
        categories = np.array([[str(r[name]) for name in self.categorical] for r in records], dtype=object)
        return np.hstack([dense, categories.reshape(len(records), len(self.categorical))])


# --- trees --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """One LightGBM tree as arrays; node ``i >= 0`` is internal, a child ``c < 0`` is the leaf ``~c``."""

    split_feature: np.ndarray
    threshold: np.ndarray
    decision_type: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf_value: np.ndarray


@dataclass(frozen=True)
class Ensemble:
    """A binary LightGBM model: trees added in order, then the sigmoid."""

    trees: tuple[Tree, ...]
    sigmoid: float
    n_features: int

    @functools.cached_property
    def _padded(self) -> tuple[np.ndarray, ...]:
        """Every tree's arrays padded to the widest tree, one row per tree, to walk all trees at once."""
        count = len(self.trees)
        internal = max([1, *(t.split_feature.size for t in self.trees)])
        leaves = max(t.leaf_value.size for t in self.trees)
        feature = np.zeros((count, internal), dtype=np.int64)
        threshold = np.zeros((count, internal), dtype=np.float64)
        kind = np.zeros((count, internal), dtype=np.int64)
        left = np.full((count, internal), -1, dtype=np.int64)
        right = np.full((count, internal), -1, dtype=np.int64)
        leaf = np.zeros((count, leaves), dtype=np.float64)
        start = np.zeros(count, dtype=np.int64)  # node 0, or leaf 0 (-1) for a single-leaf tree
        for i, tree in enumerate(self.trees):
            n = tree.split_feature.size
            feature[i, :n], threshold[i, :n], kind[i, :n] = tree.split_feature, tree.threshold, tree.decision_type
            left[i, :n], right[i, :n] = tree.left, tree.right
            leaf[i, : tree.leaf_value.size] = tree.leaf_value
            start[i] = 0 if n else -1
        return feature, threshold, kind, left, right, leaf, start

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Sum of the trees' leaf values in tree order (LightGBM's order of additions: a cumulative sum along the
        trees is the same sequence of float64 additions)."""
        feature, threshold, kind, left, right, leaf, start = self._padded
        trees = np.arange(len(self.trees))
        node = np.tile(start, (x.shape[0], 1))  # (rows, trees)
        rows, columns = np.nonzero(node >= 0)
        while rows.size:
            at = node[rows, columns]
            values = x[rows, feature[columns, at]]
            decision = kind[columns, at]
            missing_type = (decision >> 2) & 3
            values = np.where(np.isnan(values) & (missing_type != MISSING_NAN), 0.0, values)
            missing = ((missing_type == MISSING_ZERO) & (np.abs(values) <= ZERO_THRESHOLD)) | (
                (missing_type == MISSING_NAN) & np.isnan(values)
            )
            go_left = np.where(missing, (decision & DEFAULT_LEFT_MASK) != 0, values <= threshold[columns, at])
            node[rows, columns] = np.where(go_left, left[columns, at], right[columns, at])
            still = node[rows, columns] >= 0
            rows, columns = rows[still], columns[still]
        values = leaf[trees, ~node]
        return np.cumsum(values, axis=1)[:, -1] if len(self.trees) else np.zeros(x.shape[0])

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(positive class) per row, as BinaryLogloss::ConvertOutput computes it."""
        return 1.0 / (1.0 + np.exp(-self.sigmoid * self.raw(x)))

    @classmethod
    def parse(cls, text: str) -> Ensemble:
        """LightGBM's text model (v4) → arrays; ModelFileError on anything this scorer would not get exactly right."""
        blocks = [b.strip() for b in text.split("\n\n") if b.strip()]
        if not blocks or blocks[0].splitlines()[0].strip() != "tree":
            raise ModelFileError(f"{MODEL_TXT} is not a LightGBM text model")
        header = _key_values(blocks[0])
        objective = header.get("objective", "").split()
        if not objective or objective[0] != "binary" or header.get("num_class") != "1":
            raise ModelFileError(f"{MODEL_TXT}: objective {header.get('objective')!r} is not binary")
        if "average_output" in blocks[0].splitlines():
            raise ModelFileError(f"{MODEL_TXT}: averaged (random forest) output is not supported")
        sigmoid = dict(part.split(":", 1) for part in objective[1:] if ":" in part).get("sigmoid")
        n_features = int(header["max_feature_idx"]) + 1
        trees = []
        for block in blocks[1:]:
            first = block.splitlines()[0]
            if not first.startswith("Tree="):
                break  # "end of trees", then feature importances and parameters
            trees.append(_tree(_key_values(block), n_features, first))
        if not trees or sigmoid is None:
            raise ModelFileError(f"{MODEL_TXT} holds no trees or no sigmoid")
        return cls(tuple(trees), float(sigmoid), n_features)


def _key_values(block: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in block.splitlines() if "=" in line)


def _tree(fields: Mapping[str, str], n_features: int, name: str) -> Tree:
    def array(key: str, dtype: type) -> np.ndarray:
        text = fields.get(key, "").strip()
        return np.array(text.split(" ") if text else [], dtype=dtype)

    try:
        leaves = int(fields["num_leaves"])
        if int(fields.get("num_cat", "0")) != 0 or fields.get("is_linear", "0") != "0":
            raise ModelFileError(f"{MODEL_TXT} {name}: categorical or linear trees are not supported")
        tree = Tree(
            split_feature=array("split_feature", np.int64),
            threshold=array("threshold", np.float64),
            decision_type=array("decision_type", np.int64),
            left=array("left_child", np.int64),
            right=array("right_child", np.int64),
            leaf_value=array("leaf_value", np.float64),
        )
    except (KeyError, ValueError) as exc:
        raise ModelFileError(f"{MODEL_TXT} {name}: unreadable: {exc}") from None
    internal = leaves - 1
    sizes = {tree.split_feature.size, tree.threshold.size, tree.decision_type.size, tree.left.size, tree.right.size}
    children = np.concatenate([tree.left, tree.right])
    if (
        sizes != {internal}
        or tree.leaf_value.size != leaves
        or not np.all(np.isfinite(tree.leaf_value))
        or np.any(np.isnan(tree.threshold))
        or np.any((tree.split_feature < 0) | (tree.split_feature >= n_features))
        or np.any(tree.decision_type & CATEGORICAL_MASK)
        or np.any((children >= internal) | (children < -leaves))
    ):
        raise ModelFileError(f"{MODEL_TXT} {name}: inconsistent arrays")
    return tree


# --- the model ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeModel:
    """Columns + one-hot categories + the tree ensemble + the decision threshold: what the endpoint serves."""

    columns: Columns
    categories: tuple[tuple[str, ...], ...]
    ensemble: Ensemble
    model_text: str
    threshold: float
    classes: tuple[int, int]
    label_names: tuple[str, str]

    def design(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The model's float64 input: dense columns, then one indicator per known category value (unknown: zeros,
        as OneHotEncoder(handle_unknown="ignore"))."""
        blocks = [self.columns.dense(records)]
        for name, values in zip(self.columns.categorical, self.categories, strict=True):
            column_of = {value: i for i, value in enumerate(values)}
            block = np.zeros((len(records), len(values)), dtype=np.float64)
            for row, record in enumerate(records):
                column = column_of.get(str(record[name]))
                if column is not None:
                    block[row, column] = 1.0
            blocks.append(block)
        return np.hstack(blocks)

    def scores(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """P(positive class) per record."""
        if not records:
            return np.zeros(0, dtype=np.float64)
        return self.ensemble.probability(self.design(records))

    def predict(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``{"label", "label_name", "score"}`` per record: positive when the score reaches the threshold."""
        out = []
        for score in self.scores(records).tolist():
            index = 1 if score >= self.threshold else 0
            out.append({"label": self.classes[index], "label_name": self.label_names[index], "score": score})
        return out

    def save(self, model_dir: str | os.PathLike[str], extra: Mapping[str, Any] | None = None) -> None:
        """model.txt (LightGBM's text) and model.json (everything else, and model.txt's sha256)."""
        directory = Path(model_dir)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MODEL_TXT).write_text(self.model_text, encoding="utf-8")
        meta = dict(extra or {})
        meta.update(
            {
                "format": MODEL_FORMAT,
                "numeric": list(self.columns.numeric),
                "temporal": list(self.columns.temporal),
                "categorical": list(self.columns.categorical),
                "date_parts": list(DATE_PARTS),
                "categories": [list(values) for values in self.categories],
                "threshold": self.threshold,
                "classes": list(self.classes),
                "label_names": list(self.label_names),
                "model_txt_sha256": _sha256(directory / MODEL_TXT),
            }
        )
        (directory / MODEL_JSON).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str], recipe: challenger_kit.Recipe) -> TreeModel:
        """Read and cross-check model.json, model.txt and the recipe; ModelFileError on any mismatch."""
        directory = Path(model_dir)
        try:
            meta = json.loads((directory / MODEL_JSON).read_text(encoding="utf-8"))
            text_path = directory / MODEL_TXT
            text = text_path.read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"model files unreadable in {directory}: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
            raise ModelFileError(f"{MODEL_JSON}: format is not {MODEL_FORMAT!r}")
        if meta.get("model_txt_sha256") != _sha256(text_path):
            raise ModelFileError(f"{MODEL_TXT} does not match the sha256 recorded in {MODEL_JSON}")
        columns = Columns.of(recipe)
        declared = (meta.get("numeric"), meta.get("temporal"), meta.get("categorical"), meta.get("date_parts"))
        expected = (list(columns.numeric), list(columns.temporal), list(columns.categorical), list(DATE_PARTS))
        if declared != expected:
            raise ModelFileError(f"{MODEL_JSON}: features {declared} are not the recipe's {expected}")
        categories = meta.get("categories")
        if (
            not isinstance(categories, list)
            or len(categories) != len(columns.categorical)
            or not all(isinstance(v, list) and v and all(isinstance(s, str) for s in v) for v in categories)
            or any(len(set(values)) != len(values) for values in categories)
        ):
            raise ModelFileError(f"{MODEL_JSON}: categories must be one list of distinct strings per category feature")
        ensemble = Ensemble.parse(text)
        width = len(columns.dense_names) + sum(len(values) for values in categories)
        if ensemble.n_features != width:
            raise ModelFileError(f"{MODEL_TXT} has {ensemble.n_features} features, the columns make {width}")
        threshold = meta.get("threshold")
        if not isinstance(threshold, float) or not 0.0 < threshold < 1.0 or not math.isfinite(threshold):
            raise ModelFileError(f"{MODEL_JSON}: threshold must be a probability, got {threshold!r}")
        classes = tuple(recipe.labels)
        positive = recipe.positive_label
        ordered = (next(c for c in classes if c != positive), positive)
        if meta.get("classes") != list(ordered):
            raise ModelFileError(f"{MODEL_JSON}: classes {meta.get('classes')} are not the recipe's {list(ordered)}")
        return cls(
            columns=columns,
            categories=tuple(tuple(values) for values in categories),
            ensemble=ensemble,
            model_text=text,
            threshold=threshold,
            classes=(ordered[0], ordered[1]),
            label_names=(recipe.labels[ordered[0]], recipe.labels[ordered[1]]),
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- SageMaker inference handlers ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _recipe() -> challenger_kit.Recipe:
    return challenger_kit.load_recipe(HERE)


def model_fn(model_dir: str) -> TreeModel:
    """Load and check the model (once per worker)."""
    return TreeModel.load(model_dir, _recipe())


def input_fn(request_body: str | bytes, content_type: str | None) -> list[dict[str, Any]]:
    """``{"instances": [{<feature>: value, ...}]}`` (JSON) or CSV rows, checked against recipe.json by the kit;
    date-times arrive in canonical UTC form."""
    rows: list[dict[str, Any]] = challenger_kit.parse_request(request_body, content_type, _recipe())
    return rows


def predict_fn(input_data: list[dict[str, Any]], model: TreeModel) -> list[dict[str, Any]]:
    """Score validated instances in one pass over the trees."""
    return model.predict(input_data)


def output_fn(prediction: list[dict[str, Any]], accept: str | None) -> tuple[str, str]:
    """``{"predictions": [...]}`` as JSON."""
    rendered: tuple[str, str] = challenger_kit.render_response(prediction, accept)
    return rendered
