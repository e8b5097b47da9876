"""recipe.json has one schema (issue 21): the core's RecipeSpec. docs/recipe-json.md and the kit's RECIPE_SCHEMA are
generated from it, and the kit refuses what the core refuses, naming the field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import challenger_kit
import pytest

from challenger import recipe_docs
from challenger_core.recipe import RecipeError, parse_recipe
from tests.support.recipes import RECIPES


def test_the_field_reference_and_the_kits_schema_are_generated_from_recipespec() -> None:
    assert recipe_docs.main(["--check"]) == 0  # else: python -m challenger.recipe_docs
    doc = recipe_docs.DOC.read_text(encoding="utf-8")
    for field in ("`schema.target.labels`", "`prediction.fields`", "`golden.score_tolerance`", "`primary_metric`"):
        assert field in doc
    assert "| `multiclass` |" in doc
    assert "`log_loss`" in doc.split("| `multiclass` |")[1].splitlines()[0]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value

    return change


BROKEN = {
    "a feature of an unknown type": (_set("schema.features.0.type", "timestamp"), "schema.features[0].type"),
    "no floor": (_set("floor", KeyError), "'floor' is missing"),
    "a name with a slash": (_set("name", "a/b"), "name"),
    "a direction that is not one": (_set("metrics.rmse", "up"), "metrics.rmse"),
    "a prediction field type python has not": (_set("prediction.fields.value", "double"), "prediction.fields.value"),
    "golden rows out of range": (_set("golden.rows", 5000), "golden.rows"),
    "min_rows as text": (_set("schema.min_rows", "fifty"), "schema.min_rows"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_the_kit_refuses_what_the_core_refuses_naming_the_field(tmp_path: Path, case: str) -> None:
    change, where = BROKEN[case]
    spec = copy.deepcopy(json.loads((RECIPES / "penguins" / "recipe.json").read_text(encoding="utf-8")))
    change(spec)
    raw = json.dumps(spec).encode()
    with pytest.raises(RecipeError):
        parse_recipe(raw, source="recipe.json")
    (tmp_path / "recipe.json").write_bytes(raw)
    with pytest.raises(challenger_kit.RecipeError, match="does not follow RecipeSpec") as refused:
        challenger_kit.load_recipe(tmp_path)
    assert where in str(refused.value)


@pytest.mark.parametrize("name", ["sentiment", "penguins"])
def test_the_bundled_recipes_follow_the_one_schema(name: str) -> None:
    assert (
        challenger_kit.schema_problems(json.loads((RECIPES / name / "recipe.json").read_text(encoding="utf-8"))) == []
    )
