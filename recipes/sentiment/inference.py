"""Serving code of the ``sentiment`` recipe: ``model_fn`` → ``input_fn`` → ``predict_fn`` → ``output_fn``.

The model is plain arrays — no pickle, no skops, no scikit-learn at serving time: ``model.npz`` (loaded with
``allow_pickle=False``) holds the TF-IDF vocabulary as token ids, ``idf``, the logistic regression's ``coef`` and
``intercept``; ``model.json`` holds the vectorizer settings, shapes and the npz's sha256. Both are validated before
anything is served. Scoring reimplements exactly what scikit-learn's fitted ``TfidfVectorizer`` +
``LogisticRegression`` compute (the tests hold the two to the same labels and scores):

* one record (and tiny batches): pure Python, because numpy's per-call overhead dominates at that size;
* larger batches: one tokenization pass per record, then the counting, TF-IDF weighting, normalisation and the
  dot product vectorised over the whole batch with numpy.

Requests and responses follow ``recipe.json`` through the kit (``challenger_kit.parse_request``).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import challenger_kit
import numpy as np

HERE = Path(__file__).resolve().parent
challenger_kit.add_vendored_lib(HERE)

MODEL_FILE = "model.npz"
META_FILE = "model.json"
FORMAT = "challenger.tfidf-logistic"
FORMAT_VERSION = 1
# The only analyzer this serving code reproduces: scikit-learn's default word tokenization.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # noqa: S105  # a regex, not a secret
# The same tokens, found ~40% faster: both match exactly the maximal runs of two or more word characters (findall
# scans left to right, so `\w{2,}` always starts at a run's first character and, being greedy, ends at its last;
# scikit-learn's `\b...\b` only admits those runs). Tests compare the two on every text they score.
FAST_TOKEN_PATTERN = r"\w{2,}"  # noqa: S105
ARRAYS = {"tokens": "uint8", "features": "int32", "idf": "float64", "coef": "float64", "intercept": "float64"}
# Below this batch size the per-record Python scorer beats numpy's fixed per-call costs (bench/).
VECTOR_MIN_BATCH = 8

RECIPE = challenger_kit.load_recipe(HERE)
TEXT_FIELD = RECIPE.feature_names[0]
LABEL_NAMES: dict[int, str] = {int(k): v for k, v in RECIPE.labels.items()}


class ModelLoadError(RuntimeError):
    """model.npz / model.json are missing, inconsistent or not what this recipe's train.py writes."""


class SentimentModel:
    """A fitted TF-IDF + binary logistic regression as plain arrays, scoring like scikit-learn does."""

    def __init__(self, meta: dict[str, Any], arrays: dict[str, np.ndarray], token_ids: dict[str, int]) -> None:
        vectorizer = meta["vectorizer"]
        self.meta = meta
        self.sublinear = bool(vectorizer["sublinear_tf"])
        self.binary = bool(vectorizer["binary"])
        self.norm: str | None = vectorizer["norm"]
        low, high = vectorizer["ngram_range"]
        self.unigrams, self.bigrams = low == 1, high == 2
        self._findall = re.compile(FAST_TOKEN_PATTERN).findall  # validate() admits TOKEN_PATTERN only
        features = arrays["features"].astype(np.int64)
        n_tokens, n_features = len(token_ids), len(features)
        self.n_tokens, self.n_features = n_tokens, n_features
        self.token_ids = token_ids
        first, second = features[:, 0], features[:, 1]
        is_unigram = second < 0
        # Token id → feature index (or -1); the extra last slot serves unknown tokens (id -1).
        unigram = np.full(n_tokens + 1, -1, dtype=np.int64)
        unigram[first[is_unigram]] = np.flatnonzero(is_unigram)
        self.unigram_of = unigram
        self.unigram_list: list[int] = unigram.tolist()
        keys = first[~is_unigram] * n_tokens + second[~is_unigram]
        order = np.argsort(keys)
        self.bigram_keys = keys[order]
        self.bigram_features = np.flatnonzero(~is_unigram)[order]
        self.idf, self.coef = arrays["idf"], arrays["coef"]
        # Rows of (idf, coef): one fancy index fetches both for a record's features.
        self.idf_coef = np.column_stack((self.idf, self.coef))
        self.intercept = float(arrays["intercept"][0])

    def _bigram_features(self, keys: list[int]) -> list[int]:
        # One vectorised search per record instead of a Python dict of every bigram: building that dict was most
        # of model_fn's time for large vocabularies.
        wanted = np.array(keys, dtype=np.int64)
        position = np.minimum(np.searchsorted(self.bigram_keys, wanted), self.bigram_keys.size - 1)
        found: list[int] = self.bigram_features[position[self.bigram_keys[position] == wanted]].tolist()
        return found

    # -- one record: Python, with one numpy lookup for bigrams ------------------------------------------------------

    def decision(self, text: str) -> float:
        """The logistic regression's decision function (log-odds of positive) for one text."""
        get = self.token_ids.get
        ids = [get(token, -1) for token in self._findall(text.lower())]
        counts: dict[int, int] = {}
        if self.unigrams:
            unigram = self.unigram_list
            for token in ids:
                feature = unigram[token]
                if feature >= 0:
                    counts[feature] = counts.get(feature, 0) + 1
        if self.bigrams and self.bigram_keys.size:
            width = self.n_tokens
            keys = [a * width + b for a, b in itertools.pairwise(ids) if a >= 0 and b >= 0]
            if keys:
                for feature in self._bigram_features(keys):
                    counts[feature] = counts.get(feature, 0) + 1
        if not counts:
            return self.intercept
        # scikit-learn's CSR rows are index-sorted; the same order gives the same floating-point sums.
        indices = sorted(counts)
        weights: list[list[float]] = self.idf_coef[indices].tolist()
        values = []
        for index, (idf, _) in zip(indices, weights, strict=True):
            tf = 1.0 if self.binary else float(counts[index])
            if self.sublinear:
                tf = math.log(tf) + 1.0
            values.append(tf * idf)
        if self.norm is not None:
            total = 0.0
            # A plain loop, not sum(): Python 3.12+ sum() of floats is compensated and rounds differently.
            for value in values:
                total += value * value if self.norm == "l2" else abs(value)
            norm = math.sqrt(total) if self.norm == "l2" else total
            if norm > 0.0:
                values = [value / norm for value in values]
        z = 0.0
        for value, (_, coef) in zip(values, weights, strict=True):
            z += value * coef
        return z + self.intercept

    # -- a batch: numpy ------------------------------------------------------------------------------------------

    def decisions(self, texts: Sequence[str]) -> np.ndarray:
        """Decision function for a batch, vectorised over all its tokens at once."""
        findall, get = self._findall, self.token_ids.get
        tokenized = [findall(text.lower()) for text in texts]
        lengths = np.fromiter(map(len, tokenized), dtype=np.int64, count=len(tokenized))
        # A list comprehension, not a generator into np.fromiter: ~15% faster at this size.
        ids = np.array([get(t, -1) for tokens in tokenized for t in tokens], dtype=np.int64)
        doc = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        parts_doc, parts_feature = [], []
        if self.unigrams:
            feature = self.unigram_of[ids]
            hit = feature >= 0
            parts_doc.append(doc[hit])
            parts_feature.append(feature[hit])
        if self.bigrams and ids.size > 1 and self.bigram_keys.size:
            a, b = ids[:-1], ids[1:]
            valid = (doc[:-1] == doc[1:]) & (a >= 0) & (b >= 0)
            keys = a * self.n_tokens + b
            position = np.minimum(np.searchsorted(self.bigram_keys, keys), self.bigram_keys.size - 1)
            hit = valid & (self.bigram_keys[position] == keys)
            parts_doc.append(doc[:-1][hit])
            parts_feature.append(self.bigram_features[position[hit]])
        z = np.full(len(texts), self.intercept)
        if not parts_doc:
            return z
        # Sorting by (document, feature) reproduces the CSR layout, hence scikit-learn's summation order.
        cells, counts = np.unique(
            np.concatenate(parts_doc) * self.n_features + np.concatenate(parts_feature), return_counts=True
        )
        if cells.size == 0:
            return z
        rows, features = cells // self.n_features, cells % self.n_features
        tf = np.ones(cells.size) if self.binary else counts.astype(np.float64)
        if self.sublinear:
            np.log(tf, out=tf)
            tf += 1.0
        values = tf * self.idf[features]
        if self.norm is not None:
            weights = values * values if self.norm == "l2" else np.abs(values)
            norms = np.bincount(rows, weights=weights, minlength=len(texts))
            if self.norm == "l2":
                norms = np.sqrt(norms)
            norms[norms == 0.0] = 1.0
            values = values / norms[rows]
        return np.bincount(rows, weights=values * self.coef[features], minlength=len(texts)) + self.intercept

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """``{"label", "label_name", "score"}`` per text; score = probability of the positive class."""
        if len(texts) < VECTOR_MIN_BATCH:
            decisions = [self.decision(text) for text in texts]
        else:
            decisions = self.decisions(texts).tolist()
        predictions = []
        for z in decisions:
            try:
                # scipy's expit, the formula predict_proba uses; it is 0.0 where exp overflows.
                score = 1.0 / (1.0 + math.exp(-z))
            except OverflowError:
                score = 0.0
            label = 1 if z > 0 else 0  # LogisticRegression.predict: positive iff the decision is > 0
            predictions.append({"label": label, "label_name": LABEL_NAMES[label], "score": score})
        return predictions


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise ModelLoadError(message)


def check_header(meta: Any, npz_sha256: str) -> None:
    """Before any byte of model.npz is parsed: model.json is ours and names exactly this npz."""
    _expect(isinstance(meta, dict), f"{META_FILE} must be a JSON object")
    _expect(
        meta.get("format") == FORMAT and meta.get("format_version") == FORMAT_VERSION,
        f"{META_FILE}: expected format {FORMAT!r} version {FORMAT_VERSION}, got "
        f"{meta.get('format')!r} version {meta.get('format_version')!r}",
    )
    _expect(meta.get("npz_sha256") == npz_sha256, f"{MODEL_FILE} does not match the sha256 recorded in {META_FILE}")


def validate(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, int]:
    """Refuse anything but a consistent model written by this recipe's train.py; returns token → id."""
    vectorizer = meta.get("vectorizer")
    _expect(isinstance(vectorizer, dict), f"{META_FILE}: no vectorizer settings")
    _expect(
        vectorizer.get("token_pattern") == TOKEN_PATTERN and vectorizer.get("lowercase") is True,
        f"{META_FILE}: only lowercase word analysis with token_pattern {TOKEN_PATTERN!r} is supported",
    )
    _expect(vectorizer.get("ngram_range") in ([1, 1], [1, 2], [2, 2]), f"{META_FILE}: unsupported ngram_range")
    _expect(vectorizer.get("norm") in ("l1", "l2", None), f"{META_FILE}: unsupported norm")
    _expect(
        isinstance(vectorizer.get("sublinear_tf"), bool) and isinstance(vectorizer.get("binary"), bool),
        f"{META_FILE}: sublinear_tf and binary must be booleans",
    )
    _expect(meta.get("classes") == [0, 1], f"{META_FILE}: expected classes [0, 1], got {meta.get('classes')!r}")
    _expect(sorted(arrays) == sorted(ARRAYS), f"{MODEL_FILE}: expected arrays {sorted(ARRAYS)}, got {sorted(arrays)}")
    n_features, n_tokens = meta.get("n_features"), meta.get("n_tokens")
    _expect(
        isinstance(n_features, int) and n_features > 0 and isinstance(n_tokens, int) and n_tokens > 0,
        f"{META_FILE}: n_features and n_tokens must be positive integers",
    )
    shapes = {"features": (n_features, 2), "idf": (n_features,), "coef": (n_features,), "intercept": (1,)}
    for name, dtype in ARRAYS.items():
        array = arrays[name]
        _expect(array.dtype == np.dtype(dtype), f"{MODEL_FILE}: {name} has dtype {array.dtype}, expected {dtype}")
        if name in shapes:
            _expect(
                array.shape == shapes[name], f"{MODEL_FILE}: {name} has shape {array.shape}, expected {shapes[name]}"
            )
    _expect(arrays["tokens"].ndim == 1, f"{MODEL_FILE}: tokens must be a 1-d byte array")
    for name in ("idf", "coef", "intercept"):
        _expect(bool(np.isfinite(arrays[name]).all()), f"{MODEL_FILE}: {name} has non-finite values")
    _expect(bool((arrays["idf"] > 0).all()), f"{MODEL_FILE}: idf must be positive")
    try:
        tokens = arrays["tokens"].tobytes().decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise ModelLoadError(f"{MODEL_FILE}: tokens are not UTF-8") from None
    token_ids = dict(zip(tokens, range(len(tokens)), strict=True))
    _expect(
        len(tokens) == n_tokens and len(token_ids) == n_tokens and "" not in token_ids,
        f"{MODEL_FILE}: expected {n_tokens} distinct non-empty tokens",
    )
    features = arrays["features"]
    first, second = features[:, 0], features[:, 1]
    _expect(
        bool(((first >= 0) & (first < n_tokens) & (second >= -1) & (second < n_tokens)).all()),
        f"{MODEL_FILE}: features reference tokens out of range",
    )
    keys = np.sort(first.astype(np.int64) * (n_tokens + 1) + (second.astype(np.int64) + 1))
    _expect(bool((keys[1:] != keys[:-1]).all()), f"{MODEL_FILE}: duplicate features")
    low, high = vectorizer["ngram_range"]
    _expect(
        (low == 1 or bool((second >= 0).all())) and (high == 2 or bool((second < 0).all())),
        f"{MODEL_FILE}: features do not match ngram_range {vectorizer['ngram_range']}",
    )
    return token_ids


def load_model(model_dir: str | Path) -> SentimentModel:
    """Read, validate and index ``model.npz`` + ``model.json``."""
    model_dir = Path(model_dir)
    npz_path, meta_path = model_dir / MODEL_FILE, model_dir / META_FILE
    try:
        raw = npz_path.read_bytes()
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read the model in {model_dir}: {exc}") from None
    check_header(meta, hashlib.sha256(raw).hexdigest())
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(f"{MODEL_FILE} is not a readable pickle-free npz: {exc}") from None
    token_ids = validate(meta, arrays)
    return SentimentModel(meta, arrays, token_ids)


def model_fn(model_dir: str) -> SentimentModel:
    """Load the model from the extracted model.tar.gz directory (SageMaker calls this once per worker)."""
    return load_model(model_dir)


def input_fn(request_body: str | bytes, content_type: str) -> list[dict[str, Any]]:
    """Request records per recipe.json: ``{"instances": ["text", {"review_text": "text"}, ...]}`` or text/csv."""
    return challenger_kit.parse_request(request_body, content_type, RECIPE)


def predict_fn(input_data: Sequence[Any], model: SentimentModel) -> list[dict[str, Any]]:
    """Predictions for the records from ``input_fn`` (bare strings are accepted too), in order."""
    if not isinstance(input_data, list):
        raise challenger_kit.RequestError(f"predict_fn expects a list of records, got {type(input_data).__name__}")
    texts = []
    for i, record in enumerate(input_data):
        text = record.get(TEXT_FIELD) if isinstance(record, dict) else record
        if type(text) is not str:
            raise challenger_kit.RequestError(
                f"instances[{i}]: expected a {TEXT_FIELD} string, got {type(text).__name__}"
            )
        texts.append(text)
    return model.predict(texts)


def output_fn(prediction: Sequence[dict[str, Any]], accept: str | None) -> tuple[str, str]:
    """``({"predictions": [...]}, "application/json")``."""
    return challenger_kit.render_response(prediction, accept)
