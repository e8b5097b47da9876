from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from challenger_core.errors import NotFoundError
from challenger_core.recipe import RecipeError, forget_recipes, load_recipe, parse_recipe, recipe_key
from tests.support.recipes import RECIPES, TABULAR, bundled, recipe_json, tabular


class Bucket:
    """Objects by (bucket, key), counting reads."""

    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects
        self.reads: list[tuple[str, str]] = []

    def read(self, bucket: str, key: str, *, max_bytes: int | None = None) -> bytes:
        self.reads.append((bucket, key))
        if (bucket, key) not in self.objects:
            raise NotFoundError(f"s3 GetObject s3://{bucket}/{key}: NoSuchKey")
        return self.objects[(bucket, key)]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    forget_recipes()
    yield
    forget_recipes()


def test_every_bundled_recipe_parses() -> None:
    names = sorted(path.parent.name for path in RECIPES.glob("*/recipe.json"))
    assert "sentiment" in names
    for name in names:
        assert bundled(name).name == name


def test_loaded_once_per_bucket_and_key() -> None:
    key = recipe_key("plants")
    bucket = Bucket({("a", key): recipe_json(tabular()), ("b", key): recipe_json(tabular(primary_metric="accuracy"))})
    assert load_recipe(bucket, "a", "plants").primary_metric == "log_loss"
    assert load_recipe(bucket, "a", "plants").primary_metric == "log_loss"
    # Another stack's bucket in the same process (the local cloud, tests) gets its own recipe.
    assert load_recipe(bucket, "b", "plants").primary_metric == "accuracy"
    assert bucket.reads == [("a", key), ("b", key)]


def test_an_unpublished_recipe_says_where_it_looked() -> None:
    with pytest.raises(RecipeError, match=r"recipe 'plants' is not published: s3://a/recipes/plants/recipe\.json"):
        load_recipe(Bucket({}), "a", "plants")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"primary_metric": "f2"}, "metric(s) f2 are not declared in 'metrics'"),
        ({"guardrails": ["auc"]}, "metric(s) auc are not declared"),
        ({"request": {"shorthand": "colour"}}, "request.shorthand 'colour' is not a feature"),
        ({"metrics": {"accuracy": "up", "log_loss": "lower"}}, "metrics.accuracy: Input should be 'higher' or 'lower'"),
        (
            {"schema": {**TABULAR["schema"], "target": {"name": "y", "kind": "binary", "labels": {"0": "no"}}}},
            "a binary target declares exactly 2 labels",
        ),
    ],
)
def test_an_invalid_recipe_names_the_problem(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RecipeError) as caught:
        parse_recipe(json.dumps({**TABULAR, **change}).encode(), source="recipes/plants/recipe.json")
    assert str(caught.value).startswith("recipes/plants/recipe.json is not a valid recipe: ")
    assert message in str(caught.value)


def test_not_json_is_named() -> None:
    with pytest.raises(RecipeError, match="is not JSON"):
        parse_recipe(b"{nope", source="x")


def test_hyperparameters_become_strings() -> None:
    spec = tabular(hyperparameters={"max-depth": 3, "balanced": True, "rate": 0.1})
    assert spec.hyperparameter_strings() == {"max-depth": "3", "balanced": "true", "rate": "0.1"}
