"""A recipe as SageMaker's training toolkit runs it: `python train.py --name value` in a fresh interpreter.

The recipe tests in tests/unit/recipes run the same code in-process; these two need a process of their own: the
extracted source bundle must train with nothing but its own files on the path, and a scaffolded recipe's
generated tests must pass under their own pytest run.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from challenger.cli import main
from recipes.kit.bundle import build_source_bundle
from tests.support.recipes import RECIPES, repository_with_the_kit
from tests.support.scaffold_data import real_dataset

SENTIMENT = RECIPES / "sentiment"
REPO = RECIPES.parent


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


def _run_generated_tests(repo: Path, name: str) -> subprocess.CompletedProcess[str]:
    generated = repo / "tests" / "unit" / "recipes" / f"test_{name}_recipe.py"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib", str(generated)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _ruff(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The repository's own ruff configuration, at the root of the scaffold's repository as in a clone.
    shutil.copy(REPO / "pyproject.toml", repo / "pyproject.toml")
    return subprocess.run(
        [str(Path(sys.executable).with_name("ruff")), *args, "recipes", "tests"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_recipe_new_scaffolds_a_lint_clean_recipe_that_trains_and_passes_its_generated_tests(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = repository_with_the_kit(tmp_path)
    assert main(["recipe", "new", "seabirds", "--kind", kind, "--root", str(repo)]) == 0
    assert "created recipes/seabirds/recipe.json" in capsys.readouterr().out
    recipe_dir = repo / "recipes" / "seabirds"
    spec = json.loads((recipe_dir / "recipe.json").read_text(encoding="utf-8"))
    assert (spec["name"], spec["schema"]["target"]["kind"]) == ("seabirds", kind)
    assert f"challenger recipe new seabirds --kind {kind}" in (recipe_dir / "README.md").read_text(encoding="utf-8")

    lint, formatting = _ruff(repo, "check"), _ruff(repo, "format", "--check")
    assert lint.returncode == 0, lint.stdout
    assert formatting.returncode == 0, formatting.stdout

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
    assert set(evaluation["metrics"]) == set(spec["metrics"])

    tests = _run_generated_tests(repo, "seabirds")
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert " passed" in tests.stdout


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_a_scaffold_made_yours_with_real_data_passes_its_generated_tests(tmp_path: Path, kind: str) -> None:
    # What a user does (issue 21): their own CSVs and recipe.json fields, no code. Real public data, offline: the
    # UCI sets scikit-learn ships, repeated so rows recur and a file holds more rows than one request carries.
    repo = repository_with_the_kit(tmp_path)
    assert main(["recipe", "new", "mine", "--kind", kind, "--root", str(repo)]) == 0
    recipe_dir = repo / "recipes" / "mine"
    real = real_dataset(kind)
    for stale in (recipe_dir / "data").iterdir():
        stale.unlink()
    real.write(recipe_dir)
    spec = json.loads((recipe_dir / "recipe.json").read_text(encoding="utf-8"))
    spec["schema"]["features"] = [{"name": name, "type": "number"} for name in real.features]
    spec["schema"]["target"] = real.target
    if kind != "regression":
        spec["prediction"]["fields"]["label"] = "int"  # the class values are integers here
        spec["prediction"]["score"] = real.score
    (recipe_dir / "recipe.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")
    assert len(real.rows_v2) > 1000
    assert len({tuple(row) for row in real.rows_v2}) < len(real.rows_v2)

    tests = _run_generated_tests(repo, "mine")
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert " passed" in tests.stdout
