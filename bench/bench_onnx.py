"""ONNX as the model format (issue 21), measured (``make bench``; not part of ``make test``).

* **Scoring**, on the framework image's own Python (``onnx_probe.py``): one record and a batch of 100 through the
  tabular ONNX model (the test recipe ``tests/fixtures/recipes/penguins_species_onnx``: LightGBM in a
  ColumnTransformer pipeline, trained by its own ``train.py`` on the real penguins rows) against the same pipeline in
  scikit-learn; and the sentiment model three ways — scikit-learn, the recipe's hand-written numpy path, and the
  pipeline converted with skl2onnx on onnxruntime — with the largest probability difference to scikit-learn.
* **The artifact**: ``model.tar.gz`` of the ONNX model (model.onnx, code/, onnxruntime vendored in runtime/) vs the
  sentiment model's, and model.onnx itself.
* **The serverless cold start it costs**: the model container started as the image starts it, strict (read-only,
  unprivileged, no network; ``bench_startup.container_start``), from the call to the first healthy ``/ping``, for
  the ONNX model and for the sentiment model, alternating rounds.

Informational rows (no target): the numbers decide where ONNX is used (docs/decisions/0012). Exit 1 only when a
model disagrees with scikit-learn beyond its tolerance or a step fails. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import bench_startup  # noqa: E402 - beside this file

from challenger.local.sagemaker import images  # noqa: E402
from recipes.kit.bundle import build_source_bundle  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "recipes" / "penguins_species_onnx"
PENGUINS = ROOT / "recipes" / "penguins" / "data" / "train_v2.csv"
SENTIMENT = ROOT / "recipes" / "sentiment"
COLUMNS = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "species"]
ONNX_TOLERANCE = 1e-5


def _pip(python: Path, *arguments: str) -> None:
    command = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *arguments]
    subprocess.run(command, check=True, capture_output=True)


def _archive(model: Path, archive: Path) -> Path:
    with tarfile.open(archive, mode="w:gz") as tar:
        for path in sorted(model.iterdir()):
            tar.add(path, arcname=path.name)
    return archive


def train_onnx(python: Path, work: Path) -> tuple[Path, Path, Path]:
    """The fixture recipe trained by its own train.py in the image environment: (model dir, code dir, train CSV)."""
    code = work / "onnx-code"
    with tarfile.open(fileobj=io.BytesIO(build_source_bundle(FIXTURE)), mode="r:gz") as tar:
        tar.extractall(code, filter="data")
    _pip(python, "-r", str(code / "requirements.txt"))  # as the training toolkit does
    data = work / "species"
    data.mkdir()
    with PENGUINS.open(encoding="utf-8") as source, (data / "train.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows([row[c] for c in COLUMNS] for row in csv.DictReader(source))
    model = work / "onnx-model"
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env["SM_OUTPUT_DATA_DIR"] = str(work / "onnx-output")
    command = [str(python), "train.py", "--train", str(data), "--model-dir", str(model)]
    subprocess.run(command, cwd=code, env=env, check=True, capture_output=True)
    return model, code, data / "train.csv"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "onnx.json")
    parser.add_argument("--rounds", type=int, default=3, help="alternating container starts per model")
    parser.add_argument("--scoring-rounds", type=int, default=400)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    env = images.ensure_environment(images.recipe_image(FIXTURE))
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as directory:
        work = Path(directory)
        python = images.overlay(env, work / "python")
        model, code, species = train_onnx(python, work)
        converter = work / "converter"
        lock = [
            line
            for line in (code / "requirements-onnx.txt").read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
            if line.strip() and not line.startswith("#") and not line.startswith("onnxruntime")
        ]
        (work / "converter.txt").write_text("\n".join(lock) + "\n", encoding="utf-8")
        _pip(python, "--no-deps", "--require-hashes", "--target", str(converter), "-r", str(work / "converter.txt"))
        sentiment_code = work / "sentiment-code"
        with tarfile.open(fileobj=io.BytesIO(build_source_bundle(SENTIMENT)), mode="r:gz") as tar:
            tar.extractall(sentiment_code, filter="data")
        probe_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        probe_env["PYTHONPATH"] = str(converter)
        probe = [str(python), str(ROOT / "bench" / "onnx_probe.py"), str(model), str(code), str(species)]
        probe += [str(sentiment_code), str(SENTIMENT / "data" / "train_v1.csv"), str(args.scoring_rounds)]
        completed = subprocess.run(probe, env=probe_env, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise SystemExit(f"onnx_probe.py failed:\n{completed.stderr[-3000:]}")
        result.update(json.loads(completed.stdout.strip().splitlines()[-1]))

        onnx_archive = _archive(model, work / "onnx-model.tar.gz")
        sentiment_archive = bench_startup.train_sample(Path(env.python), work / "sentiment")
        result["artifact"] = {
            "onnx_model_tar_gz_bytes": onnx_archive.stat().st_size,
            "sentiment_model_tar_gz_bytes": sentiment_archive.stat().st_size,
            "onnx_runtime_bytes": sum(p.stat().st_size for p in (model / "runtime").rglob("*") if p.is_file()),
        }
        onnx_starts, sentiment_starts = bench_startup._interleaved(
            lambda: bench_startup.container_start(onnx_archive, work),
            lambda: bench_startup.container_start(sentiment_archive, work),
            args.rounds,
        )
        result["cold_start"] = {
            "onnx_s": statistics.median(s["total_s"] for s in onnx_starts),
            "sentiment_s": statistics.median(s["total_s"] for s in sentiment_starts),
            "onnx_install_s": statistics.median(s["install_s"] for s in onnx_starts),
            "onnx_workers_s": statistics.median(s["workers_s"] for s in onnx_starts),
            "sentiment_workers_s": statistics.median(s["workers_s"] for s in sentiment_starts),
            "rounds": args.rounds,
        }
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    t, s, a, c = result["tabular"], result["sentiment"], result["artifact"], result["cold_start"]
    print(
        f"tabular (LightGBM pipeline, {t['rows']} rows): 1 record sklearn {t['single_sklearn_us']:.0f} µs, ONNX "
        f"{t['single_onnx_us']:.0f} µs; 100 records sklearn {t['batch100_sklearn_us']:.0f} µs, ONNX "
        f"{t['batch100_onnx_us']:.0f} µs; max |Δp| {t['max_probability_diff']:.1e}, labels identical "
        f"{t['labels_identical']}\n"
        f"sentiment: 1 record sklearn {s['single_sklearn_us']:.0f} µs, numpy {s['single_numpy_us']:.0f} µs, ONNX "
        f"{s['single_onnx_us']:.0f} µs; 100 records sklearn {s['batch100_sklearn_us']:.0f} µs, numpy "
        f"{s['batch100_numpy_us']:.0f} µs, ONNX {s['batch100_onnx_us']:.0f} µs; max |Δscore| numpy "
        f"{s['max_score_diff_numpy']:.1e}, ONNX {s['max_score_diff_onnx']:.1e} ({s['labels_differ_onnx']} labels "
        f"differ)\n"
        f"artifact: ONNX model.tar.gz {a['onnx_model_tar_gz_bytes'] / 1e6:.1f} MB (model.onnx "
        f"{t['model_onnx_bytes'] / 1e3:.0f} KB, runtime/ {a['onnx_runtime_bytes'] / 1e6:.0f} MB), sentiment "
        f"{a['sentiment_model_tar_gz_bytes'] / 1e3:.0f} KB\n"
        f"cold start (container → healthy /ping, median of {c['rounds']}): ONNX {c['onnx_s']:.2f} s, sentiment "
        f"{c['sentiment_s']:.2f} s"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    agree = t["labels_identical"] and t["max_probability_diff"] <= ONNX_TOLERANCE
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
