"""The recipe declaration (`recipes/<name>/recipe.json`): the one place a task is described.

The core never names a column, label or metric of a specific task: it reads them from the recipe the stack
runs (template parameter `Recipe`), published to `s3://<ArtifactBucket>/recipes/<Recipe>/recipe.json` next to
`sourcedir.tar.gz` by the recipe publisher (functions/publish_recipe) and, locally, by the local cloud.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from challenger_core.errors import ChallengerError, NotFoundError

RECIPE_FILE = "recipe.json"
SOURCE_BUNDLE_FILE = "sourcedir.tar.gz"
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
    name: str
    version: str
    python: str = ""


class Feature(_Spec):
    name: Name
    type: Literal["text", "number", "category"]
    max_length: int | None = Field(default=None, ge=1)
    min: float | None = None
    max: float | None = None
    values: list[str] | None = None


class Target(_Spec):
    name: Name
    kind: Literal["binary", "multiclass", "regression"]
    labels: dict[str, str] = Field(default_factory=dict)

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
    features: list[Feature] = Field(min_length=1)
    target: Target
    min_rows: int = Field(default=20, ge=1)
    min_test_rows: int = Field(default=5, ge=1)
    min_per_class: int = Field(default=1, ge=1)

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
    shorthand: str | None = None


class Prediction(_Spec):
    fields: dict[Name, Literal["int", "str", "float"]] = Field(min_length=1)
    score: str = ""


class Floor(_Spec):
    metric: str
    value: float


class Golden(_Spec):
    rows: int = Field(default=20, ge=1, le=1000)
    score_tolerance: float = Field(default=1e-6, ge=0)


Direction = Literal["higher", "lower"]


class RecipeSpec(_Spec):
    """A task as the core sees it: data schema, request and prediction records, metrics with direction."""

    name: Name
    description: str = ""
    framework: Framework
    data_schema: DataSchema = Field(alias="schema")
    request: Request = Field(default_factory=Request)
    prediction: Prediction
    metrics: dict[str, Direction] = Field(min_length=1)
    primary_metric: str
    floor: Floor
    guardrails: list[str] = Field(default_factory=list)
    golden: Golden = Field(default_factory=Golden)
    hyperparameters: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references_resolve(self) -> RecipeSpec:
        unknown = [m for m in (self.primary_metric, self.floor.metric, *self.guardrails) if m not in self.metrics]
        if unknown:
            raise ValueError(f"metric(s) {', '.join(sorted(set(unknown)))} are not declared in 'metrics'")
        shorthand = self.request.shorthand
        if shorthand is not None and shorthand not in [f.name for f in self.data_schema.features]:
            raise ValueError(f"request.shorthand {shorthand!r} is not a feature")
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
