"""recipe.json ``"model": {"format": "onnx"}`` (issue 21): train.py only fits, the kit converts, checks and serves.

The fast tests run the kit's pieces in the dev venv. The training tests run a real job the way the local SageMaker
runs one: the recipe's source bundle, a throw-away overlay on the framework image's own environment with the
recipe's requirements.txt pip-installed (as the training toolkit does), and ``python train.py`` with the ``SM_*``
paths — converter and runtime then come from the recipe's hash-pinned requirements-onnx.txt.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import challenger_kit
import challenger_onnx
import numpy as np
import pytest

from challenger.local.sagemaker import images
from recipes.kit.bundle import build_source_bundle, bundle_files

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests" / "fixtures" / "recipes" / "penguins_species_onnx"
PENGUINS = ROOT / "recipes" / "penguins" / "data" / "train_v2.csv"
COLUMNS = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "species"]


def species_csv(path: Path) -> Path:
    """The real Palmer penguins rows of recipes/penguins, in the fixture recipe's columns (species as the target)."""
    with PENGUINS.open(encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    path.mkdir(parents=True, exist_ok=True)
    with (path / "train.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows([row[c] for c in COLUMNS] for row in rows)
    return path


def run_job(recipe_dir: Path, train: Path, job: Path) -> subprocess.CompletedProcess[str]:
    """One training job in the framework image's environment, as the local SageMaker runs it."""
    code = job / "code"
    code.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(build_source_bundle(recipe_dir)), mode="r:gz") as tar:
        tar.extractall(code, filter="data")
    env = images.ensure_environment(images.recipe_image(recipe_dir))
    python = str(images.overlay(env, job / "python"))
    if challenger_kit.requirement_lines(code / "requirements.txt"):
        install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*install, "-r", str(code / "requirements.txt")], check=True, capture_output=True)
    environment = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    environment.update(
        {
            "SM_CHANNEL_TRAIN": str(train),
            "SM_MODEL_DIR": str(job / "model"),
            "SM_OUTPUT_DIR": str(job / "output"),
            "SM_OUTPUT_DATA_DIR": str(job / "output" / "data"),
        }
    )
    return subprocess.run(
        [python, str(code / "train.py")], cwd=code, env=environment, capture_output=True, text=True, check=False
    )


# --- the kit's pieces (dev venv) -------------------------------------------------------------------------------


def test_the_onnx_lock_must_pin_every_line_with_a_hash(tmp_path: Path) -> None:
    lock = tmp_path / challenger_onnx.LOCK_FILE
    lock.write_text("skl2onnx==1.20.0 --hash=sha256:" + "0" * 64 + "\nonnxruntime>=1.20\n", encoding="utf-8")
    with pytest.raises(challenger_kit.RecipeError, match=r"onnxruntime>=1\.20"):
        challenger_onnx.lock_groups(lock)
    converter, runtime = challenger_onnx.lock_groups(FIXTURE / challenger_onnx.LOCK_FILE)
    assert [line.split("==")[0] for line in runtime] == ["onnxruntime"]
    assert {"skl2onnx", "onnx", "onnxmltools", "protobuf"} <= {line.split("==")[0] for line in converter}


def test_the_kit_ships_its_onnx_lock_and_the_fixture_uses_the_same() -> None:
    kit_lock = ROOT / "recipes" / "kit" / challenger_onnx.LOCK_FILE
    assert kit_lock.read_text(encoding="utf-8") == (FIXTURE / challenger_onnx.LOCK_FILE).read_text(encoding="utf-8")


def test_an_onnx_recipes_bundle_carries_the_onnx_module_and_a_native_ones_does_not() -> None:
    assert "challenger_onnx.py" in bundle_files(FIXTURE)
    assert "challenger_onnx.py" not in bundle_files(ROOT / "recipes" / "penguins")


def multiclass() -> challenger_kit.Recipe:
    return challenger_kit.load_recipe(FIXTURE)


def record(label: str, probabilities: list[float]) -> dict[str, Any]:
    recipe = multiclass()
    return challenger_onnx.records(recipe, list(recipe.labels), [label], np.array([probabilities]))[0]


def test_the_golden_check_allows_a_label_flip_only_on_a_near_tie() -> None:
    recipe = multiclass()
    fitted = [record("Adelie", [0.5000001, 0.4999999, 0.0])]
    onnx = [record("Chinstrap", [0.4999999, 0.5000001, 0.0])]
    assert challenger_onnx.agreement_problem(recipe, fitted, [2e-7], onnx, 1e-5) is None
    confident = [record("Adelie", [0.9, 0.1, 0.0])]
    flipped = [{**confident[0], "label": "Chinstrap", "label_name": "Chinstrap"}]
    problem = challenger_onnx.agreement_problem(recipe, confident, [0.8], flipped, 1e-5)
    assert problem is not None
    assert "label 'Adelie' (fitted model) vs 'Chinstrap' (ONNX)" in problem


def test_the_golden_check_fails_a_probability_beyond_the_tolerance() -> None:
    recipe = multiclass()
    fitted = [record("Adelie", [0.7, 0.2, 0.1]), record("Gentoo", [0.1, 0.1, 0.8])]
    onnx = [record("Adelie", [0.7, 0.2, 0.1]), record("Gentoo", [0.1, 0.1001, 0.7999])]
    problem = challenger_onnx.agreement_problem(recipe, fitted, [0.5, 0.7], onnx, 1e-5)
    assert problem is not None
    assert problem.startswith("row 1 of 2:")
    assert challenger_onnx.agreement_problem(recipe, fitted, [0.5, 0.7], onnx, 1e-3) is None


def test_the_plain_kit_entry_point_refuses_an_onnx_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))
    code = challenger_kit.main(
        fit=lambda rows, hp: None,
        save=lambda model, path: None,
        predict=lambda model, rows: [],
        recipe_dir=FIXTURE,
        argv=["--train", str(species_csv(tmp_path / "train")), "--model-dir", str(tmp_path / "model")],
    )
    assert code == 1
    assert "challenger_onnx.main" in (tmp_path / "output" / "failure").read_text(encoding="utf-8")


# --- real training jobs in the framework image's environment ---------------------------------------------------


def test_an_onnx_recipe_trains_to_a_pickle_free_model_that_the_kit_serves(tmp_path: Path) -> None:
    completed = run_job(FIXTURE, species_csv(tmp_path / "train"), tmp_path / "job")
    assert completed.returncode == 0, completed.stderr[-2000:]
    model = tmp_path / "job" / "model"
    meta = json.loads((model / "model.json").read_text(encoding="utf-8"))
    assert meta["estimator"] == "Pipeline(ColumnTransformer, LGBMClassifier)"
    assert meta["model_onnx_sha256"] == challenger_onnx._sha256(model / "model.onnx")
    assert meta["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert (model / "runtime" / "onnxruntime" / "__init__.py").is_file()
    assert not (model / "code" / "lib").exists()  # code/ stays small: the image pip-installs it at every start
    assert not challenger_kit.requirement_lines(model / "code" / "requirements.txt")  # nothing to install at start
    assert not [p for p in model.rglob("*") if p.suffix in (".pkl", ".pickle", ".joblib")]
    evaluation = json.loads((model / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["metrics"]["accuracy"] > 0.9
    manifest = json.loads((tmp_path / "job" / "output" / "data" / "model_manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"]["model.onnx"] == meta["model_onnx_sha256"]
    assert "runtime/onnxruntime/__init__.py" in manifest["files"]
    golden = json.loads((model / "golden.json").read_text(encoding="utf-8"))
    assert len(golden["instances"]) == 20
    for prediction in golden["predictions"]:
        assert abs(sum(prediction["probabilities"].values()) - 1) < 1e-5
        assert prediction["score"] == prediction["probabilities"][prediction["label"]]


def test_the_golden_check_fails_the_job_when_the_onnx_model_differs_from_the_fitted_one(tmp_path: Path) -> None:
    # A real float32 pitfall: readings around 1e8 differ in steps float32 cannot hold (its spacing there is 8), so
    # the ONNX graph sees other numbers than the fitted scaler and logistic regression did.
    recipe_dir = tmp_path / "recipe"
    recipe_dir.mkdir()
    spec = json.loads((FIXTURE / "recipe.json").read_text(encoding="utf-8"))
    spec["name"] = "meter"
    spec["schema"] = {
        "features": [{"name": "reading", "type": "number"}],
        "target": {"name": "high", "kind": "binary", "labels": {"0": "low", "1": "high"}},
        "min_rows": 20,
        "min_test_rows": 5,
    }
    spec.update(
        prediction={"fields": {"label": "int", "label_name": "str", "score": "float"}},
        metrics={"accuracy": "higher"},
        primary_metric="accuracy",
        floor={"metric": "accuracy", "value": 0.5},
        guardrails=[],
        hyperparameters={},
    )
    (recipe_dir / "recipe.json").write_text(json.dumps(spec), encoding="utf-8")
    (recipe_dir / challenger_onnx.LOCK_FILE).write_text(
        (FIXTURE / challenger_onnx.LOCK_FILE).read_text(encoding="utf-8"), encoding="utf-8"
    )
    (recipe_dir / "train.py").write_text(
        "import sys\n\nimport challenger_onnx\nfrom sklearn.linear_model import LogisticRegression\n"
        "from sklearn.pipeline import make_pipeline\nfrom sklearn.preprocessing import StandardScaler\n\n\n"
        "def fit(X, y, hyperparameters):\n"
        "    return make_pipeline(StandardScaler(), LogisticRegression(C=100.0)).fit(X, y)\n\n\n"
        "sys.exit(challenger_onnx.main(fit=fit))\n",
        encoding="utf-8",
    )
    train = tmp_path / "train"
    train.mkdir()
    readings = [100_000_000 + 0.37 * i for i in range(200)]
    lines = ["reading,high", *(f"{r!r},{int(i >= 100)}" for i, r in enumerate(readings))]
    (train / "train.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    completed = run_job(recipe_dir, train, tmp_path / "job")
    assert completed.returncode == 1
    failure = (tmp_path / "job" / "output" / "failure").read_text(encoding="utf-8")
    assert failure.startswith("meter training failed: golden check: the ONNX conversion of Pipeline disagrees")
    assert "(fitted model) vs" in failure
    assert not (tmp_path / "job" / "model" / "model.onnx").exists()


def test_a_lightgbm_regressor_serves_values_equal_to_the_fitted_model(tmp_path: Path) -> None:
    recipe_dir = tmp_path / "recipe"
    recipe_dir.mkdir()
    for name in (challenger_onnx.LOCK_FILE, "requirements.txt"):
        (recipe_dir / name).write_text((FIXTURE / name).read_text(encoding="utf-8"), encoding="utf-8")
    spec = json.loads((FIXTURE / "recipe.json").read_text(encoding="utf-8"))
    features = [f for f in spec["schema"]["features"] if f["name"] != "body_mass_g"]
    features.append({"name": "species", "type": "category", "values": ["Adelie", "Chinstrap", "Gentoo"]})
    spec.update(
        name="body_mass",
        schema={"features": features, "target": {"name": "body_mass_g", "kind": "regression"}, "min_rows": 50},
        prediction={"fields": {"value": "float"}},
        metrics={"rmse": "lower"},
        primary_metric="rmse",
        floor={"metric": "rmse", "value": 600},
        guardrails=[],
        hyperparameters={},
    )
    (recipe_dir / "recipe.json").write_text(json.dumps(spec), encoding="utf-8")
    (recipe_dir / "train.py").write_text(
        "import sys\n\nimport challenger_onnx\nfrom lightgbm import LGBMRegressor\n"
        "from sklearn.compose import make_column_transformer\nfrom sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import OneHotEncoder\n\n\n"
        "def fit(X, y, hyperparameters):\n"
        "    columns = make_column_transformer(\n"
        "        (OneHotEncoder(handle_unknown='ignore', sparse_output=False), ['island', 'sex', 'species']),\n"
        "        remainder='passthrough',\n"
        "    )\n"
        "    model = LGBMRegressor(n_estimators=80, num_leaves=8, min_child_samples=5, n_jobs=1, verbose=-1)\n"
        "    return make_pipeline(columns, model).fit(X, y)\n\n\n"
        "sys.exit(challenger_onnx.main(fit=fit))\n",
        encoding="utf-8",
    )
    completed = run_job(recipe_dir, species_csv(tmp_path / "train"), tmp_path / "job")
    assert completed.returncode == 0, completed.stderr[-2000:]
    model = tmp_path / "job" / "model"
    evaluation = json.loads((model / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["metrics"]["rmse"] < 600
    golden = json.loads((model / "golden.json").read_text(encoding="utf-8"))
    assert all(3000 < p["value"] < 6500 and set(p) == {"value"} for p in golden["predictions"])
