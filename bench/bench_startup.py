"""Start-up costs next to their floors (``make bench``; not part of ``make test``), A/B interleaved:

* **Endpoint cold start**: the local model server (``challenger/local/sagemaker/model_server.py``, run with the
  framework image environment's interpreter, as the local SageMaker runs it) from process start to the first
  ``GET /ping`` 200 — module import and ``model_fn`` included — next to a fresh interpreter importing the serving
  modules (the model's ``inference`` and the server's own imports) and nothing else. Target: ≤ 1.5×.
* **Lambda init**: each function of template.yaml, a fresh interpreter importing its handler module with the
  template's environment (the core layer on the path, as Lambda puts it on), next to a fresh interpreter running
  ``import boto3``. Target: ≤ 1.5× each.

The model is the sentiment recipe trained on the bundled sample by its own ``train.py`` in the image
environment. Medians of alternating runs (``--rounds``, ``--lambda-rounds``); prints a table, writes JSON.
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
sys.path.insert(0, str(ROOT))

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


def lambda_init(rounds: int) -> dict[str, Any]:
    from challenger.local.provision import LAYER, local_functions  # noqa: PLC0415
    from challenger.local.template import LocalTemplate  # noqa: PLC0415

    template = LocalTemplate(parameters={"NotificationEmail": "ops@example.com"})
    base = {
        name: value
        for name, value in os.environ.items()
        if name in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    }
    base.update(
        {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": "bench",
        }
    )
    boto3_floor = lambda: _timed([sys.executable, "-I", "-c", "import boto3"], env=base)  # noqa: E731
    results: dict[str, Any] = {}
    for function in local_functions(template):
        module = function.handler.rpartition(".")[0]
        env = {**base, **{k: str(v) for k, v in function.environment.items()}}
        paths = [str(ROOT / function.code_dir), str(LAYER)]
        code = f"import sys; sys.path[:0] = {paths!r}; import {module}"
        handler = lambda env=env, code=code: _timed([sys.executable, "-I", "-c", code], env=env)  # noqa: E731
        init, floor = _interleaved(handler, boto3_floor, rounds)
        results[Path(function.code_dir).name] = {
            "init_s": statistics.median(init),
            "import_boto3_s": statistics.median(floor),
            "ratio": statistics.median(init) / statistics.median(floor),
        }
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "startup.json")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds for the endpoint")
    # 17 functions x 2 interpreters a round: 3 rounds keep this part near two minutes on the shared machine.
    parser.add_argument("--lambda-rounds", type=int, default=3, help="alternating rounds per Lambda function")
    parser.add_argument("--no-lambda", action="store_true", help="the endpoint only (bench_lambda_init.py does Lambda)")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    python = _image_python()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as directory:
        model, code = train_sample(python, Path(directory))
        result["endpoint"] = endpoint_cold_start(python, model, code, args.rounds, Path(directory))
    if not args.no_lambda:
        result["lambda"] = lambda_init(args.lambda_rounds)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    e = result["endpoint"]
    print(
        f"endpoint cold start (process → /ping 200): {e['server_to_ping_s'] * 1000:.0f} ms; interpreter + serving "
        f"imports {e['interpreter_imports_s'] * 1000:.0f} ms; ratio {e['ratio']:.2f} (target ≤ {TARGET_RATIO})"
    )
    for name, row in result.get("lambda", {}).items():
        print(
            f"Lambda init {name:20s} {row['init_s'] * 1000:6.0f} ms; import boto3 {row['import_boto3_s'] * 1000:5.0f}"
            f" ms; ratio {row['ratio']:.2f}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    ok = e["ratio"] <= TARGET_RATIO and all(r["ratio"] <= TARGET_RATIO for r in result.get("lambda", {}).values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
