"""The in-image half of ``bench_onnx.py``: runs on the framework image's own Python (an overlay with the recipe's
training requirements and, first on ``PYTHONPATH``, the converter from requirements-onnx.txt). Not run directly.

Times, in one process and in alternating rounds, one record and a batch of 100 through:

* the tabular ONNX model (the fixture recipe: LightGBM in a ColumnTransformer pipeline) — the kit's ``predict_fn``
  on onnxruntime from the model's ``runtime/`` — against the same pipeline in scikit-learn (rows → DataFrame →
  ``predict_proba``, what a scikit-learn-serving ``inference.py`` would do);
* the sentiment model three ways: scikit-learn's pipeline, the recipe's hand-written numpy path (``predict_fn`` of its
  ``inference.py``) and the same pipeline converted with skl2onnx and run by onnxruntime.

Prints one JSON object on stdout.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _timed(a: Callable[[], Any], b: Callable[[], Any], rounds: int) -> tuple[float, float]:
    """Median microseconds of a and b, alternated."""
    first: list[float] = []
    second: list[float] = []
    a()
    b()
    for _ in range(rounds):
        for fn, out in ((a, first), (b, second)):
            started = time.perf_counter()
            fn()
            out.append((time.perf_counter() - started) * 1e6)
    return statistics.median(first), statistics.median(second)


def tabular(model_dir: Path, recipe_code: Path, train_csv: Path, rounds: int) -> dict[str, Any]:
    code = model_dir / "code"
    sys.path[:0] = [str(code), str(model_dir / "runtime")]
    import challenger_kit  # noqa: PLC0415 - the model's own copy
    import challenger_onnx  # noqa: PLC0415

    recipe = challenger_kit.load_recipe(code)
    rows = challenger_kit.read_rows(train_csv, recipe, "train")
    train = _load(recipe_code / "train.py", "onnx_recipe_train")
    hyperparameters = dict(recipe.hyperparameters)
    estimator = train.fit(challenger_onnx.frame(rows, recipe), challenger_onnx.targets(rows, recipe), hyperparameters)
    # This very estimator converted as the kit converts, served as the kit serves (the job's model.json, this
    # model.onnx): scikit-learn and ONNX below are the same model.
    served_dir = Path(tempfile.mkdtemp(prefix="onnx-probe-"))
    onnx_bytes = challenger_onnx.convert_estimator(estimator, challenger_onnx.input_types(recipe), True)
    (served_dir / "model.onnx").write_bytes(onnx_bytes.SerializeToString())
    meta = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    meta["model_onnx_sha256"] = challenger_onnx._sha256(served_dir / "model.onnx")
    (served_dir / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    served = challenger_onnx.model_fn(str(served_dir))
    instances = [challenger_kit.instance_of(row, recipe) for row in rows]

    def sklearn_path(batch: list[dict[str, Any]]) -> Any:
        return estimator.predict_proba(challenger_onnx.frame(batch, recipe))

    one, hundred = instances[:1], instances[:100]
    single = _timed(lambda: sklearn_path(one), lambda: served.predict(one), rounds)
    batch = _timed(lambda: sklearn_path(hundred), lambda: served.predict(hundred), max(rounds // 5, 20))
    fitted, _ = challenger_onnx.fitted_predictions(estimator, rows, recipe)
    onnx = served.predict(instances)
    diff = max(
        abs(p - o["probabilities"][c]) for f, o in zip(fitted, onnx, strict=True) for c, p in f["probabilities"].items()
    )
    return {
        "rows": len(rows),
        "single_sklearn_us": single[0],
        "single_onnx_us": single[1],
        "batch100_sklearn_us": batch[0],
        "batch100_onnx_us": batch[1],
        "max_probability_diff": diff,
        "labels_identical": all(f["label"] == o["label"] for f, o in zip(fitted, onnx, strict=True)),
        "model_onnx_bytes": (model_dir / "model.onnx").stat().st_size,
    }


def sentiment(sentiment_code: Path, train_csv: Path, rounds: int) -> dict[str, Any]:
    import numpy as np  # noqa: PLC0415
    import onnxruntime  # noqa: PLC0415 - the tabular model's vendored copy, already on sys.path
    from skl2onnx import to_onnx  # noqa: PLC0415 - the converter directory, first on PYTHONPATH
    from skl2onnx.common.data_types import StringTensorType  # noqa: PLC0415

    inference = _load(sentiment_code / "inference.py", "inference")
    train = _load(sentiment_code / "train.py", "sentiment_train")
    import challenger_kit  # noqa: PLC0415

    recipe = challenger_kit.load_recipe(sentiment_code)
    rows = challenger_kit.read_rows(train_csv, recipe, "train")
    pipeline = train.fit(rows, dict(recipe.hyperparameters))
    texts = [row["review_text"] for row in rows]
    with tempfile.TemporaryDirectory() as model_dir:
        train.save(pipeline, Path(model_dir))
        numpy_model = inference.model_fn(model_dir)
        npz_bytes = sum(p.stat().st_size for p in Path(model_dir).iterdir() if p.suffix in (".npz", ".json"))
    onnx_model = to_onnx(
        pipeline,
        initial_types=[("review_text", StringTensorType([None, 1]))],
        # The default locale of skl2onnx's lowercasing (StringNormalizer) is en_US.UTF-8, which the image lacks
        # (onnxruntime: "Failed to construct locale"); C.UTF-8 is the image's LANG.
        options={
            id(pipeline.named_steps["clf"]): {"zipmap": False},
            id(pipeline.named_steps["tfidf"]): {"locale": "C.UTF-8"},
        },
        target_opset={"": 18, "ai.onnx.ml": 3},
    )
    session = onnxruntime.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])

    def onnx_path(batch: list[str]) -> Any:
        return session.run(None, {"review_text": np.array(batch, dtype=object).reshape(-1, 1)})[1]

    def numpy_path(batch: list[str]) -> Any:
        return inference.predict_fn([{"review_text": t} for t in batch], numpy_model)

    one, hundred = texts[:1], texts[:100]
    result: dict[str, Any] = {"rows": len(texts), "model_onnx_bytes": len(onnx_model.SerializeToString())}
    result["model_npz_json_bytes"] = npz_bytes
    s1, n1 = _timed(lambda: pipeline.predict_proba(one), lambda: numpy_path(one), rounds)
    _, o1 = _timed(lambda: pipeline.predict_proba(one), lambda: onnx_path(one), rounds)
    s100, n100 = _timed(lambda: pipeline.predict_proba(hundred), lambda: numpy_path(hundred), max(rounds // 5, 20))
    _, o100 = _timed(lambda: pipeline.predict_proba(hundred), lambda: onnx_path(hundred), max(rounds // 5, 20))
    result.update(
        single_sklearn_us=s1, single_numpy_us=n1, single_onnx_us=o1,
        batch100_sklearn_us=s100, batch100_numpy_us=n100, batch100_onnx_us=o100,
    )  # fmt: skip
    reference = pipeline.predict_proba(texts)[:, 1]
    onnx_scores = onnx_path(texts)[:, 1]
    numpy_scores = np.array([p["score"] for p in numpy_path(texts)])
    result["max_score_diff_onnx"] = float(np.max(np.abs(reference - onnx_scores)))
    result["max_score_diff_numpy"] = float(np.max(np.abs(reference - numpy_scores)))
    result["labels_differ_onnx"] = int(np.sum((reference > 0.5) != (onnx_scores > 0.5)))
    return result


def main() -> int:
    model_dir, recipe_code, species_csv, sentiment_code, sentiment_csv, rounds = sys.argv[1:7]
    result = {"tabular": tabular(Path(model_dir), Path(recipe_code), Path(species_csv), int(rounds))}
    result["sentiment"] = sentiment(Path(sentiment_code), Path(sentiment_csv), int(rounds))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
