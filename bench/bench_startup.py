"""Endpoint start-up next to its floor (``make bench``; not part of ``make test``), A/B interleaved:

* **Endpoint cold start**: the local model server (``challenger/local/sagemaker/model_server.py``, run with the
  framework image environment's interpreter, as the local SageMaker runs it) from process start to the first
  ``GET /ping`` 200 — module import and ``model_fn`` included — next to a fresh interpreter importing the serving
  modules (the model's ``inference`` and the server's own imports) and nothing else. Target: ≤ 1.5×.

Lambda init is ``bench_lambda_init.py``'s.

The model is the sentiment recipe trained on the bundled sample by its own ``train.py`` in the image
environment. Medians of alternating runs (``--rounds``); prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # recipes.kit.bundle, which builds the bundle: not an installed module

RECIPE = ROOT / "recipes" / "sentiment"
DATA = RECIPE / "data"
MODEL_SERVER = ROOT / "challenger" / "local" / "sagemaker" / "model_server.py"
TARGET_RATIO = 1.5
# What model_server.py imports before it loads the user module (its own top-level imports).
SERVER_IMPORTS = (
    "argparse, importlib, json, logging, os, signal, sys, threading, time, traceback, collections.abc, http.server"
)


def _image_python() -> Path:
    from challenger.local.sagemaker import images  # noqa: PLC0415

    return Path(images.ensure_environment(images.recipe_image(RECIPE)).python)


def _timed(command: list[str], **kwargs: Any) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - started


def _interleaved(a: Callable[[], float], b: Callable[[], float], rounds: int) -> tuple[list[float], list[float]]:
    first: list[float] = []
    second: list[float] = []
    a()  # warm the page cache for both
    b()
    for _ in range(rounds):
        first.append(a())
        second.append(b())
    return first, second


def train_sample(python: Path, directory: Path) -> tuple[Path, Path]:
    """(model dir, code dir) of the sentiment model trained on the sample by its own train.py."""
    import io  # noqa: PLC0415
    import tarfile  # noqa: PLC0415

    from recipes.kit.bundle import build_source_bundle  # noqa: PLC0415

    code = directory / "bundle"
    with tarfile.open(fileobj=io.BytesIO(build_source_bundle(RECIPE)), mode="r:gz") as tar:
        tar.extractall(code, filter="data")
    model = directory / "model"
    subprocess.run(
        [str(python), "train.py", "--train", str(DATA / "train_v1.csv"), "--model-dir", str(model)],
        cwd=code,
        check=True,
        capture_output=True,
    )
    return model, model / "code"


def endpoint_cold_start(python: Path, model: Path, code: Path, rounds: int, directory: Path) -> dict[str, Any]:
    def server() -> float:
        port_file = directory / "port"
        port_file.unlink(missing_ok=True)
        started = time.perf_counter()
        process = subprocess.Popen(
            [
                str(python),
                "-I",
                "-u",
                str(MODEL_SERVER),
                "--model-data",
                str(model),
                "--code",
                str(code),
                "--program",
                "inference.py",
                "--port",
                "0",
                "--port-file",
                str(port_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                if process.poll() is not None:
                    raise RuntimeError("the model server exited before it answered /ping")
                if port_file.is_file() and port_file.read_text().strip():
                    url = f"http://127.0.0.1:{port_file.read_text().strip()}/ping"
                    try:
                        with urllib.request.urlopen(url, timeout=5) as response:
                            if response.status == 200:
                                return time.perf_counter() - started
                    except OSError:
                        pass
                time.sleep(0.002)
        finally:
            process.terminate()
            process.wait(timeout=10)

    floor_code = f"import sys; sys.path.insert(0, {str(code)!r}); import {SERVER_IMPORTS}; import inference"
    imports = lambda: _timed([str(python), "-I", "-c", floor_code])  # noqa: E731
    served, floor = _interleaved(server, imports, rounds)
    return {
        "server_to_ping_s": statistics.median(served),
        "interpreter_imports_s": statistics.median(floor),
        "ratio": statistics.median(served) / statistics.median(floor),
        "rounds": rounds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "startup.json")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds for the endpoint")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    python = _image_python()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as directory:
        model, code = train_sample(python, Path(directory))
        result["endpoint"] = endpoint_cold_start(python, model, code, args.rounds, Path(directory))
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    e = result["endpoint"]
    print(
        f"endpoint cold start (process → /ping 200): {e['server_to_ping_s'] * 1000:.0f} ms; interpreter + serving "
        f"imports {e['interpreter_imports_s'] * 1000:.0f} ms; ratio {e['ratio']:.2f} (target ≤ {TARGET_RATIO})"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if e["ratio"] <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
