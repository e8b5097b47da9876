"""The recipe's model: it trains on its sample data under the training-job contract, serves exactly what the fitted
scikit-learn pipeline predicts, refuses a bad file with a precise message and refuses tampered model files.

Written for the linear (one-hot + standardized + ridge) recipe code; the recipe is named in one place below. (It
was `challenger recipe new`'s test template; since issue 21 the scaffold generates its own, for every target kind.)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

RECIPE = "penguins"
RECIPE_DIR = Path(__file__).resolve().parents[3] / "recipes" / RECIPE
DATA = RECIPE_DIR / "data"
CONTRACT_FILES = ["baseline.json", "code", "evaluation.json", "golden.json", "training_rows.json"]


def _load_train_module() -> ModuleType:
    """recipes/<name>/train.py under a private name; its sibling `inference` never leaks into sys.modules, where
    another recipe's `inference` may sit (script mode imports both as top-level modules)."""
    saved_path, saved = list(sys.path), {n: sys.modules.pop(n) for n in ("inference",) if n in sys.modules}
    sys.path.insert(0, str(RECIPE_DIR))  # as script mode runs train.py: its directory first, for `import inference`
    try:
        spec = importlib.util.spec_from_file_location(f"_recipe_{RECIPE}_train", RECIPE_DIR / "train.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
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
def inference(train: ModuleType) -> ModuleType:
    return train.inference  # type: ignore[no-any-return]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def run_training(train: ModuleType, root: Path, *csv_files: Path, champion: Path | None = None) -> int:
    """One training job through the script-mode environment, as SageMaker (and the local cloud) runs it."""
    channel = root / "input" / "train"
    channel.mkdir(parents=True)
    for path in csv_files:
        shutil.copy(path, channel / path.name)
    argv = ["--model-dir", str(root / "model"), "--output-data-dir", str(root / "output" / "data")]
    if champion is not None:
        # StartTraining passes the champion's registered digest with its channel; the kit checks it first.
        digest = hashlib.sha256(train.challenger_kit.find_champion_archive(str(champion)).read_bytes()).hexdigest()
        argv += ["--champion", str(champion), "--champion-sha256", digest]
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
    assert run_training(train, root, DATA / "train_v2.csv") == 0
    return root / "model"


@pytest.fixture
def model_copy(trained: Path, tmp_path: Path) -> Path:
    """A private copy of the trained model directory, free to tamper with."""
    return Path(shutil.copytree(trained, tmp_path / "model"))


def test_training_on_the_sample_writes_every_file_of_the_training_job_contract(trained: Path) -> None:
    recipe = _read_json(RECIPE_DIR / "recipe.json")
    assert sorted(p.name for p in trained.iterdir()) == sorted([*CONTRACT_FILES, "model.json", "model.npz"])
    assert {p.name for p in (trained / "code").iterdir()} >= {"inference.py", "challenger_kit.py", "recipe.json"}
    evaluation = _read_json(trained / "evaluation.json")
    assert set(evaluation["metrics"]) == set(recipe["metrics"])
    assert evaluation["comparison"] is None
    assert len(_read_json(trained / "training_rows.json")) == evaluation["n_train"]
    golden = _read_json(trained / "golden.json")
    assert len(golden["instances"]) == min(recipe["golden"]["rows"], evaluation["n_test"])
    # The bundled sample must clear the recipe's own floor, or a fresh stack would never go live.
    floor, value = recipe["floor"], evaluation["metrics"][recipe["floor"]["metric"]]
    assert value <= floor["value"] if recipe["metrics"][floor["metric"]] == "lower" else value >= floor["value"]


def test_served_predictions_equal_the_fitted_scikit_learn_pipeline(
    train: ModuleType, inference: ModuleType, tmp_path: Path
) -> None:
    recipe = train.recipe()
    rows = train.challenger_kit.read_rows(DATA / "train_v2.csv", recipe)
    fitted = train.fit(rows, dict(recipe.hyperparameters))
    train.save(fitted, tmp_path)
    shutil.copy(RECIPE_DIR / "recipe.json", tmp_path / "recipe.json")

    served = inference.model_fn(str(tmp_path))
    body = json.dumps({"instances": [train.challenger_kit.instance_of(row, recipe) for row in rows]})
    answer, content_type = inference.output_fn(
        inference.predict_fn(inference.input_fn(body, "application/json"), served), "application/json"
    )
    values = [p["value"] for p in json.loads(answer)["predictions"]]

    numeric, categorical = inference.split_features(recipe)
    expected = fitted.pipeline.predict(train.matrix(numeric, categorical, rows))
    assert content_type == "application/json"
    np.testing.assert_array_equal(values, expected)  # same product, same order: bit for bit
    single = inference.predict_fn([train.challenger_kit.instance_of(rows[0], recipe)], served)
    np.testing.assert_allclose(single[0]["value"], expected[0], rtol=1e-12)


def test_a_bad_sample_file_fails_the_job_naming_file_line_and_column(train: ModuleType, tmp_path: Path) -> None:
    bad = sorted(DATA.glob("bad_*.csv"))
    assert bad, "the recipe ships at least one bad sample file"
    for path in bad:
        root = tmp_path / path.stem
        assert run_training(train, root, path) == 1
        failure = (root / "output" / "failure").read_text(encoding="utf-8")
        assert failure.startswith(f"{RECIPE} training failed: {path.name} line ")
        assert not (root / "model" / "model.npz").exists()


def _rewrite_npz(model_dir: Path, change: Callable[[dict[str, np.ndarray]], None]) -> None:
    """Tamper with model.npz and update model.json to match, so only the deeper checks can catch it."""
    with np.load(model_dir / "model.npz", allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    change(arrays)
    with open(model_dir / "model.npz", "wb") as handle:
        np.savez(handle, **arrays)  # an object array is pickled into the .npy, as an attacker would
    meta = _read_json(model_dir / "model.json")
    meta["arrays"] = {n: {"dtype": a.dtype.str, "shape": list(a.shape)} for n, a in arrays.items()}
    meta["model_npz_sha256"] = hashlib.sha256((model_dir / "model.npz").read_bytes()).hexdigest()
    (model_dir / "model.json").write_text(json.dumps(meta), encoding="utf-8")


def _set(name: str, value: Any) -> Callable[[dict[str, np.ndarray]], None]:
    def change(arrays: dict[str, np.ndarray]) -> None:
        arrays[name] = value

    return change


def _flip_a_byte(model_dir: Path) -> None:
    data = bytearray((model_dir / "model.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (model_dir / "model.npz").write_bytes(bytes(data))


def _nan_coef(arrays: dict[str, np.ndarray]) -> None:
    arrays["coef"] = arrays["coef"].copy()
    arrays["coef"][0] = np.nan


TAMPERING: dict[str, tuple[Callable[[Path], None], str]] = {
    "npz bytes changed": (_flip_a_byte, "does not match the sha256"),
    "object array (pickle)": (
        lambda d: _rewrite_npz(d, _set("coef", np.array([{"x": 1}], dtype=object))),
        "cannot be read without pickle",
    ),
    "extra array": (lambda d: _rewrite_npz(d, _set("payload", np.zeros(3))), "expected"),
    "wrong coef shape": (lambda d: _rewrite_npz(d, _set("coef", np.zeros(2))), "shape"),
    "non-finite coef": (lambda d: _rewrite_npz(d, _nan_coef), "non-finite"),
    "unknown format": (
        lambda d: (d / "model.json").write_text(json.dumps({"format": "pickle"}), encoding="utf-8"),
        "format",
    ),
    "features reordered": (
        lambda d: (d / "model.json").write_text(
            json.dumps({**_read_json(d / "model.json"), "numeric": _read_json(d / "model.json")["numeric"][::-1]}),
            encoding="utf-8",
        ),
        "not the recipe's",
    ),
    "model.npz missing": (lambda d: (d / "model.npz").unlink(), "not found"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_model_fn_refuses_tampered_model_files(inference: ModuleType, model_copy: Path, case: str) -> None:
    tamper, message = TAMPERING[case]
    tamper(model_copy)
    with pytest.raises(inference.ModelFileError, match=message):
        inference.model_fn(str(model_copy))


def test_requests_are_checked_against_the_recipe_schema(inference: ModuleType, trained: Path) -> None:
    served = inference.model_fn(str(trained))
    golden = _read_json(trained / "golden.json")
    instance = golden["instances"][0]
    missing = {k: v for k, v in instance.items() if k != next(iter(instance))}
    for bad in (missing, {**instance, "unexpected": 1}):
        with pytest.raises(ValueError, match=r"instances\[0\]") as error:
            inference.input_fn(json.dumps({"instances": [bad]}), "application/json")
        assert error.value.status_code == 400
    served_values = [
        p["value"] for p in inference.predict_fn(inference.input_fn(json.dumps(golden), "application/json"), served)
    ]
    assert served_values == pytest.approx([p["value"] for p in golden["predictions"]], abs=golden["score_tolerance"])


def test_model_fn_and_a_single_prediction_take_milliseconds(inference: ModuleType, trained: Path) -> None:
    body = json.dumps({"instances": _read_json(trained / "golden.json")["instances"][:1]})

    def once() -> float:
        start = time.perf_counter()
        inference.predict_fn(inference.input_fn(body, "application/json"), inference.model_fn(str(trained)))
        return time.perf_counter() - start

    # Median of a few runs: a busy shared machine may stall one of them.
    assert sorted(once() for _ in range(5))[2] < 0.05
