"""recipes/kit/challenger_kit.py: the training-job contract every recipe gets from the kit."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import random
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from challenger_core.adapters.batch_transform import MAX_PAYLOAD_MB
from recipes.kit.bundle import build_source_bundle, bundle_files
from tests.unit.recipes.conftest import DATA_DIR, RECIPE_DIR, Job, make_channel, run_training, tar_gz


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["review_text", "sentiment"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def row_ids(kit: ModuleType, rows: list[dict[str, Any]]) -> set[str]:
    return {kit.row_hash(r, ["review_text"])[: kit.ROW_ID_CHARS] for r in rows}


@pytest.fixture(scope="session")
def recipe(kit: ModuleType) -> Any:
    return kit.load_recipe(RECIPE_DIR)


# --- the stable hold-out ----------------------------------------------------------------------------------------


def test_hash_split_puts_each_row_on_the_same_side_after_reorder_and_reupload(
    kit: ModuleType, recipe: Any, tmp_path: Path
) -> None:
    original = kit.read_rows(DATA_DIR / "train_v1.csv", recipe)
    shuffled = read_csv(DATA_DIR / "train_v1.csv")
    random.Random(7).shuffle(shuffled)
    # Re-uploaded under another name, in another order, split across two files.
    channel = tmp_path / "train"
    write_csv(channel / "part-b.csv", shuffled[:300])
    write_csv(channel / "part-a.csv", shuffled[300:])
    reuploaded = kit.read_rows(channel, recipe)

    first = kit.split_rows(original, None, recipe, 0.2)
    second = kit.split_rows(reuploaded, None, recipe, 0.2)

    assert sorted(first.train_hashes) == sorted(second.train_hashes)
    assert sorted(first.holdout_hashes) == sorted(second.holdout_hashes)
    assert kit.fingerprint(first.holdout_hashes) == kit.fingerprint(second.holdout_hashes)
    assert 0.12 < len(first.holdout) / len(original) < 0.28


def test_hash_split_depends_on_the_features_only_never_the_label(kit: ModuleType, recipe: Any) -> None:
    rows = kit.read_rows(DATA_DIR / "train_v1.csv", recipe)
    flipped = [{**r, "sentiment": 1 - r["sentiment"]} for r in rows]
    assert (
        kit.split_rows(rows, None, recipe, 0.2).holdout_hashes
        == kit.split_rows(flipped, None, recipe, 0.2).holdout_hashes
    )


def test_test_csv_rows_are_always_held_out_and_never_trained_on(
    kit: ModuleType, sentiment_train: ModuleType, tmp_path: Path
) -> None:
    test_rows = read_csv(DATA_DIR / "test.csv")
    # The training upload contains every test row too (a common copy-paste accident).
    train = write_csv(tmp_path / "train" / "train.csv", read_csv(DATA_DIR / "train_v1.csv") + test_rows)
    test = make_channel(tmp_path / "test", DATA_DIR / "test.csv")

    code, job = run_training(sentiment_train, tmp_path / "job", train, test=test)

    assert code == 0
    recorded = json.loads((job.model / "training_rows.json").read_text())
    trained = set(recorded)
    test_ids = row_ids(kit, [{"review_text": r["review_text"]} for r in test_rows])
    assert trained.isdisjoint(test_ids)
    evaluation = json.loads((job.model / "evaluation.json").read_text())
    assert evaluation["n_test"] >= len(test_rows)
    assert recorded == sorted(trained)  # sorted and unique


# --- the paired comparison --------------------------------------------------------------------------------------


def test_identical_predictions_give_a_zero_difference_whose_interval_includes_zero(
    kit: ModuleType, recipe: Any
) -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300).tolist()
    predictions = [
        {"label": int(p), "score": float(s)} for p, s in zip(rng.integers(0, 2, 300), rng.random(300), strict=True)
    ]

    differences = kit.paired_bootstrap(
        recipe, y, predictions, predictions, metric_names=["f1", "accuracy", "roc_auc"], confidence=0.95, samples=500
    )

    for name in ("f1", "accuracy", "roc_auc"):
        found = differences[name]
        assert {k: found[k] for k in ("delta", "low", "high")} == {"delta": 0.0, "low": 0.0, "high": 0.0}
        assert found["champion_low"] <= found["champion_high"]  # the champion's own interval, for the shift check


def test_retraining_on_identical_data_is_compared_on_unseen_rows_and_its_interval_includes_zero(
    sentiment_train: ModuleType, v1_job: Job, tmp_path: Path
) -> None:
    shuffled = read_csv(DATA_DIR / "train_v1.csv")
    random.Random(3).shuffle(shuffled)
    train = write_csv(tmp_path / "train" / "reuploaded.csv", shuffled)

    code, job = run_training(sentiment_train, tmp_path / "job", train, champion=v1_job.archive())

    assert code == 0
    comparison = json.loads((job.model / "evaluation.json").read_text())["comparison"]
    assert comparison["excluded_champion_training_rows"] == 0  # the same data: the same hold-out
    assert comparison["champion_metrics"] == comparison["challenger_metrics"]
    # Rows are fitted in content order, so the reordered upload fits the very same model: no difference at all.
    assert (job.model / "model.npz").read_bytes() == (v1_job.model / "model.npz").read_bytes()
    for difference in comparison["differences"].values():
        assert {k: difference[k] for k in ("delta", "low", "high")} == {"delta": 0.0, "low": 0.0, "high": 0.0}


def test_clearly_better_data_wins_with_an_interval_above_zero(v2_job: Job, v1_job: Job) -> None:
    evaluation = json.loads((v2_job.model / "evaluation.json").read_text())
    comparison = evaluation["comparison"]

    assert (
        comparison["champion_artifact_sha256"]
        == hashlib.sha256((v1_job.archive() / "model.tar.gz").read_bytes()).hexdigest()
    )
    assert comparison["differences"]["f1"]["low"] > 0
    assert comparison["differences"]["f1"]["delta"] == pytest.approx(
        comparison["challenger_metrics"]["f1"] - comparison["champion_metrics"]["f1"]
    )
    # The paired rows exclude what the champion trained on (test.csv rows that were in train_v1).
    assert comparison["excluded_champion_training_rows"] > 0
    assert comparison["rows"] + comparison["excluded_champion_training_rows"] == evaluation["n_test"]
    assert comparison["confidence"] == 0.95
    assert comparison["method"] == "paired bootstrap, 2000 resamples"


def test_paired_bootstrap_is_reproducible_for_a_seed(kit: ModuleType, recipe: Any) -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 200).tolist()
    ours = [{"label": int(v), "score": float(v)} for v in rng.integers(0, 2, 200)]
    theirs = [{"label": int(v), "score": float(v)} for v in rng.integers(0, 2, 200)]
    args = {"metric_names": ["f1", "roc_auc"], "confidence": 0.9, "samples": 300}
    assert kit.paired_bootstrap(recipe, y, ours, theirs, **args) == kit.paired_bootstrap(
        recipe, y, ours, theirs, **args
    )


def test_champion_is_evaluated_through_its_own_serving_code_and_kit(
    kit: ModuleType, sentiment_train: ModuleType, v1_job: Job, tmp_path: Path
) -> None:
    champion = tmp_path / "champion_model"
    shutil.copytree(v1_job.model, champion)
    # The champion's OWN copy of the kit answers every record as negative: if the training job's kit (or the
    # challenger's inference.py) served the champion, its recall would not be 0.
    with (champion / "code" / "challenger_kit.py").open("a", encoding="utf-8") as handle:
        handle.write(
            "\n_original_render = render_response\n\n"
            "def render_response(predictions, accept):\n"
            "    flipped = [{**p, 'label': 0, 'label_name': 'negative', 'score': 0.25} for p in predictions]\n"
            "    return _original_render(flipped, accept)\n"
        )
    channel = tmp_path / "champion"
    channel.mkdir()
    (channel / "model.tar.gz").write_bytes(tar_gz(champion))
    kit_before = sys.modules["challenger_kit"]

    code, job = run_training(sentiment_train, tmp_path / "job", DATA_DIR / "train_v2.csv", champion=channel)

    assert code == 0
    comparison = json.loads((job.model / "evaluation.json").read_text())["comparison"]
    assert comparison["champion_metrics"]["recall"] == 0.0
    assert comparison["challenger_metrics"]["recall"] > 0.8
    assert sys.modules["challenger_kit"] is kit_before


def test_champion_code_imports_its_own_vendored_libraries_not_the_training_jobs(
    sentiment_train: ModuleType, v1_job: Job, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    champion = tmp_path / "champion_model"
    shutil.copytree(v1_job.model, champion)
    (champion / "code" / "lib").mkdir()
    (champion / "code" / "lib" / "tinydep.py").write_text("FLIP = True\n")
    with (champion / "code" / "inference.py").open("a", encoding="utf-8") as handle:
        handle.write(
            "\nimport tinydep\n\n_original_predict_fn = predict_fn\n\n"
            "def predict_fn(data, model):\n"
            "    out = _original_predict_fn(data, model)\n"
            "    flipped = [{**p, 'label': 0, 'label_name': 'negative', 'score': 0.25} for p in out]\n"
            "    return flipped if tinydep.FLIP else out\n"
        )
    channel = tmp_path / "champion"
    channel.mkdir()
    (channel / "model.tar.gz").write_bytes(tar_gz(champion))
    # The training job already has another `tinydep` loaded; the champion must not see it.
    theirs = ModuleType("tinydep")
    theirs.FLIP = False  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tinydep", theirs)

    code, job = run_training(sentiment_train, tmp_path / "job", DATA_DIR / "train_v2.csv", champion=channel)

    assert code == 0
    comparison = json.loads((job.model / "evaluation.json").read_text())["comparison"]
    assert comparison["champion_metrics"]["recall"] == 0.0
    assert sys.modules["tinydep"] is theirs


def test_a_champion_that_cannot_be_compared_is_reported_and_the_challenger_still_trains(
    sentiment_train: ModuleType, v1_job: Job, tmp_path: Path
) -> None:
    champion = tmp_path / "champion_model"
    shutil.copytree(v1_job.model, champion)
    (champion / "training_rows.json").unlink()
    channel = tmp_path / "champion"
    channel.mkdir()
    (channel / "model.tar.gz").write_bytes(tar_gz(champion))

    code, job = run_training(sentiment_train, tmp_path / "job", DATA_DIR / "train_v2.csv", champion=channel)

    assert code == 0
    evaluation = json.loads((job.model / "evaluation.json").read_text())
    assert evaluation["comparison"] is None
    assert "training_rows.json" in evaluation["comparison_error"]


def test_a_champion_archive_escaping_its_directory_is_refused(
    sentiment_train: ModuleType, v1_job: Job, tmp_path: Path
) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    channel = tmp_path / "champion"
    channel.mkdir()
    (channel / "model.tar.gz").write_bytes(buffer.getvalue())

    code, job = run_training(sentiment_train, tmp_path / "job", DATA_DIR / "train_v1.csv", champion=channel)

    assert code == 0
    evaluation = json.loads((job.model / "evaluation.json").read_text())
    assert "refusing archive member '../escaped.txt'" in evaluation["comparison_error"]
    assert not (tmp_path / "escaped.txt").exists()


# --- metrics: the kit's vectorised ones are scikit-learn's ---------------------------------------------------------


def test_binary_metrics_match_scikit_learn_on_a_resample(kit: ModuleType, recipe: Any) -> None:
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 250)
    scores = np.round(rng.random(250), 2)  # rounded: ties, which roc_auc must count as one half
    labels = (scores > 0.4).astype(int)
    predictions = [{"label": int(p), "score": float(s)} for p, s in zip(labels, scores, strict=True)]
    draw = rng.integers(0, 250, 250)
    weights = np.bincount(draw, minlength=250)[None, :].astype(float)
    scored = kit._Scored(recipe, y.tolist(), predictions)

    expected = {
        "accuracy": skm.accuracy_score(y[draw], labels[draw]),
        "precision": skm.precision_score(y[draw], labels[draw], zero_division=0),
        "recall": skm.recall_score(y[draw], labels[draw], zero_division=0),
        "f1": skm.f1_score(y[draw], labels[draw], zero_division=0),
        "roc_auc": skm.roc_auc_score(y[draw], scores[draw]),
        "log_loss": skm.log_loss(y[draw], scores[draw]),
        "brier": skm.brier_score_loss(y[draw], scores[draw]),
    }
    for name, value in expected.items():
        assert scored.metric(name, weights)[0] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_multiclass_and_regression_metrics_match_scikit_learn(kit: ModuleType) -> None:
    rng = np.random.default_rng(12)
    multiclass = kit.Recipe(
        {
            "name": "t",
            "schema": {
                "features": [{"name": "x", "type": "number"}],
                "target": {"name": "y", "kind": "multiclass", "labels": {"a": "A", "b": "B", "c": "C"}},
            },
            "metrics": {"f1_macro": "higher", "accuracy": "higher"},
            "primary_metric": "f1_macro",
        }
    )
    y = rng.choice(["a", "b", "c"], 200)
    p = rng.choice(["a", "b"], 200)  # class c is never predicted: zero_division paths
    computed = kit.compute_metrics(multiclass, y.tolist(), [{"label": v} for v in p])
    assert computed["f1_macro"] == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=0))
    assert computed["accuracy"] == pytest.approx(skm.accuracy_score(y, p))

    regression = kit.Recipe(
        {
            "name": "r",
            "schema": {"features": [{"name": "x", "type": "number"}], "target": {"name": "y", "kind": "regression"}},
            "metrics": {"rmse": "lower", "mae": "lower", "r2": "higher"},
            "primary_metric": "rmse",
        }
    )
    truth, guess = rng.normal(size=100), rng.normal(size=100)
    computed = kit.compute_metrics(regression, truth.tolist(), [{"value": float(v)} for v in guess])
    assert computed["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(truth, guess)))
    assert computed["mae"] == pytest.approx(skm.mean_absolute_error(truth, guess))
    assert computed["r2"] == pytest.approx(skm.r2_score(truth, guess))


def test_multiclass_log_loss_is_a_primary_metric_and_matches_scikit_learn(kit: ModuleType) -> None:
    # Issue 21: a multiclass recipe may be judged on log loss, read from each prediction's probabilities.
    rng = np.random.default_rng(21)
    multiclass = kit.Recipe(
        {
            "name": "weather",
            "schema": {
                "features": [{"name": "x", "type": "number"}],
                "target": {"name": "y", "kind": "multiclass", "labels": {"0": "sun", "1": "rain", "2": "snow"}},
            },
            "metrics": {"log_loss": "lower", "accuracy": "higher"},
            "primary_metric": "log_loss",
        }
    )
    y = rng.integers(0, 3, 300)
    probabilities = rng.dirichlet([1.0, 1.0, 1.0], 300)
    predictions = [
        {"label": int(np.argmax(p)), "probabilities": {str(c): float(v) for c, v in enumerate(p)}}
        for p in probabilities
    ]
    computed = kit.compute_metrics(multiclass, y.tolist(), predictions)
    assert computed["log_loss"] == pytest.approx(skm.log_loss(y, probabilities, labels=[0, 1, 2]))
    worse = [{**p, "probabilities": dict.fromkeys(p["probabilities"], 1 / 3)} for p in predictions]
    interval = kit.paired_bootstrap(
        multiclass, y.tolist(), predictions, worse, metric_names=["log_loss"], confidence=0.95, samples=200
    )["log_loss"]
    assert interval["delta"] == pytest.approx(computed["log_loss"] - np.log(3))
    assert interval["low"] <= interval["delta"] <= interval["high"]


# --- model directory files --------------------------------------------------------------------------------------


def test_evaluation_json_follows_the_contract(v2_job: Job, kit: ModuleType) -> None:
    evaluation = json.loads((v2_job.model / "evaluation.json").read_text())

    assert set(evaluation) == {
        "metrics",
        "confusion_matrix",
        "n_train",
        "n_test",
        "eval_set",
        "comparison",
        "holdout_class_counts",
    }
    assert set(evaluation["metrics"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert evaluation["metrics"]["accuracy"] > 0.85
    assert sum(map(sum, evaluation["confusion_matrix"])) == evaluation["n_test"] == evaluation["eval_set"]["rows"]
    assert json.loads((v2_job.output_data / "evaluation.json").read_text()) == evaluation
    assert set(evaluation["comparison"]["differences"]["f1"]) == {
        "delta",
        "low",
        "high",
        "champion_low",
        "champion_high",
    }


def test_golden_set_is_what_the_saved_model_serves(v2_job: Job, sentiment_inference: ModuleType) -> None:
    golden = json.loads((v2_job.model / "golden.json").read_text())

    assert len(golden["instances"]) == len(golden["predictions"]) == 20
    assert golden["score_tolerance"] == 1e-6
    assert all(set(instance) == {"review_text"} for instance in golden["instances"])
    model = sentiment_inference.model_fn(str(v2_job.model))
    served = sentiment_inference.predict_fn(
        sentiment_inference.input_fn(json.dumps({"instances": golden["instances"]}), "application/json"), model
    )
    assert served == golden["predictions"]


def test_baseline_profiles_the_text_feature_and_the_predictions(v2_job: Job) -> None:
    baseline = json.loads((v2_job.model / "baseline.json").read_text())

    text = baseline["features"]["review_text"]
    assert text["type"] == "text"
    for histogram in ("length", "tokens", "oov_rate"):
        assert len(text[histogram]["proportions"]) == len(text[histogram]["edges"]) + 1
        assert sum(text[histogram]["proportions"]) == pytest.approx(1.0)
    assert "great" in text["vocabulary"]
    assert text["oov_rate"]["max"] == 0.0  # the training rows are the vocabulary's own
    assert sum(baseline["prediction"]["labels"].values()) == pytest.approx(1.0)
    assert sum(baseline["prediction"]["score"]["proportions"]) == pytest.approx(1.0)


def test_model_code_holds_the_serving_code_the_kit_and_the_recipe(v2_job: Job) -> None:
    code = v2_job.model / "code"
    assert sorted(p.name for p in code.iterdir()) == [
        "__pycache__",
        "challenger_kit.py",
        "inference.py",
        "recipe.json",
        "requirements.txt",
    ]
    assert (code / "challenger_kit.py").read_bytes() == (RECIPE_DIR.parent / "kit" / "challenger_kit.py").read_bytes()


def test_serving_code_ships_hash_checked_bytecode_for_read_only_model_dirs(v2_job: Job) -> None:
    code = v2_job.model / "code"
    for name in ("challenger_kit", "inference"):
        pyc = Path(importlib.util.cache_from_source(str(code / f"{name}.py")))
        # PEP 552 flags: 0b11 = hash-based and checked against the source, so copies and archives keep it valid.
        assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b11, name


def make_wheel(directory: Path) -> Path:
    """A minimal pure-Python wheel (pip installs it offline, without building anything)."""
    wheel = directory / "tinydep-1.0-py3-none-any.whl"
    files = {
        "tinydep.py": "ANSWER = 42\n",
        "tinydep-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n",
        "tinydep-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
        archive.writestr(
            "tinydep-1.0.dist-info/RECORD", "".join(f"{n},,\n" for n in files) + "tinydep-1.0.dist-info/RECORD,,\n"
        )
    return wheel


def test_serving_requirements_are_vendored_into_code_lib_at_training_time(kit: ModuleType, tmp_path: Path) -> None:
    recipe_dir = tmp_path / "recipe"
    recipe_dir.mkdir()
    for name in ("inference.py", "recipe.json"):
        shutil.copy(RECIPE_DIR / name, recipe_dir / name)
    wheel = make_wheel(tmp_path)
    (recipe_dir / "requirements.txt").write_text(f"# a serving dependency\n{wheel}\n")

    kit.install_serving_code(recipe_dir, tmp_path / "model", ["inference.py"])

    code = tmp_path / "model" / "code"
    assert (code / "lib" / "tinydep.py").read_text() == "ANSWER = 42\n"
    assert kit.requirement_lines(code / "requirements.txt") == []  # the container installs no requirement at start-up
    assert str(wheel) in (code / "requirements.txt").read_text()


def test_a_requirement_that_cannot_be_vendored_fails_training_clearly(kit: ModuleType, tmp_path: Path) -> None:
    recipe_dir = tmp_path / "recipe"
    recipe_dir.mkdir()
    for name in ("inference.py", "recipe.json"):
        shutil.copy(RECIPE_DIR / name, recipe_dir / name)
    (recipe_dir / "requirements.txt").write_text(f"{tmp_path / 'missing-1.0-py3-none-any.whl'}\n")

    with pytest.raises(kit.RecipeError, match="could not vendor serving requirements"):
        kit.install_serving_code(recipe_dir, tmp_path / "model", ["inference.py"])


# --- failures ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("csv_name", "message"),
    [
        (
            "bad_labels.csv",
            "sentiment training failed: bad_labels.csv line 2: invalid sentiment 'pos' "
            "(expected 1 for positive or 0 for negative)",
        ),
        ("bad_missing_column.csv", "sentiment training failed: bad_missing_column.csv: missing required column(s)"),
        ("bad_one_class.csv", "sentiment training failed: too few training rows per class (need at least 5 of each)"),
        ("bad_too_few_rows.csv", "sentiment training failed: train channel: too few training rows: "),
    ],
)
def test_bad_training_data_fails_with_one_clear_line_in_the_failure_file(
    sentiment_train: ModuleType,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    csv_name: str,
    message: str,
) -> None:
    code, job = run_training(sentiment_train, tmp_path, data_dir / csv_name)

    assert code == 1
    failure = (job.output / "failure").read_text()
    assert failure.startswith(message)
    assert failure.count("\n") == 1
    assert message in capsys.readouterr().err
    assert not (job.model / "evaluation.json").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--learning-rate", "0.1"], "unknown hyperparameter 'learning-rate'"),
        (["--C", "strong"], "C expects float, got 'strong'"),
        (["--max_features", "2.5"], "max_features expects int, got '2.5'"),
        (["--promotion-confidence", "1.5"], "promotion_confidence must be in"),
        (["--C", "0"], "C must be > 0"),
    ],
)
def test_invalid_hyperparameters_fail_with_a_clear_message(
    sentiment_train: ModuleType, data_dir: Path, tmp_path: Path, argv: list[str], message: str
) -> None:
    code, job = run_training(sentiment_train, tmp_path, data_dir / "train_v1.csv", *argv)

    assert code == 1
    assert message in (job.output / "failure").read_text()


def test_hyperparameters_arrive_as_sagemaker_strings(
    sentiment_train: ModuleType, data_dir: Path, tmp_path: Path
) -> None:
    code, job = run_training(
        sentiment_train,
        tmp_path,
        data_dir / "train_v1.csv",
        "--max_features",
        "300.0",
        "--C=2",
        "--bootstrap-samples",
        "100",
        "--sagemaker_container_log_level",  # SageMaker's own: not the recipe's business
        "20",
    )

    assert code == 0
    assert json.loads((job.model / "model.json").read_text())["n_features"] == 300


# --- requests ---------------------------------------------------------------------------------------------------


def test_requests_take_records_or_the_shorthand_in_json_or_csv(kit: ModuleType, recipe: Any) -> None:
    body = json.dumps({"instances": ["Great kettle.", {"review_text": "Broke in a week."}]})
    expected = [{"review_text": "Great kettle."}, {"review_text": "Broke in a week."}]
    assert kit.parse_request(body, "application/json; charset=utf-8", recipe) == expected
    assert kit.parse_request(body.encode("utf-8-sig"), "application/json", recipe) == expected
    assert kit.parse_request('review_text\nGreat kettle.\n"Broke in a week."\n', "text/csv", recipe) == expected


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ("{not json", "application/json", 400, "invalid JSON"),
        ('{"records": []}', "application/json", 400, '{"instances": [...]}'),
        ('{"instances": "text"}', "application/json", 400, '"instances" must be a list'),
        ('{"instances": []}', "application/json", 400, "no instances"),
        (json.dumps({"instances": ["x" * 100] * 70_000}), "application/json", 413, "(max 6,291,456)"),
        ('{"instances": [7]}', "application/json", 400, "instances[0]: review_text must be a string, got int"),
        ('{"instances": ["  "]}', "application/json", 400, "instances[0]: review_text is empty"),
        ('{"instances": [{"text": "hi"}]}', "application/json", 400, "unknown field(s) ['text']"),
        ('{"instances": [{}]}', "application/json", 400, 'missing field "review_text"'),
        (json.dumps({"instances": ["x" * 20001]}), "application/json", 400, "20001 characters (max 20000)"),
        ("hello", "text/plain", 415, "unsupported content type"),
        (b"\xff\xfe", "application/json", 400, "not valid UTF-8"),
        ("a,b\n", "text/csv", 400, "line 1: expected 1 field(s)"),
    ],
)
def test_bad_requests_are_refused_with_a_4xx_and_a_precise_message(
    kit: ModuleType, recipe: Any, body: str | bytes, content_type: str, status: int, message: str
) -> None:
    with pytest.raises(kit.RequestError) as raised:
        kit.parse_request(body, content_type, recipe)
    assert raised.value.status_code == status
    assert message in str(raised.value)


def test_a_transform_mini_batch_of_any_record_count_up_to_the_payload_limit_is_served(
    kit: ModuleType, recipe: Any
) -> None:
    """Batch Transform (MultiRecord) packs as many lines as fit in MaxPayloadInMB=6 into one request: 1,001 records
    got a 413 (issue 16), so every job over ~1,000 rows failed."""
    assert kit.MAX_PAYLOAD_BYTES >= MAX_PAYLOAD_MB * 1024 * 1024  # what BatchStrategy=MultiRecord packs
    body = "".join(f"review {n} was great\n" for n in range(50_000)).encode()
    assert len(body) < kit.MAX_PAYLOAD_BYTES
    rows = kit.parse_request(body, "text/csv", recipe)
    assert (len(rows), rows[-1]) == (50_000, {"review_text": "review 49999 was great"})


def test_responses_are_json_and_other_accept_types_are_refused(kit: ModuleType) -> None:
    assert kit.render_response([{"label": 1}], "application/json") == (
        '{"predictions": [{"label": 1}]}',
        "application/json",
    )
    with pytest.raises(kit.RequestError) as raised:
        kit.render_response([], "text/csv")
    assert raised.value.status_code == 406


def test_recipe_declarations_are_checked(kit: ModuleType) -> None:
    spec = json.loads((RECIPE_DIR / "recipe.json").read_text())
    spec["primary_metric"] = "rmse"
    spec["metrics"]["rmse"] = "sideways"
    with pytest.raises(kit.RecipeError, match="direction must be 'higher' or 'lower'") as raised:
        kit.Recipe(spec)
    assert "primary_metric 'rmse'" in str(raised.value)


# --- the source bundle ------------------------------------------------------------------------------------------


def test_source_bundle_is_deterministic_and_holds_the_recipe_and_the_kit_but_no_data() -> None:
    first, second = build_source_bundle(RECIPE_DIR), build_source_bundle(RECIPE_DIR)

    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) == list(bundle_files(RECIPE_DIR))
    assert {"train.py", "inference.py", "recipe.json", "challenger_kit.py"} <= set(names)
    assert not any(name.startswith("data/") for name in names)
    assert {m.mtime for m in members} == {0}


def test_a_requirements_file_that_names_nothing_stays_out_of_the_bundle(tmp_path: Path) -> None:
    # The training toolkit runs `pip install -r requirements.txt` whenever the file exists: ~1.5 s for nothing.
    recipe = tmp_path / "recipe"
    shutil.copytree(RECIPE_DIR, recipe, ignore=shutil.ignore_patterns("data", "tests"))
    (recipe / "requirements.txt").write_text("# none\n\n   # still none\n")
    assert "requirements.txt" not in bundle_files(recipe)

    (recipe / "requirements.txt").write_text("# one\ntinydep==1.0  # vendored at training time\n")
    assert "requirements.txt" in bundle_files(recipe)


# ------------------------------------------------------------------------------------------------------------------
# Issue 18 (F1): the champion's code runs only after its digest matches; the job hashes what it produced
# ------------------------------------------------------------------------------------------------------------------


def _champion_that_leaves_a_mark(v1_job: Job, tmp_path: Path) -> tuple[Path, Path]:
    """A champion channel whose inference.py writes a file the moment it is imported (its code ran)."""
    mark = tmp_path / "champion-code-ran"
    champion = tmp_path / "champion_model"
    shutil.copytree(v1_job.model, champion)
    with (champion / "code" / "inference.py").open("a", encoding="utf-8") as handle:
        handle.write(f"\nopen({str(mark)!r}, 'w').close()\n")
    channel = tmp_path / "champion"
    channel.mkdir()
    (channel / "model.tar.gz").write_bytes(tar_gz(champion))
    return channel, mark


def test_a_retrain_refuses_a_champion_whose_digest_is_not_the_registered_one_before_running_its_code(
    sentiment_train: ModuleType, v1_job: Job, tmp_path: Path
) -> None:
    channel, mark = _champion_that_leaves_a_mark(v1_job, tmp_path)
    registered = hashlib.sha256((v1_job.archive() / "model.tar.gz").read_bytes()).hexdigest()

    code, job = run_training(
        sentiment_train, tmp_path / "job", DATA_DIR / "train_v2.csv", "--champion-sha256", registered, champion=channel
    )

    assert code == 1
    assert "refusing to run its code" in (job.output / "failure").read_text()
    assert not mark.exists()


def test_a_champion_channel_without_its_digest_is_not_run(kit: ModuleType, v1_job: Job, tmp_path: Path) -> None:
    channel, mark = _champion_that_leaves_a_mark(v1_job, tmp_path)

    with pytest.raises(kit.RecipeError, match="without its registered digest"):
        kit.verify_champion(channel / "model.tar.gz", None)
    assert not mark.exists()


def test_the_job_writes_a_manifest_of_every_file_it_leaves_in_the_model_directory(v1_job: Job) -> None:
    manifest = json.loads((v1_job.output_data / "model_manifest.json").read_text())["files"]

    on_disk = {p.relative_to(v1_job.model).as_posix(): p for p in v1_job.model.rglob("*") if p.is_file()}
    assert set(manifest) == set(on_disk)
    assert {"model.npz", "evaluation.json", "golden.json", "code/inference.py"} <= set(manifest)
    for name, path in on_disk.items():
        assert manifest[name] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_label_shuffled_upload_is_also_scored_on_the_trusted_set_whose_rows_it_never_trains_on(
    sentiment_train: ModuleType, v1_job: Job, tmp_path: Path
) -> None:
    """Issue 19: the champion's hold-out (holdout.csv) is the trusted set; a later upload with shuffled labels is
    scored on it too, where the champion keeps its score, and none of its rows is trained on."""
    trusted = make_channel(tmp_path / "trusted", v1_job.output_data / "holdout.csv")
    with (DATA_DIR / "train_v2.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    labels = [row["sentiment"] for row in rows]
    random.Random(7).shuffle(labels)
    shuffled = tmp_path / "upload" / "train.csv"
    shuffled.parent.mkdir()
    with shuffled.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["review_text", "sentiment"])
        writer.writeheader()
        writer.writerows({**row, "sentiment": label} for row, label in zip(rows, labels, strict=True))

    code, job = run_training(
        sentiment_train, tmp_path / "job", shuffled.parent, "--trusted", str(trusted), champion=v1_job.archive()
    )

    assert code == 0
    report = json.loads((job.model / "evaluation.json").read_text())
    held_out = report["comparison"]["champion_metrics"]["accuracy"]
    on_trusted = report["trusted"]["comparison"]["champion_metrics"]["accuracy"]
    assert 0 < report["trusted"]["rows"] <= v1_job_holdout_rows(v1_job)  # one per distinct feature row
    assert on_trusted - held_out > 0.2, (on_trusted, held_out)  # the new labels disagree with the live model
    assert (
        report["trusted"]["comparison"]["differences"]["accuracy"]["champion_low"]
        > (report["comparison"]["differences"]["accuracy"]["champion_high"])
    )
    assert sum(report["trusted"]["class_counts"].values()) == report["trusted"]["rows"]


def v1_job_holdout_rows(job: Job) -> int:
    with (job.output_data / "holdout.csv").open(newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def test_a_recipe_with_a_time_column_holds_out_the_newest_slice_not_a_hash_sample(kit: ModuleType) -> None:
    """Issue 19 (forecasting-style data): the hold-out is the newest rows, whole instants at the boundary."""
    spec = json.loads((RECIPE_DIR.parent / "penguins" / "recipe.json").read_text())
    spec["schema"]["features"].append({"name": "day", "type": "number", "min": 0, "max": 1000})
    spec["schema"]["time_column"] = "day"
    timed = kit.Recipe(spec)
    rows = [
        {"species": "Adelie", "island": "Biscoe", "bill_length_mm": 30 + i / 10, "bill_depth_mm": 18.0,
         "flipper_length_mm": 190.0, "sex": "male", "day": float(i // 2), "body_mass_g": 3500.0 + i}
        for i in range(100)
    ]  # fmt: skip

    split = kit.split_rows(list(reversed(rows)), None, timed, 0.2)

    assert sorted(row["day"] for row in split.holdout) == [float(d) for d in range(40, 50) for _ in range(2)]
    assert max(row["day"] for row in split.train) == 39.0  # nothing of the held-out days is trained on
    spec["schema"]["time_column"] = "when"
    with pytest.raises(kit.RecipeError, match="time_column 'when' is not one of the features"):
        kit.Recipe(spec)


def test_rows_of_the_trusted_set_are_never_trained_on_whatever_their_label(kit: ModuleType, recipe: Any) -> None:
    rows = [{"review_text": f"review {i} with some words", "sentiment": i % 2} for i in range(200)]
    trusted = [{**row, "sentiment": 1 - row["sentiment"]} for row in rows[:50]]  # same features, other labels

    split = kit.split_rows(rows, None, recipe, 0.2, trusted)

    trained = {row["review_text"] for row in split.train}
    assert trained.isdisjoint(row["review_text"] for row in trusted)
    assert split.dropped_as_trusted_rows == sum(
        not kit.is_holdout(kit.row_hash(row, recipe.feature_names), 0.2) for row in rows[:50]
    )
