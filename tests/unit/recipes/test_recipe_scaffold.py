"""`challenger recipe new NAME --kind KIND`: names and kinds it refuses, what it never overwrites, and a recipe.json
per kind that the core (RecipeSpec) and the kit both accept.

That each kind's scaffold is lint-clean, trains, and passes its generated tests on its sample data and on real data
needs processes: tests/local/test_recipe_processes.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import challenger_kit
import pytest

from challenger import scaffold
from challenger.cli import main
from challenger_core.recipe import parse_recipe
from tests.support.recipes import repository_with_the_kit


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return repository_with_the_kit(tmp_path)


@pytest.mark.parametrize("name", ["Seabirds", "sea-birds", "1birds", "kit", "", "a" * 41, "../escape"])
def test_recipe_new_refuses_a_name_that_is_not_a_safe_identifier(
    repo: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["recipe", "new", name, "--kind", "binary", "--root", str(repo)]) == 2
    assert "invalid recipe name" in capsys.readouterr().err
    assert sorted(p.name for p in (repo / "recipes").iterdir()) == ["kit"]


def test_recipe_new_never_overwrites_an_existing_recipe(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "recipes" / "seabirds").mkdir()
    assert main(["recipe", "new", "seabirds", "--kind", "multiclass", "--root", str(repo)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert list((repo / "recipes" / "seabirds").iterdir()) == []
    assert not (repo / "tests").exists()


def test_recipe_new_needs_a_kind_of_the_three(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["recipe", "new", "seabirds", "--root", str(repo)])
    with pytest.raises(SystemExit):
        main(["recipe", "new", "seabirds", "--kind", "ranking", "--root", str(repo)])
    assert "--kind" in capsys.readouterr().err
    with pytest.raises(scaffold.ScaffoldError, match="unknown kind"):
        scaffold.new_recipe("seabirds", repo, "ranking")


@pytest.mark.parametrize("kind", scaffold.KINDS)
def test_each_kinds_recipe_json_is_accepted_by_the_core_and_the_kit(repo: Path, kind: str) -> None:
    scaffold.new_recipe("seabirds", repo, kind)
    raw = (repo / "recipes" / "seabirds" / "recipe.json").read_bytes()
    spec = parse_recipe(raw, source="recipe.json")
    recipe = challenger_kit.Recipe(json.loads(raw))
    assert (spec.data_schema.target.kind, recipe.kind) == (kind, kind)
    assert spec.primary_metric in challenger_kit.supported_metrics(kind)
    assert set(spec.metrics) <= set(challenger_kit.supported_metrics(kind))
    header = (repo / "recipes" / "seabirds" / "data" / "train_v2.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == [*recipe.feature_names, recipe.target_name]


def test_the_multiclass_scaffold_is_judged_on_log_loss_and_names_its_classes(repo: Path) -> None:
    scaffold.new_recipe("seabirds", repo, "multiclass")
    spec = json.loads((repo / "recipes" / "seabirds" / "recipe.json").read_text(encoding="utf-8"))
    assert (spec["primary_metric"], spec["metrics"]["log_loss"]) == ("log_loss", "lower")
    assert spec["schema"]["target"]["labels"]["Adelie"] == "Adélie"
