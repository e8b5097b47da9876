"""The recipe declaration (`recipes/<name>/recipe.json`): the one place a task is described.

The core never names a column, label or metric of a specific task: it reads them from the recipe the stack
runs (template parameter `Recipe`), published to `s3://<ArtifactBucket>/recipes/<Recipe>/recipe.json` (the
source bundle goes under its digest, challenger_core.artifacts) by the recipe publisher (functions/publish_recipe)
and, locally, by the local cloud.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from challenger_core.errors import ChallengerError, NotFoundError

RECIPE_FILE = "recipe.json"
# A recipe declaration is a few KB; anything near this is not one.
MAX_RECIPE_BYTES = 256 * 1024

Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")]


class RecipeError(ChallengerError):
    """The stack's recipe is missing or does not describe a task the core can run."""


class _Spec(BaseModel):
    # Unknown keys are ignored so a recipe written for a newer core still loads; every key the core relies on
    # is required and cross-checked below, so a typo in one of those fails loudly.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, defer_build=True)


class Framework(_Spec):
    """The SageMaker framework container that trains and serves the recipe."""

    name: str = Field(description="framework container: `sklearn` (the SageMaker scikit-learn image)")
    version: str = Field(description="the image's framework version, e.g. `1.9-0`")
    python: str = Field(default="", description="the image's Python, e.g. `3.12` (informational)")


class Feature(_Spec):
    """One input column: its CSV header and what a value must be (requests are checked the same way)."""

    name: Name = Field(description="the CSV header and the request field")
    type: Literal["text", "number", "category", "date", "datetime"] = Field(
        description="`text`, `number`, `category`, `date` (`YYYY-MM-DD`) or `datetime` (ISO 8601, `Z` or an offset; "
        "no offset: UTC); the model gets dates and date-times in canonical form, `2013-01-01T10:00:00Z`"
    )
    max_length: int | None = Field(default=None, ge=1, description="`text`: the longest value accepted")
    min: float | None = Field(default=None, description="`number`: the smallest value accepted")
    max: float | None = Field(default=None, description="`number`: the largest value accepted")
    values: list[str] | None = Field(default=None, description="`category`: the values accepted (any, if left out)")


class Target(_Spec):
    """The column the model predicts."""

    name: Name = Field(description="the target's CSV header")
    kind: Literal["binary", "multiclass", "regression"] = Field(
        description="`binary` (2 labels), `multiclass` (2 or more) or `regression` (a number, no labels)"
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="classifiers: class value as written in the CSV → the name shown wherever a label is shown "
        "(emails, dashboard, CLI); the order is the confusion matrix's",
    )
    positive: str | int | None = Field(
        default=None, description="binary: the positive class's value (`score`'s class); default: the last label"
    )

    @model_validator(mode="after")
    def _labels_fit_the_kind(self) -> Target:
        if self.kind == "binary" and len(self.labels) != 2:
            raise ValueError(f"a binary target declares exactly 2 labels, got {len(self.labels)}")
        if self.kind == "multiclass" and len(self.labels) < 2:
            raise ValueError("a multiclass target declares at least 2 labels")
        if self.kind == "regression" and self.labels:
            raise ValueError("a regression target has no labels")
        return self

    @property
    def is_classification(self) -> bool:
        return self.kind != "regression"


class DataSchema(_Spec):
    """What a training CSV holds: the features, then the target (no other column)."""

    features: list[Feature] = Field(min_length=1, description="the input columns, in the order models see them")
    target: Target = Field(description="the predicted column")
    min_rows: int = Field(default=20, ge=1, description="fewest rows a training file may have")
    min_test_rows: int = Field(default=5, ge=1, description="fewest hold-out rows an evaluation may use")
    min_per_class: int = Field(default=1, ge=1, description="classifiers: fewest training rows of each class")
    time_column: str | None = Field(
        default=None,
        description="a feature (`datetime`, `date`, number or ISO-8601 text) whose newest slice is the hold-out "
        "instead of the hash split",
    )

    @model_validator(mode="after")
    def _unique_columns(self) -> DataSchema:
        names = [f.name for f in self.features] + [self.target.name]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"column(s) declared twice: {', '.join(duplicates)}")
        return self

    @property
    def columns(self) -> list[str]:
        """Every column the CSV must have: the features, then the target."""
        return [f.name for f in self.features] + [self.target.name]


class Request(_Spec):
    """The request record's options."""

    shorthand: str | None = Field(
        default=None, description="a feature a request may send as a bare value instead of a record"
    )
    example: list[str | dict[str, str | int | float]] = Field(
        default_factory=list,
        max_length=20,
        description="instances the dashboard's inference form starts with (a record, or a bare `shorthand` value); "
        "`GET /health` serves them",
    )


class Prediction(_Spec):
    """The prediction record the model serves (the API checks each one against `fields`)."""

    fields: dict[Name, Literal["int", "str", "float"]] = Field(
        min_length=1,
        description="field → `int`, `str` or `float`: `value` (regression), `label` and `score` (classifiers); "
        "a classifier's `label` has the type of its class values",
    )
    score: str = Field(default="", description="what `score` means, in words (shown by the dashboard)")


class Floor(_Spec):
    """The least a model must reach to go live at all."""

    metric: str = Field(description="a metric of `metrics`")
    value: float = Field(description="the bound, on the metric's good side")


class Golden(_Spec):
    """The golden set: hold-out rows and the trained model's predictions, replayed against the served model."""

    rows: int = Field(default=20, ge=1, le=1000, description="how many hold-out rows")
    score_tolerance: float = Field(default=1e-6, ge=0, description="largest difference allowed in a number")


class Shadow(_Spec):
    """How the shadow stage compares the challenger's answers with the champion's on real requests (issue 23)."""

    tolerance: float = Field(
        default=0.0, ge=0, description="regression: the largest difference in `value` that still counts as agreeing"
    )
    slices: list[Name] = Field(
        default_factory=list, max_length=8, description="features whose values break the disagreement down"
    )


class ModelFormat(_Spec):
    """How the trained model is stored and served."""

    format: Literal["native", "onnx"] = Field(
        default="native",
        description="`native`: train.py's own fit/save/predict and inference.py; `onnx`: train.py only fits a "
        "scikit-learn pipeline (or LightGBM/XGBoost model) and the kit converts it to `model.onnx`, checks it against "
        "the fitted model and serves it with onnxruntime (recipes/kit/README.md, docs/decisions/0012)",
    )
    tolerance: float = Field(
        default=1e-5,
        gt=0,
        le=0.01,
        description="`onnx`: largest difference allowed between the ONNX model's and the fitted model's probabilities "
        "(values: relative beyond 1) on every row the kit scores; the graph computes in float32",
    )


Direction = Literal["higher", "lower"]


class RecipeSpec(_Spec):
    """A task as the core sees it: data schema, request and prediction records, metrics with direction."""

    name: Name = Field(description="the recipe's name: its folder under recipes/ and the template's `Recipe`")
    description: str = Field(default="", description="one sentence on the task")
    framework: Framework = Field(description="the container that trains and serves it")
    data_schema: DataSchema = Field(alias="schema", description="the training data's columns")
    request: Request = Field(default_factory=Request, description="request options")
    prediction: Prediction = Field(description="the prediction record")
    metrics: dict[str, Direction] = Field(
        min_length=1, description="metric → `higher` or `lower` (is better); the kit's metrics for the target kind"
    )
    primary_metric: str = Field(description="the metric the promotion policy compares (any of `metrics`)")
    floor: Floor = Field(description="the minimum a model must reach")
    guardrails: list[str] = Field(default_factory=list, description="metrics a challenger must not make worse")
    golden: Golden = Field(default_factory=Golden, description="the golden set's size and tolerance")
    model: ModelFormat = Field(default_factory=ModelFormat, description="the model's format")
    shadow: Shadow = Field(default_factory=Shadow, description="the shadow stage's agreement tolerance and slices")
    hyperparameters: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="passed to train.py (SageMaker hyperparameters); the recipe's defaults"
    )

    @model_validator(mode="after")
    def _references_resolve(self) -> RecipeSpec:
        unknown = [m for m in (self.primary_metric, self.floor.metric, *self.guardrails) if m not in self.metrics]
        if unknown:
            raise ValueError(f"metric(s) {', '.join(sorted(set(unknown)))} are not declared in 'metrics'")
        shorthand = self.request.shorthand
        if shorthand is not None and shorthand not in [f.name for f in self.data_schema.features]:
            raise ValueError(f"request.shorthand {shorthand!r} is not a feature")
        features = {f.name for f in self.data_schema.features}
        strangers = [name for name in self.shadow.slices if name not in features]
        if strangers:
            raise ValueError(f"shadow.slices {', '.join(strangers)} are not features")
        return self

    def direction(self, metric: str) -> Direction:
        """Whether a higher or a lower value of `metric` is better (undeclared metrics: higher)."""
        return self.metrics.get(metric, "higher")

    def hyperparameter_strings(self) -> dict[str, str]:
        """The recipe's hyperparameters as SageMaker wants them (strings)."""
        return {
            name: (str(value).lower() if isinstance(value, bool) else str(value))
            for name, value in self.hyperparameters.items()
        }


def parse_recipe(raw: bytes, *, source: str) -> RecipeSpec:
    """Parse and check a recipe.json; RecipeError names the file and the first problems."""
    try:
        return RecipeSpec.model_validate(json.loads(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise RecipeError(f"{source} is not a valid recipe: {problems}") from exc
    except ValueError as exc:
        raise RecipeError(f"{source} is not JSON: {exc}") from exc


def recipe_key(recipe: str, file: str = RECIPE_FILE) -> str:
    """Where the publisher puts a recipe's files in the artifact bucket."""
    return f"recipes/{recipe}/{file}"


class _Reader(Protocol):
    def read(self, bucket: str, key: str, *, max_bytes: int | None = None) -> bytes: ...


_cache: dict[tuple[str, str], RecipeSpec] = {}
_lock = threading.Lock()


def load_recipe(storage: _Reader, bucket: str, recipe: str) -> RecipeSpec:
    """The stack's recipe, read once per container from the artifact bucket and cached.

    The cache is keyed by bucket and key, not just "the recipe": the unit tests run several functions and stacks in
    one process. A recipe is republished only by a stack update, which starts new containers.
    """
    if not recipe:
        raise RecipeError("no recipe configured: set RECIPE (the template's Recipe parameter)")
    key = recipe_key(recipe)
    with _lock:
        cached = _cache.get((bucket, key))
    if cached is not None:
        return cached
    try:
        raw = storage.read(bucket, key, max_bytes=MAX_RECIPE_BYTES)
    except NotFoundError as exc:
        raise RecipeError(
            f"recipe {recipe!r} is not published: s3://{bucket}/{key} does not exist "
            "(the stack's PublishRecipe custom resource writes it on deploy)"
        ) from exc
    spec = parse_recipe(raw, source=f"s3://{bucket}/{key}")
    with _lock:
        _cache[(bucket, key)] = spec
    return spec


def forget_recipes() -> None:
    """Drop cached recipes (tests and the local cloud republish in one process)."""
    with _lock:
        _cache.clear()
