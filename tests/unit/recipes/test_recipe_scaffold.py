"""`challenger recipe new NAME`: names it refuses, what it never overwrites, the one test template.

That the scaffolded recipe trains and its generated tests pass needs processes: tests/local/test_recipe_processes.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from challenger import scaffold
from challenger.cli import main
from tests.support.recipes import repository_with_the_kit

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return repository_with_the_kit(tmp_path)


@pytest.mark.parametrize("name", ["Seabirds", "sea-birds", "1birds", "kit", "", "a" * 41, "../escape"])
def test_recipe_new_refuses_a_name_that_is_not_a_safe_identifier(
    repo: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["recipe", "new", name, "--root", str(repo)]) == 2
    assert "invalid recipe name" in capsys.readouterr().err
    assert sorted(p.name for p in (repo / "recipes").iterdir()) == ["kit"]


def test_recipe_new_never_overwrites_an_existing_recipe(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "recipes" / "seabirds").mkdir()
    assert main(["recipe", "new", "seabirds", "--root", str(repo)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert list((repo / "recipes" / "seabirds").iterdir()) == []
    assert not (repo / "tests").exists()


def test_the_penguins_recipe_tests_are_the_scaffold_template_rendered() -> None:
    # One test template for every scaffolded recipe; the penguins copy runs in CI, so the template is proven.
    rendered = scaffold.render("test_recipe.py.tmpl", "penguins")
    assert rendered == (REPO / "tests" / "unit" / "recipes" / "test_penguins_recipe.py").read_text(encoding="utf-8")
