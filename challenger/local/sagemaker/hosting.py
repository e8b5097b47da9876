"""Endpoint backends: one model container per deployed endpoint configuration, started as the image starts it.

`docker run <image> serve` (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html)
with the image environment (`images.py`) and its own serving stack (sagemaker-containers' `server.start`,
`sklearn_image/`), strict as a serverless container: own mount and network namespaces, unprivileged, read-only
image, no network. A backend counts its in-flight requests so `drain` lets blue finish while green takes new ones.
Why and how, with the image sources followed: README.md, "Hosting".
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from challenger.local.sagemaker import images, s3io

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

PING_FAILURE = (
    "The primary container for production variant AllTraffic did not pass the ping health check. "
    "Please check CloudWatch logs for this endpoint."
)
INVOKE_TIMEOUT_SECONDS = 60.0  # SageMaker's invocation timeout (serverless and real-time)
PING_TIMEOUT_SECONDS = 2.0  # "The request timeout on /ping attempts is 2 seconds" (sagemaker-containers _worker.py)
TERMINATE_GRACE_SECONDS = 5.0
CONTAINER_PORT = 8080  # the image's EXPOSE and sagemaker-containers' default SAGEMAKER_BIND_TO_PORT
CONTAINER_UID = 65534  # nobody: the container never runs as root (run by a non-root user: as that user)
SERVE = Path(__file__).resolve().with_name("sklearn_image") / "serve.py"
# Run as root in the container's fresh mount and network namespaces (as a non-root user: in a user namespace too,
# mapped root): every source is bind-mounted first (a later mount may hide it), then placed; then the server runs
# unprivileged while this shell watches the platform and takes the whole container down with it if the platform
# dies without stopping it.
_LAUNCH = r"""
set -eu
base=$1 python_home=$2 image_env=$3 uid=$4 platform=$5 entry=$6
shift 6
ip link set lo up
mount -t tmpfs -o mode=0755 container-opt /opt
mkdir -p /opt/.s/home /opt/.s/env /opt/.s/entry /opt/.s/tmp /opt/ml
mount --bind -o ro "$python_home" /opt/.s/home
mount --bind -o ro "$image_env" /opt/.s/env
mount --bind -o ro "$entry" /opt/.s/entry
mount --bind "$base/tmp" /opt/.s/tmp
mount --bind "$base/ml" /opt/ml
mount --bind -o ro "$base/ml/model" /opt/ml/model
mount -t tmpfs -o mode=0755 container-root /root
mount --rbind /opt/.s/tmp /tmp
mkdir -p "$python_home" "$image_env" "$entry"
mount --rbind /opt/.s/home "$python_home"
mount --rbind /opt/.s/env "$image_env"
mount --rbind /opt/.s/entry "$entry"
cd /
if [ -n "$uid" ]; then setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "$@" & else "$@" & fi
server=$!
while kill -0 "$server" 2>/dev/null; do
  kill -0 "$platform" 2>/dev/null || kill -KILL 0
  sleep 1
done
wait "$server"
"""
_INHERITED_ENV = ("TZ",)


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
        """The persisted form (state.json): each field under its CamelCase name (`model_data_url` → ModelDataUrl)."""
        return {_camel(name): value for name, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerSpec:
        """Inverse of to_json; a field an older state.json lacks (or holds null) keeps its default."""
        names = [spec.name for spec in dataclasses.fields(cls)]
        return cls(**{name: data[_camel(name)] for name in names if data.get(_camel(name)) is not None})


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def prepare_container(s3: S3Client, spec: ContainerSpec, ml_dir: Path) -> None:
    """SageMaker's part of a container start: the model data in `/opt/ml/model`, an S3 source in `/opt/ml/code`.

    Everything else (resolving `SAGEMAKER_SUBMIT_DIRECTORY`, installing and importing `SAGEMAKER_PROGRAM`) is the
    image's serving stack's, and fails inside the container as it would on SageMaker.
    """
    try:
        s3io.download_and_extract(s3, spec.model_data_url, ml_dir / "model")
    except Exception as exc:
        raise ContainerError(f"Failed to download model data from {spec.model_data_url}: {exc}") from exc
    submit_dir = spec.environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if submit_dir.startswith("s3://"):
        # sagemaker-containers' _files.download_and_extract fetches it with the container's credentials and skips
        # a non-empty /opt/ml/code; the container has no network here, so the platform fetches it beforehand.
        try:
            s3io.download_and_extract(s3, submit_dir, ml_dir / "code")
        except Exception as exc:
            raise ContainerError(f"{PING_FAILURE} (could not download {submit_dir}: {exc})") from exc


def container_environment(image: images.FrameworkImage, env: images.Environment, spec: ContainerSpec) -> dict[str, str]:
    """The container's environment: the image's ENV, then the model's `Environment` (which wins, as on SageMaker)."""
    variables = {name: os.environ[name] for name in _INHERITED_ENV if name in os.environ}
    variables.update(image.environment)
    variables["PATH"] = f"{env.root / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    variables["SAGEMAKER_USE_NGINX"] = "false"
    variables.update(spec.environment)
    return variables


def _connect_in(netns: int, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the container's loopback, made from inside its network namespace (this thread only)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        os.setns(netns, os.CLONE_NEWNET)
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=timeout)
        finally:
            os.setns(own, os.CLONE_NEWNET)
    finally:
        os.close(own)


class _ContainerConnection(http.client.HTTPConnection):
    def __init__(self, netns: int, timeout: float) -> None:
        super().__init__("127.0.0.1", CONTAINER_PORT, timeout=timeout)
        self._netns = netns

    def connect(self) -> None:
        self.sock = _connect_in(self._netns, self.port, self.timeout or INVOKE_TIMEOUT_SECONDS)


class Backend:
    """One model container serving one endpoint configuration, with in-flight request accounting."""

    def __init__(self, spec: ContainerSpec, directory: Path, env_cache: Path | None = None) -> None:
        self.spec = spec
        self.dir = directory
        self._env_cache = env_cache
        self.process: subprocess.Popen[bytes] | None = None
        self._netns: int | None = None
        self._wrong_answers = False
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
        """Prepare the container, start it and wait for /ping; ContainerError if it never gets healthy.

        The transform job starts its container with this too. `fail_health` (fault injection) fails the start with
        that message in the container log; `wrong_answers` perturbs every answer (see `perturb`).
        """
        try:
            image = images.image_for_uri(self.spec.image)
            env = images.ensure_environment(image, self._env_cache)
        except images.ImageError as exc:
            raise ContainerError(f"{PING_FAILURE} (the container image could not be used: {exc})") from exc
        ml_dir, tmp_dir = self.dir / "ml", self.dir / "tmp"
        hidden = [
            str(path)
            for path in (self.dir, env.root, env.base_python, SERVE.parent)
            if path.resolve().is_relative_to("/opt")
        ]
        if hidden:  # the container's /opt is its own tmpfs, mounted before anything else
            raise ContainerError(f"{PING_FAILURE} (the local container cannot use paths under /opt: {hidden})")
        self.dir.mkdir(parents=True, exist_ok=True)
        for path in (ml_dir / "model", ml_dir / "code", tmp_dir):
            path.mkdir(parents=True, exist_ok=True)
        prepare_container(s3, self.spec, ml_dir)
        # The container user owns /opt/ml (sagemaker-containers replaces /opt/ml/code) and /tmp; the model is mounted
        # read-only over its part of /opt/ml. Not root: the container runs as this user, in a user namespace.
        rootless = os.geteuid() != 0
        for path in () if rootless else (ml_dir, ml_dir / "code", tmp_dir, *(ml_dir / "code").rglob("*")):
            os.chown(path, CONTAINER_UID, CONTAINER_UID, follow_symlinks=False)
        self._wrong_answers = wrong_answers
        if fail_health is not None:
            with (self.dir / "logs.txt").open("a", encoding="utf-8") as log:
                print(f"injected fault: {fail_health}", file=log)
            raise ContainerError(self._failure("the container exited with code 1"))
        command = [
            "unshare",
            *(["--map-root-user"] if rootless else []),
            "--mount",
            "--net",
            "--fork",
            "--",
            "/bin/sh",
            "-c",
            _LAUNCH,
            "container",
            str(ml_dir.parent),
            str(env.base_python.parent.parent),
            str(env.root),
            "" if rootless else str(CONTAINER_UID),
            str(os.getpid()),
            str(
                SERVE.parent
            ),  # the image's entry point, placed where it lies (a checkout under /tmp is hidden otherwise)
            str(env.python),
            str(SERVE),
        ]
        with (self.dir / "logs.txt").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603  # the image's serving stack in its own namespaces
                command,
                env=container_environment(image, env, self.spec),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_healthy(timeout, stopping)
        except BaseException:
            self.terminate()
            raise

    def _wait_healthy(self, timeout: float, stopping: threading.Event) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        own_netns = os.stat("/proc/self/ns/net").st_ino
        while time.monotonic() < deadline and not stopping.is_set():
            if self.process.poll() is not None:
                raise ContainerError(self._failure(f"the container exited with code {self.process.returncode}"))
            if self._netns is None:
                path = f"/proc/{self.process.pid}/ns/net"
                with contextlib.suppress(OSError):  # the process is not there yet or any more
                    if os.stat(path).st_ino != own_netns:  # `unshare` has entered the container's namespace
                        self._netns = os.open(path, os.O_RDONLY)
            if self._netns is not None and self._ping():
                return
            time.sleep(0.05)
        if stopping.is_set():
            raise ContainerError(f"{PING_FAILURE} (the local SageMaker service stopped)")
        raise ContainerError(self._failure(f"no healthy /ping within {timeout:g} s"))

    def _ping(self) -> bool:
        assert self._netns is not None
        connection = _ContainerConnection(self._netns, PING_TIMEOUT_SECONDS)
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
        """Stop the container (SIGTERM to its process group, then SIGKILL) and drop its files; logs stay."""
        with self._cond:
            self._closed = True
        if self.process is not None and self.process.poll() is None:
            kill_group(self.process, TERMINATE_GRACE_SECONDS)
        if self._netns is not None:
            os.close(self._netns)
            self._netns = None
        for sub in ("ml", "tmp"):
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
        if self._netns is None:
            raise ConnectionRefusedError("the container is not running")
        connection = _ContainerConnection(self._netns, INVOKE_TIMEOUT_SECONDS)
        try:
            connection.request("POST", "/invocations", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        if self._wrong_answers and response.status == 200:
            payload = perturb(payload)
        return response.status, payload, response.getheader("Content-Type")


def kill_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group, SIGKILL it after `grace` seconds; reap the leader."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # The leader may be gone while the script it spawned still runs: make sure the group is empty.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def perturb(payload: bytes) -> bytes:
    """Fault injection: the same response shape with wrong answers (a model that loads and serves, badly): labels
    and scores that disagree with a golden set (`_perturbed`); a body that is not JSON is returned reversed."""
    try:
        document = json.loads(payload)
    except ValueError:
        return payload[::-1]
    return json.dumps(_perturbed(document)).encode("utf-8")


def _perturbed(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {name: _perturbed(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_perturbed(item, key) for item in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, int) and key == "label":
        return 1 - value if value in (0, 1) else value + 1
    if 0.0 <= value <= 1.0:
        return 1.0 - value if value != 0.5 else 0.0
    return value + 1.0
