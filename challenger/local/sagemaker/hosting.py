"""Endpoint backends: one model-server process per deployed endpoint configuration, like one container.

SageMaker hosting downloads `ModelDataUrl` into `/opt/ml/model`, then the framework container resolves its code
from `SAGEMAKER_SUBMIT_DIRECTORY` (an S3 source tarball, or a directory such as `/opt/ml/model/code`) and imports
`SAGEMAKER_PROGRAM` from it. `prepare_container` does the same into `<backend dir>/model` and `<backend dir>/code`
and `Backend.start` runs `model_server.py` on them.

A backend counts its in-flight requests: routing acquires a backend under the endpoint lock, and retiring one
(`drain`) closes it to new requests and waits for the in-flight ones, so a request that started on blue completes
on blue while new ones already go to green.
"""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from challenger.local.sagemaker import images, s3io

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

logger = logging.getLogger(__name__)

MODEL_MOUNT = "/opt/ml/model"  # where the container sees the model data
PING_FAILURE = (
    "The primary container for production variant AllTraffic did not pass the ping health check. "
    "Please check CloudWatch logs for this endpoint."
)
INVOKE_TIMEOUT_SECONDS = 60.0  # SageMaker's invocation timeout (serverless and real-time)
TERMINATE_GRACE_SECONDS = 5.0
MODEL_SERVER = Path(__file__).resolve().with_name("model_server.py")
_INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT")


class ContainerError(Exception):
    """The container could not be prepared or did not become healthy; the message is the FailureReason."""


@dataclass(frozen=True)
class ContainerSpec:
    """What a backend runs: the model's primary container as the endpoint configuration deployed it."""

    config_name: str
    model_name: str
    model_data_url: str
    environment: dict[str, str]
    image: str = ""
    serverless_config: dict[str, Any] = field(default_factory=dict)
    # The configuration's production variant: InvokeEndpoint names it (InvokedProductionVariant) in each answer.
    variant_name: str = "AllTraffic"

    def to_json(self) -> dict[str, Any]:
        """The persisted form (state.json)."""
        return {
            "ConfigName": self.config_name,
            "ModelName": self.model_name,
            "ModelDataUrl": self.model_data_url,
            "Environment": self.environment,
            "Image": self.image,
            "ServerlessConfig": self.serverless_config,
            "VariantName": self.variant_name,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerSpec:
        """Inverse of to_json."""
        return cls(
            config_name=data["ConfigName"],
            model_name=data["ModelName"],
            model_data_url=data["ModelDataUrl"],
            environment=dict(data["Environment"]),
            image=data.get("Image", ""),
            serverless_config=dict(data.get("ServerlessConfig") or {}),
            variant_name=data.get("VariantName", "AllTraffic"),
        )


def prepare_container(s3: S3Client, spec: ContainerSpec, directory: Path) -> tuple[Path, Path, str]:
    """Download the model data and resolve the code directory; returns (model_dir, code_dir, program)."""
    model_dir = directory / "model"
    code_dir = directory / "code"
    try:
        s3io.download_and_extract(s3, spec.model_data_url, model_dir)
    except Exception as exc:
        raise ContainerError(f"Failed to download model data from {spec.model_data_url}: {exc}") from exc
    program = spec.environment.get("SAGEMAKER_PROGRAM")
    if not program:
        raise ContainerError(f"{PING_FAILURE} (the model's Environment has no SAGEMAKER_PROGRAM)")
    submit_dir = spec.environment.get("SAGEMAKER_SUBMIT_DIRECTORY", f"{MODEL_MOUNT}/code")
    if submit_dir.startswith("s3://"):
        # sagemaker-containers' import_module: download the source tarball and extract it as /opt/ml/code.
        try:
            s3io.download_and_extract(s3, submit_dir, code_dir)
        except Exception as exc:
            raise ContainerError(f"{PING_FAILURE} (could not download {submit_dir}: {exc})") from exc
    elif submit_dir == MODEL_MOUNT or submit_dir.startswith(MODEL_MOUNT + "/"):
        # The SageMaker Python SDK's "repacked" layout: the code travels inside model.tar.gz.
        code_dir = model_dir / submit_dir[len(MODEL_MOUNT) :].lstrip("/")
    else:
        raise ContainerError(f"{PING_FAILURE} (SAGEMAKER_SUBMIT_DIRECTORY {submit_dir!r} is not reachable locally)")
    return model_dir, code_dir, program


class Backend:
    """One model-server process serving one endpoint configuration, with in-flight request accounting."""

    def __init__(self, spec: ContainerSpec, directory: Path, env_cache: Path | None = None) -> None:
        self.spec = spec
        self.dir = directory
        self._env_cache = env_cache
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._cond = threading.Condition()
        self._in_flight = 0
        self._closed = False

    # Lifecycle ----------------------------------------------------------------------------------
    def start(
        self,
        s3: S3Client,
        *,
        timeout: float,
        stopping: threading.Event,
        fail_health: str | None = None,
        wrong_answers: bool = False,
    ) -> None:
        """Prepare the container, launch the server and wait for /ping; ContainerError if it never gets healthy."""
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            env = images.ensure_environment(images.image_for_uri(self.spec.image), self._env_cache)
        except images.ImageError as exc:
            raise ContainerError(f"{PING_FAILURE} (the container image could not be used: {exc})") from exc
        model_dir, code_dir, program = prepare_container(s3, self.spec, self.dir)
        python = self._install_requirements(env, code_dir)
        port_file = self.dir / "port"
        command = [
            str(python),
            # Isolated (-I): only the image's packages and the code directory, never this repository's modules.
            "-I",
            "-u",
            str(MODEL_SERVER),
            "--model-data",
            str(model_dir),
            "--code",
            str(code_dir),
            "--program",
            program,
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--parent-pid",
            str(os.getpid()),
        ]
        if fail_health is not None:
            command += ["--fail-health", fail_health]
        if wrong_answers:
            command.append("--wrong-answers")
        with (self.dir / "logs.txt").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603  # the image's interpreter running our model server
                command,
                cwd=self.dir,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_healthy(port_file, timeout, stopping)
        except BaseException:
            self.terminate()
            raise

    def _environment(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in _INHERITED_ENV if name in os.environ}
        env.update(self.spec.environment)
        return env

    def _install_requirements(self, env: images.Environment, code_dir: Path) -> Path:
        """The container's first request installs the code directory's requirements.txt; returns the python.

        sagemaker-containers' `_modules.import_module` runs `pip install . -r requirements.txt` in the code
        directory before it imports the module, on every cold start. Here they go into a throw-away overlay of
        the image environment, and only when the file names anything (an empty one costs nothing on SageMaker
        either, beyond pip's start). A failure fails the health check, as on SageMaker.
        """
        requirements = code_dir / "requirements.txt"
        if not requirements.is_file() or not _has_requirements(requirements):
            return env.python
        python = images.overlay(env, self.dir / "python")
        with (self.dir / "logs.txt").open("ab") as log:
            result = subprocess.run(  # noqa: S603
                [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-r", str(requirements)],
                cwd=code_dir,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0:
            raise ContainerError(self._failure(f"pip install -r requirements.txt exited with {result.returncode}"))
        return python

    def _wait_healthy(self, port_file: Path, timeout: float, stopping: threading.Event) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not stopping.is_set():
            if self.process.poll() is not None:
                raise ContainerError(self._failure(f"the container exited with code {self.process.returncode}"))
            if self.port is None and port_file.is_file():
                self.port = int(port_file.read_text(encoding="utf-8"))
            if self.port is not None and self._ping():
                return
            time.sleep(0.05)
        if stopping.is_set():
            raise ContainerError(f"{PING_FAILURE} (the local SageMaker service stopped)")
        raise ContainerError(self._failure(f"no healthy /ping within {timeout:g} s"))

    def _ping(self) -> bool:
        assert self.port is not None
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/ping")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def _failure(self, detail: str) -> str:
        # No CloudWatch here: point at the container log and quote its last line instead.
        log = self.dir / "logs.txt"
        last = ""
        if log.is_file():
            lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
            last = lines[-1].strip() if lines else ""
        suffix = f" Local container log {log}: {last}" if last else f" Local container log: {log}"
        return f"{PING_FAILURE} ({detail}).{suffix}"

    def terminate(self) -> None:
        """Stop the process group (SIGTERM, then SIGKILL) and drop the unpacked model; logs stay."""
        with self._cond:
            self._closed = True
        process = self.process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=TERMINATE_GRACE_SECONDS)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        elif process is not None:
            process.wait()
        for sub in ("model", "code", "python"):
            shutil.rmtree(self.dir / sub, ignore_errors=True)

    # Routing ------------------------------------------------------------------------------------
    def acquire(self) -> bool:
        """Count a request in; False once the backend is draining (the caller must route elsewhere)."""
        with self._cond:
            if self._closed:
                return False
            self._in_flight += 1
            return True

    def release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def drain(self, timeout: float) -> bool:
        """Refuse new requests and wait for the in-flight ones; False if some were still running at timeout."""
        with self._cond:
            self._closed = True
            return self._cond.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def invoke(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
        """POST /invocations on the container; returns (status, body, content type). OSError if unreachable."""
        if self.port is None:
            raise ConnectionRefusedError("backend has no port")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=INVOKE_TIMEOUT_SECONDS)
        try:
            connection.request("POST", "/invocations", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(), response.getheader("Content-Type")
        finally:
            connection.close()


def _has_requirements(path: Path) -> bool:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return any(lines)
