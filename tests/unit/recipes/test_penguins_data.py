"""The penguins sample data tells the story the pipeline needs: v2 clearly beats a v1 champion on the paired
hold-out (rmse, lower is better), identical data never shows a difference, and the files are what the README says."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.unit.recipes.test_penguins_recipe import DATA, RECIPE_DIR, _load_train_module, run_training


@pytest.fixture(scope="module")
def train() -> ModuleType:
    return _load_train_module()


def _archive(model_dir: Path, destination: Path) -> Path:
    """model.tar.gz as SageMaker packs a model directory, in a champion channel of its own."""
    destination.mkdir(parents=True)
    with tarfile.open(destination / "model.tar.gz", "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return destination


@pytest.fixture(scope="module")
def champion_v1(train: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("v1")
    assert run_training(train, root, DATA / "train_v1.csv") == 0
    return _archive(root / "model", root / "champion")


def _comparison(root: Path) -> dict[str, Any]:
    evaluation = json.loads((root / "model" / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["comparison"] is not None, evaluation.get("comparison_error")
    return evaluation["comparison"]  # type: ignore[no-any-return]


def test_v2_beats_a_v1_champion_on_every_metric_with_the_interval_on_the_improving_side(
    train: ModuleType, champion_v1: Path, tmp_path: Path
) -> None:
    assert run_training(train, tmp_path, DATA / "train_v2.csv", champion=champion_v1) == 0
    comparison = _comparison(tmp_path)
    evaluation = json.loads((tmp_path / "model" / "evaluation.json").read_text(encoding="utf-8"))
    # v1 is a subset of v2 and the hold-out is decided by row content: v1 trained on none of v2's hold-out rows.
    assert comparison["excluded_champion_training_rows"] == 0
    assert comparison["rows"] == evaluation["n_test"]
    rmse, mae, r2 = (comparison["differences"][m] for m in ("rmse", "mae", "r2"))
    assert rmse["high"] < 0  # lower is better: the whole interval below zero
    assert mae["high"] < 0
    assert r2["low"] > 0
    assert comparison["challenger_metrics"]["rmse"] < comparison["champion_metrics"]["rmse"] - 300


def test_retraining_on_the_same_rows_in_another_order_shows_no_difference(train: ModuleType, tmp_path: Path) -> None:
    assert run_training(train, tmp_path / "first", DATA / "train_v2.csv") == 0
    champion = _archive(tmp_path / "first" / "model", tmp_path / "champion")
    lines = (DATA / "train_v2.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    reordered = tmp_path / "reordered.csv"
    reordered.write_text(lines[0] + "".join(reversed(lines[1:])), encoding="utf-8")

    assert run_training(train, tmp_path / "second", reordered, champion=champion) == 0
    comparison = _comparison(tmp_path / "second")
    assert comparison["excluded_champion_training_rows"] == 0
    for difference in comparison["differences"].values():
        assert {k: difference[k] for k in ("delta", "low", "high")} == {"delta": 0.0, "low": 0.0, "high": 0.0}


def test_a_champion_without_a_species_scores_it_as_scikit_learn_does(train: ModuleType) -> None:
    recipe = train.recipe()
    v1 = train.challenger_kit.read_rows(DATA / "train_v1.csv", recipe)
    gentoo = [r for r in train.challenger_kit.read_rows(DATA / "train_v2.csv", recipe) if r["species"] == "Gentoo"]
    fitted = train.fit(v1, dict(recipe.hyperparameters))
    numeric, categorical = train.inference.split_features(recipe)
    expected = fitted.pipeline.predict(train.matrix(numeric, categorical, gentoo))
    np.testing.assert_array_equal([p["value"] for p in train.predict(fitted, gentoo)], expected)


def test_sample_files_are_derived_from_the_unmodified_source_the_readme_names(tmp_path: Path) -> None:
    source = DATA / "source" / "penguins.csv"
    readme = (RECIPE_DIR / "README.md").read_text(encoding="utf-8")
    assert hashlib.sha256(source.read_bytes()).hexdigest() in readme
    assert re.search(r"CC0", readme)
    spec = importlib.util.spec_from_file_location("_penguins_prepare", DATA / "prepare.py")
    assert spec is not None
    assert spec.loader is not None
    prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare)
    prepare.HERE = tmp_path
    prepare.main()
    for name in ("train_v1.csv", "train_v2.csv", "bad_missing_values.csv"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name
