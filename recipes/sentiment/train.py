"""Training entry point of the ``sentiment`` recipe (SageMaker script mode; also ``python train.py --train CSV``).

The model: word 1–2-gram TF-IDF (lowercase, sublinear tf) + logistic regression, fitted with scikit-learn and
saved pickle-free as plain arrays (``model.npz`` + ``model.json``, read back by ``inference.py`` without
scikit-learn). Everything else of the training-job contract — data per ``recipe.json``, the stable hold-out, the
paired comparison with the champion, evaluation/golden/baseline files, the failure file — is the kit's
(``challenger_kit.main``; see recipes/kit/README.md).
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import challenger_kit
import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.pipeline import Pipeline

HERE = Path(__file__).resolve().parent

TEXT_FIELD = "review_text"
TARGET = "sentiment"
LABEL_NAMES = {0: "negative", 1: "positive"}
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # noqa: S105  # a regex, not a secret
MODEL_FILE = "model.npz"
META_FILE = "model.json"
FORMAT = "challenger.tfidf-logistic"
FORMAT_VERSION = 1


def _check(hyperparameters: Mapping[str, Any]) -> None:
    problems = [
        f"{name} must be >= 1, got {hyperparameters[name]}"
        for name in ("max_features", "min_df", "max_iter")
        if hyperparameters[name] < 1
    ]
    if hyperparameters["ngram_max"] not in (1, 2):
        problems.append(f"ngram_max must be 1 or 2, got {hyperparameters['ngram_max']}")
    if hyperparameters["C"] <= 0:
        problems.append(f"C must be > 0, got {hyperparameters['C']}")
    if hyperparameters["solver"] not in ("liblinear", "lbfgs"):
        problems.append(f"solver must be liblinear or lbfgs, got {hyperparameters['solver']!r}")
    if problems:
        raise challenger_kit.RecipeError("invalid hyperparameters: " + "; ".join(problems))


def fit(rows: Sequence[Mapping[str, Any]], hyperparameters: Mapping[str, Any]) -> Pipeline:
    """Fit the TF-IDF + logistic regression pipeline on the training rows."""
    _check(hyperparameters)
    pipeline = Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    lowercase=True,
                    analyzer="word",
                    token_pattern=TOKEN_PATTERN,
                    ngram_range=(1, int(hyperparameters["ngram_max"])),
                    sublinear_tf=True,
                    min_df=int(hyperparameters["min_df"]),
                    max_features=int(hyperparameters["max_features"]),
                    dtype=np.float64,
                ),
            ),
            (
                "clf",
                # random_state matters for liblinear (it shuffles); lbfgs is deterministic anyway.
                LogisticRegression(
                    C=float(hyperparameters["C"]),
                    solver=str(hyperparameters["solver"]),
                    max_iter=int(hyperparameters["max_iter"]),
                    random_state=int(hyperparameters["seed"]),
                ),
            ),
        ]
    )
    pipeline.fit([row[TEXT_FIELD] for row in rows], np.asarray([row[TARGET] for row in rows], dtype=np.int64))
    # CVE-2024-5206: stop_words_ keeps every pruned training n-gram. It is never written (only the arrays below
    # are), and it is dropped here too so nothing downstream can leak it. (Gone from newer scikit-learn.)
    if hasattr(pipeline.named_steps["tfidf"], "stop_words_"):
        del pipeline.named_steps["tfidf"].stop_words_
    return pipeline


def export_arrays(pipeline: Pipeline) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The fitted pipeline as plain arrays + settings (what ``save`` writes and ``inference.py`` reads)."""
    vectorizer: TfidfVectorizer = pipeline.named_steps["tfidf"]
    classifier: LogisticRegression = pipeline.named_steps["clf"]
    if not vectorizer.use_idf:
        raise challenger_kit.RecipeError("the sentiment model format needs use_idf=True")
    if [int(c) for c in classifier.classes_] != [0, 1]:
        raise challenger_kit.RecipeError(f"expected classes [0, 1], got {list(classifier.classes_)}")
    terms = [""] * len(vectorizer.vocabulary_)
    for term, index in vectorizer.vocabulary_.items():
        terms[int(index)] = term
    parts = [term.split(" ") for term in terms]
    tokens = sorted({token for split in parts for token in split})
    token_id = {token: i for i, token in enumerate(tokens)}
    features = np.array([[token_id[p[0]], token_id[p[1]] if len(p) == 2 else -1] for p in parts], dtype=np.int32)
    arrays = {
        "tokens": np.frombuffer("\n".join(tokens).encode("utf-8"), dtype=np.uint8),
        "features": features,
        "idf": np.ascontiguousarray(vectorizer.idf_, dtype=np.float64),
        "coef": np.ascontiguousarray(classifier.coef_[0], dtype=np.float64),
        "intercept": np.ascontiguousarray(classifier.intercept_, dtype=np.float64),
    }
    settings = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "vectorizer": {
            "lowercase": bool(vectorizer.lowercase),
            "token_pattern": vectorizer.token_pattern,
            "ngram_range": [int(n) for n in vectorizer.ngram_range],
            "sublinear_tf": bool(vectorizer.sublinear_tf),
            "binary": bool(vectorizer.binary),
            "norm": vectorizer.norm,
            "use_idf": bool(vectorizer.use_idf),
            "smooth_idf": bool(vectorizer.smooth_idf),
        },
        "classes": [0, 1],
        "n_features": len(terms),
        "n_tokens": len(tokens),
        "versions": {"sklearn": sklearn.__version__, "numpy": np.__version__, "python": platform.python_version()},
    }
    return arrays, settings


def save(pipeline: Pipeline, model_dir: Path) -> None:
    """Write ``model.npz`` (arrays only, no pickle) and ``model.json`` (settings, shapes, versions, npz sha256)."""
    arrays, settings = export_arrays(pipeline)
    npz_path = model_dir / MODEL_FILE
    # np.savez stamps each member with the current time; a fixed stamp makes the same model the same bytes.
    with zipfile.ZipFile(npz_path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(member, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, array, allow_pickle=False)
    settings["npz_sha256"] = hashlib.sha256(npz_path.read_bytes()).hexdigest()
    settings["arrays"] = {name: {"dtype": str(a.dtype), "shape": list(a.shape)} for name, a in arrays.items()}
    (model_dir / META_FILE).write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def predict(pipeline: Pipeline, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """scikit-learn's own predictions for the rows (the reference the served model must reproduce)."""
    texts = [row[TEXT_FIELD] for row in rows]
    labels = pipeline.predict(texts).tolist()
    scores = pipeline.predict_proba(texts)[:, 1].tolist()
    return [
        {"label": int(label), "label_name": LABEL_NAMES[int(label)], "score": float(score)}
        for label, score in zip(labels, scores, strict=True)
    ]


def metrics(y_true: Sequence[int], predictions: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """scikit-learn's metrics on the hold-out (positive class = 1)."""
    y_pred = [p["label"] for p in predictions]
    scores = [p["score"] for p in predictions]
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
        "roc_auc": float(roc_auc_score(y_true, scores)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the training job (``argv`` defaults to the script's arguments); returns the exit code."""
    return challenger_kit.main(fit=fit, save=save, predict=predict, metrics=metrics, recipe_dir=HERE, argv=argv)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(main())
