"""Challenger recipe kit: the training-job and serving contract, implemented once for every recipe.

A recipe's ``train.py`` supplies four functions and hands them to :func:`main`::

    def fit(rows, hyperparameters): ...        # -> fitted model (anything)
    def save(model, model_dir): ...            # writes model.npz + model.json (pickle-free)
    def predict(model, rows): ...              # -> [{"label": ..., "score": ...}, ...] one per row
    def metrics(y_true, predictions): ...      # optional -> {"f1": 0.91, ...}
    def fit_batches(batches, hyperparameters): ...  # optional: batches() -> iterator of pyarrow RecordBatches

    if __name__ == "__main__":
        sys.exit(challenger_kit.main(fit=fit, save=save, predict=predict, metrics=metrics))

Everything else — reading the channels (CSV or Parquet, one file or many parts) in chunks per ``recipe.json``, the
stable hash hold-out, the champion's artifact scored through the champion's own serving code, the paired bootstrap,
``evaluation.json``, ``golden.json``, ``baseline.json``, the serving code in ``model/code/`` and the failure file —
happens here. A recipe's ``inference.py`` uses :func:`parse_request` / :func:`render_response` for ``input_fn`` /
``output_fn``.

Constraints: standard library + numpy only on the serving side; the training side reads data with pyarrow (in the
image: pyarrow 25.0.0), imported only when it reads a channel, so a model server never loads it. It runs on
Python 3.12 in the SageMaker scikit-learn 1.9-0 container the recipes declare (``recipe.json`` ``framework``) and
stays Python 3.10 compatible (ruff lints ``recipes/`` for 3.10).
See ``recipes/kit/README.md`` for the contract in prose.
"""

from __future__ import annotations

import compileall
import contextlib
import csv
import datetime
import hashlib
import importlib.util
import io
import json
import logging
import math
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

KIT_VERSION = "1"
RECIPE_FILE = "recipe.json"
EVALUATION_FILE = "evaluation.json"
# Per-file SHA-256 of the model directory, written to output/ (SageMaker tars /opt/ml/model into model.tar.gz after the
# job exits, so the job cannot hash the archive itself; RegisterCandidate checks the archive's members against it).
MANIFEST_FILE = "model_manifest.json"
GOLDEN_FILE = "golden.json"
BASELINE_FILE = "baseline.json"
TRAINING_ROWS_FILE = "training_rows.json"
HOLDOUT_FILE = "holdout.csv"
FAILURE_FILE = "failure"
CHAMPION_ARTIFACT = "model.tar.gz"
CODE_DIR = "code"
VENDORED_LIB = "lib"
# In the model directory beside model.onnx: the ONNX runtime challenger_onnx vendors (outside code/, which the image
# pip-installs at every start).
MODEL_RUNTIME_DIR = "runtime"
# What travels into model/code/ besides the recipe's own serving files.
KIT_FILE = "challenger_kit.py"
REQUIREMENTS_FILE = "requirements.txt"

DEFAULT_TEST_FRACTION = 0.2
DEFAULT_CONFIDENCE = 0.95
DEFAULT_BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 20261201
# A request is bounded by its size, not by a record count: a Batch Transform job (BatchStrategy=MultiRecord,
# SplitType=Line) sends as many records as fit in MaxPayloadInMB (6 MB, what the product sets; also InvokeEndpoint's
# own payload limit), so the model must serve every mini-batch up to that size (issue 16; a 1,000-record cap failed
# every job over ~1,000 rows). /predict keeps its 1,000-instance limit in the API (challenger_core.serving).
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# Champion/golden predictions go through input_fn in batches no larger than a /predict request may be.
SERVING_BATCH = 500
# A row hash prefix this long (64 bits) names a row in training_rows.json: collisions are negligible.
ROW_ID_CHARS = 16
# The drift profile's text tokenizer: scikit-learn's default token_pattern, lowercased (documented in README).
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
BASELINE_VOCABULARY_LIMIT = 20_000
HISTOGRAM_QUANTILES = tuple(q / 10 for q in range(1, 10))

logger = logging.getLogger("challenger_kit")

Row = dict[str, Any]
Prediction = dict[str, Any]
FitFn = Callable[[list[Row], dict[str, Any]], Any]
SaveFn = Callable[[Any, Path], None]
PredictFn = Callable[[Any, list[Row]], list[Prediction]]
MetricsFn = Callable[[list[Any], list[Prediction]], Mapping[str, float]]
# (recipe_dir, model_dir, serving_files): writes model_dir/code (default: install_serving_code).
InstallCodeFn = Callable[[Path, Path, Sequence[str]], None]


class RecipeError(ValueError):
    """Bad data, hyperparameters or recipe declaration: the job fails with exactly this message."""


class RequestError(ValueError):
    """A malformed inference request; ``status_code`` says which kind (400, 406, 413, 415).

    The scikit-learn image's serving stack does not honour it: its Transformer turns whatever a handler raises into
    a 500 (sagemaker-containers ``_transformer``/``_functions.error_wrapper``), which InvokeEndpoint relays as
    ModelError with OriginalStatusCode 500; the message is in the container's log. The API checks requests before
    it invokes, so its callers get the 4xx.
    """

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


# ------------------------------------------------------------------------------------------------------------------
# recipe.json
# ------------------------------------------------------------------------------------------------------------------

FEATURE_TYPES = ("text", "number", "category", "date", "datetime")
# `date` / `datetime` values (issue 21): the core's rule (challenger_core.temporal.parse_temporal), restated because
# the containers have no core; tests/unit/core/test_temporal_features.py holds both to the same answers.
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
DATETIME_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?")
TEMPORAL_FORMATS = {"date": "YYYY-MM-DD", "datetime": "YYYY-MM-DD[THH:MM[:SS[.ffffff]]][Z|±HH:MM]"}
TARGET_KINDS = ("binary", "multiclass", "regression")

# recipe.json's one schema is the core's RecipeSpec; its JSON Schema is generated here (pydantic is not in the
# containers), and docs/recipe-json.md from the same source.
# BEGIN RECIPE_SCHEMA (generated by `python -m challenger.recipe_docs` from RecipeSpec: do not edit)
RECIPE_SCHEMA_JSON = (
    '{"$defs":{"DataSchema":{"properties":{"features":{"items":{"$ref":"#/$defs/Feature"},"minItems":1,"t'
    'ype":"array"},"min_per_class":{"minimum":1,"type":"integer"},"min_rows":{"minimum":1,"type":"integer'
    '"},"min_test_rows":{"minimum":1,"type":"integer"},"target":{"$ref":"#/$defs/Target"},"time_column":{'
    '"anyOf":[{"type":"string"},{"type":"null"}]}},"required":["features","target"],"type":"object"},"Fea'
    'ture":{"properties":{"max":{"anyOf":[{"type":"number"},{"type":"null"}]},"max_length":{"anyOf":[{"mi'
    'nimum":1,"type":"integer"},{"type":"null"}]},"min":{"anyOf":[{"type":"number"},{"type":"null"}]},"na'
    'me":{"pattern":"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$","type":"string"},"type":{"enum":["text","number","c'
    'ategory","date","datetime"],"type":"string"},"values":{"anyOf":[{"items":{"type":"string"},"type":"a'
    'rray"},{"type":"null"}]}},"required":["name","type"],"type":"object"},"Floor":{"properties":{"metric'
    '":{"type":"string"},"value":{"type":"number"}},"required":["metric","value"],"type":"object"},"Frame'
    'work":{"properties":{"name":{"type":"string"},"python":{"type":"string"},"version":{"type":"string"}'
    '},"required":["name","version"],"type":"object"},"Golden":{"properties":{"rows":{"maximum":1000,"min'
    'imum":1,"type":"integer"},"score_tolerance":{"minimum":0,"type":"number"}},"type":"object"},"ModelFo'
    'rmat":{"properties":{"format":{"enum":["native","onnx"],"type":"string"},"tolerance":{"maximum":0.01'
    ',"type":"number"}},"type":"object"},"Prediction":{"properties":{"fields":{"minProperties":1,"pattern'
    'Properties":{"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$":{"enum":["int","str","float"],"type":"string"}},"type'
    '":"object"},"score":{"type":"string"}},"required":["fields"],"type":"object"},"Request":{"properties'
    '":{"example":{"items":{"anyOf":[{"type":"string"},{"additionalProperties":{"anyOf":[{"type":"string"'
    '},{"type":"integer"},{"type":"number"}]},"type":"object"}]},"maxItems":20,"type":"array"},"shorthand'
    '":{"anyOf":[{"type":"string"},{"type":"null"}]}},"type":"object"},"Shadow":{"properties":{"slices":{'
    '"items":{"pattern":"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$","type":"string"},"maxItems":8,"type":"array"},"'
    'tolerance":{"minimum":0,"type":"number"}},"type":"object"},"Target":{"properties":{"kind":{"enum":["'
    'binary","multiclass","regression"],"type":"string"},"labels":{"additionalProperties":{"type":"string'
    '"},"type":"object"},"name":{"pattern":"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$","type":"string"},"positive":'
    '{"anyOf":[{"type":"string"},{"type":"integer"},{"type":"null"}]}},"required":["name","kind"],"type":'
    '"object"}},"properties":{"description":{"type":"string"},"floor":{"$ref":"#/$defs/Floor"},"framework'
    '":{"$ref":"#/$defs/Framework"},"golden":{"$ref":"#/$defs/Golden"},"guardrails":{"items":{"type":"str'
    'ing"},"type":"array"},"hyperparameters":{"additionalProperties":{"anyOf":[{"type":"string"},{"type":'
    '"integer"},{"type":"number"},{"type":"boolean"}]},"type":"object"},"metrics":{"additionalProperties"'
    ':{"enum":["higher","lower"],"type":"string"},"minProperties":1,"type":"object"},"model":{"$ref":"#/$'
    'defs/ModelFormat"},"name":{"pattern":"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$","type":"string"},"prediction"'
    ':{"$ref":"#/$defs/Prediction"},"primary_metric":{"type":"string"},"request":{"$ref":"#/$defs/Request'
    '"},"schema":{"$ref":"#/$defs/DataSchema"},"shadow":{"$ref":"#/$defs/Shadow"}},"required":["name","fr'
    'amework","schema","prediction","metrics","primary_metric","floor"],"type":"object"}'
)
# END RECIPE_SCHEMA
RECIPE_SCHEMA: dict[str, Any] = json.loads(RECIPE_SCHEMA_JSON)
_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_problems(value: Any, node: Mapping[str, Any] | None = None, where: str = "") -> list[str]:
    """Where ``value`` breaks the JSON Schema ``node`` (default: ``RECIPE_SCHEMA``), as ``path: problem`` lines.

    The keywords pydantic emits for RecipeSpec: type, properties, required, additionalProperties, items, enum,
    anyOf, $ref, bounds, lengths and pattern.
    """
    node = RECIPE_SCHEMA if node is None else node
    here = where or "(top level)"
    if "$ref" in node:
        node = RECIPE_SCHEMA["$defs"][str(node["$ref"]).rsplit("/", 1)[-1]]
    if "anyOf" in node:
        options = [schema_problems(value, option, where) for option in node["anyOf"]]
        return [] if any(not found for found in options) else min(options, key=len)
    if "type" in node and not _JSON_TYPES[node["type"]](value):
        return [f"{here}: expected {node['type']}, got {json.dumps(value)[:40]}"]
    if "enum" in node and value not in node["enum"]:
        return [f"{here}: {json.dumps(value)[:40]} is not one of {node['enum']}"]
    problems = []
    if isinstance(value, dict):
        problems += [f"{here}: {key!r} is missing" for key in node.get("required", ()) if key not in value]
        for key, item in value.items():
            path = f"{where}.{key}" if where else key
            patterns = [sub for pattern, sub in node.get("patternProperties", {}).items() if re.search(pattern, key)]
            sub = node.get("properties", {}).get(key, patterns[0] if patterns else node.get("additionalProperties"))
            if isinstance(sub, dict):
                problems += schema_problems(item, sub, path)
            elif node.get("patternProperties") and not patterns:  # pydantic's dict[Name, ...]: keys are names
                problems.append(f"{path}: {key!r} is not a valid name")
    if isinstance(value, list):
        for i, item in enumerate(value):
            problems += schema_problems(item, node.get("items", {}), f"{where}[{i}]")
    size = len(value) if isinstance(value, str | list | dict) else None
    if size is not None and size < node.get("minItems", node.get("minLength", node.get("minProperties", 0))):
        problems.append(f"{here}: too short")
    if size is not None and size > node.get("maxItems", node.get("maxLength", size)):
        problems.append(f"{here}: too long")
    if _JSON_TYPES["number"](value) and not node.get("minimum", value) <= value <= node.get("maximum", value):
        problems.append(f"{here}: {value} is out of range")
    if isinstance(value, str) and "pattern" in node and not re.search(node["pattern"], value):
        problems.append(f"{here}: {value!r} does not match {node['pattern']}")
    return problems


class Recipe:
    """The parts of ``recipe.json`` the kit needs, checked once when loaded."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        try:
            self.spec = dict(spec)
            self.name = str(spec["name"])
            schema = spec["schema"]
            self.features: list[dict[str, Any]] = [dict(f) for f in schema["features"]]
            self.target: dict[str, Any] = dict(schema["target"])
            self.min_rows = int(schema.get("min_rows", 20))
            self.min_test_rows = int(schema.get("min_test_rows", 5))
            self.min_per_class = int(schema.get("min_per_class", 1))
            # Time-ordered evaluation (issue 19): the hold-out is the newest slice by this feature, not a hash split.
            self.time_column: str | None = schema.get("time_column")
            self.metric_directions: dict[str, str] = dict(spec["metrics"])
            self.primary_metric = str(spec["primary_metric"])
            golden = spec.get("golden") or {}
            self.golden_rows = int(golden.get("rows", 20))
            self.score_tolerance = float(golden.get("score_tolerance", 1e-6))
            self.shorthand: str | None = (spec.get("request") or {}).get("shorthand")
            self.hyperparameters: dict[str, Any] = dict(spec.get("hyperparameters") or {})
        except (KeyError, TypeError, ValueError) as exc:
            raise RecipeError(f"{RECIPE_FILE}: missing or malformed field: {exc!r}") from None
        self.feature_names = [str(f["name"]) for f in self.features]
        self.kind = str(self.target.get("kind"))
        problems = []
        for feature in self.features:
            if feature.get("type") not in FEATURE_TYPES:
                problems.append(f"feature {feature.get('name')!r}: type must be one of {FEATURE_TYPES}")
        if self.kind not in TARGET_KINDS:
            problems.append(f"target kind must be one of {TARGET_KINDS}, got {self.kind!r}")
        if self.kind in ("binary", "multiclass"):
            labels = self.target.get("labels")
            if not isinstance(labels, dict) or len(labels) < 2:
                problems.append("a classification target needs 'labels' with at least two entries")
            elif self.kind == "binary" and len(labels) != 2:
                problems.append(f"a binary target has exactly two labels, got {len(labels)}")
        if self.primary_metric not in self.metric_directions:
            problems.append(
                f"primary_metric {self.primary_metric!r} is not one of metrics {list(self.metric_directions)}"
            )
        for metric, direction in self.metric_directions.items():
            if direction not in ("higher", "lower"):
                problems.append(f"metric {metric!r}: direction must be 'higher' or 'lower', got {direction!r}")
        if self.kind in TARGET_KINDS and self.primary_metric not in supported_metrics(self.kind):
            problems.append(
                f"primary_metric {self.primary_metric!r}: the kit computes confidence intervals only for "
                f"{list(supported_metrics(self.kind))} ({self.kind})"
            )
        if self.time_column is not None and self.time_column not in self.feature_names:
            problems.append(f"schema time_column {self.time_column!r} is not one of the features {self.feature_names}")
        if self.shorthand is not None and self.shorthand not in self.feature_names:
            problems.append(f"request.shorthand {self.shorthand!r} is not a feature")
        if len(set(self.feature_names)) != len(self.feature_names) or self.target_name in self.feature_names:
            problems.append("feature and target names must be distinct")
        if problems:
            raise RecipeError(f"{RECIPE_FILE}: " + "; ".join(problems))

    @property
    def target_name(self) -> str:
        """The target column's name."""
        return str(self.target["name"])

    @property
    def classification(self) -> bool:
        """True for binary and multiclass targets."""
        return self.kind in ("binary", "multiclass")

    @property
    def labels(self) -> dict[Any, str]:
        """Class value → label name; class values are ints when every key of ``labels`` is an integer."""
        raw = {str(k): str(v) for k, v in (self.target.get("labels") or {}).items()}
        if raw and all(re.fullmatch(r"-?\d+", k) for k in raw):
            return {int(k): v for k, v in raw.items()}
        return dict(raw)

    @property
    def positive_label(self) -> Any:
        """The binary target's positive class: ``target.positive`` if declared, else the last of ``labels``."""
        labels = list(self.labels)
        declared = self.target.get("positive")
        if declared is not None:
            return next((c for c in labels if str(c) == str(declared)), labels[-1])
        return labels[-1]


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read ``recipe.json`` (a file, or the directory holding it)."""
    location = Path(path)
    if location.is_dir():
        location = location / RECIPE_FILE
    try:
        spec = json.loads(location.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RecipeError(f"cannot read {location}: {exc}") from None
    if not isinstance(spec, dict):
        raise RecipeError(f"{location}: expected a JSON object")
    invalid = schema_problems(spec)  # the core's schema (RecipeSpec), then the kit's own checks
    if invalid:
        raise RecipeError(f"{location} does not follow RecipeSpec (docs/recipe-json.md): " + "; ".join(invalid[:5]))
    return Recipe(spec)


# ------------------------------------------------------------------------------------------------------------------
# Values and rows
# ------------------------------------------------------------------------------------------------------------------


def _number(value: Any, where: str, feature: Mapping[str, Any], error: type[ValueError]) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if feature.get("optional"):
            return None
        raise error(f"{where}: {feature['name']} is empty")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise error(f"{where}: {feature['name']} must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except ValueError:
        raise error(f"{where}: {feature['name']} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise error(f"{where}: {feature['name']} must be finite, got {value!r}")
    low, high = feature.get("min"), feature.get("max")
    if (low is not None and number < low) or (high is not None and number > high):
        raise error(f"{where}: {feature['name']}={number!r} is outside [{low}, {high}]")
    return number


def parse_temporal(kind: str, text: str) -> str:
    """A ``date`` or ``datetime`` value in canonical form (``2013-01-01``, ``2013-01-01T10:00:00Z``: UTC, sorting as
    text in time order); ValueError says why it is not one. A date-time without an offset is UTC."""
    value = text.strip()
    if kind == "date":
        if not DATE_PATTERN.fullmatch(value):
            raise ValueError(f"not a date ({TEMPORAL_FORMATS['date']})")
        return datetime.date.fromisoformat(value).isoformat()
    if not DATETIME_PATTERN.fullmatch(value):
        raise ValueError(f"not a date-time ({TEMPORAL_FORMATS['datetime']})")
    # Python 3.10's fromisoformat takes neither `Z` nor a fraction of other than 3 or 6 digits.
    value = re.sub(r"\.(\d{1,6})", lambda m: "." + m.group(1).ljust(6, "0"), value)
    moment = datetime.datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    utc = datetime.timezone.utc  # datetime.UTC is Python 3.11+
    try:
        moment = moment.replace(tzinfo=utc) if moment.tzinfo is None else moment.astimezone(utc)
    except OverflowError:
        raise ValueError("outside the years 1-9999 in UTC") from None
    return moment.replace(tzinfo=None).isoformat() + "Z"


def to_datetime(value: str) -> datetime.datetime:
    """A canonical ``date``/``datetime`` value (what the kit hands ``fit`` and ``predict``) as an aware UTC datetime,
    for a recipe that derives features from it (hour, day of week, month)."""
    moment = datetime.datetime.fromisoformat(value[:-1] if value.endswith("Z") else value)
    return moment.replace(tzinfo=datetime.timezone.utc)


def coerce_feature(value: Any, feature: Mapping[str, Any], where: str, error: type[ValueError] = RecipeError) -> Any:
    """A feature value checked and converted per its declaration (text → str, number → float, category → str,
    date/datetime → canonical ISO 8601 text)."""
    kind, name = feature["type"], feature["name"]
    if kind == "number":
        return _number(value, where, feature, error)
    if not isinstance(value, str):
        raise error(f"{where}: {name} must be a string, got {type(value).__name__}")
    if kind in TEMPORAL_FORMATS:
        if not value.strip() and feature.get("optional"):
            return None
        if not value.strip():
            raise error(f"{where}: {name} is empty")
        try:
            return parse_temporal(kind, value)
        except ValueError as exc:
            raise error(f"{where}: {name} {value[:40]!r}: {exc}") from None
    if kind == "text":
        if not value.strip():
            raise error(f"{where}: {name} is empty")
        limit = feature.get("max_length")
        if limit is not None and len(value) > int(limit):
            raise error(f"{where}: {name} has {len(value)} characters (max {limit})")
        return value
    if not value.strip() and feature.get("optional"):
        return None
    allowed = feature.get("values")
    if allowed is not None and value not in allowed:
        raise error(f"{where}: {name} {value!r} is not one of {list(allowed)}")
    return value


def coerce_target(value: str, recipe: Recipe, where: str) -> Any:
    """A CSV target cell as the recipe's class value (classification) or float (regression)."""
    name = recipe.target_name
    text = value.strip()
    if recipe.classification:
        labels = recipe.labels
        key: Any = text
        if all(isinstance(k, int) for k in labels) and re.fullmatch(r"-?\d+", text):
            key = int(text)
        if key not in labels:
            expected = " or ".join(f"{k} for {v}" for k, v in sorted(labels.items(), key=lambda kv: str(kv[0]))[::-1])
            raise RecipeError(f"{where}: invalid {name} {value!r} (expected {expected})")
        return key
    try:
        number = float(text)
    except ValueError:
        raise RecipeError(f"{where}: invalid {name} {value!r} (expected a number)") from None
    if not math.isfinite(number):
        raise RecipeError(f"{where}: invalid {name} {value!r} (expected a finite number)")
    return number


def row_hash(row: Mapping[str, Any], feature_names: Sequence[str]) -> str:
    """sha256 hex of a row's canonical feature values (features only, never the label).

    Canonical form: the JSON array of the values in declared feature order, UTF-8, no spaces; numbers as floats.
    """
    return _values_hash([row.get(name) for name in feature_names])


# json.dumps(values, ensure_ascii=False, separators=(",", ":"), allow_nan=False), without building an encoder per row.
_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _values_hash(values: list[Any]) -> str:
    return hashlib.sha256(_CANONICAL(values).encode("utf-8")).hexdigest()


def is_holdout(digest: str, test_fraction: float) -> bool:
    """The stable split: a row is held out iff the first 32 bits of its hash fall below ``test_fraction``."""
    return int(digest[:8], 16) / 2**32 < test_fraction


def fingerprint(digests: Sequence[str]) -> str:
    """sha256 of the sorted row hashes, one per line: names a set of rows independent of order."""
    return hashlib.sha256("\n".join(sorted(digests)).encode("ascii")).hexdigest()


# ------------------------------------------------------------------------------------------------------------------
# Columnar data: a channel read in bounded chunks (issue 24; training side only — serving never imports pyarrow)
# ------------------------------------------------------------------------------------------------------------------

DATA_SUFFIXES = (".csv", ".parquet")
# One chunk: pyarrow's CSV block size, and about as many bytes of Parquet rows. A training job holds a few chunks at
# a time, not the file (docs/performance.md measures the curve).
CHUNK_BYTES = 8 * 1024 * 1024
# Above this many bytes of training rows (Arrow size) the kit hands a recipe that has ``fit_batches`` the columnar
# interface; below it, ``fit`` gets rows in content order as before. As dicts, rows take 15-20x their Arrow size
# (measured: 60 MB of flights in Arrow, 1.3 GB peak as rows), so 16 MiB keeps the row path near 300 MB.
ROWS_IN_MEMORY_BYTES = 16 * 1024 * 1024
# The drift baseline of a columnar fit profiles at most this many training rows, chosen by row hash (order-free).
BASELINE_SAMPLE_ROWS = 100_000

Batch = Any  # a pyarrow.RecordBatch: the features and the target, typed per recipe.json (see arrow_schema)
BatchesFn = Callable[[], Iterator[Batch]]
FitBatchesFn = Callable[[BatchesFn, dict[str, Any]], Any]


def _arrow() -> tuple[Any, Any]:
    """pyarrow and pyarrow.compute, imported on the training path only (the model server never needs them)."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    return pa, pc


def data_files(location: str | os.PathLike[str], channel: str = "train") -> list[Path]:
    """The data files of a channel: one file, or every ``*.csv`` / ``*.parquet`` part under a directory (in path
    order). Names starting with ``_`` or ``.`` are markers or metadata (``_SUCCESS``, ``_manifest.json``), not data."""
    path = Path(location)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RecipeError(f"{channel} channel: {path} does not exist")
    files = sorted(
        (p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DATA_SUFFIXES),
        key=lambda p: p.relative_to(path).as_posix(),
    )
    files = [p for p in files if not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts)]
    if not files:
        raise RecipeError(f"{channel} channel: no *.csv or *.parquet files in {path}")
    return files


def arrow_schema(recipe: Recipe) -> Any:
    """The columns a batch carries: text/category features as strings, numbers as float64; the target as int64
    (integer class values), string (other class values) or float64 (regression). Nullable: optional features."""
    pa, _ = _arrow()
    # date/datetime (canonical ISO 8601 text) and any other textual kind: strings.
    fields = [pa.field(f["name"], pa.float64() if f["type"] == "number" else pa.string()) for f in recipe.features]
    labels = recipe.labels
    if not recipe.classification:
        target = pa.float64()
    elif all(isinstance(k, int) for k in labels):
        target = pa.int64()
    else:
        target = pa.string()
    return pa.schema([*fields, pa.field(recipe.target_name, target)])


def _first(mask: Any) -> int | None:
    """Index of the first true entry of a boolean array (nulls count as false), or None."""
    _, pc = _arrow()
    index = pc.index(pc.fill_null(mask, False), True).as_py()
    return None if index is None or index < 0 else int(index)


def _typed_column(raw: Any, feature: Mapping[str, Any], where: Callable[[int], str]) -> Any:
    """A feature column checked and converted as :func:`coerce_feature` does a value; the first bad row raises
    exactly its message (found by the vector checks, worded by coerce_feature on that one value)."""
    pa, pc = _arrow()
    if not (pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type)):
        if pa.types.is_dictionary(raw.type):
            raw = raw.dictionary_decode()
        if feature["type"] == "number" and (pa.types.is_integer(raw.type) or pa.types.is_floating(raw.type)):
            raw = pc.cast(raw, pa.string())  # Parquet numbers: the same checks as CSV text (range, finite)
        elif not (pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type)):
            raise RecipeError(f"{where(0)}: {feature['name']} must be a string column, got {raw.type}")
    raw = pc.cast(raw, pa.string())

    def fail(index: int) -> None:
        value = raw[index].as_py()
        coerce_feature(value, feature, where(index))  # raises the value's own message
        raise RecipeError(f"{where(index)}: {feature['name']} {value!r} is invalid")  # pragma: no cover

    def slow() -> Any:  # a value pyarrow parses otherwise than Python: convert this column as read_rows did
        return pa.array([coerce_feature(v, feature, where(i)) for i, v in enumerate(raw.to_pylist())])

    kind = feature["type"]
    if kind not in ("number", "text", "category"):  # date/datetime: canonical form, value by value
        return pc.cast(slow(), pa.string())
    stripped = pc.utf8_trim_whitespace(raw)
    blank = pc.or_(pc.is_null(raw), pc.equal(stripped, ""))
    optional = bool(feature.get("optional"))
    if kind == "number":
        if not optional and (bad := _first(blank)) is not None:
            fail(bad)
        try:
            numbers = pc.cast(pc.if_else(blank, pa.scalar(None, pa.string()), stripped), pa.float64())
        except pa.ArrowInvalid:
            return pc.cast(slow(), pa.float64())
        low, high = feature.get("min"), feature.get("max")
        bad_mask = pc.invert(pc.is_finite(numbers))
        if low is not None:
            bad_mask = pc.or_(bad_mask, pc.less(numbers, float(low)))
        if high is not None:
            bad_mask = pc.or_(bad_mask, pc.greater(numbers, float(high)))
        if (bad := _first(bad_mask)) is not None:
            fail(bad)
        return numbers
    if kind == "text":
        bad_mask = blank
        limit = feature.get("max_length")
        if limit is not None:
            bad_mask = pc.or_(bad_mask, pc.greater(pc.utf8_length(raw), int(limit)))
        if (bad := _first(bad_mask)) is not None:
            fail(bad)
        return raw
    values = pc.if_else(blank, pa.scalar(None, pa.string()), raw) if optional else raw
    if optional is False and (bad := _first(pc.is_null(raw))) is not None:
        fail(bad)
    allowed = feature.get("values")
    if allowed is not None:
        outside = pc.and_(
            pc.invert(pc.is_in(values, value_set=pa.array([str(v) for v in allowed]))), pc.is_valid(values)
        )
        if (bad := _first(outside)) is not None:
            fail(bad)
    return values


def _typed_target(raw: Any, recipe: Recipe, where: Callable[[int], str], target_type: Any) -> Any:
    """The target column as :func:`coerce_target` converts a cell; the first bad row raises its message."""
    pa, pc = _arrow()
    if pa.types.is_dictionary(raw.type):
        raw = raw.dictionary_decode()
    raw = pc.fill_null(pc.cast(raw, pa.string()), "")
    stripped = pc.utf8_trim_whitespace(raw)

    def slow() -> Any:
        return pa.array([coerce_target(v, recipe, where(i)) for i, v in enumerate(raw.to_pylist())], target_type)

    if recipe.classification:
        known = pa.array([str(k) for k in recipe.labels])
        if _first(pc.invert(pc.is_in(stripped, value_set=known))) is not None:
            return slow()  # "01", or a bad label: coerce_target decides and words it
        return pc.cast(stripped, target_type)
    try:
        numbers = pc.cast(stripped, pa.float64())
    except pa.ArrowInvalid:
        return slow()
    if _first(pc.invert(pc.is_finite(numbers))) is not None:
        return slow()
    return numbers


def _typed_batch(columns: Mapping[str, Any], recipe: Recipe, where: Callable[[int], str]) -> Batch:
    pa, _ = _arrow()
    schema = arrow_schema(recipe)
    arrays = [_typed_column(columns[f["name"]], f, where) for f in recipe.features]
    arrays.append(_typed_target(columns[recipe.target_name], recipe, where, schema.field(recipe.target_name).type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _line_breaks(batch: Any) -> Any:
    """Line breaks inside each row's quoted values (\\n, \\r or \\r\\n, as the csv module counts lines)."""
    pa, pc = _arrow()
    total = pa.array([0] * batch.num_rows, pa.int64())
    for column in batch.columns:
        if pa.types.is_string(column.type):
            breaks = pc.subtract(
                pc.add(pc.count_substring(column, "\n"), pc.count_substring(column, "\r")),
                pc.count_substring(column, "\r\n"),
            )
            total = pc.add(total, pc.fill_null(pc.cast(breaks, pa.int64()), 0))
    return total


def _missing_columns(path: Path, columns: Sequence[str], recipe: Recipe) -> None:
    required = [*recipe.feature_names, recipe.target_name]
    missing = [c for c in required if c not in columns]
    if missing:
        raise RecipeError(
            f"{path.name}: missing required column(s) {missing}; found columns {list(columns)} "
            f"(expected header '{','.join(required)}')"
        )


def _csv_problem(path: Path, recipe: Recipe) -> str | None:
    """Where pyarrow refused a CSV, found again with the csv module: the first structural problem, worded as
    read_rows words it (file and line). None if the csv module finds none."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, [])
            for fields in reader:
                if len(fields) < len(header):
                    return f"{path.name} line {reader.line_num}: row has too few fields"
                if len(fields) > len(header):
                    return f"{path.name} line {reader.line_num}: row has {len(fields)} fields, the header {len(header)}"
        except csv.Error as exc:
            return f"{path.name} line {reader.line_num}: unreadable CSV: {exc}"
        except UnicodeDecodeError as exc:
            return f"{path.name}: not UTF-8 text: {exc}"
    return None


def _csv_pieces(path: Path, chunk_bytes: int) -> Iterator[bytes]:
    """The file in pieces of about ``chunk_bytes``, each ending at a row boundary: a line break with an even number
    of quote characters before it (RFC 4180 quoting; an escaped quote is two). pyarrow's own streaming reader reads
    ahead many blocks on its I/O threads (measured: ~16 MB held for 1 MB blocks), so the kit cuts the file itself."""
    carry = b""
    quotes = 0  # quote characters in the file before ``carry``
    with path.open("rb") as handle:
        while True:
            block = handle.read(chunk_bytes)
            data = carry + block
            if not block:
                if data:
                    yield data
                return
            end = data.rfind(b"\n")
            inside = quotes + data.count(b'"', 0, end) if end >= 0 else 0
            while end >= 0 and inside % 2:  # that line break is inside a quoted value: try the one before
                previous = data.rfind(b"\n", 0, end)
                inside -= data.count(b'"', previous + 1 if previous >= 0 else 0, end)
                end = previous
            if end < 0:
                carry = data  # one row longer than a chunk: read on
                continue
            yield data[: end + 1]
            quotes = inside
            carry = data[end + 1 :]


def _csv_batches(path: Path, recipe: Recipe, chunk_bytes: int) -> Iterator[Batch]:
    pa, pc = _arrow()
    import pyarrow.csv as pcsv  # noqa: PLC0415

    try:
        # utf-8-sig: spreadsheets prepend a BOM, which would corrupt the first header name.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            columns = [c.strip() for c in next(csv.reader(handle), [])]
    except (csv.Error, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path.name}: unreadable CSV header: {exc}") from None
    _missing_columns(path, columns, recipe)
    parse = pcsv.ParseOptions(newlines_in_values=True)
    # Every column as text: the kit converts per recipe.json (type inference would guess, and could change its
    # guess between chunks); nothing is null but what the recipe calls optional.
    convert = pcsv.ConvertOptions(column_types=dict.fromkeys(columns, pa.string()), strings_can_be_null=False)
    lines_before = 1  # the header
    try:
        for number, piece in enumerate(_csv_pieces(path, max(chunk_bytes, 64 * 1024))):
            read = pcsv.ReadOptions(
                skip_rows=1 if number == 0 else 0, column_names=columns, block_size=len(piece) + 1, use_threads=False
            )
            table = pcsv.read_csv(pa.py_buffer(piece), read_options=read, parse_options=parse, convert_options=convert)
            del piece
            batch = table.combine_chunks().to_batches()[0] if table.num_rows else None
            if batch is None:
                continue
            breaks = _line_breaks(batch)
            cumulative = pc.cumulative_sum(breaks)
            start = lines_before

            def where(i: int, start: int = start, cumulative: Any = cumulative, breaks: Any = breaks) -> str:
                before = cumulative[i].as_py() - breaks[i].as_py()
                return f"{path.name} line {start + i + 1 + before}"

            yield _typed_batch({name: batch.column(name) for name in columns}, recipe, where)
            lines_before += batch.num_rows + (pc.sum(breaks).as_py() or 0)
    except pa.ArrowInvalid as exc:
        problem = _csv_problem(path, recipe)
        raise RecipeError(problem or f"{path.name}: unreadable CSV: {exc}") from None


def _parquet_batches(path: Path, recipe: Recipe, chunk_bytes: int) -> Iterator[Batch]:
    pa, _ = _arrow()
    import pyarrow.parquet as pq  # noqa: PLC0415

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RecipeError(f"{path.name}: not a readable Parquet file: {exc}") from None
    columns = parquet.schema_arrow.names
    _missing_columns(path, columns, recipe)
    required = [*recipe.feature_names, recipe.target_name]
    metadata = parquet.metadata
    row_bytes = max(1, sum(metadata.row_group(g).total_byte_size for g in range(metadata.num_row_groups)))
    row_bytes = max(1, row_bytes // max(1, metadata.num_rows))
    batch_rows = max(1024, chunk_bytes // row_bytes)
    done = 0
    for group in range(metadata.num_row_groups):
        for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=[group], columns=required):
            first = done

            def where(i: int, first: int = first, group: int = group) -> str:
                return f"{path.name} row {first + i + 1} (row group {group})"

            yield _typed_batch({name: batch.column(name) for name in required}, recipe, where)
            done += batch.num_rows


def read_batches(
    location: str | os.PathLike[str], recipe: Recipe, channel: str = "train", chunk_bytes: int = CHUNK_BYTES
) -> Iterator[Batch]:
    """A channel (one CSV or Parquet file, or a directory of parts) as typed, checked pyarrow RecordBatches of about
    ``chunk_bytes`` each (:func:`arrow_schema`). Memory is bounded by a chunk, not the data.

    Raises RecipeError naming the file and line (CSV) or row and row group (Parquet) of the first bad row.
    """
    for path in data_files(location, channel):
        if path.suffix.lower() == ".parquet":
            yield from _parquet_batches(path, recipe, chunk_bytes)
        else:
            yield from _csv_batches(path, recipe, chunk_bytes)


def batch_rows(batch: Batch) -> list[Row]:
    """A batch as rows (the row interface's adapter): ``{feature: value, ..., target: value}`` per row."""
    rows: list[Row] = batch.to_pylist()
    return rows


def read_rows(location: str | os.PathLike[str], recipe: Recipe, channel: str = "train") -> list[Row]:
    """Every row of a channel (a directory of CSV/Parquet parts, or one file), typed per ``recipe.json``.

    Raises RecipeError naming the file, line and problem on the first bad row. For small channels (test, trusted);
    the train channel goes through :func:`split_channel` chunk by chunk.
    """
    return [row for batch in read_batches(location, recipe, channel) for row in batch_rows(batch)]


class Split:
    """Training rows and hold-out rows with their hashes (parallel lists)."""

    def __init__(self) -> None:
        self.train: list[Row] = []
        self.train_hashes: list[str] = []
        self.holdout: list[Row] = []
        self.holdout_hashes: list[str] = []
        self.dropped_as_test_rows = 0
        self.dropped_as_trusted_rows = 0


def split_rows(
    train: Sequence[Row],
    test: Sequence[Row] | None,
    recipe: Recipe,
    test_fraction: float,
    trusted: Sequence[Row] = (),
) -> Split:
    """The stable hold-out: hash-side rows of the train channel plus every test row; train rows equal to a test row
    (same features) are dropped from training. Each side is ordered by row hash.

    ``trusted``: the dataset's trusted evaluation set (issue 19). Its rows are never trained on (a train row with
    the same features is dropped, whatever its label); they are scored separately (:func:`train`), not here."""
    split = Split()
    test_hashes: set[str] = set()
    trusted_hashes = {row_hash(row, recipe.feature_names) for row in trusted}
    for row in test or ():
        digest = row_hash(row, recipe.feature_names)
        test_hashes.add(digest)
        split.holdout.append(row)
        split.holdout_hashes.append(digest)
    newest = _newest_slice(train, recipe, test_fraction)
    for row in train:
        digest = row_hash(row, recipe.feature_names)
        held_out = is_holdout(digest, test_fraction) if newest is None else _sort_key(row, recipe) >= newest
        if digest in test_hashes:
            split.dropped_as_test_rows += 1
        elif digest in trusted_hashes and not held_out:
            split.dropped_as_trusted_rows += 1
        elif held_out:
            split.holdout.append(row)
            split.holdout_hashes.append(digest)
        else:
            split.train.append(row)
            split.train_hashes.append(digest)
    # Both sides in content order, not file order: the same data uploaded in another order fits the same model
    # (solvers such as liblinear depend on row order) and draws the same bootstrap resamples.
    target = recipe.target_name
    for rows, hashes in ((split.train, split.train_hashes), (split.holdout, split.holdout_hashes)):
        order = sorted(range(len(rows)), key=lambda i: (hashes[i], json.dumps(rows[i][target])))
        rows[:] = [rows[i] for i in order]
        hashes[:] = [hashes[i] for i in order]
    return split


def _sort_key(row: Mapping[str, Any], recipe: Recipe) -> tuple[int, Any]:
    """A row's place in time: numbers by value, anything else (ISO-8601 text, e.g. 2026-12-07T10:00) as text;
    a missing time sorts first (oldest)."""
    return _time_key(row.get(str(recipe.time_column)))


def _time_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    return (1, value) if isinstance(value, (int, float)) else (2, str(value))


def _newest_slice(train: Sequence[Row], recipe: Recipe, test_fraction: float) -> tuple[int, Any] | None:
    """With a time column: the time from which rows are held out — the newest ``test_fraction`` of the upload, every
    row of that same instant included (none of the hold-out's moment leaks into training). None: the hash split."""
    if recipe.time_column is None or not train:
        return None
    times = sorted(_sort_key(row, recipe) for row in train)
    return times[max(0, len(times) - max(1, math.ceil(len(times) * test_fraction)))]


def check_split(split: Split | ChannelSplit, recipe: Recipe) -> None:
    """Refuse a split that cannot train or evaluate the recipe's model, saying what is missing."""
    if isinstance(split, ChannelSplit):
        n_train, train_counts = split.n_train, split.train_counts
    else:
        n_train, train_counts = len(split.train), Counter(row[recipe.target_name] for row in split.train)
    if n_train < recipe.min_rows:
        raise RecipeError(
            f"train channel: too few training rows: {n_train} after the hold-out split "
            f"(need at least {recipe.min_rows}; {len(split.holdout)} rows are held out)"
        )
    if len(split.holdout) < recipe.min_test_rows:
        raise RecipeError(
            f"too few hold-out rows: {len(split.holdout)} (need at least {recipe.min_test_rows}); "
            "upload a test.csv or more training rows"
        )
    if recipe.classification:
        labels = recipe.labels
        holdout_counts = Counter(row[recipe.target_name] for row in split.holdout)
        for side, counts in (("training", train_counts), ("hold-out", holdout_counts)):
            minimum = recipe.min_per_class if side == "training" else 1
            short = [f"{labels[c]} ({c}): {counts.get(c, 0)}" for c in labels if counts.get(c, 0) < minimum]
            if short and (side == "training" or recipe.kind == "binary"):
                raise RecipeError(
                    f"too few {side} rows per class (need at least {minimum} of each): " + ", ".join(short)
                )


class ChannelSplit:
    """The train channel split chunk by chunk: the training side spilled to an Arrow file on local disk (read back a
    chunk at a time, as often as the recipe likes), the hold-out in memory as rows (``test_fraction`` of the data)."""

    def __init__(self, spill: Path, schema: Any) -> None:
        self.spill = spill
        self.schema = schema
        self.holdout: list[Row] = []
        self.holdout_hashes: list[str] = []
        self.n_train = 0
        self.train_bytes = 0
        self.train_counts: Counter[Any] = Counter()
        self.dropped_as_test_rows = 0
        self.dropped_as_trusted_rows = 0
        self._ids: list[np.ndarray] = []

    def train_batches(self) -> Iterator[Batch]:
        """The training rows as RecordBatches (features + target, :func:`arrow_schema`), in upload order."""
        pa, _ = _arrow()
        with pa.OSFile(str(self.spill)) as source:  # read, not memory-mapped: a chunk in memory at a time
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i).drop_columns([HASH_COLUMN])

    def _hashed_rows(self) -> Iterator[tuple[str, Row]]:
        pa, _ = _arrow()
        with pa.OSFile(str(self.spill)) as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                batch = reader.get_batch(i)
                hashes = batch.column(HASH_COLUMN).to_pylist()
                yield from zip(hashes, batch_rows(batch.drop_columns([HASH_COLUMN])), strict=True)

    def train_rows(self) -> tuple[list[Row], list[str]]:
        """Every training row with its hash, in content order (hash, then label): the row interface's adapter."""
        pairs = list(self._hashed_rows())
        target = self.schema.names[-1]
        pairs.sort(key=lambda pair: (pair[0], json.dumps(pair[1][target])))
        return [row for _, row in pairs], [digest for digest, _ in pairs]

    def sample_rows(self, limit: int) -> list[Row]:
        """At most about ``limit`` training rows, the same ones whatever the order: those whose hash falls lowest."""
        if self.n_train <= limit:
            return self.train_rows()[0]
        fraction = limit / self.n_train
        return [row for digest, row in self._hashed_rows() if is_holdout(digest, fraction)][: limit * 2]

    def train_ids(self) -> list[str]:
        """The sorted, unique row ids (hash prefixes) of the training rows (``training_rows.json``)."""
        return [f"{int(x):0{ROW_ID_CHARS}x}" for x in self._unique_ids()]

    def _unique_ids(self) -> np.ndarray:
        # 8 bytes a row as integers (as Python strings ~70), sorted in place: one copy of the ids, not np.unique's two.
        if not self._ids:
            return np.array([], dtype=np.uint64)
        ids = np.concatenate(self._ids)
        self._ids = [ids]
        ids.sort()
        first = np.ones(ids.size, dtype=bool)
        np.not_equal(ids[1:], ids[:-1], out=first[1:])
        unique: np.ndarray = ids[first]
        return unique

    def write_train_ids(self, path: Path) -> None:
        """``training_rows.json`` as :func:`_write_json` writes ``train_ids()``, streamed (millions of rows)."""
        ids = self._unique_ids()
        if not ids.size:
            _write_json(path, [])
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            handle.write("[\n")
            for start in range(0, ids.size, 100_000):
                lines = ",\n".join(f'  "{int(x):0{ROW_ID_CHARS}x}"' for x in ids[start : start + 100_000])
                handle.write(("" if start == 0 else ",\n") + lines)
            handle.write("\n]\n")


HASH_COLUMN = "__row_hash"


def _newest_time(location: Path, recipe: Recipe, test_fraction: float) -> tuple[int, Any] | None:
    """:func:`_newest_slice` over a channel read chunk by chunk (only the time column is kept)."""
    if recipe.time_column is None:
        return None
    pa, pc = _arrow()
    column = str(recipe.time_column)
    chunks = [batch.column(column) for batch in read_batches(location, recipe)]
    if not chunks:
        return None
    times = pa.chunked_array(chunks)
    n, nulls = len(times), times.null_count
    k = max(0, n - max(1, math.ceil(n * test_fraction)))
    if k < nulls:
        return (0, "")
    ordered = pc.array_sort_indices(times, null_placement="at_start")
    value = times[ordered[k].as_py()].as_py()
    return (1, value) if isinstance(value, (int, float)) else (2, str(value))


def split_channel(
    location: str | os.PathLike[str],
    recipe: Recipe,
    test_fraction: float,
    spill_dir: Path,
    test: Sequence[Row] | None = None,
    trusted: Sequence[Row] = (),
    chunk_bytes: int = CHUNK_BYTES,
) -> ChannelSplit:
    """:func:`split_rows` chunk by chunk: the same sides, rows and order, with memory bounded by a chunk plus the
    hold-out. Train rows equal to a test row, or to a trusted row (issue 19), are dropped from training."""
    pa, _ = _arrow()
    schema = arrow_schema(recipe)
    split = ChannelSplit(spill_dir / "train.arrow", schema)
    test_hashes: set[str] = set()
    holdout: list[tuple[str, Row]] = []
    for row in test or ():
        digest = row_hash(row, recipe.feature_names)
        test_hashes.add(digest)
        holdout.append((digest, row))
    trusted_hashes = {row_hash(row, recipe.feature_names) for row in trusted}
    newest = _newest_time(Path(location), recipe, test_fraction)
    spilled = schema.append(pa.field(HASH_COLUMN, pa.string()))
    target = recipe.target_name
    with pa.OSFile(str(split.spill), "wb") as sink, pa.ipc.new_file(sink, spilled) as writer:
        for batch in read_batches(location, recipe, "train", chunk_bytes):
            keep: list[int] = []
            digests: list[str] = []
            held: list[int] = []
            held_digests: list[str] = []
            # Rows are hashed from the columns' values (row_hash's canonical JSON); only hold-out rows become dicts.
            columns = [batch.column(name).to_pylist() for name in recipe.feature_names]
            times = batch.column(str(recipe.time_column)).to_pylist() if newest is not None else None
            for i, values in enumerate(zip(*columns, strict=True)):
                digest = _values_hash(list(values))
                if times is None or newest is None:
                    held_out = is_holdout(digest, test_fraction)
                else:
                    held_out = _time_key(times[i]) >= newest
                if digest in test_hashes:
                    split.dropped_as_test_rows += 1
                elif digest in trusted_hashes and not held_out:
                    split.dropped_as_trusted_rows += 1
                elif held_out:
                    held.append(i)
                    held_digests.append(digest)
                else:
                    keep.append(i)
                    digests.append(digest)
            del columns, times
            if held:
                rows = batch_rows(batch.take(pa.array(held, pa.int64())))
                holdout.extend(zip(held_digests, rows, strict=True))
            if not keep:
                continue
            kept = batch.take(pa.array(keep, pa.int64()))
            writer.write_batch(
                pa.RecordBatch.from_arrays([*kept.columns, pa.array(digests, pa.string())], schema=spilled)
            )
            split.n_train += len(keep)
            split.train_bytes += kept.nbytes
            if recipe.classification:
                split.train_counts.update(kept.column(target).to_pylist())
            split._ids.append(np.array([int(d[:ROW_ID_CHARS], 16) for d in digests], dtype=np.uint64))
    holdout.sort(key=lambda pair: (pair[0], json.dumps(pair[1][target])))
    split.holdout = [row for _, row in holdout]
    split.holdout_hashes = [digest for digest, _ in holdout]
    return split


def instance_of(row: Mapping[str, Any], recipe: Recipe) -> Row:
    """The request record for a row: its features only."""
    return {name: row[name] for name in recipe.feature_names}


# ------------------------------------------------------------------------------------------------------------------
# Requests (input_fn / output_fn helpers)
# ------------------------------------------------------------------------------------------------------------------


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _check_count(n: int) -> None:
    if n == 0:
        raise RequestError("no instances: send at least one record")


def parse_instances(instances: Any, recipe: Recipe) -> list[Row]:
    """Request records checked per the recipe's schema; a bare scalar means ``{shorthand: value}``."""
    if not isinstance(instances, list):
        raise RequestError(f'"instances" must be a list, got {type(instances).__name__}')
    _check_count(len(instances))
    records = []
    for i, instance in enumerate(instances):
        where = f"instances[{i}]"
        if not isinstance(instance, dict):
            if recipe.shorthand is None:
                raise RequestError(f"{where}: expected an object with {recipe.feature_names}")
            if isinstance(instance, (list, type(None))):
                raise RequestError(f"{where}: expected an object or a {recipe.shorthand} value")
            instance = {recipe.shorthand: instance}  # noqa: PLW2901  # the shorthand stands for this record
        unknown = sorted(set(instance) - set(recipe.feature_names))
        if unknown:
            raise RequestError(f"{where}: unknown field(s) {unknown}; expected {recipe.feature_names}")
        record = {}
        for feature in recipe.features:
            name = feature["name"]
            if name not in instance and not feature.get("optional"):
                raise RequestError(f'{where}: missing field "{name}"')
            record[name] = coerce_feature(instance.get(name), feature, where, RequestError)
        records.append(record)
    return records


def _parse_csv(body: str, recipe: Recipe) -> list[Row]:
    try:
        lines = [line for line in csv.reader(io.StringIO(body)) if line]
    except csv.Error as exc:
        raise RequestError(f"unreadable text/csv body: {exc}") from None
    if lines and [c.strip() for c in lines[0]] == recipe.feature_names:
        lines = lines[1:]
    _check_count(len(lines))
    instances = []
    for n, fields in enumerate(lines, start=1):
        if len(fields) != len(recipe.feature_names):
            raise RequestError(
                f"line {n}: expected {len(recipe.feature_names)} field(s) {recipe.feature_names}, got {len(fields)}"
            )
        instances.append(dict(zip(recipe.feature_names, fields, strict=True)))
    return parse_instances(instances, recipe)


def parse_request(body: str | bytes, content_type: str | None, recipe: Recipe) -> list[Row]:
    """``input_fn`` for any recipe: ``application/json`` ``{"instances": [...]}`` or ``text/csv`` rows in feature
    order (an optional header row of the feature names). Raises RequestError (4xx) on anything else."""
    media_type = _media_type(content_type)
    if media_type not in ("application/json", "text/csv"):
        raise RequestError(f"unsupported content type {content_type!r}; use application/json or text/csv", 415)
    size = len(body.encode()) if isinstance(body, str) else len(body) if isinstance(body, (bytes, bytearray)) else 0
    if size > MAX_PAYLOAD_BYTES:
        raise RequestError(f"request body is {size:,} bytes (max {MAX_PAYLOAD_BYTES:,})", status_code=413)
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            # utf-8-sig drops the BOM that some clients prepend.
            body = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RequestError(f"request body is not valid UTF-8: {exc}") from None
    if not isinstance(body, str):
        raise RequestError(f"request body must be str or bytes, got {type(body).__name__}")
    if media_type == "text/csv":
        return _parse_csv(body, recipe)
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise RequestError(f"invalid JSON: {exc}") from None
    if not isinstance(payload, dict) or "instances" not in payload:
        raise RequestError('JSON body must be an object like {"instances": [...]}')
    return parse_instances(payload["instances"], recipe)


def render_response(predictions: Sequence[Prediction], accept: str | None) -> tuple[str, str]:
    """``output_fn`` for any recipe: ``({"predictions": [...]}, "application/json")``."""
    media_type = _media_type(accept)
    if media_type not in ("", "*/*", "application/*", "application/json"):
        raise RequestError(f"unsupported accept type {accept!r}; this model returns application/json", 406)
    return json.dumps({"predictions": list(predictions)}), "application/json"


def add_vendored_lib(code_dir: str | os.PathLike[str]) -> None:
    """Put ``code/lib`` (serving requirements vendored at training time) on ``sys.path``, once."""
    lib = str(Path(code_dir) / VENDORED_LIB)
    if os.path.isdir(lib) and lib not in sys.path:
        sys.path.insert(0, lib)


# ------------------------------------------------------------------------------------------------------------------
# Serving code: loading a model.tar.gz's own inference.py
# ------------------------------------------------------------------------------------------------------------------


def _safe_extract(archive: Path, destination: Path) -> None:
    """Extract a model.tar.gz refusing links, devices and paths that leave ``destination``."""
    root = destination.resolve()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                target = (root / member.name).resolve()
                if not (member.isfile() or member.isdir()) or (target != root and root not in target.parents):
                    raise RecipeError(f"{archive.name}: refusing archive member {member.name!r}")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(root, members=members, filter="data")
            else:  # pragma: no cover - Python < 3.10.12; members were checked above
                tar.extractall(root, members=members)  # noqa: S202
    except (OSError, tarfile.TarError) as exc:
        raise RecipeError(f"{archive.name} is not a readable model archive: {exc}") from None


class ServingCode:
    """A model directory's own ``code/inference.py`` with its model loaded through ``model_fn``.

    The code is imported under a private module name, and while it runs, ``sys.modules`` and ``sys.path`` show
    that model's ``code/`` (and ``code/lib``) first, so its ``import challenger_kit`` gets its own copy of the kit
    rather than the training job's.
    """

    _counter = 0

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.code_dir = model_dir / CODE_DIR
        entry = self.code_dir / "inference.py"
        if not entry.is_file():
            raise RecipeError(f"{CODE_DIR}/inference.py not found in the model directory")
        # Top-level modules this code may import from its own directory or its vendored lib/: while it runs, those
        # names resolve there, not to the training job's copies (e.g. another version of the kit).
        self._local_names = {p.stem for p in self.code_dir.glob("*.py")} | {
            p.name for p in self.code_dir.iterdir() if p.is_dir() and (p / "__init__.py").exists()
        }
        # code/lib, and the model's runtime/ (challenger_onnx vendors onnxruntime there): each model's own copy, so a
        # champion is scored by the runtime it was trained and served with.
        self._lib_dirs = [d for d in (self.code_dir / VENDORED_LIB, model_dir / MODEL_RUNTIME_DIR) if d.is_dir()]
        for lib in self._lib_dirs:
            self._local_names |= {
                p.stem if p.suffix == ".py" else p.name
                for p in lib.iterdir()
                if (p.suffix == ".py" or p.is_dir()) and not p.name.endswith((".dist-info", ".egg-info", "__pycache__"))
            }
        self._own_modules: dict[str, ModuleType] = {}
        ServingCode._counter += 1
        name = f"_challenger_serving_{ServingCode._counter}"
        with self._activated():
            spec = importlib.util.spec_from_file_location(name, entry)
            if spec is None or spec.loader is None:
                raise RecipeError(f"cannot import {entry}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            self.module = module
            self.model = module.model_fn(str(model_dir))

    @contextlib.contextmanager
    def _activated(self) -> Iterator[None]:
        saved_path = list(sys.path)
        saved = {n: sys.modules.pop(n) for n in list(sys.modules) if n.split(".")[0] in self._local_names}
        sys.modules.update(self._own_modules)
        sys.path[:0] = [str(self.code_dir), *map(str, self._lib_dirs)]
        try:
            yield
        finally:
            self._own_modules = {n: m for n, m in sys.modules.items() if n.split(".")[0] in self._local_names}
            for n in self._own_modules:
                sys.modules.pop(n, None)
            sys.modules.update(saved)
            sys.path[:] = saved_path

    def predict(self, instances: Sequence[Row]) -> list[Prediction]:
        """Predictions exactly as an endpoint serving this code answers ``{"instances": [...]}``."""
        predictions: list[Prediction] = []
        with self._activated():
            module = self.module
            for start in range(0, len(instances), SERVING_BATCH):
                body = json.dumps({"instances": list(instances[start : start + SERVING_BATCH])})
                data = module.input_fn(body, "application/json")
                result = module.predict_fn(data, self.model)
                if hasattr(module, "output_fn"):
                    rendered = module.output_fn(result, "application/json")
                    text = rendered[0] if isinstance(rendered, tuple) else rendered
                    result = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
                if isinstance(result, dict):
                    result = result.get("predictions")
                if not isinstance(result, list) or len(result) != min(SERVING_BATCH, len(instances) - start):
                    raise RecipeError("serving code returned a malformed prediction list")
                predictions.extend(result)
        return predictions


class Champion:
    """The live champion, from ``SM_CHANNEL_CHAMPION/model.tar.gz``: its serving code and its training rows."""

    def __init__(self, archive: Path, workdir: Path, artifact_sha256: str) -> None:
        """``artifact_sha256``: the archive's digest, already checked by :func:`verify_champion`."""
        self.archive = archive
        self.artifact_sha256 = artifact_sha256
        self.model_dir = workdir / "champion"
        self.model_dir.mkdir(parents=True, exist_ok=True)
        _safe_extract(archive, self.model_dir)
        rows_file = self.model_dir / TRAINING_ROWS_FILE
        try:
            training_rows = json.loads(rows_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RecipeError(f"the champion has no readable {TRAINING_ROWS_FILE}: {exc}") from None
        if not isinstance(training_rows, list) or not all(isinstance(r, str) for r in training_rows):
            raise RecipeError(f"the champion's {TRAINING_ROWS_FILE} is not a list of row ids")
        self.training_rows: set[str] = set(training_rows)
        self.serving = ServingCode(self.model_dir)


def verify_champion(archive: Path, expected_sha256: str | None) -> str:
    """The archive's SHA-256, if it is the registered one: nothing of the champion is extracted or run before this.

    StartTraining passes the champion's registered digest as the ``champion-sha256`` hyperparameter (issue 18):
    a champion channel without it, or an archive with another digest, fails the job (RecipeError).
    """
    digest = hashlib.sha256()
    with archive.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    actual = digest.hexdigest()
    if not expected_sha256:
        raise RecipeError("the champion channel came without its registered digest (champion-sha256): not run")
    if actual != expected_sha256.strip().lower():
        raise RecipeError(
            f"the champion's {CHAMPION_ARTIFACT} has SHA-256 {actual}, not the registered {expected_sha256}: "
            "refusing to run its code"
        )
    return actual


def model_manifest(model_dir: Path) -> dict[str, str]:
    """Relative path → SHA-256 of every regular file under ``model_dir`` (what SageMaker will tar)."""
    files: dict[str, str] = {}
    for path in sorted(model_dir.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256()
            with path.open("rb") as handle:  # streamed: training_rows.json of millions of rows is hundreds of MB
                while block := handle.read(1024 * 1024):
                    digest.update(block)
            files[path.relative_to(model_dir).as_posix()] = digest.hexdigest()
    return files


def find_champion_archive(location: str | None) -> Path | None:
    """The champion's model.tar.gz from a channel directory (or a direct path); None without a champion."""
    if not location:
        return None
    path = Path(location)
    if path.is_dir():
        archives = sorted(path.rglob("*.tar.gz"))
        if not archives:
            return None
        path = next((a for a in archives if a.name == CHAMPION_ARTIFACT), archives[0])
    return path if path.is_file() else None


# ------------------------------------------------------------------------------------------------------------------
# Metrics: one implementation evaluated on many bootstrap resamples at once
# ------------------------------------------------------------------------------------------------------------------

BINARY_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier")
# Multiclass log_loss reads each prediction's "probabilities" (class value as a string → probability).
MULTICLASS_METRICS = ("accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro", "log_loss")
REGRESSION_METRICS = ("rmse", "mse", "mae", "r2")


def supported_metrics(kind: str) -> tuple[str, ...]:
    """Metric names the kit computes itself (vectorised over bootstrap resamples) for a target kind."""
    return {"binary": BINARY_METRICS, "multiclass": MULTICLASS_METRICS, "regression": REGRESSION_METRICS}[kind]


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    # scikit-learn's zero_division=0: an undefined ratio counts as 0.
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _weighted_mean(weights: np.ndarray, values: np.ndarray, total: np.ndarray) -> np.ndarray:
    mean: np.ndarray = weights @ values / total
    return mean


class _Scored:
    """Per-row arrays of one model's predictions on the evaluation rows, ready for weighted metrics."""

    def __init__(self, recipe: Recipe, y_true: Sequence[Any], predictions: Sequence[Prediction]) -> None:
        self.kind = recipe.kind
        if recipe.classification:
            classes = list(recipe.labels)
            index = {c: i for i, c in enumerate(classes)}
            try:
                self.true = np.array([index[y] for y in y_true], dtype=np.int64)
                self.pred = np.array([index[p["label"]] for p in predictions], dtype=np.int64)
            except (KeyError, TypeError) as exc:
                raise RecipeError(f"a prediction has no valid 'label' of {classes}: {exc!r}") from None
            self.n_classes = len(classes)
            self.positive = index[recipe.positive_label] if recipe.kind == "binary" else -1
            scores = [p.get("score") for p in predictions] if recipe.kind == "binary" else []
            self.probabilities = _class_probabilities(classes, predictions) if recipe.kind == "multiclass" else None
            self.score = (
                np.array(scores, dtype=np.float64)
                if scores and all(isinstance(s, float | int) for s in scores)
                else None
            )
        else:
            self.true_value = np.array(list(y_true), dtype=np.float64)
            try:
                self.value = np.array([p["value"] for p in predictions], dtype=np.float64)
            except (KeyError, TypeError, ValueError) as exc:
                raise RecipeError(f"a regression prediction has no numeric 'value': {exc!r}") from None

    def metric(self, name: str, weights: np.ndarray) -> np.ndarray:
        """The metric for each row of ``weights`` (resamples × rows; each entry how often a row was drawn)."""
        total = weights.sum(axis=1)
        if self.kind == "regression":
            error = self.value - self.true_value
            if name in ("mse", "rmse"):
                mse = _weighted_mean(weights, error * error, total)
                return np.sqrt(mse) if name == "rmse" else mse
            if name == "mae":
                return _weighted_mean(weights, np.abs(error), total)
            if name == "r2":
                y = self.true_value
                sum_y, sum_y2 = weights @ y, weights @ (y * y)
                ss_tot = sum_y2 - sum_y * sum_y / total
                ss_res = weights @ (error * error)
                return 1.0 - _safe_divide(ss_res, ss_tot)
            raise KeyError(name)
        correct = (self.true == self.pred).astype(np.float64)
        if name == "accuracy":
            return _weighted_mean(weights, correct, total)
        if self.kind == "binary":
            true_pos = (self.true == self.positive).astype(np.float64)
            pred_pos = (self.pred == self.positive).astype(np.float64)
            tp = weights @ (true_pos * pred_pos)
            if name == "precision":
                return _safe_divide(tp, weights @ pred_pos)
            if name == "recall":
                return _safe_divide(tp, weights @ true_pos)
            if name == "f1":
                return _safe_divide(2 * tp, weights @ true_pos + weights @ pred_pos)
            if self.score is None:
                raise KeyError(name)
            if name == "roc_auc":
                return self._roc_auc(weights, true_pos)
            if name == "log_loss":
                p = np.clip(self.score, np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
                loss = -(true_pos * np.log(p) + (1 - true_pos) * np.log(1 - p))
                return _weighted_mean(weights, loss, total)
            if name == "brier":
                return _weighted_mean(weights, (self.score - true_pos) ** 2, total)
            raise KeyError(name)
        probabilities: np.ndarray | None = self.probabilities
        if name == "log_loss" and probabilities is not None:
            p = np.clip(probabilities[np.arange(len(self.true)), self.true], np.finfo(np.float64).eps, 1.0)
            return _weighted_mean(weights, -np.log(p), total)
        true_onehot = np.eye(self.n_classes)[self.true]
        pred_onehot = np.eye(self.n_classes)[self.pred]
        tp = weights @ (true_onehot * pred_onehot)
        support, predicted = weights @ true_onehot, weights @ pred_onehot
        present = (support + predicted) > 0
        n_present = np.maximum(present.sum(axis=1), 1)
        if name in ("recall_macro", "balanced_accuracy"):
            per_class = _safe_divide(tp, support)
            if name == "balanced_accuracy":  # averaged over the classes present in y_true
                return (per_class * (support > 0)).sum(axis=1) / np.maximum((support > 0).sum(axis=1), 1)
        elif name == "precision_macro":
            per_class = _safe_divide(tp, predicted)
        elif name == "f1_macro":
            per_class = _safe_divide(2 * tp, support + predicted)
        else:
            raise KeyError(name)
        # scikit-learn's macro average runs over the labels present in y_true or y_pred.
        return (per_class * present).sum(axis=1) / n_present

    def _roc_auc(self, weights: np.ndarray, true_pos: np.ndarray) -> np.ndarray:
        # Weighted Mann-Whitney U: ties between a positive and a negative count one half.
        assert self.score is not None
        order = np.argsort(self.score, kind="mergesort")
        scores = self.score[order]
        starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])
        w = weights[:, order]
        pos = np.add.reduceat(w * true_pos[order], starts, axis=1)
        neg = np.add.reduceat(w * (1 - true_pos[order]), starts, axis=1)
        neg_below = np.cumsum(neg, axis=1) - neg
        n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
        u = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def _class_probabilities(classes: Sequence[Any], predictions: Sequence[Prediction]) -> np.ndarray | None:
    """Rows × classes of the predictions' ``probabilities``; None unless every prediction has all of them."""
    table = [row for row in (p.get("probabilities") for p in predictions) if isinstance(row, dict)]
    if not table or len(table) != len(predictions):
        return None
    try:
        return np.array([[float(row[str(c)]) for c in classes] for row in table], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return None


def compute_metrics(recipe: Recipe, y_true: Sequence[Any], predictions: Sequence[Prediction]) -> dict[str, float]:
    """The recipe's metrics (those the kit knows) on one set of rows."""
    scored = _Scored(recipe, y_true, predictions)
    ones = np.ones((1, len(y_true)))
    result = {}
    for name in recipe.metric_directions:
        with contextlib.suppress(KeyError):
            result[name] = float(scored.metric(name, ones)[0])
    return result


def confusion_matrix(recipe: Recipe, y_true: Sequence[Any], predictions: Sequence[Prediction]) -> list[list[int]]:
    """Rows = true class, columns = predicted class, both in ``recipe.labels`` order ([] for regression)."""
    if not recipe.classification:
        return []
    classes = list(recipe.labels)
    matrix = [[0] * len(classes) for _ in classes]
    index = {c: i for i, c in enumerate(classes)}
    for y, p in zip(y_true, predictions, strict=True):
        matrix[index[y]][index[p["label"]]] += 1
    return matrix


def paired_bootstrap(
    recipe: Recipe,
    y_true: Sequence[Any],
    challenger: Sequence[Prediction],
    champion: Sequence[Prediction],
    *,
    metric_names: Sequence[str],
    confidence: float,
    samples: int,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, dict[str, float | None]]:
    """Paired bootstrap CI of ``metric(challenger) − metric(champion)`` per metric, on the same resampled rows.

    Each resample draws n rows with replacement (one shared draw for both models); ``low``/``high`` are the
    percentile interval at ``confidence``. Deterministic for a seed. ``champion_low``/``champion_high``: the
    champion's own score on the same resamples (its interval), which the label-shift check compares across sets.
    """
    n = len(y_true)
    ours, theirs = _Scored(recipe, y_true, challenger), _Scored(recipe, y_true, champion)
    ones = np.ones((1, n))
    rng = np.random.default_rng(seed)
    deltas: dict[str, list[np.ndarray]] = {name: [] for name in metric_names}
    alone: dict[str, list[np.ndarray]] = {name: [] for name in metric_names}
    # Resamples are drawn as multiplicity matrices in chunks, keeping memory near 16 MB whatever n is.
    chunk = max(1, min(samples, 2_000_000 // max(n, 1)))
    done = 0
    while done < samples:
        size = min(chunk, samples - done)
        draws = rng.integers(0, n, size=(size, n))
        offsets = (np.arange(size) * n)[:, None]
        weights = np.bincount((draws + offsets).ravel(), minlength=size * n).reshape(size, n).astype(np.float64)
        for name in metric_names:
            champion_scores = theirs.metric(name, weights)
            deltas[name].append(ours.metric(name, weights) - champion_scores)
            alone[name].append(champion_scores)
        done += size
    alpha = (1.0 - confidence) / 2.0
    result: dict[str, dict[str, float | None]] = {}
    for name in metric_names:
        values = np.concatenate(deltas[name])
        values = values[np.isfinite(values)]
        point = float(ours.metric(name, ones)[0] - theirs.metric(name, ones)[0])
        if values.size == 0 or not math.isfinite(point):
            result[name] = {"delta": point if math.isfinite(point) else None, "low": None, "high": None}
            continue
        low, high = np.quantile(values, [alpha, 1.0 - alpha])
        result[name] = {"delta": point, "low": float(low), "high": float(high)}
        scores = np.concatenate(alone[name])
        scores = scores[np.isfinite(scores)]
        if scores.size:
            champion_low, champion_high = np.quantile(scores, [alpha, 1.0 - alpha])
            result[name].update(champion_low=float(champion_low), champion_high=float(champion_high))
    return result


# ------------------------------------------------------------------------------------------------------------------
# Golden set and baseline profile
# ------------------------------------------------------------------------------------------------------------------


def _histogram(values: Sequence[float], edges: Sequence[float] | None = None) -> dict[str, Any]:
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    if edges is None:
        edges = sorted(set(np.quantile(data, HISTOGRAM_QUANTILES).tolist())) if data.size else []
    counts = np.bincount(np.searchsorted(np.asarray(edges), data, side="right"), minlength=len(edges) + 1)
    total = max(int(counts.sum()), 1)
    summary = {}
    if data.size:
        summary = {
            "min": float(data.min()),
            "max": float(data.max()),
            "mean": float(data.mean()),
            "std": float(data.std()),
        }
    return {"edges": [float(e) for e in edges], "proportions": [c / total for c in counts.tolist()], **summary}


def tokenize(text: str) -> list[str]:
    """The drift profile's tokenizer (lowercase, scikit-learn's default token pattern)."""
    return TOKEN_PATTERN.findall(text.lower())


def text_profile(texts: Sequence[str], unseen: Sequence[str] = ()) -> dict[str, Any]:
    """Length, token-count and out-of-vocabulary-rate histograms of a text column, with the vocabulary used.

    The vocabulary comes from `texts` (the training rows), so their own OOV rate is 0 by construction; the OOV
    histogram is measured on `unseen` texts (the hold-out), which is what live traffic without drift looks like.
    """
    tokenized = [tokenize(t) for t in texts]
    counts = Counter(token for tokens in tokenized for token in set(tokens))
    vocabulary = sorted(t for t, _ in counts.most_common(BASELINE_VOCABULARY_LIMIT))
    known = set(vocabulary)
    reference = [tokenize(t) for t in unseen] or tokenized
    oov = [sum(t not in known for t in tokens) / len(tokens) if tokens else 0.0 for tokens in reference]
    return {
        "type": "text",
        "length": _histogram([len(t) for t in texts]),
        "tokens": _histogram([len(tokens) for tokens in tokenized]),
        "oov_rate": _histogram(oov, edges=[0.05, 0.1, 0.2, 0.3, 0.5, 0.75]),
        "tokenizer": {"lowercase": True, "pattern": TOKEN_PATTERN.pattern},
        "vocabulary": vocabulary,
    }


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def temporal_parts(value: str) -> dict[str, str]:
    """The recurring parts of a canonical date/date-time that drift compares: day of week, and hour of day (UTC)
    for a date-time."""
    moment = to_datetime(value)
    parts = {"weekday": WEEKDAYS[moment.weekday()]}
    if "T" in value:
        parts["hour"] = f"{moment.hour:02d}"
    return parts


def temporal_profile(values: Sequence[str]) -> dict[str, Any]:
    """A date/date-time column's baseline: its first and last value, and the frequencies of its recurring parts.

    The values themselves are not profiled: time moves on, so live traffic is always later than the training rows
    and a histogram of instants would report drift every day. What a shift in the data looks like is a change in the
    mix of weekdays or hours (``temporal_parts``); challenger_core.drift compares those.
    """
    counts: dict[str, Counter[str]] = {}
    for value in values:
        for part, key in temporal_parts(value).items():
            counts.setdefault(part, Counter())[key] += 1
    return {
        "first": min(values) if values else None,
        "last": max(values) if values else None,
        **{part: {k: c / max(len(values), 1) for k, c in sorted(found.items())} for part, found in counts.items()},
    }


def build_baseline(
    recipe: Recipe,
    training: Sequence[Row],
    holdout_predictions: Sequence[Prediction],
    holdout: Sequence[Row] = (),
) -> dict[str, Any]:
    """Per-feature profile of the training rows (text OOV rates on the hold-out) plus the model's prediction
    distribution on the hold-out."""
    features: dict[str, Any] = {}
    for feature in recipe.features:
        name = feature["name"]
        values = [row[name] for row in training]
        present = [v for v in values if v is not None]
        missing = (len(values) - len(present)) / max(len(values), 1)
        if feature["type"] == "text":
            features[name] = text_profile(present, [row[name] for row in holdout if row[name] is not None])
        elif feature["type"] == "number":
            features[name] = {"type": "number", "missing_rate": missing, **_histogram(present)}
        elif feature["type"] in TEMPORAL_FORMATS:
            features[name] = {"type": feature["type"], "missing_rate": missing, **temporal_profile(present)}
        else:
            counts = Counter(present)
            features[name] = {
                "type": "category",
                "missing_rate": missing,
                "frequencies": {k: c / max(len(present), 1) for k, c in sorted(counts.items())},
            }
    prediction: dict[str, Any] = {}
    if recipe.classification:
        counts = Counter(str(p.get("label")) for p in holdout_predictions)
        prediction["labels"] = {str(c): counts.get(str(c), 0) / max(len(holdout_predictions), 1) for c in recipe.labels}
        scores = [p["score"] for p in holdout_predictions if isinstance(p.get("score"), float | int)]
        if scores:
            prediction["score"] = _histogram(scores, edges=[i / 10 for i in range(1, 10)])
    else:
        prediction["value"] = _histogram([p["value"] for p in holdout_predictions])
    return {
        "kit_version": KIT_VERSION,
        "rows": len(training),
        "features": features,
        "prediction": prediction,
        "histograms": "bins are (-inf, e1), [e1, e2), ..., [ek, inf) for edges e1..ek (numpy searchsorted right)",
    }


def golden_rows(split: Split | ChannelSplit, count: int) -> list[int]:
    """Indices of the hold-out rows for the golden set: the first ``count`` by row hash (order-independent)."""
    unique: dict[str, int] = {}
    for i, digest in enumerate(split.holdout_hashes):
        unique.setdefault(digest, i)
    return [unique[d] for d in sorted(unique)[:count]]


def compare_predictions(expected: Sequence[Prediction], served: Sequence[Prediction], tolerance: float) -> str | None:
    """The first difference between two prediction lists (labels/strings exact, numbers within tolerance)."""
    for i, (a, b) in enumerate(zip(expected, served, strict=True)):
        if set(a) != set(b):
            return f"row {i}: fields {sorted(a)} vs {sorted(b)}"
        for key, value in a.items():
            other = b[key]
            numeric = isinstance(value, float) and isinstance(other, float | int) and not isinstance(other, bool)
            if numeric and abs(value - other) <= tolerance:
                continue
            if isinstance(value, dict) and isinstance(other, dict):  # e.g. a multiclass model's probabilities
                nested = compare_predictions([value], [other], tolerance)
                if nested is None:
                    continue
                return f"row {i}: {key}: {nested.removeprefix('row 0: ')}"
            if value != other or type(value) is not type(other):
                return f"row {i}: {key} {value!r} (trained model) vs {other!r} (served)"
    return None


# ------------------------------------------------------------------------------------------------------------------
# Model directory: serving code and vendored requirements
# ------------------------------------------------------------------------------------------------------------------


# A requirements.txt line whose comment says this is needed by train.py alone (e.g. the LightGBM that fits a model
# served by numpy): the training toolkit installs it (pip reads past the comment), the model's code/lib does not get it.
TRAINING_ONLY = "training only"


def requirement_lines(path: Path, *, serving: bool = False) -> list[str]:
    """The requirement lines of a requirements.txt (comments and blanks dropped); ``serving``: without the lines
    marked ``# training only``."""
    if not path.is_file():
        return []
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line, _, comment = raw.partition("#")
        if line.strip() and not (serving and comment.strip().lower().startswith(TRAINING_ONLY)):
            lines.append(line.strip())
    return lines


def install_serving_code(recipe_dir: Path, model_dir: Path, serving_files: Sequence[str]) -> None:
    """Copy the serving code into ``model_dir/code`` and vendor its requirements into ``code/lib``.

    The endpoint then runs the code this model was trained with, and a serverless cold start downloads nothing:
    requirements are installed here with ``pip install --target`` and ``code/requirements.txt`` keeps them
    commented out (the container would otherwise pip-install them from the network at start-up). The image's
    serving stack still runs ``pip install .`` of ``code/`` at every start (sagemaker-containers
    ``_modules.import_module``); the model's container Environment (challenger_core ``MODEL_ENVIRONMENT``) sends
    that to a writable target without build isolation, so it needs neither the network nor a writable image.
    """
    code = model_dir / CODE_DIR
    if code.exists():
        shutil.rmtree(code)
    code.mkdir(parents=True)
    for name in (*serving_files, RECIPE_FILE):
        shutil.copy2(recipe_dir / name, code / name)
    shutil.copy2(Path(__file__), code / KIT_FILE)
    requirements = recipe_dir / REQUIREMENTS_FILE
    wanted = requirement_lines(requirements, serving=True)
    if wanted:
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check"]
        with tempfile.TemporaryDirectory() as scratch:
            serving_requirements = Path(scratch) / REQUIREMENTS_FILE
            serving_requirements.write_text("".join(f"{line}\n" for line in wanted), encoding="utf-8")
            command += ["--target", str(code / VENDORED_LIB), "-r", str(serving_requirements)]
            completed = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if completed.returncode != 0:
            tail = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RecipeError(f"could not vendor serving requirements ({', '.join(wanted)}): {tail[0]}")
        note = "# Vendored into lib/ at training time (on sys.path via challenger_kit.add_vendored_lib):\n"
        (code / REQUIREMENTS_FILE).write_text(note + "".join(f"#   {line}\n" for line in wanted), encoding="utf-8")
    elif requirement_lines(requirements):  # training-only lines: the serving container must not install them either
        note = "# Training only (challenger_kit TRAINING_ONLY): nothing to install for serving.\n"
        lines = requirement_lines(requirements)
        (code / REQUIREMENTS_FILE).write_text(note + "".join(f"#   {line}\n" for line in lines), encoding="utf-8")
    elif requirements.is_file():
        shutil.copy2(requirements, code / REQUIREMENTS_FILE)
    # Bytecode compiled now, by the image's own Python, spares every cold start compiling the kit (~10-30 ms) where
    # the model directory is read-only. Hash-checked: valid whatever the archive does to modification times, and
    # simply ignored by another Python version.
    compileall.compile_dir(str(code), quiet=1, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH, workers=1)


# ------------------------------------------------------------------------------------------------------------------
# The training job
# ------------------------------------------------------------------------------------------------------------------


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")


def write_failure(message: str) -> None:
    """One line in ``$SM_OUTPUT_DIR/failure``: SageMaker shows it as the job's FailureReason."""
    output_dir = os.environ.get("SM_OUTPUT_DIR")
    if not output_dir:
        return
    try:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        # One line, and short: DescribeTrainingJob's FailureReason holds at most 1024 characters.
        line = " ".join(message.split())[:1000]
        (Path(output_dir) / FAILURE_FILE).write_text(line + "\n", encoding="utf-8")
    except OSError as exc:  # never mask the original failure
        print(f"warning: could not write the failure file: {exc}", file=sys.stderr)


RESERVED = {"test_fraction", "promotion_confidence", "bootstrap_samples", "bootstrap_seed"}


def _coerce_hyperparameter(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if raw.strip().lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.strip().lower() in ("true", "1")
        if isinstance(default, int):
            number = float(raw)
            # SageMaker and JSON tools turn 2 into "2.0": integral floats are integers.
            if not number.is_integer():
                raise ValueError(raw)
            return int(number)
        if isinstance(default, float):
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError(raw)
            return number
        return raw
    except ValueError:
        raise RecipeError(f"invalid hyperparameters: {name} expects {type(default).__name__}, got {raw!r}") from None


class JobArgs:
    """Paths and hyperparameters of one training run (script-mode ``--name value`` arguments and SM_* variables)."""

    def __init__(self, argv: Sequence[str], recipe: Recipe) -> None:
        env = os.environ
        paths = {
            "train": env.get("SM_CHANNEL_TRAIN"),
            "test": env.get("SM_CHANNEL_TEST"),
            "trusted": env.get("SM_CHANNEL_TRUSTED"),
            "champion": env.get("SM_CHANNEL_CHAMPION"),
            "champion_sha256": None,
            "model_dir": env.get("SM_MODEL_DIR", "model"),
            "output_data_dir": env.get("SM_OUTPUT_DATA_DIR", os.path.join("output", "data")),
        }
        defaults: dict[str, Any] = {
            "test_fraction": DEFAULT_TEST_FRACTION,
            "promotion_confidence": DEFAULT_CONFIDENCE,
            "bootstrap_samples": DEFAULT_BOOTSTRAP_SAMPLES,
            "bootstrap_seed": BOOTSTRAP_SEED,
            **recipe.hyperparameters,
        }
        values = dict(defaults)
        args = list(argv)
        while args:
            flag = args.pop(0)
            if not flag.startswith("-") or flag.strip("-") == "":
                raise RecipeError(f"invalid hyperparameters: unexpected argument {flag!r}")
            key, _, inline = flag.lstrip("-").partition("=")
            name = key.replace("-", "_")
            if inline == "" and "=" not in flag:
                if not args:
                    raise RecipeError(f"invalid hyperparameters: {flag} has no value")
                inline = args.pop(0)
            if name in paths:
                paths[name] = inline
            elif name.startswith("sagemaker_"):
                # SageMaker's own (sagemaker_program, sagemaker_region, ...): the toolkit filters the ones it knows,
                # and any other is the platform's business, not a recipe hyperparameter.
                continue
            elif name in defaults:
                values[name] = _coerce_hyperparameter(name, inline, defaults[name])
            else:
                known = sorted(set(defaults) | set(paths))
                raise RecipeError(
                    f"invalid hyperparameters: unknown hyperparameter {key!r} (known: {', '.join(known)})"
                )
        bounds = {"test_fraction": (0.0, 1.0), "promotion_confidence": (0.5, 1.0), "bootstrap_samples": (100, 100_000)}
        for name, (low, high) in bounds.items():
            if not low <= values[name] <= high or values[name] in (0.0, 1.0):
                raise RecipeError(f"invalid hyperparameters: {name} must be in [{low}, {high}], got {values[name]}")
        if not paths["train"]:
            raise RecipeError("no training data: set SM_CHANNEL_TRAIN or pass --train DIR_OR_CSV")
        self.train = Path(str(paths["train"]))
        self.test = Path(paths["test"]) if paths["test"] else None
        self.trusted = Path(paths["trusted"]) if paths["trusted"] else None
        self.champion = paths["champion"]
        self.champion_sha256 = paths["champion_sha256"]
        self.model_dir = Path(str(paths["model_dir"]))
        self.output_data_dir = Path(str(paths["output_data_dir"]))
        self.test_fraction = float(values["test_fraction"])
        self.confidence = float(values["promotion_confidence"])
        self.bootstrap_samples = int(values["bootstrap_samples"])
        self.bootstrap_seed = int(values["bootstrap_seed"])
        self.hyperparameters = {k: v for k, v in values.items() if k not in RESERVED}


def _comparison(
    recipe: Recipe,
    args: JobArgs,
    champion: Champion,
    rows: Sequence[Row],
    hashes: Sequence[str],
    challenger_predictions: Sequence[Prediction],
    metric_names: Sequence[str],
) -> dict[str, Any]:
    """Both models on the same rows (the upload's hold-out, or the trusted set) minus the champion's training rows."""
    paired = [i for i, d in enumerate(hashes) if d[:ROW_ID_CHARS] not in champion.training_rows]
    excluded = len(rows) - len(paired)
    if len(paired) < recipe.min_test_rows:
        raise RecipeError(
            f"only {len(paired)} evaluation rows are unseen by the champion ({excluded} it trained on); "
            f"need at least {recipe.min_test_rows} for a paired comparison"
        )
    y_true = [rows[i][recipe.target_name] for i in paired]
    ours = [challenger_predictions[i] for i in paired]
    theirs = champion.serving.predict([instance_of(rows[i], recipe) for i in paired])
    differences = paired_bootstrap(
        recipe,
        y_true,
        ours,
        theirs,
        metric_names=metric_names,
        confidence=args.confidence,
        samples=args.bootstrap_samples,
        seed=args.bootstrap_seed,
    )
    return {
        "champion_artifact_sha256": champion.artifact_sha256,
        "rows": len(paired),
        "fingerprint": fingerprint([hashes[i] for i in paired]),
        "champion_metrics": compute_metrics(recipe, y_true, theirs),
        "challenger_metrics": compute_metrics(recipe, y_true, ours),
        "differences": differences,
        "confidence": args.confidence,
        "method": f"paired bootstrap, {args.bootstrap_samples} resamples",
        "excluded_champion_training_rows": excluded,
    }


def _trusted_rows(args: JobArgs, recipe: Recipe) -> list[tuple[Row, str]]:
    """The trusted evaluation set (``trusted`` channel) as (row, hash) pairs in hash order; one row per feature hash
    (the first), so a duplicated row does not count twice."""
    if args.trusted is None:
        return []
    unique: dict[str, Row] = {}
    for row in read_rows(args.trusted, recipe, "trusted"):
        unique.setdefault(row_hash(row, recipe.feature_names), row)
    return [(unique[digest], digest) for digest in sorted(unique)]


def _class_counts(recipe: Recipe, y_true: Sequence[Any]) -> dict[str, int]:
    """Rows per class (label name) of an evaluation set; empty for regression."""
    if not recipe.classification:
        return {}
    counts = Counter(y_true)
    return {name: counts.get(value, 0) for value, name in recipe.labels.items()}


def write_rows_csv(path: Path, recipe: Recipe, rows: Sequence[Row]) -> None:
    """Rows as a CSV the recipe reads back (features then target): the hold-out that can seed the trusted set."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [*recipe.feature_names, recipe.target_name]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row[c] for c in columns])


def train(
    *,
    fit: FitFn,
    save: SaveFn,
    predict: PredictFn,
    metrics: MetricsFn | None = None,
    recipe_dir: Path,
    argv: Sequence[str],
    serving_files: Sequence[str] = ("inference.py",),
    install_code: InstallCodeFn | None = None,
    fit_batches: FitBatchesFn | None = None,
) -> dict[str, Any]:
    """Run one training job under the contract; returns the evaluation report (also written to disk).

    The train channel is read and split chunk by chunk (:func:`split_channel`). ``fit`` gets the training rows as a
    list in content order; a recipe that also gives ``fit_batches`` gets, once the training rows outgrow
    ``ROWS_IN_MEMORY_BYTES``, a callable returning a fresh iterator of pyarrow RecordBatches (as many passes as it
    likes) instead, and its drift baseline profiles a hash-chosen sample of ``BASELINE_SAMPLE_ROWS`` rows.
    """
    recipe = load_recipe(recipe_dir)
    if (recipe.spec.get("model") or {}).get("format", "native") != "native" and install_code is None:
        raise RecipeError('recipe.json model.format "onnx": train.py must call challenger_onnx.main(fit=...)')
    args = JobArgs(argv, recipe)
    test_rows = read_rows(args.test, recipe, "test") if args.test is not None else None
    trusted = _trusted_rows(args, recipe)
    with tempfile.TemporaryDirectory(prefix="challenger-split-") as spill:
        split = split_channel(
            args.train, recipe, args.test_fraction, Path(spill), test_rows, [row for row, _ in trusted]
        )
        check_split(split, recipe)
        columnar = fit_batches is not None and split.train_bytes > ROWS_IN_MEMORY_BYTES
        logger.info(
            "%s: training on %d rows (%s), holding out %d (%d train rows equal to a test row, %d to a trusted row "
            "dropped)",
            recipe.name,
            split.n_train,
            "in batches" if columnar else "as rows",
            len(split.holdout),
            split.dropped_as_test_rows,
            split.dropped_as_trusted_rows,
        )
        if fit_batches is not None and columnar:
            model = fit_batches(split.train_batches, args.hyperparameters)
            profiled = split.sample_rows(BASELINE_SAMPLE_ROWS)
        else:
            profiled = split.train_rows()[0]
            model = fit(profiled, args.hyperparameters)
    holdout_predictions = list(predict(model, split.holdout))
    if len(holdout_predictions) != len(split.holdout):
        raise RecipeError(f"predict returned {len(holdout_predictions)} predictions for {len(split.holdout)} rows")
    y_true = [row[recipe.target_name] for row in split.holdout]
    kit_metrics = compute_metrics(recipe, y_true, holdout_predictions)
    reported = {k: float(v) for k, v in (metrics(y_true, holdout_predictions) if metrics else kit_metrics).items()}
    for name, value in kit_metrics.items():
        # The paired bootstrap uses the kit's implementation: it must agree with the recipe's own.
        if name in reported and not math.isclose(value, reported[name], rel_tol=1e-9, abs_tol=1e-12):
            raise RecipeError(f"metric {name}: the recipe computes {reported[name]!r}, the kit {value!r}")
    missing = [m for m in recipe.metric_directions if m not in reported]
    if missing:
        raise RecipeError(f"metrics {missing} declared in {RECIPE_FILE} were not computed")

    model_dir = args.model_dir
    model_dir.mkdir(parents=True, exist_ok=True)
    save(model, model_dir)
    # An ONNX recipe's code/ is the kit's generic serving code and vendored runtime (challenger_onnx).
    (install_code or install_serving_code)(recipe_dir, model_dir, serving_files)
    split.write_train_ids(model_dir / TRAINING_ROWS_FILE)

    # The golden set comes from the saved artifact through its own serving code — what the endpoint will run —
    # and must equal what the trained model predicted, or the artifact does not serve the model that was evaluated.
    chosen = golden_rows(split, recipe.golden_rows)
    instances = [instance_of(split.holdout[i], recipe) for i in chosen]
    served = ServingCode(model_dir).predict(instances)
    mismatch = compare_predictions([holdout_predictions[i] for i in chosen], served, recipe.score_tolerance)
    if mismatch:
        raise RecipeError(f"the saved model serves differently from the trained one: {mismatch}")
    _write_json(
        model_dir / GOLDEN_FILE,
        {"instances": instances, "predictions": served, "score_tolerance": recipe.score_tolerance},
    )
    _write_json(model_dir / BASELINE_FILE, build_baseline(recipe, profiled, holdout_predictions, split.holdout))
    write_rows_csv(args.output_data_dir / HOLDOUT_FILE, recipe, split.holdout)
    trusted_rows = [row for row, _ in trusted]
    trusted_hashes = [digest for _, digest in trusted]
    trusted_predictions = list(predict(model, trusted_rows)) if trusted_rows else []

    comparison: dict[str, Any] | None = None
    trusted_comparison: dict[str, Any] | None = None
    comparison_error: str | None = None
    trusted_error: str | None = None
    archive = find_champion_archive(args.champion)
    if args.champion and archive is None:
        comparison_error = f"no {CHAMPION_ARTIFACT} in the champion channel"
    elif archive is not None:
        verified = verify_champion(archive, args.champion_sha256)  # a mismatch fails the job: its code never runs
        with tempfile.TemporaryDirectory(prefix="champion-") as workdir:
            try:
                champion = Champion(archive, Path(workdir), verified)
                comparison = _comparison(
                    recipe, args, champion, split.holdout, split.holdout_hashes, holdout_predictions, list(kit_metrics)
                )
            except Exception as exc:  # the champion's own code may fail in any way; the challenger still trains
                comparison_error = f"champion not comparable: {type(exc).__name__}: {exc}"
                logger.warning("%s", comparison_error)
            if comparison is not None and trusted_rows:
                try:  # too few trusted rows unseen by the champion: no trusted comparison, the policy says so
                    trusted_comparison = _comparison(
                        recipe, args, champion, trusted_rows, trusted_hashes, trusted_predictions, list(kit_metrics)
                    )
                except Exception as exc:
                    trusted_error = f"not compared on the trusted set: {type(exc).__name__}: {exc}"
                    logger.warning("%s", trusted_error)

    report: dict[str, Any] = {
        "metrics": reported,
        "confusion_matrix": confusion_matrix(recipe, y_true, holdout_predictions),
        "n_train": split.n_train,
        "n_test": len(split.holdout),
        "eval_set": {"fingerprint": fingerprint(split.holdout_hashes), "rows": len(split.holdout)},
        "comparison": comparison,
        "holdout_class_counts": _class_counts(recipe, y_true),
    }
    if trusted_rows:
        trusted_true = [row[recipe.target_name] for row in trusted_rows]
        report["trusted"] = {
            "fingerprint": fingerprint(trusted_hashes),
            "rows": len(trusted_rows),
            "metrics": compute_metrics(recipe, trusted_true, trusted_predictions),
            "class_counts": _class_counts(recipe, trusted_true),
            "comparison": trusted_comparison,
        }
        if trusted_error:
            report["trusted"]["comparison_error"] = trusted_error[:1000]
    if comparison_error:
        report["comparison_error"] = comparison_error[:1000]
    _write_json(model_dir / EVALUATION_FILE, report)
    _write_json(args.output_data_dir / EVALUATION_FILE, report)
    # Last: every file of the model directory is written; the manifest travels in output.tar.gz beside the report.
    _write_json(args.output_data_dir / MANIFEST_FILE, {"files": model_manifest(model_dir)})
    for name, value in reported.items():
        # "METRIC test_<name>=<value>" lines let SageMaker metric_definitions scrape the numbers.
        print(f"METRIC test_{name}={value:.6f}")
    return report


def main(
    *,
    fit: FitFn,
    save: SaveFn,
    predict: PredictFn,
    metrics: MetricsFn | None = None,
    recipe_dir: str | os.PathLike[str] | None = None,
    argv: Sequence[str] | None = None,
    serving_files: Sequence[str] = ("inference.py",),
    install_code: InstallCodeFn | None = None,
    fit_batches: FitBatchesFn | None = None,
) -> int:
    """The training entry point: 0 on success; 1 with one clear line on stderr and in the failure file otherwise.

    ``recipe_dir`` defaults to the directory of the calling ``train.py`` (where ``recipe.json`` sits).
    """
    if recipe_dir is None:
        recipe_dir = Path(sys.argv[0]).resolve().parent
    directory = Path(recipe_dir)
    name = directory.name
    with contextlib.suppress(RecipeError):
        name = load_recipe(directory).name
    try:
        train(
            fit=fit,
            save=save,
            predict=predict,
            metrics=metrics,
            recipe_dir=directory,
            argv=sys.argv[1:] if argv is None else argv,
            serving_files=serving_files,
            install_code=install_code,
            fit_batches=fit_batches,
        )
    except RecipeError as exc:
        message = f"{name} training failed: {exc}"
        print(f"ERROR: {message}", file=sys.stderr)
        write_failure(message)
        return 1
    except Exception as exc:
        write_failure(f"{name} training crashed: {type(exc).__name__}: {exc}")
        raise
    return 0
