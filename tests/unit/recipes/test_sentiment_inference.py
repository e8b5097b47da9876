"""recipes/sentiment/inference.py: safe loading, the compiled fast path and the wire contract."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer


def _rows(path: Path) -> tuple[list[str], list[int]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["review_text"] for r in rows], [int(r["sentiment"]) for r in rows]


@pytest.fixture(scope="session")
def test_texts(data_dir: Path) -> list[str]:
    return _rows(data_dir / "test.csv")[0]


@pytest.fixture(scope="session")
def v1_data(data_dir: Path) -> tuple[list[str], list[int]]:
    return _rows(data_dir / "train_v1.csv")


def _schema_types(path: Path) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "__class__" in node and "__module__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    with zipfile.ZipFile(path) as archive:
        walk(json.loads(archive.read("schema.json")))
    return found


def _model_dir_with(tmp_path: Path, obj: Any, sagemaker_job: dict[str, Path]) -> Path:
    """A model dir holding ``obj`` as model.skops next to the real model_meta.json."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    shutil.copy(sagemaker_job["model"] / "model_meta.json", model_dir)
    sio.dump(obj, model_dir / "model.skops")
    return model_dir


def _assert_same_as_pipeline(pipeline: Pipeline, texts: list[str], predictions: list[dict[str, Any]]) -> None:
    expected_labels = pipeline.predict(texts).tolist()
    expected_scores = pipeline.predict_proba(texts)[:, 1]
    assert [p["label"] for p in predictions] == expected_labels
    scores = np.array([p["score"] for p in predictions])
    assert np.max(np.abs(scores - expected_scores)) <= 1e-9
    assert all(type(p["label"]) is int and type(p["score"]) is float for p in predictions)


# --- loading ----------------------------------------------------------------------------------


def test_trusted_type_list_is_exactly_what_a_trained_model_contains(
    sentiment_inference: ModuleType, sagemaker_job: dict[str, Path]
) -> None:
    path = sagemaker_job["model"] / "model.skops"
    # Nothing missing (the model loads) and nothing superfluous (no over-trusting).
    assert _schema_types(path) == set(sentiment_inference.TRUSTED_TYPES)
    assert set(sio.get_untrusted_types(file=path)) <= set(sentiment_inference.TRUSTED_TYPES)


def test_model_fn_returns_a_model_with_the_fast_path_enabled(loaded_model: Any) -> None:
    assert isinstance(loaded_model.pipeline, Pipeline)
    assert loaded_model.scorer is not None
    assert loaded_model.meta["recipe"] == "sentiment"


def test_model_fn_refuses_a_function_smuggled_into_the_pipeline(
    tmp_path: Path, sentiment_inference: ModuleType, sagemaker_job: dict[str, Path]
) -> None:
    # The classic attack: a "model" that calls os.system when used.
    evil = Pipeline([("f", FunctionTransformer(func=os.system))])
    model_dir = _model_dir_with(tmp_path, evil, sagemaker_job)
    with pytest.raises(sentiment_inference.ModelLoadError, match=r"untrusted types .*\.system"):
        sentiment_inference.model_fn(str(model_dir))
    # The explicit trusted list alone also stops it at the skops layer.
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException, match="system"):
        sio.load(model_dir / "model.skops", trusted=list(sentiment_inference.TRUSTED_TYPES))


def test_model_fn_refuses_sklearn_types_outside_the_recipe_even_if_skops_trusts_them(
    tmp_path: Path,
    sentiment_inference: ModuleType,
    sagemaker_job: dict[str, Path],
    v1_data: tuple[list[str], list[int]],
) -> None:
    other = Pipeline([("tfidf", TfidfVectorizer()), ("clf", MultinomialNB())]).fit(*v1_data)
    model_dir = _model_dir_with(tmp_path, other, sagemaker_job)
    assert sio.get_untrusted_types(file=model_dir / "model.skops") == []  # skops alone would load it
    with pytest.raises(sentiment_inference.ModelLoadError, match=r"sklearn\.naive_bayes\.MultinomialNB"):
        sentiment_inference.model_fn(str(model_dir))


def test_model_fn_refuses_a_vectorizer_that_would_read_server_files(
    tmp_path: Path,
    sentiment_inference: ModuleType,
    sagemaker_job: dict[str, Path],
    loaded_model: Any,
) -> None:
    # Only allowlisted types, but input="filename" would open paths sent in requests.
    tampered = sio.loads(sio.dumps(loaded_model.pipeline), trusted=list(sentiment_inference.TRUSTED_TYPES))
    tampered.steps[0][1].input = "filename"
    model_dir = _model_dir_with(tmp_path, tampered, sagemaker_job)
    with pytest.raises(sentiment_inference.ModelLoadError, match="input='content'"):
        sentiment_inference.model_fn(str(model_dir))


def test_model_fn_refuses_a_model_from_another_sklearn_minor_version(
    tmp_path: Path, sentiment_inference: ModuleType, sagemaker_job: dict[str, Path]
) -> None:
    model_dir = shutil.copytree(sagemaker_job["model"], tmp_path / "model")
    meta = json.loads((model_dir / "model_meta.json").read_text())
    meta["sklearn_version"] = "1.4.2"
    (model_dir / "model_meta.json").write_text(json.dumps(meta))
    refused = r"trained with scikit-learn 1\.4\.2 but this"
    with pytest.raises(sentiment_inference.ModelLoadError, match=refused):
        sentiment_inference.model_fn(str(model_dir))


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "model.skops not found"),
        (lambda d: (d / "model.skops").write_bytes(b"not a zip"), "not a readable skops file"),
    ],
    ids=["missing", "corrupt"],
)
def test_model_fn_explains_missing_or_corrupt_files(
    tmp_path: Path, sentiment_inference: ModuleType, setup: Any, message: str
) -> None:
    setup(tmp_path)
    with pytest.raises(sentiment_inference.ModelLoadError, match=message):
        sentiment_inference.model_fn(str(tmp_path))


# --- fast path --------------------------------------------------------------------------------


def test_fast_scorer_is_identical_to_the_pipeline_on_the_whole_test_set(
    loaded_model: Any, test_texts: list[str]
) -> None:
    predictions = [loaded_model.scorer.predict_one(text) for text in test_texts]
    _assert_same_as_pipeline(
        loaded_model.pipeline,
        test_texts,
        [{"label": label, "score": score} for label, score in predictions],
    )


def test_predict_fn_small_batches_use_the_fast_path_and_large_ones_the_pipeline(
    monkeypatch: pytest.MonkeyPatch, sentiment_inference: ModuleType, loaded_model: Any, test_texts: list[str]
) -> None:
    limit = sentiment_inference.FAST_PATH_MAX_BATCH
    small, large = test_texts[:limit], test_texts[: limit + 1]
    predict_fn, pipeline = sentiment_inference.predict_fn, loaded_model.pipeline
    _assert_same_as_pipeline(pipeline, small, predict_fn(small, loaded_model))
    _assert_same_as_pipeline(pipeline, large, predict_fn(large, loaded_model))

    def forbidden(_: str) -> Any:
        raise AssertionError("fast path used for a large batch")

    monkeypatch.setattr(loaded_model.scorer, "predict_one", forbidden)
    sentiment_inference.predict_fn(large, loaded_model)
    with pytest.raises(AssertionError, match="fast path used"):
        sentiment_inference.predict_fn(small, loaded_model)


@pytest.mark.parametrize(
    "settings",
    [
        {"binary": True},
        {"norm": "l1"},
        {"norm": None},
        {"use_idf": False},
        {"sublinear_tf": False},
        {"ngram_range": (1, 3), "strip_accents": "unicode"},
        {"stop_words": "english", "lowercase": False},
    ],
    ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()),
)
def test_fast_scorer_reproduces_other_vectorizer_settings(
    sentiment_inference: ModuleType,
    v1_data: tuple[list[str], list[int]],
    test_texts: list[str],
    settings: dict[str, Any],
) -> None:
    pipeline = Pipeline(
        [("tfidf", TfidfVectorizer(**settings)), ("clf", LogisticRegression(solver="lbfgs", C=10.0))]
    ).fit(*v1_data)
    model = sentiment_inference.SentimentModel(pipeline)
    assert model.scorer is not None
    texts = [*test_texts[:100], "ÉLAN Été naïve café", "", "the and of"]
    _assert_same_as_pipeline(pipeline, texts, [model.predict([text])[0] for text in texts])


def test_unsupported_vectorizer_settings_fall_back_to_the_pipeline(
    sentiment_inference: ModuleType, v1_data: tuple[list[str], list[int]], test_texts: list[str]
) -> None:
    steps = [("tfidf", TfidfVectorizer(dtype=np.float32)), ("clf", LogisticRegression())]
    pipeline = Pipeline(steps).fit(*v1_data)
    model = sentiment_inference.SentimentModel(pipeline)
    assert model.scorer is None
    _assert_same_as_pipeline(pipeline, test_texts[:5], model.predict(test_texts[:5]))


def test_a_scorer_that_disagrees_with_the_pipeline_is_never_enabled(
    monkeypatch: pytest.MonkeyPatch, sentiment_inference: ModuleType, loaded_model: Any
) -> None:
    monkeypatch.setattr(sentiment_inference.FastLinearScorer, "decision", lambda self, text: 0.123)
    model = sentiment_inference.SentimentModel(loaded_model.pipeline)
    assert model.scorer is None


# --- input_fn / output_fn ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ('{"instances": ["good", "bad"]}', "application/json", ["good", "bad"]),
        ('{"instances": [{"review_text": "good"}, "bad"]}', "application/json", ["good", "bad"]),
        (b'{"instances": ["caf\xc3\xa9"]}', "application/json; charset=utf-8", ["café"]),
        (b'\xef\xbb\xbf{"instances": ["bom"]}', "Application/JSON", ["bom"]),
        ("great kettle\r\nawful, noisy kettle\n\n", "text/csv", ["great kettle", "awful, noisy kettle"]),
        (
            'review_text\n"a ""quoted"", comma review"\nplain',
            "text/csv",
            ['a "quoted", comma review', "plain"],
        ),
    ],
    ids=["json-strings", "json-objects", "bytes-charset", "bom", "csv-lines", "csv-header-quoted"],
)
def test_input_fn_accepts_json_and_csv(
    sentiment_inference: ModuleType, body: str | bytes, content_type: str, expected: list[str]
) -> None:
    assert sentiment_inference.input_fn(body, content_type) == expected


@pytest.mark.parametrize(
    ("body", "content_type", "message", "status"),
    [
        ('{"instances": ["x"]}', "text/plain", "unsupported content type 'text/plain'", 415),
        ("{'instances': []}", "application/json", "invalid JSON", 400),
        ('["good"]', "application/json", 'JSON body must be an object like {"instances"', 400),
        ('{"inputs": ["good"]}', "application/json", 'JSON body must be an object like {"instances"', 400),
        ('{"instances": "good"}', "application/json", '"instances" must be a list, got str', 400),
        ('{"instances": []}', "application/json", "no instances", 400),
        (
            json.dumps({"instances": ["ok"] * 1001}),
            "application/json",
            "too many instances: 1001 (max 1000",
            413,
        ),
        ('{"instances": ["ok", 42]}', "application/json", "instances[1]: expected a string, got int", 400),
        (
            '{"instances": [{"text": "x"}]}',
            "application/json",
            'instances[0]: object has no "review_text"',
            400,
        ),
        (
            '{"instances": [{"review_text": null}]}',
            "application/json",
            "instances[0].review_text: expected a string, got NoneType",
            400,
        ),
        ('{"instances": ["  "]}', "application/json", "instances[0]: review text is empty", 400),
        (json.dumps({"instances": ["x" * 20_001]}), "application/json", "20001 characters (max 20000)", 400),
        (b'{"instances": ["\xff"]}', "application/json", "request body is not valid UTF-8", 400),
        ("\n\n", "text/csv", "no instances", 400),
        ("review_text,sentiment\ngood,1", "text/csv", "one review per line", 400),
        ('"a","b"', "text/csv", "line 1: expected a single quoted review, got 2 fields", 400),
    ],
)
def test_input_fn_rejects_bad_requests_with_a_clear_input_error(
    sentiment_inference: ModuleType, body: str | bytes, content_type: str, message: str, status: int
) -> None:
    with pytest.raises(sentiment_inference.InputError) as excinfo:
        sentiment_inference.input_fn(body, content_type)
    assert message in str(excinfo.value)
    assert excinfo.value.status_code == status
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("just a string", "expects a list of review texts, got str"),
        ([b"bytes"], "instances[0]: expected a string"),
    ],
)
def test_predict_fn_rejects_data_that_did_not_come_from_input_fn(
    sentiment_inference: ModuleType, loaded_model: Any, data: Any, message: str
) -> None:
    with pytest.raises(sentiment_inference.InputError, match=re.escape(message)):
        sentiment_inference.predict_fn(data, loaded_model)


@pytest.mark.parametrize("accept", ["application/json", "application/json; charset=utf-8", "*/*", None])
def test_output_fn_returns_the_predictions_json(sentiment_inference: ModuleType, accept: str | None) -> None:
    prediction = [{"label": 1, "sentiment": "positive", "score": 0.97}]
    body, content_type = sentiment_inference.output_fn(prediction, accept)
    assert content_type == "application/json"
    assert json.loads(body) == {"predictions": prediction}


def test_output_fn_rejects_unsupported_accept_types(sentiment_inference: ModuleType) -> None:
    with pytest.raises(sentiment_inference.InputError, match="unsupported accept type 'text/csv'") as excinfo:
        sentiment_inference.output_fn([], "text/csv")
    assert excinfo.value.status_code == 406


def test_handler_chain_scores_obvious_reviews(sentiment_inference: ModuleType, loaded_model: Any) -> None:
    request = json.dumps(
        {
            "instances": [
                "Excellent blender, it works perfectly. Highly recommended.",
                {"review_text": "Terrible kettle, it stopped working after a week. Waste of money."},
            ]
        }
    )
    data = sentiment_inference.input_fn(request, "application/json")
    prediction = sentiment_inference.predict_fn(data, loaded_model)
    body, _ = sentiment_inference.output_fn(prediction, "application/json")
    positive, negative = json.loads(body)["predictions"]
    assert (positive["label"], positive["sentiment"]) == (1, "positive")
    assert (negative["label"], negative["sentiment"]) == (0, "negative")
    assert positive["score"] > 0.5 > negative["score"]
