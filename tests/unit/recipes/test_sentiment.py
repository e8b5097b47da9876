"""recipes/sentiment: the pickle-free model files, scoring identical to scikit-learn, the handler chain."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import runpy
import shutil
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tests.unit.recipes.conftest import DATA_DIR, RECIPE_DIR, Job, run_training


def texts_of(*names: str) -> list[str]:
    texts: list[str] = []
    for name in names:
        with (DATA_DIR / name).open(newline="", encoding="utf-8") as handle:
            texts += [row["review_text"] for row in csv.DictReader(handle)]
    return texts


# Odd inputs the tokenizer must treat exactly like scikit-learn's.
ODD_TEXTS = [
    "zzqx unseen words only",
    "a I",  # no token of two or more word characters
    "Ünïcödé accents, émojis 👍 and\ttabs\nnewlines — GREAT great GrEaT",
    "not bad not bad not bad at all, the the the",
    "works_perfectly 1234 x2 __init__",
]


@pytest.fixture(scope="session")
def pipeline(sentiment_train: ModuleType, kit: ModuleType) -> Pipeline:
    """A pipeline fitted by train.fit on train_v2 with the recipe's default hyperparameters."""
    recipe = kit.load_recipe(RECIPE_DIR)
    rows = kit.read_rows(DATA_DIR / "train_v2.csv", recipe)
    return sentiment_train.fit(rows, recipe.hyperparameters)


@pytest.fixture(scope="session")
def saved(pipeline: Pipeline, sentiment_train: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model_dir = tmp_path_factory.mktemp("saved")
    sentiment_train.save(pipeline, model_dir)
    return model_dir


def sklearn_predictions(pipeline: Pipeline, texts: list[str]) -> list[tuple[int, float]]:
    return list(zip(pipeline.predict(texts).tolist(), pipeline.predict_proba(texts)[:, 1].tolist(), strict=True))


def assert_identical(pipeline: Pipeline, predictions: list[dict[str, Any]], texts: list[str]) -> None:
    expected = sklearn_predictions(pipeline, texts)
    assert [p["label"] for p in predictions] == [label for label, _ in expected]
    assert [p["label_name"] for p in predictions] == [["negative", "positive"][label] for label, _ in expected]
    worst = max(abs(p["score"] - score) for p, (_, score) in zip(predictions, expected, strict=True))
    assert worst <= 1e-12


# --- identical to scikit-learn on every path ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 5, 100, 1000])
def test_predictions_are_identical_to_the_sklearn_pipeline(
    size: int, pipeline: Pipeline, saved: Path, sentiment_inference: ModuleType
) -> None:
    texts = (ODD_TEXTS + texts_of("test.csv", "train_v2.csv"))[:size]
    model = sentiment_inference.model_fn(str(saved))

    predictions = sentiment_inference.predict_fn([{"review_text": t} for t in texts], model)

    assert_identical(pipeline, predictions, texts)


def test_single_record_and_vectorised_paths_agree_on_every_record(
    pipeline: Pipeline, saved: Path, sentiment_inference: ModuleType
) -> None:
    texts = ODD_TEXTS + texts_of("test.csv")
    model = sentiment_inference.model_fn(str(saved))

    singles = [model.decision(text) for text in texts]
    batch = model.decisions(texts).tolist()

    assert np.allclose(singles, batch, rtol=0, atol=1e-12)
    assert np.allclose(batch, pipeline.decision_function(texts), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "settings",
    [
        {"ngram_range": (1, 1)},
        {"ngram_range": (2, 2)},
        {"ngram_range": (1, 2), "sublinear_tf": False, "norm": "l1"},
        {"ngram_range": (1, 2), "binary": True, "norm": None},
    ],
)
def test_other_vectorizer_settings_are_reproduced_too(
    settings: dict[str, Any], sentiment_train: ModuleType, sentiment_inference: ModuleType, tmp_path: Path
) -> None:
    texts = texts_of("train_v1.csv")
    labels = [int(i % 3 == 0) for i in range(len(texts))]
    fitted = Pipeline(
        [("tfidf", TfidfVectorizer(**{"sublinear_tf": True, **settings})), ("clf", LogisticRegression(max_iter=500))]
    ).fit(texts, labels)
    sentiment_train.save(fitted, tmp_path)
    model = sentiment_inference.model_fn(str(tmp_path))
    probe = ODD_TEXTS + texts_of("test.csv")

    for size in (1, 3, 200):
        assert_identical(fitted, model.predict(probe[:size]), probe[:size])


# --- pickle-free model files ----------------------------------------------------------------------------------------


def test_model_files_are_plain_arrays_and_json_without_training_text_leaks(saved: Path, pipeline: Pipeline) -> None:
    with np.load(saved / "model.npz", allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads((saved / "model.json").read_text())

    assert sorted(arrays) == ["coef", "features", "idf", "intercept", "tokens"]
    assert all(array.dtype != object for array in arrays.values())
    assert meta["npz_sha256"] == hashlib.sha256((saved / "model.npz").read_bytes()).hexdigest()
    assert meta["n_features"] == len(pipeline.named_steps["tfidf"].vocabulary_)
    assert set(meta["versions"]) == {"sklearn", "numpy", "python"}
    assert not hasattr(pipeline.named_steps["tfidf"], "stop_words_")  # CVE-2024-5206: pruned n-grams
    tokens = set(arrays["tokens"].tobytes().decode("utf-8").split("\n"))
    assert tokens == {part for term in pipeline.named_steps["tfidf"].vocabulary_ for part in term.split(" ")}


def test_the_same_model_is_saved_as_the_same_bytes(
    pipeline: Pipeline, sentiment_train: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    sentiment_train.save(pipeline, tmp_path / "a")
    sentiment_train.save(pipeline, tmp_path / "b")
    assert (tmp_path / "a" / "model.npz").read_bytes() == (tmp_path / "b" / "model.npz").read_bytes()


def rewrite(model_dir: Path, change: Callable[[dict[str, np.ndarray], dict[str, Any]], None]) -> None:
    """Change arrays/settings and re-sign the npz, so the load-time validation itself is what must refuse."""
    with np.load(model_dir / "model.npz", allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads((model_dir / "model.json").read_text())
    change(arrays, meta)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (model_dir / "model.npz").write_bytes(buffer.getvalue())
    meta["npz_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    (model_dir / "model.json").write_text(json.dumps(meta))


def _set(mapping: dict[str, Any], key: str, value: Any) -> None:
    mapping[key] = value


TAMPERING: dict[str, tuple[Callable[[dict[str, np.ndarray], dict[str, Any]], None], str]] = {
    "coef with a NaN": (lambda a, m: a["coef"].__setitem__(0, np.nan), "coef has non-finite values"),
    "negative idf": (lambda a, m: a["idf"].__setitem__(1, -1.0), "idf must be positive"),
    "a truncated coef": (lambda a, m: _set(a, "coef", a["coef"][:-1]), "coef has shape"),
    "float32 coef": (lambda a, m: _set(a, "coef", a["coef"].astype(np.float32)), "coef has dtype float32"),
    "an extra array": (lambda a, m: _set(a, "extra", np.zeros(1)), "expected arrays"),
    "a missing array": (lambda a, m: a.pop("idf"), "expected arrays"),
    "a feature naming a token out of range": (lambda a, m: a["features"].__setitem__((0, 0), 10**6), "out of range"),
    "duplicate features": (lambda a, m: a["features"].__setitem__(1, a["features"][0]), "duplicate features"),
    "a custom token pattern": (lambda a, m: m["vectorizer"].__setitem__("token_pattern", "(a+)+$"), "token_pattern"),
    "an unknown format": (lambda a, m: _set(m, "format_version", 99), "version 99"),
    "a third class": (lambda a, m: _set(m, "classes", [0, 1, 2]), "expected classes [0, 1]"),
    "tokens that are not UTF-8": (lambda a, m: _set(a, "tokens", np.array([0xFF, 0xFE], dtype=np.uint8)), "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_a_tampered_or_odd_model_is_refused_on_load(
    case: str, saved: Path, sentiment_inference: ModuleType, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(saved, model_dir)
    change, message = TAMPERING[case]
    rewrite(model_dir, change)

    with pytest.raises(sentiment_inference.ModelLoadError, match=None) as raised:
        sentiment_inference.model_fn(str(model_dir))
    assert message in str(raised.value)


def test_a_changed_byte_in_model_npz_is_refused_on_load(
    saved: Path, sentiment_inference: ModuleType, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(saved, model_dir)
    data = bytearray((model_dir / "model.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (model_dir / "model.npz").write_bytes(bytes(data))

    with pytest.raises(sentiment_inference.ModelLoadError, match="does not match the sha256"):
        sentiment_inference.model_fn(str(model_dir))


def test_an_npz_holding_pickled_objects_is_refused_on_load(
    saved: Path, sentiment_inference: ModuleType, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(saved, model_dir)
    buffer = io.BytesIO()
    np.savez(buffer, tokens=np.array([{"evil": 1}], dtype=object))
    (model_dir / "model.npz").write_bytes(buffer.getvalue())
    meta = json.loads((model_dir / "model.json").read_text())
    meta["npz_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    (model_dir / "model.json").write_text(json.dumps(meta))

    with pytest.raises(sentiment_inference.ModelLoadError, match="not a readable pickle-free npz"):
        sentiment_inference.model_fn(str(model_dir))


@pytest.mark.parametrize("missing", ["model.npz", "model.json"])
def test_missing_model_files_are_explained(
    missing: str, saved: Path, sentiment_inference: ModuleType, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(saved, model_dir)
    (model_dir / missing).unlink()

    with pytest.raises(sentiment_inference.ModelLoadError, match="cannot read the model"):
        sentiment_inference.model_fn(str(model_dir))


def test_an_npz_that_is_not_a_zip_is_refused(saved: Path, sentiment_inference: ModuleType, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(saved, model_dir)
    (model_dir / "model.npz").write_bytes(b"not a zip")
    meta = json.loads((model_dir / "model.json").read_text())
    meta["npz_sha256"] = hashlib.sha256(b"not a zip").hexdigest()
    (model_dir / "model.json").write_text(json.dumps(meta))

    with pytest.raises(sentiment_inference.ModelLoadError):
        sentiment_inference.model_fn(str(model_dir))
    assert not zipfile.is_zipfile(model_dir / "model.npz")


# --- the handler chain ----------------------------------------------------------------------------------------------


def test_handler_chain_answers_predictions_with_label_name_and_score(
    sentiment_inference: ModuleType, loaded_model: Any
) -> None:
    body = json.dumps(
        {
            "instances": [
                "Great kettle, works perfectly. Highly recommend!",
                {"review_text": "Terrible, broke. Waste of money."},
            ]
        }
    )

    data = sentiment_inference.input_fn(body, "application/json")
    answer, content_type = sentiment_inference.output_fn(
        sentiment_inference.predict_fn(data, loaded_model), "application/json"
    )

    predictions = json.loads(answer)["predictions"]
    assert content_type == "application/json"
    assert [(p["label"], p["label_name"]) for p in predictions] == [(1, "positive"), (0, "negative")]
    assert predictions[0]["score"] > 0.5 > predictions[1]["score"]
    assert all(set(p) == {"label", "label_name", "score"} for p in predictions)


def test_predict_fn_refuses_data_that_did_not_come_from_input_fn(
    sentiment_inference: ModuleType, loaded_model: Any
) -> None:
    with pytest.raises(sentiment_inference.challenger_kit.RequestError, match="expected a review_text string"):
        sentiment_inference.predict_fn([{"review_text": 3}], loaded_model)
    with pytest.raises(sentiment_inference.challenger_kit.RequestError, match="expects a list"):
        sentiment_inference.predict_fn("text", loaded_model)


# --- the recipe as a script and its sample data ------------------------------------------------------------------


def test_train_py_runs_as_a_plain_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `python train.py --train ...` in the job's working directory: its __main__ block, in this process (a fresh
    # interpreter with nothing but the bundle: tests/local/test_recipe_processes.py).
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["train.py", "--train", str(DATA_DIR / "train_v1.csv")])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(RECIPE_DIR / "train.py"), run_name="__main__")

    assert exited.value.code == 0
    assert "METRIC test_f1=" in capsys.readouterr().out
    assert {"model.npz", "model.json", "evaluation.json", "golden.json", "baseline.json", "training_rows.json"} <= {
        p.name for p in (tmp_path / "model").iterdir()
    }
    assert (tmp_path / "output" / "data" / "evaluation.json").exists()


def test_training_on_the_same_data_gives_the_same_model(
    sentiment_train: ModuleType, v1_job: Job, tmp_path: Path
) -> None:
    code, job = run_training(sentiment_train, tmp_path, DATA_DIR / "train_v1.csv")

    assert code == 0
    assert (job.model / "model.npz").read_bytes() == (v1_job.model / "model.npz").read_bytes()


def test_generator_reproduces_the_bundled_data_exactly(sentiment_generator: ModuleType, tmp_path: Path) -> None:
    assert sentiment_generator.main(["--out", str(tmp_path)]) == 0
    generated = sorted(p.name for p in tmp_path.glob("*.csv"))
    assert generated == sorted(p.name for p in DATA_DIR.glob("*.csv"))
    for name in generated:
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), name


def test_an_unexpected_error_writes_the_failure_file_and_propagates(
    sentiment_train: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: Any) -> None:
        raise MemoryError("simulated")

    monkeypatch.setattr(sentiment_train, "fit", explode)
    with pytest.raises(MemoryError):
        run_training(sentiment_train, tmp_path, DATA_DIR / "train_v1.csv")
    assert (tmp_path / "output" / "failure").read_text() == "sentiment training crashed: MemoryError: simulated\n"


def test_the_fast_token_pattern_finds_exactly_scikit_learns_tokens(sentiment_inference: ModuleType) -> None:
    import random
    import re

    reference, fast = re.compile(sentiment_inference.TOKEN_PATTERN), re.compile(sentiment_inference.FAST_TOKEN_PATTERN)
    alphabet = "ab Z9_ .,'-\t\nÉé\u0301ß字👍\u00b2"  # letters, digits, underscore, combining accent, CJK, emoji
    rng = random.Random(0)
    texts = (
        ODD_TEXTS + texts_of("test.csv") + ["".join(rng.choices(alphabet, k=rng.randint(0, 30))) for _ in range(5000)]
    )
    for text in texts:
        assert fast.findall(text) == reference.findall(text), text
