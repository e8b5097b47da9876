"""A recipe as SageMaker's training toolkit runs it: `python train.py --name value` in a fresh interpreter.

The recipe tests in tests/unit/recipes run the same code in-process; these two need a process of their own: the
extracted source bundle must train with nothing but its own files on the path, and a scaffolded recipe's
generated tests must pass under their own pytest run.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from challenger.cli import main
from recipes.kit.bundle import build_source_bundle
from tests.support.recipes import RECIPES, repository_with_the_kit

SENTIMENT = RECIPES / "sentiment"


def test_an_extracted_source_bundle_trains_on_its_own(tmp_path: Path) -> None:
    code = tmp_path / "code"
    with tarfile.open(fileobj=io.BytesIO(build_source_bundle(SENTIMENT)), mode="r:gz") as tar:
        tar.extractall(code, filter="data")
    # This interpreter also has the installed challenger-kit (recipes/kit): mark the bundle's copy, so the model's
    # code/ (where the kit copies its own file) shows that the job imported the bundle's.
    kit = code / "challenger_kit.py"
    kit.write_text(kit.read_text(encoding="utf-8") + "# the bundle's copy\n", encoding="utf-8")
    # As the training toolkit runs it: `python train.py --name value` in the code directory, no repository around.
    completed = subprocess.run(
        [
            sys.executable,
            "-E",  # no PYTHONPATH: the bundle's own directory is first on the path, as in the container
            "-s",
            "train.py",
            "--train",
            str(SENTIMENT / "data" / "train_v1.csv"),
            "--model-dir",
            str(tmp_path / "model"),
        ],
        cwd=code,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "model" / "code" / "challenger_kit.py").read_bytes() == kit.read_bytes()


def test_recipe_new_scaffolds_a_recipe_that_trains_and_passes_its_generated_tests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = repository_with_the_kit(tmp_path)
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
