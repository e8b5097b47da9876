"""Every bundled recipe's `request.example` (the dashboard's inference form starts with it, issue 21) is a request the
API accepts and the model server's kit parses: an example that does not fit its own recipe would greet every user with
an error."""

from __future__ import annotations

import json
from pathlib import Path

import challenger_kit
import pytest

from challenger_core import serving
from challenger_core.recipe import parse_recipe

RECIPES = sorted(p.parent for p in (Path(__file__).resolve().parents[3] / "recipes").glob("*/recipe.json"))


@pytest.mark.parametrize("recipe_dir", RECIPES, ids=lambda p: p.name)
def test_the_recipes_example_is_a_request_the_api_and_the_model_accept(recipe_dir: Path) -> None:
    spec = parse_recipe((recipe_dir / "recipe.json").read_bytes(), source=recipe_dir.name)
    assert spec.request.example, f"{recipe_dir.name}: recipe.json has no request.example for the dashboard"
    request = serving.request_model(spec).model_validate({"instances": list(spec.request.example)})
    assert len(request.instances) == len(spec.request.example)
    rows = challenger_kit.parse_request(
        json.dumps({"instances": list(spec.request.example)}),
        "application/json",
        challenger_kit.load_recipe(recipe_dir),
    )
    assert len(rows) == len(spec.request.example)
