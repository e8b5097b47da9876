"""The model server process: SageMaker's inference container contract on a toy module (no sklearn, fast)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from tests.local.sagemaker.helpers import REPO, wait_until

pytestmark = pytest.mark.enable_socket

TOY = """
import json


class BadInput(ValueError):
    def __init__(self, message, status_code=400):
        super().__init__(message)
        self.status_code = status_code


def model_fn(model_dir):
    with open(model_dir + "/factor.txt") as fh:
        return {"factor": float(fh.read())}


def input_fn(body, content_type):
    if content_type != "application/json":
        raise BadInput(f"unsupported content type {content_type}", status_code=415)
    data = json.loads(body)
    if "boom" in data:
        raise RuntimeError("kaboom")
    if "bad" in data:
        raise BadInput("x must be a list")
    return data["x"]


def predict_fn(x, model):
    return [value * model["factor"] for value in x]


def output_fn(prediction, accept):
    return json.dumps({"y": prediction}), "application/json"
"""


def start_server(tmp_path: Path, code: str, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    model_dir, code_dir = tmp_path / "model", tmp_path / "code"
    model_dir.mkdir(exist_ok=True)
    code_dir.mkdir(exist_ok=True)
    (code_dir / "inference.py").write_text(code)
    port_file = tmp_path / "port"
    command = [sys.executable, "-m", "challenger.local.sagemaker.model_server", "--model-data", str(model_dir)]
    command += ["--code", str(code_dir), "--port", "0", "--port-file", str(port_file), *extra]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return process, port_file


@pytest.fixture
def toy_url(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "factor.txt").write_text("2")
    process, port_file = start_server(tmp_path, TOY)
    try:
        wait_until(lambda: port_file.is_file() or process.poll() is not None, timeout=15, interval=0.02)
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        yield f"http://127.0.0.1:{port_file.read_text()}"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0  # SIGTERM is a clean shutdown
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_ping_and_invocations(toy_url: str) -> None:
    assert requests.get(f"{toy_url}/ping", timeout=5).status_code == 200
    ok = requests.post(f"{toy_url}/invocations", json={"x": [1, 2.5]}, timeout=5)
    assert (ok.status_code, ok.headers["Content-Type"], ok.json()) == (200, "application/json", {"y": [2.0, 5.0]})


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b'{"bad": 1}', "application/json", 400, "x must be a list"),
        (b"x", "text/plain", 415, "unsupported content type text/plain"),
        (b'{"boom": 1}', "application/json", 500, "RuntimeError: kaboom"),
    ],
)
def test_errors_carry_the_handlers_status(
    toy_url: str, body: bytes, content_type: str, status: int, message: str
) -> None:
    response = requests.post(f"{toy_url}/invocations", data=body, headers={"Content-Type": content_type}, timeout=5)
    assert (response.status_code, response.text) == (status, message)


def test_unknown_paths(toy_url: str) -> None:
    assert requests.get(f"{toy_url}/nope", timeout=5).status_code == 404
    assert requests.post(f"{toy_url}/nope", data=b"", timeout=5).status_code == 404


@pytest.mark.parametrize(
    ("code", "extra", "expected"),
    [
        (TOY, (), "failed to load the model: FileNotFoundError"),  # model_fn cannot find factor.txt
        (TOY, ("--fail-health", "green refuses"), "injected fault: green refuses"),
        ("def predict_fn(x, model):\n    return x\n", (), "defines no model_fn"),
        (TOY + "\ndef transform_fn(*args):\n    pass\n", (), "Cannot use transform_fn implementation with"),
        (TOY, ("--program", "missing.py"), "missing.py not found in the code directory"),
    ],
)
def test_a_container_that_cannot_load_exits_non_zero(
    tmp_path: Path, code: str, extra: tuple[str, ...], expected: str
) -> None:
    process, port_file = start_server(tmp_path, code, *extra)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 3
    assert expected in output.decode()
    assert not port_file.exists()  # it never listened, so it was never healthy


def test_defaults_for_missing_handlers(tmp_path: Path) -> None:
    code = "class Doubler:\n    def predict(self, x):\n        return [2 * v for v in x]\n\n"
    code += "def model_fn(model_dir):\n    return Doubler()\n"
    process, port_file = start_server(tmp_path, code)
    try:
        wait_until(lambda: port_file.is_file() or process.poll() is not None, timeout=15, interval=0.02)
        url = f"http://127.0.0.1:{port_file.read_text()}"
        response = requests.post(f"{url}/invocations", json=[1, 2], timeout=5)
        assert (response.status_code, response.json()) == (200, [2, 4])
        csv = requests.post(f"{url}/invocations", data=b"1", headers={"Content-Type": "text/csv"}, timeout=5)
        assert csv.status_code == 415
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_exits_when_its_parent_dies_without_stopping_it(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "factor.txt").write_text("2")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text(TOY)
    wrapper = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-m', 'challenger.local.sagemaker.model_server',"
        f" '--model-data', {str(tmp_path / 'model')!r}, '--code', {str(tmp_path / 'code')!r},"
        f" '--port', '0', '--port-file', {str(tmp_path / 'port')!r}, '--parent-pid', str(os.getpid())])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", wrapper], cwd=REPO, stdout=subprocess.PIPE)
    assert parent.stdout is not None
    server = psutil.Process(int(parent.stdout.readline()))
    try:
        wait_until((tmp_path / "port").is_file, timeout=15, interval=0.02)
        parent.kill()  # SIGKILL: the platform gets no chance to terminate its model server
        parent.wait()
        wait_until(lambda: not server.is_running() or server.status() == psutil.STATUS_ZOMBIE, timeout=10)
    finally:
        if server.is_running():
            server.kill()
