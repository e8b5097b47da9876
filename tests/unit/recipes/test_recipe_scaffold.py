"""`challenger recipe new NAME`: the scaffolded recipe trains on its own sample data and its generated tests pass."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from challenger import scaffold
from challenger.cli import main

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty repository with the recipe kit, as every recipe needs it."""
    shutil.copytree(
        REPO / "recipes" / "kit", tmp_path / "recipes" / "kit", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def test_recipe_new_scaffolds_a_recipe_that_trains_and_passes_its_generated_tests(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["recipe", "new", "seabirds", "--root", str(repo)]) == 0
    assert "created recipes/seabirds/recipe.json" in capsys.readouterr().out
    recipe_dir = repo / "recipes" / "seabirds"
    assert json.loads((recipe_dir / "recipe.json").read_text(encoding="utf-8"))["name"] == "seabirds"
    assert "challenger recipe new seabirds" in (recipe_dir / "README.md").read_text(encoding="utf-8")

    # Its own entry point, on its own sample data, the way the training container runs it.
    job = subprocess.run(
        [sys.executable, str(recipe_dir / "train.py"), "--train", str(recipe_dir / "data" / "train_v1.csv")],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert job.returncode == 0, job.stderr
    evaluation = json.loads((repo / "model" / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["n_train"] > 0
    assert set(evaluation["metrics"]) == {"rmse", "mae", "r2"}

    generated = repo / "tests" / "unit" / "recipes" / "test_seabirds_recipe.py"
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib", str(generated)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert " passed" in tests.stdout
    assert "failed" not in tests.stdout


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
