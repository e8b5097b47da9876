"""Recipes for tests: the repository's own (recipes/<name>/recipe.json) and a small tabular one built here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from challenger_core.recipe import RecipeSpec, parse_recipe
from tests.support.events import ROOT

RECIPES = ROOT / "recipes"

# A tabular task unlike the bundled one: numbers with bounds, a closed category, a multiclass target and a
# lower-is-better metric, so generic code cannot pass by knowing the sentiment recipe.
TABULAR: dict[str, Any] = {
    "name": "plants",
    "description": "Test recipe: plant species from measurements.",
    "framework": {"name": "sklearn", "version": "1.4-2", "python": "3.10"},
    "schema": {
        "features": [
            {"name": "height", "type": "number", "min": 0, "max": 100},
            {"name": "soil", "type": "category", "values": ["clay", "sand", "loam"]},
            {"name": "note", "type": "text", "max_length": 30},
        ],
        "target": {"name": "species", "kind": "multiclass", "labels": {"a": "alpha", "b": "beta", "c": "gamma"}},
        "min_rows": 6,
        "min_test_rows": 2,
        "min_per_class": 2,
    },
    "request": {},
    "prediction": {"fields": {"label": "int", "label_name": "str", "score": "float"}},
    "metrics": {"accuracy": "higher", "log_loss": "lower"},
    "primary_metric": "log_loss",
    "floor": {"metric": "accuracy", "value": 0.5},
    "guardrails": ["accuracy"],
    "golden": {"rows": 5, "score_tolerance": 1e-6},
    "hyperparameters": {"max-depth": 3},
}


def bundled(name: str) -> RecipeSpec:
    """A recipe of the repository, parsed as the core parses it."""
    path = RECIPES / name / "recipe.json"
    return parse_recipe(path.read_bytes(), source=str(path))


def tabular(**overrides: Any) -> RecipeSpec:
    return RecipeSpec.model_validate({**TABULAR, **overrides})


def recipe_json(spec: RecipeSpec) -> bytes:
    return json.dumps(spec.model_dump(by_alias=True)).encode()


def recipe_path(name: str) -> Path:
    return RECIPES / name / "recipe.json"


def repository_with_the_kit(root: Path) -> Path:
    """An empty repository at `root` holding only recipes/kit, as every recipe needs it (`challenger recipe new`)."""
    shutil.copytree(RECIPES / "kit", root / "recipes" / "kit", ignore=shutil.ignore_patterns("__pycache__"))
    return root
