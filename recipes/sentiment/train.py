"""SageMaker script-mode training entry point for the ``sentiment`` recipe.

Runs unchanged in the SageMaker scikit-learn framework container and on a laptop.

Contract (see README.md):

* Inputs: every ``*.csv`` in ``SM_CHANNEL_TRAIN`` (and, optionally, ``SM_CHANNEL_TEST``) with the
  header ``review_text,sentiment`` where sentiment is ``1`` (positive) or ``0`` (negative). Without
  a test channel a stratified hold-out split (``--test-size``, ``--seed``) is evaluated instead.
* Hyperparameters arrive as ``--name value`` strings (SageMaker's script-mode convention).
* Outputs: ``SM_MODEL_DIR/model.skops`` (pickle-free), ``SM_MODEL_DIR/model_meta.json`` and
  ``evaluation.json`` in both ``SM_MODEL_DIR`` and ``SM_OUTPUT_DATA_DIR``; the serving code
  (``inference.py`` and ``requirements.txt``) is copied to ``SM_MODEL_DIR/code/`` so that
  model.tar.gz is self-contained: the endpoint runs the code this model was trained with
  (``SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code``), also when an old version is rolled back to.
* Bad input exits non-zero with one clear message, also written to ``SM_OUTPUT_DIR/failure`` so
  that it surfaces as the training job's ``FailureReason``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import math
import os
import platform
import shutil
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import sklearn
import skops
import skops.io as sio
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

RECIPE_NAME = "sentiment"
TEXT_COLUMN = "review_text"
LABEL_COLUMN = "sentiment"
LABEL_NAMES = {0: "negative", 1: "positive"}
MODEL_FILENAME = "model.skops"
META_FILENAME = "model_meta.json"
SERVING_FILES = ("inference.py", "requirements.txt")
EVALUATION_FILENAME = "evaluation.json"
FAILURE_FILENAME = "failure"
# Fewer rows than this cannot yield a meaningful model *and* an evaluation; fail early instead of
# letting train_test_split or roc_auc_score raise something cryptic.
MIN_TRAIN_ROWS = 20
MIN_TEST_ROWS = 10

logger = logging.getLogger(RECIPE_NAME)


class RecipeInputError(ValueError):
    """Bad data or hyperparameters: the job must fail with this message, not a traceback."""


@dataclass(frozen=True)
class Hyperparameters:
    """Model hyperparameters (everything recorded in model_meta.json)."""

    max_features: int = 50_000
    ngram_max: int = 2
    min_df: int = 2
    C: float = 4.0  # sklearn's name for it; users pass --C
    solver: str = "liblinear"
    max_iter: int = 1000
    test_size: float = 0.2
    seed: int = 42


@dataclass
class Dataset:
    """Texts and 0/1 labels plus where they came from."""

    texts: list[str]
    labels: list[int]
    sources: list[dict[str, Any]] = field(default_factory=list)

    def class_counts(self) -> dict[str, int]:
        """Rows per label name, e.g. ``{"negative": 10, "positive": 12}``."""
        return {name: sum(1 for y in self.labels if y == label) for label, name in LABEL_NAMES.items()}


@dataclass(frozen=True)
class Paths:
    """Where to read data from and write artifacts to."""

    train: Path
    test: Path | None
    model_dir: Path
    output_data_dir: Path


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so bad hyperparameters reach the failure file."""

    def error(self, message: str) -> NoReturn:
        raise RecipeInputError(f"invalid hyperparameters: {message}")


def _int_arg(value: str) -> int:
    # SageMaker serialises hyperparameters as strings and JSON-ish tools turn 2 into "2.0";
    # accept integral floats rather than failing the job on a formatting detail.
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
    if not number.is_integer():
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}")
    return int(number)


def _float_arg(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return number


def _optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None


def build_parser() -> argparse.ArgumentParser:
    """CLI for hyperparameters (``--name value``) and the SageMaker path environment variables."""
    defaults = Hyperparameters()
    parser = _ArgumentParser(description="Train the sentiment TF-IDF + logistic regression recipe.")
    hp = parser.add_argument_group("hyperparameters")
    hp.add_argument("--max-features", type=_int_arg, default=defaults.max_features)
    hp.add_argument("--ngram-max", type=_int_arg, default=defaults.ngram_max, help="1 = unigrams only")
    hp.add_argument("--min-df", type=_int_arg, default=defaults.min_df)
    # The training toolkit passes one-letter hyperparameters with a single dash (`-C 2.0`).
    hp.add_argument("-C", "--C", dest="C", type=_float_arg, default=defaults.C, help="inverse regularisation strength")
    hp.add_argument("--solver", choices=("liblinear", "lbfgs"), default=defaults.solver)
    hp.add_argument("--max-iter", type=_int_arg, default=defaults.max_iter)
    hp.add_argument("--test-size", type=_float_arg, default=defaults.test_size)
    hp.add_argument("--seed", type=_int_arg, default=defaults.seed)
    io_group = parser.add_argument_group("paths (default to the SageMaker environment variables)")
    # Outside SageMaker the artifact dirs default to ./model and ./output/data; data is explicit.
    io_group.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"), help="dir or .csv")
    io_group.add_argument("--test", default=os.environ.get("SM_CHANNEL_TEST"), help="dir or .csv")
    io_group.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "model"))
    io_group.add_argument(
        "--output-data-dir", default=os.environ.get("SM_OUTPUT_DATA_DIR", os.path.join("output", "data"))
    )
    return parser


def parse_args(argv: Sequence[str] | None) -> tuple[Hyperparameters, Paths]:
    """Parse and validate CLI arguments into hyperparameters and paths."""
    ns = build_parser().parse_args(argv)
    hp = Hyperparameters(
        max_features=ns.max_features,
        ngram_max=ns.ngram_max,
        min_df=ns.min_df,
        C=ns.C,
        solver=ns.solver,
        max_iter=ns.max_iter,
        test_size=ns.test_size,
        seed=ns.seed,
    )
    problems = []
    for name in ("max_features", "ngram_max", "min_df", "max_iter"):
        if getattr(hp, name) < 1:
            problems.append(f"--{name.replace('_', '-')} must be >= 1, got {getattr(hp, name)}")
    if hp.C <= 0:
        problems.append(f"--C must be > 0, got {hp.C}")
    if not 0 < hp.test_size < 1:
        problems.append(f"--test-size must be between 0 and 1 (exclusive), got {hp.test_size}")
    if problems:
        raise RecipeInputError("invalid hyperparameters: " + "; ".join(problems))
    if not ns.train:
        raise RecipeInputError(
            "no training data: set SM_CHANNEL_TRAIN or pass --train DIR_OR_CSV "
            "(e.g. --train recipes/sentiment/data/train_v2.csv)"
        )
    paths = Paths(
        train=Path(ns.train),
        test=_optional_path(ns.test),
        model_dir=Path(ns.model_dir),
        output_data_dir=Path(ns.output_data_dir),
    )
    return hp, paths


def _csv_files(location: Path, channel: str) -> list[Path]:
    if location.is_file():
        return [location]
    if not location.is_dir():
        raise RecipeInputError(f"{channel} channel: {location} does not exist")
    files = sorted(p for p in location.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    if not files:
        raise RecipeInputError(f"{channel} channel: no *.csv files in {location}")
    return files


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_dataset(location: Path, channel: str = "train") -> Dataset:
    """Read and validate every CSV of a channel (a directory, or a single .csv file).

    Raises RecipeInputError naming the file, line and problem on the first bad row.
    """
    data = Dataset(texts=[], labels=[])
    for path in _csv_files(location, channel):
        rows_before = len(data.texts)
        # utf-8-sig: spreadsheets love to prepend a BOM, which would corrupt the first header name.
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            missing = [c for c in (TEXT_COLUMN, LABEL_COLUMN) if c not in columns]
            if missing:
                raise RecipeInputError(
                    f"{path.name}: missing required column(s) {missing}; found columns {columns} "
                    f"(expected header '{TEXT_COLUMN},{LABEL_COLUMN}')"
                )
            reader.fieldnames = columns
            for row in reader:
                line = reader.line_num
                text, raw_label = row.get(TEXT_COLUMN), row.get(LABEL_COLUMN)
                if text is None or raw_label is None:
                    raise RecipeInputError(f"{path.name} line {line}: row has too few fields")
                if not text.strip():
                    raise RecipeInputError(f"{path.name} line {line}: empty {TEXT_COLUMN}")
                label = raw_label.strip()
                if label not in ("0", "1"):
                    raise RecipeInputError(
                        f"{path.name} line {line}: invalid {LABEL_COLUMN} {raw_label!r} "
                        "(expected 1 for positive or 0 for negative)"
                    )
                data.texts.append(text)
                data.labels.append(int(label))
        rows = len(data.texts) - rows_before
        data.sources.append({"file": path.name, "rows": rows, "sha256": _sha256(path)})
    return data


def validate_dataset(data: Dataset, channel: str, min_rows: int) -> None:
    """Reject datasets that cannot train or evaluate a binary classifier."""
    files = ", ".join(s["file"] for s in data.sources)
    if not data.texts:
        raise RecipeInputError(f"{channel} channel: no data rows in {files}")
    if len(data.texts) < min_rows:
        raise RecipeInputError(
            f"{channel} channel: too few rows: {len(data.texts)} in {files} (need at least {min_rows})"
        )
    counts = data.class_counts()
    absent = [name for name, n in counts.items() if n == 0]
    if absent:
        present = [name for name, n in counts.items() if n]
        raise RecipeInputError(
            f"{channel} channel: only one class present ({present[0]}, {len(data.texts)} rows) in {files}; "
            f"need both positive (1) and negative (0) examples, missing: {absent[0]}"
        )


def build_pipeline(hp: Hyperparameters) -> Pipeline:
    """The recipe's model: word 1..n-gram TF-IDF + logistic regression."""
    return Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    lowercase=True,
                    analyzer="word",
                    ngram_range=(1, hp.ngram_max),
                    sublinear_tf=True,
                    min_df=hp.min_df,
                    max_features=hp.max_features,
                    # float64 end to end: inference.py's fast scorer reproduces it exactly.
                    dtype=np.float64,
                ),
            ),
            (
                "clf",
                # random_state matters for liblinear (it shuffles); lbfgs is deterministic anyway.
                LogisticRegression(C=hp.C, solver=hp.solver, max_iter=hp.max_iter, random_state=hp.seed),
            ),
        ]
    )


def compact_vocabulary(vectorizer: TfidfVectorizer) -> None:
    """Store ``vocabulary_`` indices as Python ints instead of numpy.int64 scalars.

    After ``max_features``/``min_df`` pruning sklearn leaves numpy.int64 values in the dict, which
    skops persists as one .npy member per term (~20x larger file, slower load). Plain ints become
    JSON; the transform is unaffected because the indices are identical.
    """
    vectorizer.vocabulary_ = {term: int(index) for term, index in vectorizer.vocabulary_.items()}


def split_holdout(data: Dataset, hp: Hyperparameters) -> tuple[Dataset, Dataset]:
    """Stratified train/test split used when there is no test channel."""
    counts = data.class_counts()
    n_test = math.ceil(hp.test_size * len(data.texts))
    if min(counts.values()) < 2 or n_test < len(counts) or len(data.texts) - n_test < len(counts):
        raise RecipeInputError(
            f"train channel: cannot make a stratified hold-out split of {len(data.texts)} rows "
            f"({counts}) with --test-size {hp.test_size}; provide a test channel or more data"
        )
    x_train, x_test, y_train, y_test = train_test_split(
        data.texts, data.labels, test_size=hp.test_size, random_state=hp.seed, stratify=data.labels
    )
    return (
        Dataset(list(x_train), list(y_train), data.sources),
        Dataset(list(x_test), list(y_test), data.sources),
    )


def evaluate(pipeline: Pipeline, train: Dataset, test: Dataset, source: str) -> dict[str, Any]:
    """Metrics of the fitted pipeline on the test set (positive class = 1)."""
    y_true = np.asarray(test.labels)
    y_pred = pipeline.predict(test.texts)
    positive_column = list(pipeline.classes_).index(1)
    scores = pipeline.predict_proba(test.texts)[:, positive_column]
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred, labels=[0, 1]).tolist()
    return {
        "metrics": {
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "precision": float(precision_score(y_true, y_pred, zero_division=0)),
            "recall": float(recall_score(y_true, y_pred, zero_division=0)),
            "f1": float(f1_score(y_true, y_pred, zero_division=0)),
            "roc_auc": float(roc_auc_score(y_true, scores)),
        },
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "n_train": len(train.texts),
        "n_test": len(test.texts),
        "class_balance": {"train": train.class_counts(), "test": test.class_counts()},
        "evaluation_source": source,
    }


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write_failure(message: str) -> None:
    # SageMaker copies /opt/ml/output/failure into DescribeTrainingJob's FailureReason.
    output_dir = os.environ.get("SM_OUTPUT_DIR")
    if not output_dir:
        return
    try:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / FAILURE_FILENAME).write_text(message + "\n", encoding="utf-8")
    except OSError as exc:  # never mask the original failure
        print(f"warning: could not write failure file: {exc}", file=sys.stderr)


def train(hp: Hyperparameters, paths: Paths) -> dict[str, Any]:
    """Fit, evaluate and save the model; returns the evaluation report."""
    train_data = read_dataset(paths.train, "train")
    validate_dataset(train_data, "train", MIN_TRAIN_ROWS)
    if paths.test is not None:
        test_data = read_dataset(paths.test, "test")
        validate_dataset(test_data, "test", MIN_TEST_ROWS)
        source = "test_channel"
    else:
        train_data, test_data = split_holdout(train_data, hp)
        source = "holdout"
    n_train, n_test = len(train_data.texts), len(test_data.texts)
    logger.info("training on %d rows, evaluating on %d rows (%s)", n_train, n_test, source)

    pipeline = build_pipeline(hp)
    pipeline.fit(train_data.texts, np.asarray(train_data.labels, dtype=np.int64))
    compact_vocabulary(pipeline.named_steps["tfidf"])
    report = evaluate(pipeline, train_data, test_data, source)

    paths.model_dir.mkdir(parents=True, exist_ok=True)
    # Deflate: the schema is verbose JSON (one node per vocabulary term); compresses ~25x.
    sio.dump(pipeline, paths.model_dir / MODEL_FILENAME, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    meta = {
        "recipe": RECIPE_NAME,
        "model_file": MODEL_FILENAME,
        "format": "skops",
        "sklearn_version": sklearn.__version__,
        "skops_version": skops.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "label_names": {str(k): v for k, v in LABEL_NAMES.items()},
        "feature_count": len(pipeline.named_steps["tfidf"].vocabulary_),
        # timezone.utc, not datetime.UTC: the framework container runs Python 3.10.
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017
        "hyperparameters": asdict(hp),
        "training_data": train_data.sources,
        "evaluation_source": source,
    }
    _write_json(paths.model_dir / META_FILENAME, meta)
    code_dir = paths.model_dir / "code"
    code_dir.mkdir(exist_ok=True)
    for name in SERVING_FILES:
        shutil.copy2(Path(__file__).with_name(name), code_dir / name)
    # Inside the model dir the evaluation travels with model.tar.gz (the registry compares it);
    # SM_OUTPUT_DATA_DIR is where SageMaker users traditionally look for job outputs.
    _write_json(paths.model_dir / EVALUATION_FILENAME, report)
    _write_json(paths.output_data_dir / EVALUATION_FILENAME, report)
    for name, value in report["metrics"].items():
        # One "name=value" per line so SageMaker metric_definitions can scrape them (see README).
        print(f"METRIC test_{name}={value:.6f}")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 1 bad input). Unexpected errors propagate."""
    try:
        hp, paths = parse_args(argv)
        train(hp, paths)
    except RecipeInputError as exc:
        message = f"{RECIPE_NAME} training failed: {exc}"
        print(f"ERROR: {message}", file=sys.stderr)
        _write_failure(message)
        return 1
    except Exception as exc:
        _write_failure(f"{RECIPE_NAME} training crashed: {type(exc).__name__}: {exc}")
        raise
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(main())
