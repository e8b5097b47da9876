"""SageMaker inference handlers for the ``sentiment`` recipe (scikit-learn framework container).

``model_fn`` -> ``input_fn`` -> ``predict_fn`` -> ``output_fn``; see README.md for the wire contract.

Two things make this more than the textbook handler:

* **Pickle-free, allowlisted loading.** ``model.skops`` is loaded with ``skops.io.load`` and an
  explicit :data:`TRUSTED_TYPES` list. skops already refuses unknown types, but it also trusts
  every scikit-learn estimator and numpy/scipy ufunc by default; this recipe only ever produces a
  TF-IDF + logistic regression pipeline, so the file is additionally audited against exactly the
  types and skops node loaders that pipeline needs, and the loaded object is checked structurally.
* **Compiled fast path.** Calling ``pipeline.predict_proba`` for one review costs ~0.5 ms, almost
  all of it sklearn/scipy per-call overhead (input validation, sparse matrix construction). At
  load time :class:`FastLinearScorer` compiles the fitted pipeline into plain Python: the
  vectorizer's own ``build_analyzer()`` (so tokenization is identical by construction), its
  ``vocabulary_``/``idf_`` and tf/normalisation settings, and the classifier's ``coef_`` and
  ``intercept_``. It mirrors sklearn's order of operations, is cross-checked against the pipeline
  before it is enabled, and is only used for small batches, where it is ~20x faster; large
  batches go through the vectorised pipeline, which wins there.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import skops.io as sio
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)

MODEL_FILENAME = "model.skops"
META_FILENAME = "model_meta.json"
LABEL_NAMES = {0: "negative", 1: "positive"}
TEXT_FIELD = "review_text"

MAX_INSTANCES = 1000
# Bounds per-request CPU time; real reviews are far shorter.
MAX_TEXT_CHARS = 20_000
# Above this batch size the vectorised sklearn pipeline beats the per-record Python scorer
# (measured crossover is ~130-200 records, see bench/bench_inference.py); 64 keeps a margin.
FAST_PATH_MAX_BATCH = 64
# Fast-path scores must match pipeline.predict_proba to this absolute tolerance.
SCORE_TOLERANCE = 1e-9

# Every type (module.qualname as skops records it) in a model.skops written by train.py. Passed to
# skops as `trusted` and also used as a strict allowlist for the whole file.
TRUSTED_TYPES: tuple[str, ...] = (
    "builtins.dict",
    "builtins.list",
    "builtins.str",
    "builtins.tuple",
    "numpy.float64",
    "numpy.ndarray",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
)
# The skops node loaders those types are stored with. Notably absent: FunctionNode, MethodNode,
# PartialNode, OperatorFuncNode, ReduceNode (callables / reconstruction hooks).
ALLOWED_SKOPS_LOADERS: frozenset[str] = frozenset(
    {"DictNode", "JsonNode", "ListNode", "NdArrayNode", "ObjectNode", "TupleNode", "TypeNode"}
)

# Fixed texts used to cross-check the compiled scorer against the pipeline at load time.
_CANARY_TEXTS: tuple[str, ...] = (
    "",
    "zzqx unseen words only",
    "Great product, works perfectly. Would buy again!",
    "Terrible. The kettle is NOT good and stopped working after 2 weeks... waste of money",
    "not bad not bad not bad at all, the the the",
    "Ünïcödé accents, émojis 👍 and\ttabs\nnewlines",
)


class InputError(ValueError):
    """The request is malformed; the message says exactly what is wrong (maps to HTTP 4xx)."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


class ModelLoadError(RuntimeError):
    """model.skops is missing, untrusted, of an unexpected shape or from an incompatible sklearn."""


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _schema_types(node: Any) -> Iterator[tuple[str, str]]:
    """Yield (type name, loader) for every node of a skops schema tree."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if "__class__" in current and "__module__" in current:
                yield f"{current['__module__']}.{current['__class__']}", str(current.get("__loader__"))
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def audit_model_file(path: Path) -> None:
    """Refuse a skops file containing any type or loader outside the recipe's allowlist.

    This runs before skops constructs anything, and is stricter than skops' own audit (which
    trusts all sklearn estimators by default).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(f"{path.name} is not a readable skops file: {exc}") from exc
    allowed = set(TRUSTED_TYPES)
    bad_types, bad_loaders = set(), set()
    for type_name, loader in _schema_types(schema):
        if type_name not in allowed:
            bad_types.add(type_name)
        if loader not in ALLOWED_SKOPS_LOADERS:
            bad_loaders.add(f"{loader} ({type_name})")
    if bad_types or bad_loaders:
        raise ModelLoadError(
            f"refusing to load {path.name}: untrusted types {sorted(bad_types)}, "
            f"untrusted skops loaders {sorted(bad_loaders)}; only a TF-IDF + LogisticRegression "
            "pipeline written by recipes/sentiment/train.py is accepted"
        )


def _check_sklearn_version(model_dir: Path) -> dict[str, Any]:
    meta_path = model_dir / META_FILENAME
    if not meta_path.exists():
        logger.warning("%s missing; cannot verify the training scikit-learn version", META_FILENAME)
        return {}
    try:
        meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{META_FILENAME} is unreadable: {exc}") from exc
    trained = str(meta.get("sklearn_version", ""))
    # Fitted estimators are only guaranteed to behave identically on the version that fitted them;
    # a different major.minor can silently change transform/predict semantics, so refuse it.
    if trained.split(".")[:2] != sklearn.__version__.split(".")[:2]:
        raise ModelLoadError(
            f"model was trained with scikit-learn {trained or '?'} but this container has "
            f"{sklearn.__version__}; retrain in (or serve from) a matching framework_version"
        )
    if trained != sklearn.__version__:
        logger.warning("model trained with scikit-learn %s, serving with %s", trained, sklearn.__version__)
    return meta


def _validate_pipeline(obj: Any) -> tuple[TfidfVectorizer, LogisticRegression]:
    if type(obj) is not Pipeline or len(obj.steps) != 2:
        raise ModelLoadError(f"expected a 2-step sklearn Pipeline, got {type(obj).__name__}")
    vectorizer, classifier = obj.steps[0][1], obj.steps[1][1]
    if type(vectorizer) is not TfidfVectorizer or type(classifier) is not LogisticRegression:
        raise ModelLoadError(
            f"expected TfidfVectorizer -> LogisticRegression, got "
            f"{type(vectorizer).__name__} -> {type(classifier).__name__}"
        )
    # input='filename'/'file' would make the model open server-side paths named in requests.
    if vectorizer.input != "content" or not isinstance(vectorizer.analyzer, str):
        raise ModelLoadError("vectorizer must use input='content' and a built-in analyzer")
    if [int(c) for c in classifier.classes_] != [0, 1]:
        raise ModelLoadError(f"expected classes [0, 1], got {list(classifier.classes_)}")
    n_features = len(vectorizer.vocabulary_)
    idf_ok = not vectorizer.use_idf or vectorizer.idf_.shape == (n_features,)
    if classifier.coef_.shape != (1, n_features) or not idf_ok:
        raise ModelLoadError("coef_/idf_ shapes do not match the vocabulary size")
    return vectorizer, classifier


# --------------------------------------------------------------------------------------------
# Fast scorer
# --------------------------------------------------------------------------------------------


def _expit(z: float) -> float:
    # Two-sided form avoids math.exp overflow for very negative z.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class UnsupportedPipelineError(ValueError):
    """The fitted pipeline uses a setting the fast scorer does not reproduce."""


class FastLinearScorer:
    """Pure-Python TF-IDF + binary logistic regression scorer compiled from a fitted pipeline.

    Reproduces ``TfidfVectorizer.transform`` (count -> optional binary -> optional sublinear tf
    -> optional idf -> l1/l2/no norm, over sorted feature indices like sklearn's CSR rows) followed
    by ``decision_function`` and sklearn's ``expit``. Works per record; no numpy on the hot path,
    because numpy's per-call overhead dominates at this size.
    """

    def __init__(self, vectorizer: TfidfVectorizer, classifier: LogisticRegression) -> None:
        if np.dtype(vectorizer.dtype) != np.float64:
            raise UnsupportedPipelineError(f"vectorizer dtype {vectorizer.dtype} (need float64)")
        if vectorizer.norm not in ("l1", "l2", None):
            raise UnsupportedPipelineError(f"norm={vectorizer.norm!r}")
        self._analyzer: Callable[[str], list[str]] = vectorizer.build_analyzer()
        # Python ints/floats: list indexing and float math are several times faster than numpy
        # scalar access, and a Python float is the same IEEE-754 double numpy uses.
        self._vocabulary: dict[str, int] = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
        self._idf: list[float] | None = vectorizer.idf_.tolist() if vectorizer.use_idf else None
        self._binary = bool(vectorizer.binary)
        self._sublinear = bool(vectorizer.sublinear_tf)
        self._norm: str | None = vectorizer.norm
        self._coef: list[float] = classifier.coef_[0].tolist()
        self._intercept = float(classifier.intercept_[0])
        self._classes: tuple[int, int] = (int(classifier.classes_[0]), int(classifier.classes_[1]))

    def decision(self, text: str) -> float:
        """``decision_function`` for one text (log-odds of the positive class)."""
        vocabulary = self._vocabulary
        counts: dict[int, int] = {}
        for term in self._analyzer(text):
            index = vocabulary.get(term)
            if index is not None:
                counts[index] = counts.get(index, 0) + 1
        if not counts:
            return self._intercept
        indices = sorted(counts)  # CSR rows are index-sorted; keeps the summation order identical
        idf, log = self._idf, math.log
        values = []
        for index in indices:
            tf = 1.0 if self._binary else float(counts[index])
            if self._sublinear:
                tf = log(tf) + 1.0
            values.append(tf * idf[index] if idf is not None else tf)
        if self._norm is not None:
            total = 0.0
            # An explicit loop, not sum(): Python 3.12+ sum() of floats is compensated and would
            # round differently from sklearn's plain accumulation.
            for value in values:
                total += value * value if self._norm == "l2" else abs(value)
            norm = math.sqrt(total) if self._norm == "l2" else total
            if norm > 0.0:
                values = [value / norm for value in values]
        coef = self._coef
        z = 0.0
        for index, value in zip(indices, values, strict=True):
            z += value * coef[index]
        return z + self._intercept

    def predict_one(self, text: str) -> tuple[int, float]:
        """(label, probability of the positive class) for one text."""
        z = self.decision(text)
        # Same rule as LogisticRegression.predict: positive iff the decision is > 0.
        return (self._classes[1] if z > 0 else self._classes[0]), _expit(z)


class SentimentModel:
    """What ``model_fn`` returns: the loaded pipeline plus its compiled fast scorer."""

    def __init__(self, pipeline: Pipeline, meta: dict[str, Any] | None = None) -> None:
        self.pipeline = pipeline
        self.meta = meta or {}
        self.vectorizer, self.classifier = _validate_pipeline(pipeline)
        self.scorer: FastLinearScorer | None = None
        try:
            scorer = FastLinearScorer(self.vectorizer, self.classifier)
        except UnsupportedPipelineError as exc:
            logger.warning("fast scorer disabled, using the sklearn pipeline only: %s", exc)
            return
        mismatch = self._self_check(scorer)
        if mismatch:
            # Correctness beats latency: never serve a scorer that disagrees with the pipeline.
            logger.warning("fast scorer disabled, it disagrees with the pipeline: %s", mismatch)
            return
        self.scorer = scorer

    def _self_check(self, scorer: FastLinearScorer) -> str | None:
        vocabulary_sample = " ".join(sorted(self.vectorizer.vocabulary_)[:200])
        texts = [*_CANARY_TEXTS, vocabulary_sample]
        expected_labels, expected_scores = self._predict_pipeline(texts)
        for text, label, score in zip(texts, expected_labels, expected_scores, strict=True):
            fast_label, fast_score = scorer.predict_one(text)
            if fast_label != label or abs(fast_score - score) > SCORE_TOLERANCE:
                return f"{text[:40]!r}: fast ({fast_label}, {fast_score!r}) vs pipeline ({label}, {score!r})"
        return None

    def _predict_pipeline(self, texts: Sequence[str]) -> tuple[list[int], list[float]]:
        features = self.vectorizer.transform(texts)
        # Exactly what pipeline.predict / pipeline.predict_proba compute, sharing one transform.
        decisions = self.classifier.decision_function(features)
        scores = self.classifier.predict_proba(features)[:, 1]
        negative, positive = (int(c) for c in self.classifier.classes_)
        labels = [positive if d > 0 else negative for d in decisions.tolist()]
        return labels, scores.tolist()

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Predictions for a batch: fast scorer for small batches, sklearn for large ones."""
        if self.scorer is not None and len(texts) <= FAST_PATH_MAX_BATCH:
            predict_one = self.scorer.predict_one
            results = [predict_one(text) for text in texts]
        else:
            labels, scores = self._predict_pipeline(texts)
            results = list(zip(labels, scores, strict=True))
        return [{"label": label, "sentiment": LABEL_NAMES[label], "score": score} for label, score in results]


def load_model(model_dir: str | Path) -> SentimentModel:
    """Audit, load, validate and compile ``model_dir/model.skops``."""
    model_dir = Path(model_dir)
    path = model_dir / MODEL_FILENAME
    if not path.is_file():
        raise ModelLoadError(f"{path} not found (expected the output of recipes/sentiment/train.py)")
    meta = _check_sklearn_version(model_dir)
    audit_model_file(path)
    try:
        pipeline = sio.load(path, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # skops raises several types (UntrustedTypesFoundException, ValueError...)
        raise ModelLoadError(f"skops refused or failed to load {path.name}: {exc}") from exc
    model = SentimentModel(pipeline, meta)
    logger.info(
        "loaded %s: %d features, fast path %s",
        path,
        len(model.vectorizer.vocabulary_),
        "enabled" if model.scorer else "DISABLED",
    )
    return model


# --------------------------------------------------------------------------------------------
# SageMaker handler functions
# --------------------------------------------------------------------------------------------


def model_fn(model_dir: str) -> SentimentModel:
    """Load the model from the extracted model.tar.gz directory (SageMaker calls this once)."""
    return load_model(model_dir)


def _media_type(header: str | None) -> str:
    # "application/json; charset=utf-8" -> "application/json"
    return (header or "").split(";", 1)[0].strip().lower()


def _check_text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{where}: expected a string, got {type(value).__name__}")
    if not value.strip():
        raise InputError(f"{where}: review text is empty")
    if len(value) > MAX_TEXT_CHARS:
        raise InputError(f"{where}: review text has {len(value)} characters (max {MAX_TEXT_CHARS})")
    return value


def _check_count(n: int) -> None:
    if n == 0:
        raise InputError("no instances: send at least one review")
    if n > MAX_INSTANCES:
        raise InputError(f"too many instances: {n} (max {MAX_INSTANCES} per request)", status_code=413)


def _parse_json(body: str) -> list[str]:
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc}") from None
    if not isinstance(payload, dict) or "instances" not in payload:
        raise InputError('JSON body must be an object like {"instances": ["review text", ...]}')
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise InputError(f'"instances" must be a list, got {type(instances).__name__}')
    _check_count(len(instances))
    texts = []
    for i, instance in enumerate(instances):
        if isinstance(instance, dict):
            if TEXT_FIELD not in instance:
                raise InputError(f'instances[{i}]: object has no "{TEXT_FIELD}" field')
            texts.append(_check_text(instance[TEXT_FIELD], f"instances[{i}].{TEXT_FIELD}"))
        else:
            texts.append(_check_text(instance, f"instances[{i}]"))
    return texts


def _parse_csv(body: str) -> list[str]:
    lines = [(n, line) for n, line in enumerate(body.splitlines(), start=1) if line.strip()]
    if lines and lines[0][1].strip().strip('"').lower().startswith(TEXT_FIELD):
        if lines[0][1].strip().strip('"').lower() != TEXT_FIELD:
            raise InputError(f"text/csv takes one review per line (optional '{TEXT_FIELD}' header only)")
        lines = lines[1:]
    _check_count(len(lines))
    texts = []
    for n, line in lines:
        text = line
        if line.startswith('"'):
            # A quoted line is one CSV field (lets reviews start/end with spaces or contain quotes).
            fields = next(csv.reader([line]))
            if len(fields) != 1:
                raise InputError(f"line {n}: expected a single quoted review, got {len(fields)} fields")
            text = fields[0]
        texts.append(_check_text(text, f"line {n}"))
    return texts


def input_fn(request_body: str | bytes, content_type: str) -> list[str]:
    """Deserialize a request into a list of review texts.

    ``application/json``: ``{"instances": ["text", {"review_text": "text"}, ...]}``.
    ``text/csv``: one review per line (unquoted, or one double-quoted CSV field); an optional
    ``review_text`` header line is skipped. At most MAX_INSTANCES reviews per request.
    """
    media_type = _media_type(content_type)
    if media_type not in ("application/json", "text/csv"):
        raise InputError(
            f"unsupported content type {content_type!r}; use application/json or text/csv", status_code=415
        )
    if isinstance(request_body, (bytes, bytearray)):
        try:
            # utf-8-sig drops a BOM that some clients (and Excel exports) prepend.
            request_body = bytes(request_body).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"request body is not valid UTF-8: {exc}") from None
    if not isinstance(request_body, str):
        raise InputError(f"request body must be str or bytes, got {type(request_body).__name__}")
    return _parse_json(request_body) if media_type == "application/json" else _parse_csv(request_body)


def predict_fn(input_data: list[str], model: SentimentModel) -> list[dict[str, Any]]:
    """Score the texts returned by ``input_fn``; one dict per text, in order."""
    if not isinstance(input_data, list):
        raise InputError(f"predict_fn expects a list of review texts, got {type(input_data).__name__}")
    _check_count(len(input_data))
    for i, text in enumerate(input_data):
        if type(text) is not str:
            raise InputError(f"instances[{i}]: expected a string, got {type(text).__name__}")
    return model.predict(input_data)


def output_fn(prediction: list[dict[str, Any]], accept: str | None) -> tuple[str, str]:
    """Serialize predictions as ``{"predictions": [...]}`` JSON.

    Returns ``(body, content_type)``: both SageMaker serving stacks (gunicorn and MMS) accept the
    tuple form and use it to set the response Content-Type.
    """
    media_type = _media_type(accept)
    if media_type not in ("", "*/*", "application/*", "application/json"):
        raise InputError(f"unsupported accept type {accept!r}; this model returns application/json", 406)
    return json.dumps({"predictions": prediction}), "application/json"
