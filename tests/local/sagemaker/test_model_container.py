"""The model container: the scikit-learn image's own serving stack, started strict (unprivileged, read-only
image environment, no network), on a toy module (fast) and on the recipe's trained model (issue 16, C1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from challenger.local.sagemaker.hosting import CONTAINER_UID, Backend, ContainerError, ContainerSpec
from challenger_core.adapters.sagemaker import MODEL_ENVIRONMENT
from tests.local.sagemaker.helpers import BUCKET, IMAGE, REPO, model_server_children, wait_until
from tests.support.fake_sagemaker import tar_gz

pytestmark = pytest.mark.enable_socket

# What challenger_core's create_model sent before the fix: the image's stack pip-installs code/ with build isolation
# into the image's venv, which needs the network and a writable venv.
ENVIRONMENT_BEFORE_THE_FIX = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
}

TOY = b"""
import json


class BadInput(ValueError):
    def __init__(self, message, status_code=400):
        super().__init__(message)
        self.status_code = status_code


def model_fn(model_dir):
    with open(model_dir + "/factor.txt") as fh:
        return {"factor": float(fh.read())}


def input_fn(body, content_type):
    data = json.loads(body)
    if "bad" in data:
        raise BadInput("x must be a list", status_code=413)
    return data["x"]


def predict_fn(x, model):
    return [value * model["factor"] for value in x]


def output_fn(prediction, accept):
    return json.dumps({"y": prediction}), "application/json"
"""


def _toy_model(s3: Any, key: str, code: dict[str, bytes]) -> str:
    files = {"factor.txt": b"2", **{f"code/{name}": data for name, data in code.items()}}
    s3.put_object(Bucket=BUCKET, Key=key, Body=tar_gz(files))
    return f"s3://{BUCKET}/{key}"


def _backend(tmp_path: Path, model_data_url: str, environment: dict[str, str]) -> Backend:
    spec = ContainerSpec("config", "model", model_data_url, environment, image=IMAGE)
    return Backend(spec, tmp_path / "container")


def _invoke(backend: Backend, payload: dict[str, Any]) -> tuple[int, bytes]:
    status, body, _ = backend.invoke(json.dumps(payload).encode(), {"Content-Type": "application/json"})
    return status, body


@pytest.fixture
def toy(s3: Any, tmp_path: Path) -> Iterator[Backend]:
    backend = _backend(tmp_path, _toy_model(s3, "toy/model.tar.gz", {"inference.py": TOY}), dict(MODEL_ENVIRONMENT))
    backend.start(s3, timeout=60, stopping=threading.Event())
    yield backend
    backend.terminate()
    assert model_server_children() == []


def test_the_toy_module_serves_through_the_images_stack(toy: Backend) -> None:
    assert _invoke(toy, {"x": [1, 2.5]}) == (200, b'{"y": [2.0, 5.0]}')
    log = (toy.dir / "logs.txt").read_text()
    assert "Installing module with the following command" in log  # sagemaker-containers' _modules.install ran
    assert "Successfully installed inference-1.0.0" in log
    assert "Booting worker with pid" in log  # gunicorn


def test_any_handler_exception_is_a_500_as_in_the_image(toy: Backend) -> None:
    # The Transformer wraps user functions so that whatever they raise is a ClientError, which Flask answers with
    # a 500: a status_code on the exception (the kit's RequestError) does not survive.
    status, body = _invoke(toy, {"bad": 1})
    assert status == 500
    assert b"Internal Server Error" in body


def test_the_container_is_unprivileged_offline_and_cannot_write_the_image(toy: Backend) -> None:
    assert toy.process is not None
    container = psutil.Process(toy.process.pid)
    servers = [p for p in container.children(recursive=True) if p.uids().real == CONTAINER_UID]
    assert servers, "no process of the container runs as the unprivileged user"
    assert all(p.uids().real == CONTAINER_UID for p in servers if "gunicorn" in " ".join(p.cmdline()))
    own_net = os.stat("/proc/self/ns/net").st_ino
    assert all(os.stat(f"/proc/{p.pid}/ns/net").st_ino != own_net for p in servers)
    # Inside its namespaces the image environment is mounted read-only.
    mounts = Path(f"/proc/{servers[0].pid}/mounts").read_text()
    env_root = str(Path(servers[0].cmdline()[0]).parent.parent)
    assert any(line.split()[1] == env_root and "ro" in line.split()[3].split(",") for line in mounts.splitlines())


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ({"inference.py": TOY + b"\ndef transform_fn(*args):\n    pass\n"}, "Cannot use transform_fn implementation"),
        ({"README": b"no code"}, "ImportModuleError"),
    ],
)
def test_a_module_the_image_refuses_never_gets_healthy(
    s3: Any, tmp_path: Path, code: dict[str, bytes], expected: str
) -> None:
    backend = _backend(tmp_path, _toy_model(s3, "refused/model.tar.gz", code), dict(MODEL_ENVIRONMENT))
    with pytest.raises(ContainerError, match="did not pass the ping health check"):
        # The transform_fn refusal comes on a worker's first request (a /ping), after pip and gunicorn: give it time.
        backend.start(s3, timeout=25, stopping=threading.Event())
    assert expected in (backend.dir / "logs.txt").read_text()
    assert model_server_children() == []


@pytest.mark.parametrize(
    ("environment", "cause"),
    [
        # Today's Environment: pip's build isolation fetches setuptools from PyPI, and there is no network.
        (ENVIRONMENT_BEFORE_THE_FIX, "Failed to build 'file:///opt/ml/code' when installing build dependencies"),
        # Without isolation, the install itself: the image's environment is not writable by the container.
        (
            {**ENVIRONMENT_BEFORE_THE_FIX, "PIP_NO_BUILD_ISOLATION": "0"},
            "Could not install packages due to an OSError: [Errno 30] Read-only file system",
        ),
    ],
    ids=["build-isolation-needs-pypi", "image-environment-read-only"],
)
def test_todays_model_environment_fails_c1_on_the_strict_container(
    s3: Any, tmp_path: Path, environment: dict[str, str], cause: str
) -> None:
    """C1 (issue 16): the image's `pip install .` of code/ at every start cannot succeed in a serverless container."""
    backend = _backend(tmp_path, _toy_model(s3, "c1/model.tar.gz", {"inference.py": TOY}), environment)
    with pytest.raises(ContainerError, match="pip install") as failure:
        backend.start(s3, timeout=60, stopping=threading.Event())
    assert "did not pass the ping health check" in str(failure.value)
    assert cause in (backend.dir / "logs.txt").read_text()


def test_the_recipes_model_serves_on_the_strict_container(s3: Any, tmp_path: Path, trained: dict[str, Any]) -> None:
    """The fix of C1, on the recipe's real model.tar.gz: healthy, and it answers like the recipe does."""
    url = trained["a"]["ModelArtifacts"]["S3ModelArtifacts"]
    backend = _backend(tmp_path, url, dict(MODEL_ENVIRONMENT))
    started = time.monotonic()
    backend.start(s3, timeout=60, stopping=threading.Event())
    try:
        print(f"container start -> healthy /ping: {time.monotonic() - started:.2f} s")
        status, body = _invoke(backend, {"instances": ["great value, works perfectly"]})
        assert status == 200, body
        assert json.loads(body)["predictions"][0]["label"] in (0, 1)
    finally:
        backend.terminate()


def test_the_container_exits_when_the_platform_dies_without_stopping_it(s3: Any, tmp_path: Path) -> None:
    url = _toy_model(s3, "orphan/model.tar.gz", {"inference.py": TOY})
    endpoint = s3.meta.endpoint_url
    program = (
        "import sys, threading, time, boto3\n"
        "from challenger.local.sagemaker.hosting import Backend, ContainerSpec\n"
        "from challenger_core.adapters.sagemaker import MODEL_ENVIRONMENT\n"
        f"s3 = boto3.client('s3', endpoint_url={endpoint!r}, region_name='us-east-1',"
        " aws_access_key_id='testing', aws_secret_access_key='testing')\n"
        f"spec = ContainerSpec('c', 'm', {url!r}, dict(MODEL_ENVIRONMENT), image={IMAGE!r})\n"
        f"backend = Backend(spec, __import__('pathlib').Path({str(tmp_path / 'orphan')!r}))\n"
        "backend.start(s3, timeout=60, stopping=threading.Event())\n"
        "print(backend.process.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", program], cwd=REPO, stdout=subprocess.PIPE)
    assert parent.stdout is not None
    container = psutil.Process(int(parent.stdout.readline()))
    members = [container, *container.children(recursive=True)]
    try:
        parent.kill()  # SIGKILL: the platform gets no chance to stop its container
        parent.wait()
        gone = lambda: all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in members)  # noqa: E731
        wait_until(gone, timeout=15)
    finally:
        for process in members:
            if process.is_running():
                process.kill()
