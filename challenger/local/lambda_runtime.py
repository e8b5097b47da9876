"""Run Challenger's Lambda functions behind moto's Lambda API (no Docker): one worker process per sandbox.

moto executes real ASL, but its Lambda ``Invoke`` either needs Docker or only echoes the payload: neither runs our
code here. :class:`LambdaRuntime` patches moto's ``Invoke`` (``LambdaBackend.invoke`` / ``LambdaSimpleBackend.invoke``,
which the Step Functions engine's boto3 client also reaches, at ``http://localhost:$MOTO_PORT`` in server mode) so
registered functions run our handlers; :class:`ProcessLambdaRuntime` runs each in AWS's Runtime Interface Client, one
process per sandbox (decision 0011). The moto fixes (:func:`_install_moto_fixes`) are checked against moto 5.2.5 only
(:func:`check_moto_version`); why each exists: docs/decisions/0008-local-cloud-strictness.md, "The moto fixes".
What the engine supports and the quirks left alone: ``tests/unit/local/test_moto_sfn_engine.py``.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import functools
import http.server
import importlib
import importlib.metadata
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import types
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Self

import requests

from challenger.local.serving import refuse_browser_headers

LOG = logging.getLogger(__name__)

SUPPORTED_MOTO_VERSION: Final = "5.2.5"

#: moto user config: Step Functions executes ASL; unregistered Lambdas echo instead of needing Docker.
MOTO_CONFIG: Final[dict[str, Any]] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}

DEFAULT_ACCOUNT_ID: Final = "123456789012"
DEFAULT_REGION: Final = "us-east-1"

_MISSING: Final = object()


def check_moto_version() -> None:
    """Raise ``RuntimeError`` unless the installed moto is the version this adapter was written against."""
    installed = importlib.metadata.version("moto")
    if installed != SUPPORTED_MOTO_VERSION:
        raise RuntimeError(
            f"challenger.local.lambda_runtime patches moto internals and is pinned to moto=="
            f"{SUPPORTED_MOTO_VERSION}, but moto=={installed} is installed. Re-check the patch points "
            "(LambdaBackend.invoke, LambdaSimpleBackend.invoke, the fixes in _install_moto_fixes) and run "
            "tests/unit/local before moving the pin."
        )


def configure_moto_server(endpoint_url: str) -> None:
    """Turn on ASL execution on a running moto server (``POST /moto-api/config``, body :data:`MOTO_CONFIG`).

    The engine then sends its Lambda and Step Functions calls to ``http://localhost:$MOTO_PORT``: the caller sets
    ``MOTO_PORT`` to the server's port.
    """
    requests.post(endpoint_url.rstrip("/") + "/moto-api/config", json=MOTO_CONFIG, timeout=10).raise_for_status()


def _moto_module(name: str) -> types.ModuleType:
    """Import a moto internal lazily: the version check must run first, for a clear error."""
    check_moto_version()
    return importlib.import_module(name)


# --------------------------------------------------------------------------------------------------
# Function specs and names


@dataclass(frozen=True)
class LocalFunction:
    """One Lambda function as the template defines it (CodeUri, Handler, Environment.Variables, Timeout, MemorySize,
    ReservedConcurrentExecutions); ``extra_paths`` are searched after ``code_dir`` (layers: ``layers/core``)."""

    name: str
    code_dir: Path | str
    handler: str = "app.lambda_handler"
    environment: Mapping[str, str] = field(default_factory=dict)
    extra_paths: Sequence[Path | str] = ()
    timeout: float = 3
    memory_size: int = 128
    concurrency: int | None = None  # ReservedConcurrentExecutions: the most sandboxes at once

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise ValueError(f"LocalFunction.name must be a plain function name, got {self.name!r}")
        module, _, attr = self.handler.rpartition(".")
        if not module or not attr:
            raise ValueError(f"handler must look like 'module.function', got {self.handler!r}")
        object.__setattr__(self, "code_dir", Path(self.code_dir).resolve())
        object.__setattr__(self, "extra_paths", tuple(Path(p).resolve() for p in self.extra_paths))
        object.__setattr__(self, "environment", {str(k): str(v) for k, v in self.environment.items()})


def parse_function_name(name_or_arn: str) -> tuple[str, str | None]:
    """``(name, qualifier)`` from a name, ``name:qualifier``, partial or full ARN (as Lambda accepts)."""
    parts = name_or_arn.split(":")
    if name_or_arn.startswith("arn:"):
        # arn:aws:lambda:region:account:function:name[:qualifier]
        if len(parts) < 7 or parts[5] != "function":
            raise ValueError(f"not a Lambda function ARN: {name_or_arn!r}")
        return parts[6], (parts[7] if len(parts) > 7 else None)
    if len(parts) >= 3 and parts[1] == "function":
        # account:function:name[:qualifier]
        return parts[2], (parts[3] if len(parts) > 3 else None)
    if len(parts) == 2:
        return parts[0], parts[1]
    return name_or_arn, None


# --------------------------------------------------------------------------------------------------
# Context and results


@dataclass(frozen=True)
class InvocationResult:
    """What Lambda's Invoke returns: the payload bytes, and ``FunctionError`` (``None`` on success)."""

    payload: bytes
    function_error: str | None
    request_id: str
    log_tail: str = ""

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None


class LocalInvocationError(Exception):
    """An invocation that failed the way Lambda reports it: ``error_type`` becomes ``errorType``."""

    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []


class TooManyRequests(Exception):
    """Invoke's 429 TooManyRequestsException: the function's reserved concurrency is in use (0 throttles every
    invocation; https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html)."""

    reason = "ReservedFunctionConcurrentInvocationLimitExceeded"  # the exception's Reason (Lambda API reference)


def _error_payload(error_type: str, message: str, request_id: str, stack: list[str]) -> bytes:
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}
    ).encode()


# --------------------------------------------------------------------------------------------------
# The runtime


class _PatchState:
    """Which runtime is installed and what the patches replaced (``_MISSING``: attribute was inherited)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: LambdaRuntime | None = None
        self.originals: dict[tuple[type, str], Any] = {}

    def patch(self, cls: type, attribute: str, replacement: Any) -> None:
        self.originals.setdefault((cls, attribute), cls.__dict__.get(attribute, _MISSING))
        setattr(cls, attribute, replacement)

    def restore_all(self) -> None:
        for (cls, attribute), original in reversed(self.originals.items()):
            if original is _MISSING:
                delattr(cls, attribute)
            else:
                setattr(cls, attribute, original)
        self.originals.clear()


_patches = _PatchState()


class LambdaRuntime:
    """Registry of :class:`LocalFunction` plus the moto patch that sends their Invokes to :meth:`invoke`.

    Use as a context manager (``with runtime:``) or call :meth:`install` / :meth:`uninstall`. One runtime can be
    installed at a time. Subclasses run the functions: :class:`ProcessLambdaRuntime` (the local cloud) in worker
    processes; the unit tests' in-process runtime (``tests/support/inprocess_lambda.py``) under ``mock_aws``.
    """

    def __init__(self, functions: Iterable[LocalFunction] = (), *, common_environment: Mapping[str, str] | None = None):
        self._functions: dict[str, LocalFunction] = {}
        self._registry_lock = threading.Lock()
        self.common_environment = dict(common_environment or {})
        for spec in functions:
            self.register(spec)

    def register(self, spec: LocalFunction) -> None:
        """Add (or replace) a function."""
        with self._registry_lock:
            self._functions[spec.name] = spec

    def get(self, name_or_arn: str) -> LocalFunction | None:
        try:
            name = parse_function_name(name_or_arn)[0]
        except ValueError:
            return None
        with self._registry_lock:
            return self._functions.get(name)

    def is_registered(self, name_or_arn: str) -> bool:
        return self.get(name_or_arn) is not None

    @property
    def function_names(self) -> list[str]:
        with self._registry_lock:
            return sorted(self._functions)

    def _require(self, name_or_arn: str) -> LocalFunction:
        spec = self.get(name_or_arn)
        if spec is None:
            raise KeyError(f"no local Lambda function registered as {name_or_arn!r}")
        return spec

    def install(self) -> None:
        """Patch moto (Lambda Invoke + the fixes in :func:`_install_moto_fixes`); checks moto's version."""
        lambda_models = _moto_module("moto.awslambda.models")
        simple_models = _moto_module("moto.awslambda_simple.models")
        with _patches.lock:
            if _patches.active is self:
                return
            if _patches.active is not None:
                raise RuntimeError("another Lambda runtime is installed; uninstall it first")
            for cls in (lambda_models.LambdaBackend, simple_models.LambdaSimpleBackend):
                _patches.patch(cls, "invoke", _make_patched_invoke(cls.__dict__["invoke"]))
            _install_moto_fixes()
            _patches.active = self

    def uninstall(self) -> None:
        """Restore everything :meth:`install` patched. Safe to call twice."""
        with _patches.lock:
            if _patches.active is not self:
                return
            _patches.restore_all()
            _patches.active = None

    @property
    def installed(self) -> bool:
        return _patches.active is self

    def __enter__(self) -> Self:
        self.install()
        return self

    def __exit__(self, *_: object) -> None:
        self.uninstall()

    def invoke(
        self,
        name_or_arn: str,
        event: Any = None,
        *,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
        qualifier: str | None = None,
    ) -> InvocationResult:
        """Run a registered function (what the moto patch calls); handler errors become the result."""
        raise NotImplementedError

    def _environment_for(self, spec: LocalFunction, region: str) -> dict[str, str]:
        """What Lambda sets (the documented reserved variables), then ``common_environment``, then the function's."""
        env = {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
        }
        env.update(self.common_environment)
        env.update(spec.environment)
        return env


# --------------------------------------------------------------------------------------------------
# One process per sandbox: the local cloud's runtime


class _Invocation:
    """One Invoke waiting in a function's queue, then running in one of its workers."""

    def __init__(self, request_id: str, event: bytes, arn: str) -> None:
        self.request_id = request_id
        self.event = event
        self.arn = arn
        self.taken = threading.Event()  # a worker's /next took it: its clock starts
        self.done = threading.Event()
        self.payload = b""
        self.function_error: str | None = None
        self.worker: _Worker | None = None

    def finish(self, payload: bytes, function_error: str | None) -> None:
        if not self.done.is_set():
            self.payload, self.function_error = payload, function_error
            self.done.set()


class _RuntimeApi(http.server.BaseHTTPRequestHandler):
    """The Lambda Runtime API one worker's Runtime Interface Client polls (AWS_LAMBDA_RUNTIME_API).

    Follows https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html: ``GET .../invocation/next`` answers
    the next event with ``Lambda-Runtime-Aws-Request-Id``, ``-Deadline-Ms`` and ``-Invoked-Function-Arn``;
    ``POST .../invocation/{id}/response`` and ``/error`` finish it (202); ``POST .../init/error`` reports a
    failed init (the runtime then exits). The client is awslambdaric, AWS's own (keep-alive HTTP/1.1).
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _WorkerServer

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: one line per poll would drown the cloud's output."""

    def parse_request(self) -> bool:
        """The browser guard of every local server (serving.refuse_browsers, issue 18 F5): a DNS-rebound page must
        not take an invocation's event (the API's carry callers' credentials) or answer it."""
        if not super().parse_request():
            return False
        reason = refuse_browser_headers(dict(self.headers.items()))
        if reason is None:
            return True
        self.close_connection = True  # its body, if any, is not read
        self._reply(403, json.dumps({"message": f"the local cloud refuses this request: {reason}"}).encode())
        return False

    def _reply(self, status: int, body: bytes = b'{"status":"OK"}', headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        worker = self.server.worker
        if self.path != "/2018-06-01/runtime/invocation/next":
            self._reply(404, b'{"errorType":"InvalidRequest"}')
            return
        invocation = worker.pool.next_for(worker)
        if invocation is None:  # the pool stops: the client raises and the process exits
            self._reply(410, b'{"errorType":"ShuttingDown"}')
            return
        deadline_ms = int((time.time() + worker.pool.spec.timeout) * 1000)
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.arn,
        }
        self._reply(200, invocation.event, headers)

    def do_POST(self) -> None:
        worker = self.server.worker
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.strip("/").split("/")  # 2018-06-01 runtime invocation <id> response|error
        if parts[2:4] == ["init", "error"]:
            self._reply(202)
            worker.pool.init_failed(body)
        elif len(parts) == 5 and parts[2] == "invocation" and parts[4] in {"response", "error"}:
            self._reply(202)  # first: the sandbox waits for it (holding its GIL) before it can take the next event
            worker.finished(parts[3], body, None if parts[4] == "response" else "Unhandled")
        else:
            self._reply(404, b'{"errorType":"InvalidRequest"}')


class _WorkerServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, worker: _Worker) -> None:
        self.worker = worker
        super().__init__(("127.0.0.1", 0), _RuntimeApi)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A worker that exits mid-poll (stop, timeout, crash) resets its connection: not an error here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Worker:
    """One sandbox: a process running AWS's Runtime Interface Client (``python -m awslambdaric <handler>``, the
    python3.13 runtime's bootstrap) with the function's environment only, and the Runtime API it polls."""

    def __init__(self, pool: _Pool, environment: Mapping[str, str]) -> None:
        self.pool = pool
        self.current: _Invocation | None = None
        self.server = _WorkerServer(self)
        threading.Thread(target=self.server.serve_forever, name=f"runtime-api-{pool.spec.name}", daemon=True).start()
        env = {**environment, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.server.server_port}"}
        self.started: float | None = time.monotonic()
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, AWS's client, the template's handler
            [sys.executable, "-m", "awslambdaric", pool.spec.handler],
            cwd=pool.spec.code_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pool.logs else None,
            start_new_session=True,  # Ctrl-C goes to the cloud, which stops its workers
        )
        if pool.logs:  # a subscription reads this function's log group (challenger.local.logs)
            stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}"  # Lambda's naming
            threading.Thread(target=self._ship_logs, args=(pool.logs, stream), daemon=True).start()
        threading.Thread(target=self._watch, name=f"worker-{pool.spec.name}", daemon=True).start()

    def _ship_logs(self, sink: Callable[[str, str], bool], stream: str) -> None:
        """What the Lambda service does with the function's stdout: every line to the log stream, to the end, even
        after the sandbox is killed. Here a line a subscription takes goes to its sink (the captures: data, one per
        request), every other line on to the cloud's own output, as before."""
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            if not sink(stream, raw.decode("utf-8", errors="replace")):
                with contextlib.suppress(OSError):
                    os.write(1, raw)

    def finished(self, request_id: str, payload: bytes, function_error: str | None) -> None:
        current, self.current = self.current, None
        if current is not None and current.request_id == request_id:
            current.finish(payload, function_error)

    def _watch(self) -> None:
        status = self.process.wait()
        current, self.current = self.current, None
        if current is not None:  # died mid-invocation: Lambda's answer for a runtime that exits
            message = f"RequestId: {current.request_id} Error: Runtime exited with error: exit status {status}"
            current.finish(_error_payload("Runtime.ExitError", message, current.request_id, []), "Unhandled")
        self.server.shutdown()
        self.server.server_close()
        self.pool.exited(self)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()


class _Pool:
    """A function's sandboxes: started on demand up to ``limit`` (a cold start each), reused while warm."""

    logs: Callable[[str, str], bool] | None = None  # (log stream, line) -> taken: a subscription reads the log group

    def __init__(self, spec: LocalFunction, environment: Mapping[str, str], limit: int) -> None:
        self.spec = spec
        self.environment = dict(environment)
        self.limit = limit
        self.reserved = spec.concurrency is not None  # beyond a reservation Lambda throttles; beyond ours we queue
        self.in_flight = 0
        self.queue: collections.deque[_Invocation] = collections.deque()
        self.workers: list[_Worker] = []
        self.idle = 0
        self.cold_starts: list[float] = []  # seconds from process start to its first /next
        self.stopping = False
        self._condition = threading.Condition()

    def submit(self, invocation: _Invocation) -> None:
        with self._condition:
            if self.stopping:
                raise LocalInvocationError("Runtime.Unavailable", "the local Lambda runtime is stopping")
            if self.reserved and self.in_flight >= self.limit:
                raise TooManyRequests("Rate Exceeded.")
            self.in_flight += 1
            self.queue.append(invocation)
            if len(self.queue) > self.idle and len(self.workers) < self.limit:
                self.workers.append(_Worker(self, self.environment))
            self._condition.notify()

    def ended(self) -> None:
        """An invocation `submit` accepted has its answer (or timed out): its concurrency is free again."""
        with self._condition:
            self.in_flight -= 1

    def next_for(self, worker: _Worker) -> _Invocation | None:
        """Block until an invocation is queued (a warm sandbox waiting for work); None when stopping."""
        with self._condition:
            if worker.started is not None:
                self.cold_starts.append(time.monotonic() - worker.started)
                worker.started = None
            self.idle += 1
            try:
                while not self.queue and not self.stopping:
                    self._condition.wait()
                if self.stopping:
                    return None
                invocation = self.queue.popleft()
            finally:
                self.idle -= 1
        worker.current, invocation.worker = invocation, worker
        invocation.taken.set()
        return invocation

    def init_failed(self, payload: bytes) -> None:
        """Init failed (the client exits next): the invocation that waited for this sandbox gets the error."""
        with self._condition:
            invocation = self.queue.popleft() if self.queue else None
        if invocation is not None:
            invocation.finish(payload, "Unhandled")

    def exited(self, worker: _Worker) -> None:
        with self._condition:
            with contextlib.suppress(ValueError):
                self.workers.remove(worker)
            if self.queue and not self.stopping and len(self.queue) > self.idle and len(self.workers) < self.limit:
                self.workers.append(_Worker(self, self.environment))

    def stop(self) -> None:
        with self._condition:
            self.stopping = True
            workers = list(self.workers)
            self._condition.notify_all()
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                worker.process.terminate()
        for worker in workers:
            try:
                worker.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.kill()


class ProcessLambdaRuntime(LambdaRuntime):
    """The local cloud's Lambda: per function up to ``concurrency`` (reserved, else ``default_concurrency``) worker
    processes (beyond a reservation Lambda throttles, :class:`TooManyRequests`; beyond the default we queue), each one
    sandbox (awslambdaric: init once, one invocation at a time through the Runtime API), with the function's
    environment only (:meth:`_environment_for` plus the runtime's ``PATH``, ``LANG``, ``TZ``,
    ``PYTHONPATH``); a timeout kills the sandbox (``Sandbox.Timedout``), an exit is ``Runtime.ExitError``.
    """

    def __init__(
        self,
        functions: Iterable[LocalFunction] = (),
        *,
        common_environment: Mapping[str, str] | None = None,
        default_concurrency: int = 4,
    ) -> None:
        self.default_concurrency = default_concurrency
        self._pools: dict[str, _Pool] = {}
        super().__init__(functions, common_environment=common_environment)

    def pool(self, name: str, region: str = DEFAULT_REGION) -> _Pool:
        """The function's sandboxes (created on first use)."""
        spec = self._require(name)
        with self._registry_lock:
            pool = self._pools.get(spec.name)
            if pool is None:
                paths = os.pathsep.join(str(p) for p in (spec.code_dir, *spec.extra_paths))
                environment = {
                    "PATH": "/usr/local/bin:/usr/bin:/bin",
                    "LANG": "en_US.UTF-8",
                    "TZ": ":UTC",
                    "PYTHONPATH": paths,
                    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                    **self._environment_for(spec, region),
                }
                limit = self.default_concurrency if spec.concurrency is None else spec.concurrency
                pool = _Pool(spec, environment, limit)
                self._pools[spec.name] = pool
            return pool

    def invoke(
        self,
        name_or_arn: str,
        event: Any = None,
        *,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
        qualifier: str | None = None,
    ) -> InvocationResult:
        """Queue the event for one of the function's workers and wait for its answer; raises
        :class:`TooManyRequests` when the function's reserved concurrency is used up."""
        name, arn_qualifier = parse_function_name(name_or_arn)
        pool = self.pool(name, region)
        qualifier = qualifier or arn_qualifier
        request_id = str(uuid.uuid4())
        arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}" + (f":{qualifier}" if qualifier else "")
        invocation = _Invocation(request_id, json.dumps(event).encode(), arn)
        try:
            pool.submit(invocation)
        except LocalInvocationError as failure:
            return InvocationResult(
                _error_payload(failure.error_type, failure.message, request_id, []), "Unhandled", request_id
            )
        try:
            while not invocation.taken.wait(1.0) and not invocation.done.is_set():
                if pool.stopping:
                    message = "the local Lambda runtime stopped"
                    return InvocationResult(
                        _error_payload("Runtime.Unavailable", message, request_id, []), "Unhandled", request_id
                    )
            if not invocation.done.wait(pool.spec.timeout):
                message = f"RequestId: {request_id} Error: Task timed out after {pool.spec.timeout:.2f} seconds"
                invocation.finish(_error_payload("Sandbox.Timedout", message, request_id, []), "Unhandled")
                if invocation.worker is not None:
                    invocation.worker.kill()  # AWS stops a timed-out invocation's sandbox (after: not an ExitError)
        finally:
            pool.ended()
        return InvocationResult(invocation.payload, invocation.function_error, request_id)

    def ship_logs(self, name: str, sink: Callable[[str, str], bool], region: str = DEFAULT_REGION) -> None:
        """Offer the function's log lines (stdout) to `sink`, which says whether a subscription filter of its log
        group took the line. Sandboxes started from now on are read."""
        self.pool(name, region).logs = sink

    def cold_starts(self) -> dict[str, list[float]]:
        """Seconds from each worker's process start to its first poll for work, per function."""
        with self._registry_lock:
            return {name: list(pool.cold_starts) for name, pool in self._pools.items()}

    def stop(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL after 5 s)."""
        with self._registry_lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.stop()


# --------------------------------------------------------------------------------------------------
# The moto patches


def _make_patched_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``LambdaBackend.invoke``-shaped methods: registered functions run locally."""

    def invoke(  # noqa: PLR0917 - moto's signature
        backend: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> str | bytes | None:
        runtime = _patches.active
        if runtime is None or not runtime.is_registered(function_name):
            args = (backend, function_name, qualifier, body, headers, response_headers)
            fallback: str | bytes | None = original(*args)
            return fallback
        try:
            event = json.loads(body) if body else {}  # moto hands on the request body: str or bytes
        except ValueError as exc:  # UnicodeDecodeError included
            exceptions = importlib.import_module("moto.awslambda.exceptions")
            message = f"Could not parse request body into json: {exc}"
            raise exceptions.InvalidParameterValueException(message) from exc
        # werkzeug's (server mode) and botocore's (decorator mode) headers, or a dict: compared case-insensitively.
        types = [str(v) for k, v in dict(headers or {}).items() if str(k).lower() == "x-amz-invocation-type"]
        invocation_type = types[0] if types else "RequestResponse"
        if invocation_type == "DryRun":
            return b""
        try:
            result = runtime.invoke(
                function_name, event, account_id=backend.account_id, region=backend.region_name, qualifier=qualifier
            )
        except TooManyRequests as throttled:
            if invocation_type == "Event":  # accepted: Lambda's own queue retries a throttled event (up to 6 h)
                LOG.warning("async invocation of %s throttled (reserved concurrency)", function_name)
                return b""
            error = importlib.import_module("moto.awslambda.exceptions").LambdaClientError(
                "TooManyRequestsException", str(throttled)
            )
            error.code = 429
            error.description = json.dumps({"Type": "User", "message": str(throttled), "Reason": throttled.reason})
            raise error from throttled
        response_headers["x-amz-executed-version"] = "$LATEST"
        if invocation_type == "Event":
            if result.function_error:
                LOG.warning("async invocation of %s failed: %s", function_name, result.payload.decode())
            return b""
        if result.function_error:
            response_headers["x-amz-function-error"] = result.function_error
        # LambdaResponse.invoke keeps this header only for LogType=Tail, as AWS does.
        response_headers["x-amz-log-result"] = base64.b64encode(result.log_tail.encode()).decode()
        response_headers["Content-Length"] = str(len(result.payload))
        return result.payload

    invoke.__wrapped__ = original  # type: ignore[attr-defined]
    return invoke


def _install_moto_fixes() -> None:
    """Narrow fixes for moto 5.2.5 where its engine is kinder than AWS, or breaks constructs our ASL uses (each
    explained in decision 0008, "The moto fixes"):

    1. ``states:startExecution`` parameter and response casing (moto stubs the normalisation out);
    2. execution names: https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html;
    3. ``States.ALL`` never catches terminal errors:
       https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html;
    4. SNS ``Publish`` limits: https://docs.aws.amazon.com/sns/latest/api/API_Publish.html;
    5. a parse cache (speed only).
    """
    botocore_session = importlib.import_module("botocore.session")
    botocore = importlib.import_module("botocore")
    sfn_service = _moto_module(
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn"
    )
    sfn_task_cls = sfn_service.StateTaskServiceSfn

    # 1. states:startExecution parameter/response casing.
    service_model = botocore_session.get_session().get_service_model("stepfunctions")
    operations = {botocore.xform_name(op): op for op in service_model.operation_names}

    def operation_model(task: Any, service_action_name: str | None) -> Any:
        return service_model.operation_model(operations[task._get_boto_service_action(service_action_name)])

    original_normalise_parameters = sfn_task_cls.__dict__["_normalise_parameters"]

    def _normalise_parameters(
        task: Any,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        original_normalise_parameters(task, parameters, boto_service_name, service_action_name)
        shape = operation_model(task, service_action_name).input_shape
        if shape is not None:
            task._to_boto_request(parameters, shape)

    def _normalise_response(
        task: Any,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        shape = operation_model(task, service_action_name).output_shape
        if shape is not None:
            task._from_boto_response(response, shape)

    _patches.patch(sfn_task_cls, "_normalise_parameters", _normalise_parameters)
    _patches.patch(sfn_task_cls, "_normalise_response", _normalise_response)
    _install_name_rules()
    _install_data_limit_rule()
    _install_sns_limits()
    _install_parse_cache()


EXECUTION_NAME = re.compile(r"^[0-9A-Za-z_-]{1,80}$")


def _install_name_rules() -> None:
    parser_backend_cls = _moto_module("moto.stepfunctions.parser.models").StepFunctionsParserBackend
    exceptions = _moto_module("moto.stepfunctions.exceptions")
    original_start = parser_backend_cls.__dict__["start_execution"]

    def start_execution(
        backend: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        if name is not None:
            backend._validate_name(name)  # AWS's own rules, as moto's plain backend checks them
            if not EXECUTION_NAME.fullmatch(name):
                raise exceptions.InvalidName(
                    f"Invalid Name: '{name}' (the local cloud allows 1-80 characters of [0-9A-Za-z_-], "
                    "the names Step Functions can log to CloudWatch)"
                )
        return original_start(backend, state_machine_arn, name, execution_input, trace_header)

    _patches.patch(parser_backend_cls, "start_execution", start_execution)


def _install_data_limit_rule() -> None:
    decl_module = _moto_module("moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl")
    names = _moto_module("moto.stepfunctions.parser.asl.component.common.error_name.states_error_name")
    types_module = _moto_module("moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type")
    kinds = types_module.StatesErrorNameType
    terminal = [
        names.StatesErrorName(typ=kinds.StatesStatesDataLimitExceeded),
        names.StatesErrorName(typ=kinds.StatesRuntime),
    ]
    decl_cls = decl_module.ErrorEqualsDecl
    original_eval_body = decl_cls.__dict__["_eval_body"]

    def _eval_body(decl: Any, env: Any) -> None:
        error = env.stack[-1] if env.stack else None
        if any(error == name for name in terminal) and error not in decl.error_names:
            env.stack.pop()
            env.stack.append(False)  # only an ErrorEquals naming the error matches it
            return
        original_eval_body(decl, env)

    _patches.patch(decl_cls, "_eval_body", _eval_body)


_asl_trees: Callable[[str], Any] | None = None  # kept across installs: one runtime per test re-installs the fixes


def _install_parse_cache() -> None:
    global _asl_trees  # noqa: PLW0603
    parser_cls = _moto_module("moto.stepfunctions.parser.asl.parse.asl_parser").AmazonStateLanguageParser
    preprocessor_cls = _moto_module("moto.stepfunctions.parser.asl.parse.preprocessor").Preprocessor
    if _asl_trees is None:
        original_parse = parser_cls.__dict__["parse"].__func__
        # A syntax error raises and is not cached.
        _asl_trees = functools.lru_cache(maxsize=64)(lambda definition: original_parse(definition)[1])
    trees = _asl_trees

    def parse(definition: str) -> tuple[Any, Any]:
        tree = trees(definition)
        return preprocessor_cls().visit(tree), tree

    _patches.patch(parser_cls, "parse", staticmethod(parse))


SNS_MAX_MESSAGE_BYTES = 262_144
SNS_MAX_SUBJECT_CHARACTERS = 99


def _install_sns_limits() -> None:
    sns_models = _moto_module("moto.sns.models")
    original_publish = sns_models.SNSBackend.__dict__["publish"]

    def publish(backend: Any, message: str, arn: str | None, *args: Any, **kwargs: Any) -> Any:
        subject = kwargs.get("subject", args[1] if len(args) > 1 else None)
        if subject is not None and (
            len(subject) > SNS_MAX_SUBJECT_CHARACTERS or not all(" " <= char <= "~" for char in subject)
        ):
            # moto's Publish response turns ValueError into InvalidParameter, as AWS answers.
            raise ValueError(
                "Invalid parameter: Subject (ASCII without line breaks or control characters, "
                f"fewer than 100 characters; got {len(subject)})"
            )
        if message is not None and len(message.encode("utf-8")) > SNS_MAX_MESSAGE_BYTES:
            raise ValueError("Invalid parameter: Message too long")
        return original_publish(backend, message, arn, *args, **kwargs)

    _patches.patch(sns_models.SNSBackend, "publish", publish)
