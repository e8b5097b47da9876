"""Fixtures for the sentiment recipe tests.

``recipes/sentiment`` is deliberately not a Python package (SageMaker uploads it as a plain
source_dir and imports ``train.py``/``inference.py`` as top-level modules), so the modules are
loaded from their file paths under unique names.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
RECIPE_DIR = REPO_ROOT / "recipes" / "sentiment"
DATA_DIR = RECIPE_DIR / "data"


def load_recipe_module(relative_path: str, name: str) -> ModuleType:
    """Import ``recipes/sentiment/<relative_path>`` as module ``name`` (cached in sys.modules)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, RECIPE_DIR / relative_path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before exec: dataclasses resolve their module through sys.modules.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The recipe's bundled sample data."""
    return DATA_DIR


@pytest.fixture(scope="session")
def sentiment_train() -> ModuleType:
    """recipes/sentiment/train.py."""
    return load_recipe_module("train.py", "challenger_recipe_sentiment_train")


@pytest.fixture(scope="session")
def sentiment_inference() -> ModuleType:
    """recipes/sentiment/inference.py."""
    return load_recipe_module("inference.py", "challenger_recipe_sentiment_inference")


@pytest.fixture(scope="session")
def sentiment_generator() -> ModuleType:
    """recipes/sentiment/data/generate.py."""
    return load_recipe_module("data/generate.py", "challenger_recipe_sentiment_generate")


def make_channel(root: Path, *csv_files: Path, rename: str | None = None) -> Path:
    """A SageMaker-style channel directory containing copies of ``csv_files``."""
    root.mkdir(parents=True, exist_ok=True)
    for path in csv_files:
        shutil.copy(path, root / (rename or path.name))
    return root


@pytest.fixture(scope="session")
def sagemaker_job(tmp_path_factory: pytest.TempPathFactory, sentiment_train: ModuleType) -> dict[str, Path]:
    """One real training run on train_v2.csv + test.csv through the SageMaker env-var contract.

    Session-scoped: every test that needs a trained model shares this run.
    """
    root = tmp_path_factory.mktemp("sm_job")
    dirs = {
        "train": make_channel(root / "input" / "train", DATA_DIR / "train_v2.csv", rename="train.csv"),
        "test": make_channel(root / "input" / "test", DATA_DIR / "test.csv"),
        "model": root / "model",
        "output": root / "output",
        "output_data": root / "output" / "data",
    }
    env = {
        "SM_CHANNEL_TRAIN": str(dirs["train"]),
        "SM_CHANNEL_TEST": str(dirs["test"]),
        "SM_MODEL_DIR": str(dirs["model"]),
        "SM_OUTPUT_DATA_DIR": str(dirs["output_data"]),
        "SM_OUTPUT_DIR": str(dirs["output"]),
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        assert sentiment_train.main([]) == 0
    return dirs


@pytest.fixture(scope="session")
def loaded_model(sentiment_inference: ModuleType, sagemaker_job: dict[str, Path]) -> object:
    """The session model, loaded through model_fn."""
    return sentiment_inference.model_fn(str(sagemaker_job["model"]))
