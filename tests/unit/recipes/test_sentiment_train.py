"""recipes/sentiment/train.py: the SageMaker script-mode training contract."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sklearn


def make_channel(root: Path, *csv_files: Path) -> Path:
    """A SageMaker-style channel directory holding copies of ``csv_files``."""
    root.mkdir(parents=True, exist_ok=True)
    for path in csv_files:
        shutil.copy(path, root / path.name)
    return root


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _train(
    module: ModuleType,
    root: Path,
    train: list[Path],
    test: list[Path] | None,
    *extra: str,
) -> dict[str, Any]:
    """Train through CLI paths (the local, non-SageMaker way) and return evaluation.json."""
    argv = ["--train", str(make_channel(root / "train", *train))]
    if test is not None:
        argv += ["--test", str(make_channel(root / "test", *test))]
    argv += ["--model-dir", str(root / "model"), "--output-data-dir", str(root / "out"), *extra]
    assert module.main(argv) == 0
    return _read_json(root / "model" / "evaluation.json")


def test_training_writes_model_meta_and_evaluation_into_the_sagemaker_dirs(
    sagemaker_job: dict[str, Path],
) -> None:
    model_dir = sagemaker_job["model"]
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "code",
        "evaluation.json",
        "model.skops",
        "model_meta.json",
    ]
    # The serving code travels inside model.tar.gz (SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code).
    recipe = Path(__file__).resolve().parents[3] / "recipes" / "sentiment"
    for name in ("inference.py", "requirements.txt"):
        assert (model_dir / "code" / name).read_bytes() == (recipe / name).read_bytes()
    # The same report goes to the model artifact and to the job's output data.
    assert (sagemaker_job["output_data"] / "evaluation.json").read_bytes() == (
        model_dir / "evaluation.json"
    ).read_bytes()
    assert not (sagemaker_job["output"] / "failure").exists()
    # Deflated skops, with vocabulary indices stored as plain ints, stays small.
    assert (model_dir / "model.skops").stat().st_size < 100_000


def test_evaluation_follows_the_contract_with_sane_metrics(sagemaker_job: dict[str, Path]) -> None:
    report = _read_json(sagemaker_job["model"] / "evaluation.json")
    metrics = report["metrics"]
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in metrics.values())
    assert metrics["f1"] > 0.8
    assert metrics["accuracy"] > 0.85
    assert metrics["roc_auc"] > 0.9
    # Realistic data: the model is good, not perfect.
    assert metrics["accuracy"] < 0.99
    (tn, fp), (fn, tp) = report["confusion_matrix"]
    assert tn + fp + fn + tp == report["n_test"] == 400
    assert report["n_train"] == 1500
    assert report["class_balance"]["test"] == {"negative": tn + fp, "positive": fn + tp}
    assert sum(report["class_balance"]["train"].values()) == 1500
    assert report["evaluation_source"] == "test_channel"


def test_model_meta_records_versions_labels_and_hyperparameters(
    sagemaker_job: dict[str, Path], loaded_model: Any
) -> None:
    meta = _read_json(sagemaker_job["model"] / "model_meta.json")
    assert meta["recipe"] == "sentiment"
    assert meta["sklearn_version"] == sklearn.__version__
    assert meta["label_names"] == {"0": "negative", "1": "positive"}
    assert meta["feature_count"] == len(loaded_model.vectorizer.vocabulary_) > 100
    assert datetime.fromisoformat(meta["trained_at"]).tzinfo is not None
    assert meta["hyperparameters"] == {
        "max_features": 50000,
        "ngram_max": 2,
        "min_df": 2,
        "C": 4.0,
        "solver": "liblinear",
        "max_iter": 1000,
        "test_size": 0.2,
        "seed": 42,
    }
    assert [(d["file"], d["rows"]) for d in meta["training_data"]] == [("train.csv", 1500)]
    assert len(meta["training_data"][0]["sha256"]) == 64


def test_v2_training_data_beats_v1_on_the_same_test_set(
    tmp_path: Path, sentiment_train: ModuleType, data_dir: Path, sagemaker_job: dict[str, Path]
) -> None:
    v1 = _train(sentiment_train, tmp_path, [data_dir / "train_v1.csv"], [data_dir / "test.csv"])
    v2 = _read_json(sagemaker_job["model"] / "evaluation.json")
    # v1 is good enough to deploy under the default policy (accuracy floor 0.8)...
    assert v1["metrics"]["accuracy"] >= 0.8
    # ...but v2 clearly beats it on the primary metric without regressing the guardrails.
    assert v2["metrics"]["f1"] > v1["metrics"]["f1"] + 0.05
    assert v2["metrics"]["accuracy"] > v1["metrics"]["accuracy"]
    assert v2["metrics"]["roc_auc"] > v1["metrics"]["roc_auc"]


def test_without_a_test_channel_a_stratified_holdout_is_evaluated(
    tmp_path: Path, sentiment_train: ModuleType, data_dir: Path
) -> None:
    report = _train(sentiment_train, tmp_path, [data_dir / "train_v2.csv"], None, "--test-size", "0.25")
    assert report["evaluation_source"] == "holdout"
    assert (report["n_train"], report["n_test"]) == (1125, 375)
    train_balance, test_balance = report["class_balance"]["train"], report["class_balance"]["test"]
    # Stratified: the positive share is the same on both sides (to rounding).
    assert abs(train_balance["positive"] / 1125 - test_balance["positive"] / 375) < 0.01
    assert report["metrics"]["f1"] > 0.8


def test_every_csv_in_the_channel_is_used(
    tmp_path: Path,
    sentiment_train: ModuleType,
    data_dir: Path,
) -> None:
    report = _train(
        sentiment_train,
        tmp_path,
        [data_dir / "train_v1.csv", data_dir / "train_v2.csv"],
        [data_dir / "test.csv"],
    )
    assert report["n_train"] == 800 + 1500
    meta = _read_json(tmp_path / "model" / "model_meta.json")
    assert [d["file"] for d in meta["training_data"]] == ["train_v1.csv", "train_v2.csv"]


def test_training_is_deterministic_for_a_given_seed(
    tmp_path: Path, sentiment_train: ModuleType, data_dir: Path
) -> None:
    first = _train(sentiment_train, tmp_path / "a", [data_dir / "train_v1.csv"], None, "--seed", "7")
    second = _train(sentiment_train, tmp_path / "b", [data_dir / "train_v1.csv"], None, "--seed", "7")
    other_seed = _train(sentiment_train, tmp_path / "c", [data_dir / "train_v1.csv"], None, "--seed", "8")
    assert first == second
    assert other_seed["class_balance"] == first["class_balance"]
    assert other_seed["metrics"] != first["metrics"]  # a different hold-out split


def test_string_hyperparameters_from_sagemaker_are_parsed(
    tmp_path: Path, sentiment_train: ModuleType, data_dir: Path
) -> None:
    # SageMaker passes every hyperparameter as a string; integral floats like "1.0" are tolerated.
    hp = ["--C", "0.5", "--ngram-max", "1", "--min-df", "1.0", "--max-features", "100", "--solver", "lbfgs"]
    _train(sentiment_train, tmp_path, [data_dir / "train_v1.csv"], [data_dir / "test.csv"], *hp)
    meta = _read_json(tmp_path / "model" / "model_meta.json")
    assert meta["hyperparameters"]["C"] == 0.5
    assert meta["hyperparameters"]["ngram_max"] == 1
    assert meta["hyperparameters"]["solver"] == "lbfgs"
    assert meta["feature_count"] == 100


BAD_FILES = [
    pytest.param(
        "bad_missing_column.csv",
        "bad_missing_column.csv: missing required column(s) ['sentiment']; found columns "
        "['review_text', 'label'] (expected header 'review_text,sentiment')",
        id="missing-column",
    ),
    pytest.param(
        "bad_labels.csv",
        "bad_labels.csv line 2: invalid sentiment 'pos' (expected 1 for positive or 0 for negative)",
        id="bad-labels",
    ),
    pytest.param(
        "bad_one_class.csv",
        "train channel: only one class present (positive, 40 rows) in bad_one_class.csv; "
        "need both positive (1) and negative (0) examples, missing: negative",
        id="one-class",
    ),
    pytest.param(
        "bad_too_few_rows.csv",
        "train channel: too few rows: 5 in bad_too_few_rows.csv (need at least 20)",
        id="too-few-rows",
    ),
]


@pytest.mark.parametrize(("filename", "message"), BAD_FILES)
def test_bad_training_data_fails_with_a_precise_message_and_failure_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sentiment_train: ModuleType,
    data_dir: Path,
    filename: str,
    message: str,
) -> None:
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(make_channel(tmp_path / "train", data_dir / filename)))
    monkeypatch.delenv("SM_CHANNEL_TEST", raising=False)
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "output" / "data"))
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))

    assert sentiment_train.main([]) == 1

    expected = f"sentiment training failed: {message}"
    assert capsys.readouterr().err == f"ERROR: {expected}\n"
    assert (tmp_path / "output" / "failure").read_text(encoding="utf-8") == expected + "\n"
    assert not (tmp_path / "model" / "model.skops").exists()


def test_bad_test_channel_is_reported_as_such(
    tmp_path: Path,
    sentiment_train: ModuleType,
    data_dir: Path,
) -> None:
    argv = [
        "--train",
        str(data_dir / "train_v1.csv"),
        "--test",
        str(data_dir / "bad_one_class.csv"),
        "--model-dir",
        str(tmp_path / "model"),
        "--output-data-dir",
        str(tmp_path / "out"),
    ]
    hp, paths = sentiment_train.parse_args(argv)
    with pytest.raises(sentiment_train.RecipeInputError, match=r"^test channel: only one class present"):
        sentiment_train.train(hp, paths)


def test_failure_file_is_skipped_outside_sagemaker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sentiment_train: ModuleType, data_dir: Path
) -> None:
    monkeypatch.delenv("SM_OUTPUT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    argv = ["--train", str(data_dir / "bad_labels.csv"), "--model-dir", "m", "--output-data-dir", "o"]
    assert sentiment_train.main(argv) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param(lambda d: d.mkdir(), "train channel: no *.csv files in", id="empty-channel"),
        pytest.param(
            lambda d: make_channel(d).joinpath("a.csv").write_text("review_text,sentiment\n"),
            "train channel: no data rows in a.csv",
            id="header-only",
        ),
        pytest.param(
            lambda d: make_channel(d).joinpath("a.csv").write_text("review_text,sentiment\nfine,1\n   ,0\n"),
            "a.csv line 3: empty review_text",
            id="empty-text",
        ),
        pytest.param(
            lambda d: make_channel(d).joinpath("a.csv").write_text("review_text,sentiment\njust text\n"),
            "a.csv line 2: row has too few fields",
            id="ragged-row",
        ),
        pytest.param(lambda d: None, "does not exist", id="missing-dir"),
    ],
)
def test_unusable_channels_fail_cleanly(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sentiment_train: ModuleType,
    setup: Any,
    message: str,
) -> None:
    channel = tmp_path / "train"
    setup(channel)
    assert sentiment_train.main(["--train", str(channel), "--model-dir", str(tmp_path / "m")]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--test-size", "1.5"], "--test-size must be between 0 and 1 (exclusive), got 1.5"),
        (["--C", "abc"], "argument -C/--C: expected a number, got 'abc'"),
        (["-C", "2.0", "--solver", "nope"], "argument --solver: invalid choice"),
        (["--ngram-max", "1.5"], "argument --ngram-max: expected an integer, got '1.5'"),
        (["--min-df", "0"], "--min-df must be >= 1, got 0"),
        (["--solver", "saga"], "argument --solver: invalid choice: 'saga'"),
        (["--epochs", "3"], "unrecognized arguments: --epochs 3"),
    ],
)
def test_invalid_hyperparameters_fail_with_a_clear_message(
    capsys: pytest.CaptureFixture[str],
    sentiment_train: ModuleType,
    data_dir: Path,
    argv: list[str],
    message: str,
) -> None:
    assert sentiment_train.main(["--train", str(data_dir / "train_v1.csv"), *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ERROR: sentiment training failed: invalid hyperparameters: ")
    assert message in err


def test_missing_training_data_location_is_explained(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sentiment_train: ModuleType
) -> None:
    monkeypatch.delenv("SM_CHANNEL_TRAIN", raising=False)
    assert sentiment_train.main([]) == 1
    assert "no training data: set SM_CHANNEL_TRAIN or pass --train" in capsys.readouterr().err


def test_unexpected_errors_propagate_after_writing_the_failure_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sentiment_train: ModuleType, data_dir: Path
) -> None:
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))

    def boom(*_: Any, **__: Any) -> None:
        raise MemoryError("simulated")

    monkeypatch.setattr(sentiment_train, "evaluate", boom)
    with pytest.raises(MemoryError):
        sentiment_train.main(["--train", str(data_dir / "train_v1.csv"), "--model-dir", str(tmp_path / "m")])
    failure = (tmp_path / "output" / "failure").read_text(encoding="utf-8")
    assert failure == "sentiment training crashed: MemoryError: simulated\n"


def test_generator_reproduces_the_bundled_data_exactly(
    tmp_path: Path, sentiment_generator: ModuleType, data_dir: Path
) -> None:
    assert sentiment_generator.main(["--out", str(tmp_path)]) == 0
    generated = sorted(p.name for p in tmp_path.glob("*.csv"))
    assert generated == sorted(p.name for p in data_dir.glob("*.csv"))
    for name in generated:
        assert (tmp_path / name).read_bytes() == (data_dir / name).read_bytes(), name
    assert sum(p.stat().st_size for p in data_dir.iterdir() if p.is_file()) < 400_000
