"""Fixtures for the recipe kit and the sentiment recipe.

A recipe directory is deliberately not a Python package (SageMaker imports ``train.py``/``inference.py`` as
top-level modules next to ``challenger_kit.py``), so the recipe modules are loaded from their file paths under
unique names, and ``recipes/kit`` goes on ``sys.path`` as it would sit next to them in a source bundle. In ``.venv``
the installed challenger-kit would do; ``make test-recipes-image`` runs these tests on a framework image's own
environment (tests/unit/recipes/image_run.py), where nothing of the repository is installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import shutil
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
RECIPE_DIR = REPO_ROOT / "recipes" / "sentiment"
KIT_DIR = REPO_ROOT / "recipes" / "kit"
DATA_DIR = RECIPE_DIR / "data"

if str(KIT_DIR) not in sys.path:
    sys.path.insert(0, str(KIT_DIR))


def load_recipe_module(path: Path, name: str) -> ModuleType:
    """Import a recipe file as module ``name`` (cached in sys.modules)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before exec: dataclasses resolve their module through sys.modules.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def kit() -> ModuleType:
    """recipes/kit/challenger_kit.py, imported as the recipes import it."""
    import challenger_kit

    return challenger_kit


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The sentiment recipe's bundled (synthetic) sample data."""
    return DATA_DIR


@pytest.fixture(scope="session")
def sentiment_train(kit: ModuleType) -> ModuleType:
    """recipes/sentiment/train.py."""
    return load_recipe_module(RECIPE_DIR / "train.py", "challenger_recipe_sentiment_train")


@pytest.fixture(scope="session")
def sentiment_inference(kit: ModuleType) -> ModuleType:
    """recipes/sentiment/inference.py."""
    return load_recipe_module(RECIPE_DIR / "inference.py", "challenger_recipe_sentiment_inference")


@pytest.fixture(scope="session")
def sentiment_generator() -> ModuleType:
    """recipes/sentiment/data/generate.py."""
    return load_recipe_module(DATA_DIR / "generate.py", "challenger_recipe_sentiment_generate")


@dataclass(frozen=True)
class Job:
    """The directories of one training run."""

    root: Path
    model: Path
    output: Path
    output_data: Path

    def archive(self) -> Path:
        """The model dir as model.tar.gz in a champion channel directory (what SageMaker hands a job)."""
        channel = self.root / "champion_channel"
        channel.mkdir(exist_ok=True)
        target = channel / "model.tar.gz"
        if not target.exists():
            target.write_bytes(tar_gz(self.model))
        return channel


def tar_gz(directory: Path) -> bytes:
    """A model.tar.gz of a directory, members relative to it (as SageMaker packs /opt/ml/model)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            tar.add(path, arcname=path.relative_to(directory).as_posix(), recursive=False)
    return buffer.getvalue()


def make_channel(root: Path, *csv_files: Path, rename: str | None = None) -> Path:
    """A SageMaker-style channel directory containing copies of ``csv_files``."""
    root.mkdir(parents=True, exist_ok=True)
    for path in csv_files:
        shutil.copy(path, root / (rename or path.name))
    return root


def run_training(
    train_module: ModuleType,
    root: Path,
    train: Path,
    *extra: str,
    test: Path | None = None,
    champion: Path | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> tuple[int, Job]:
    """Run train.main in-process with explicit paths; SM_OUTPUT_DIR points at the job's output dir."""
    job = Job(root=root, model=root / "model", output=root / "output", output_data=root / "output" / "data")
    argv = ["--train", str(train), "--model-dir", str(job.model), "--output-data-dir", str(job.output_data)]
    if test is not None:
        argv += ["--test", str(test)]
    if champion is not None:
        # StartTraining passes the champion's registered digest with its channel (issue 18).
        import challenger_kit  # on sys.path above, as the recipes import it

        archive = challenger_kit.find_champion_archive(str(champion))
        digest = hashlib.sha256(archive.read_bytes()).hexdigest() if archive else "0" * 64
        argv += ["--champion", str(champion), "--champion-sha256", digest]
    with pytest.MonkeyPatch.context() as mp:
        for name in (
            "SM_CHANNEL_TRAIN",
            "SM_CHANNEL_TEST",
            "SM_CHANNEL_TRUSTED",
            "SM_CHANNEL_CHAMPION",
            "SM_MODEL_DIR",
        ):
            mp.delenv(name, raising=False)
        mp.setenv("SM_OUTPUT_DIR", str(job.output))
        code = train_module.main([*argv, *extra])
    return code, job


@pytest.fixture(scope="session")
def v1_job(tmp_path_factory: pytest.TempPathFactory, sentiment_train: ModuleType) -> Job:
    """train_v1.csv alone: the hash split provides the hold-out. The champion of the comparison tests."""
    code, job = run_training(sentiment_train, tmp_path_factory.mktemp("v1"), DATA_DIR / "train_v1.csv")
    assert code == 0
    return job


@pytest.fixture(scope="session")
def v2_job(tmp_path_factory: pytest.TempPathFactory, sentiment_train: ModuleType, v1_job: Job) -> Job:
    """train_v2.csv + test.csv, compared with the v1 champion: clearly better data."""
    root = tmp_path_factory.mktemp("v2")
    train = make_channel(root / "train", DATA_DIR / "train_v2.csv", rename="train.csv")
    test = make_channel(root / "test", DATA_DIR / "test.csv")
    code, job = run_training(sentiment_train, root, train, test=test, champion=v1_job.archive())
    assert code == 0
    return job


@pytest.fixture(scope="session")
def loaded_model(sentiment_inference: ModuleType, v2_job: Job) -> object:
    """The v2 model loaded through model_fn."""
    return sentiment_inference.model_fn(str(v2_job.model))
