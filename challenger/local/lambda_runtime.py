"""Run Challenger's Lambda handlers in-process behind moto's Lambda API (no Docker).

Why
---
moto can execute real ASL (its Step Functions "parser" engine, a port of LocalStack's), but its Lambda
``Invoke`` either starts a Docker container (``{"lambda": {"use_docker": true}}``, the default) or only
echoes the payload back (``{"lambda": {"use_docker": false}}``). Neither runs our code here. This module
patches moto's Lambda ``Invoke`` so that functions registered with a :class:`LocalLambdaRuntime` run our
Python handlers in this process; every other function keeps moto's default behaviour.

Enabling ASL execution (moto 5.2.5)
-----------------------------------
The switch is the user config ``{"stepfunctions": {"execute_state_machine": True}}`` (``moto/core/config.py``,
read per request by ``moto/stepfunctions/responses.py::get_backend``, which then serves Step Functions from
``moto.stepfunctions.parser.models.stepfunctions_parser_backends``). :data:`MOTO_CONFIG` holds it together
with ``{"lambda": {"use_docker": False}}`` so that unregistered functions echo instead of trying Docker.

* decorator mode: ``@mock_aws(config=MOTO_CONFIG)`` / ``with mock_aws(config=MOTO_CONFIG):``.
* server mode: ``POST <endpoint>/moto-api/config`` with that JSON body (``moto_api`` ``set_config``), see
  :func:`configure_moto_server`, **and** ``MOTO_PORT`` = the server's port (see below).
* ``SF_EXECUTION_HISTORY_TYPE`` is *not* the switch: it only shapes the canned histories of moto's default
  (non-executing) Step Functions backend.

The Lambda and Step Functions *backends* are picked per request from that config and each keeps its own
store: set the config before creating resources and don't switch it mid-test.

How the Step Functions engine reaches Lambda
--------------------------------------------
``arn:aws:states:::lambda:invoke[.waitForTaskToken]`` and a bare function ARN as ``Resource`` both go
through ``moto/stepfunctions/parser/asl/component/state/exec/state_task/lambda_eval_utils.py``, which
builds a *real boto3 client* (``asl/utils/boto_client.py::boto_client_for``) and calls ``invoke``:

* decorator mode (``mock_aws`` active in the process): moto's botocore stubber intercepts it in-process;
* server mode (no ``mock_aws`` active): the client targets ``http://localhost:$MOTO_PORT`` (default 5000),
  so ``MOTO_PORT`` must name the moto server's port. (``states:startExecution`` works the same way.)

Either way the request ends in ``LambdaResponse.invoke`` -> ``<backend>.invoke(function_name, qualifier,
body, headers, response_headers)``, where the backend is ``moto.awslambda.models.LambdaBackend`` (Docker)
or ``moto.awslambda_simple.models.LambdaSimpleBackend`` (``use_docker: false``, which overrides ``invoke``).
We patch ``invoke`` on *both* classes. The ``x-amz-function-error`` header becomes boto3's
``FunctionError``; the engine then raises ``LambdaFunctionErrorException`` and takes the *error name* from
the payload's ``errorType`` and the *cause* from the compact JSON payload, exactly like AWS; so a
Catch/Retry on ``"DataValidationError"`` works.

Invocation semantics
--------------------
* The handler string (``"app.lambda_handler"``; the module may be dotted) is imported with the function's
  ``code_dir`` first on ``sys.path``, then its ``extra_paths`` (e.g. ``layers/core`` for ``/opt/python``).
* Module isolation: many functions have an ``app.py`` (and sibling modules). A function's top-level
  modules keep their real names (``__name__ == "app"``, as on AWS) but live in a *private* per-function
  table: they are put into ``sys.modules`` only while that function runs and taken out afterwards (anything
  that was there before is restored). So functions never see each other's modules, lazy imports inside a
  handler resolve to the right directory, and ``import app`` elsewhere is unaffected. Modules from
  ``extra_paths`` (layers) are shared, as a layer would be. :meth:`LocalLambdaRuntime.module` returns a
  function's handler module (for ``mock.patch.object``); string targets such as ``mock.patch("app.x")``
  cannot work since the module is not in ``sys.modules`` between invocations.
* Like a warm container, a function's modules are imported once and reused (module-level clients and
  caches persist) until :meth:`LocalLambdaRuntime.reset` or re-registration. A failed import is not kept.
  Two registered functions sharing a ``code_dir`` still get separate module tables (separate containers).
* Environment: ``os.environ`` gets the runtime's variables (``AWS_LAMBDA_FUNCTION_NAME``, ``AWS_REGION``,
  ``_HANDLER``...), then ``common_environment``, then the function's ``environment``, for the duration of
  the call. Afterwards every variable added, changed or removed during the call (by us *or* the handler) is
  put back. Other variables of the process stay visible to the handler.
* Context: :class:`LambdaContext` with ``function_name``, ``function_version``, ``invoked_function_arn``
  (account/region of the moto backend), ``memory_limit_in_mb``, ``aws_request_id``, ``log_group_name``,
  ``log_stream_name`` and ``get_remaining_time_in_millis()`` (counting down from ``timeout``).
* Result: the return value, JSON-encoded, is the ``Payload``; a non-serialisable one is a
  ``Runtime.MarshalError`` function error, as on AWS.
* Errors: an exception becomes ``FunctionError: "Unhandled"`` with payload ``{"errorMessage", "errorType",
  "requestId", "stackTrace"}`` (the Python runtime's shape; ``errorType`` is the exception class name).
  A failing import is ``Runtime.ImportModuleError`` (``Runtime.UserCodeSyntaxError`` for a syntax error, the
  exception's class name for other errors raised at import), a missing handler ``Runtime.HandlerNotFound``.
* Timeout: Python cannot interrupt a thread, so ``timeout`` is checked *after* the handler returns: if it
  ran longer, the result is dropped and the call fails with ``Sandbox.Timedout`` (AWS's error type), so
  Step Functions reacts as to a real timeout, only later.
* ``InvocationType=Event`` runs the handler synchronously and returns an empty body (errors are logged and
  dropped, as for an async invoke); ``DryRun`` does not run it.
* A registered function need not exist in moto's Lambda backend (no ``create_function`` needed). Names are
  matched as Lambda does: name, ``name:qualifier``, ``123456789012:function:name`` or a full ARN; the
  registry is keyed by *name* only (account and region are ignored).

Threads and limitations
-----------------------
moto runs each Step Functions execution (and Map iteration, Parallel branch) in its own thread, and the
moto server serves requests on threads; but environment variables, ``sys.path`` and ``sys.modules`` are
process-global. So **invocations are serialised** through one re-entrant lock, held for the whole call:

* handlers never run concurrently (a Map with ``MaxConcurrency > 1`` works, serially);
* while a handler runs, *other* threads see its environment variables, ``sys.path`` entries and modules,
  and an environment change another thread makes meanwhile is undone when the call ends;
* a handler that *synchronously* invokes another registered function works in decorator mode (same thread,
  the lock is re-entrant) but would deadlock in server mode (the nested call arrives on a server thread),
  so waiting for the lock times out after ``lock_timeout`` s with a ``Runtime.LocalLockTimeout`` error;
* ``code_dir`` must be a source directory (``functions/trigger``), not a ``sam build`` artefact with vendored
  dependencies: its top-level names are treated as the function's private modules (stdlib names exempt).

moto fixes (applied by :meth:`LocalLambdaRuntime.install`, undone by ``uninstall``)
-------------------------------------------------------------------------------------
See :func:`_install_moto_fixes`: (1) ``states:startExecution[.sync[:2]]`` sends PascalCase parameters to
botocore's camelCase Step Functions API (the task fails with ``States.Runtime``/``KeyError:
'StateMachineArn'``) and returns camelCase keys instead of ``ExecutionArn``/``Output``/``Status``;
(2) ``StartExecution`` names are not checked (AWS: <= 80 characters, no whitespace, brackets, wildcards...);
(3) ``States.ALL`` catches ``States.DataLimitExceeded`` and ``States.Runtime``, which AWS never lets it;
(4) SNS ``Publish`` limits. Also: Retry back-off is a real ``time.sleep`` and ``IntervalSeconds`` must be
>= 1, hence the optional :func:`scaled_retry_intervals`.

Not fixed, because the product does not depend on them: ``StartExecution`` without a name creates an
execution named ``None`` (every start here passes ``name=``), and ``SendTaskFailure`` drops ``cause`` (the
product answers approval tasks with ``SendTaskSuccess`` only).

Version pin
-----------
All of this was checked against moto 5.2.5 only; :meth:`LocalLambdaRuntime.install` refuses any other
version (:func:`check_moto_version`) because the patch points are moto internals.

ASL support verified on moto 5.2.5 (``tests/unit/local/test_moto_sfn_engine.py`` has the details)
--------------------------------------------------------------------------------------------------
Works: ``lambda:invoke`` with ``Payload.$``, ``ResultSelector``, ``ResultPath`` (incl. ``null`` in a
Catch), ``OutputPath``; bare function ARN resources; ``Retry`` on custom error names with
``IntervalSeconds``/``MaxAttempts``/``BackoffRate``/``MaxDelaySeconds``; ``Catch`` on custom names,
``States.ALL`` and ``States.TaskFailed``; ``lambda:invoke.waitForTaskToken`` with ``$$.Task.Token``,
``TimeoutSeconds``/``TimeoutSecondsPath`` (-> ``States.Timeout``) and ``SendTaskSuccess``/
``SendTaskFailure`` from another thread; ``states:startExecution.sync:2`` with ``Name.$`` from
``States.Format`` (child output parsed; child failure -> ``States.TaskFailed``) -- with fix (3);
``Wait`` with ``SecondsPath``; ``Choice`` with ``Default``; ``Fail`` with ``Error``/``Cause``/
``ErrorPath``/``CausePath``; ``Succeed``; ``Pass`` with ``Result``/``ResultPath``/``Parameters``;
``Map`` (``ItemsPath``, ``ItemSelector``, ``MaxConcurrency``); intrinsics ``States.Format``,
``States.StringToJson``. Both ``statemachine/*.asl.json`` parse in moto's engine.

Quirks left alone: an execution whose output is a bare JSON string reports it unquoted; boto3's
``Qualifier=`` never reaches moto's Lambda backend (moto reads the lower-case query parameter), use
``FunctionName="name:qualifier"``; moto's engine has no optimised ``sagemaker:*`` integration (Lambda
tasks call SageMaker in our design, so it is not needed).
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
import traceback
import types
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Self

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


def configure_moto_server(endpoint_url: str, *, config: Mapping[str, Any] | None = None) -> None:
    """Turn on ASL execution on a running moto server (``POST /moto-api/config``, body :data:`MOTO_CONFIG`).

    Also makes sure ``MOTO_PORT`` names the server's port: moto's Step Functions engine sends its Lambda and
    Step Functions calls to ``http://localhost:$MOTO_PORT`` when no ``mock_aws`` is active in the process.
    The variable is set if absent; a different existing value is an error.
    """
    parts = urllib.parse.urlsplit(endpoint_url)
    if parts.scheme not in {"http", "https"}:
        raise ValueError(f"expected an http(s) moto endpoint, got {endpoint_url!r}")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        endpoint_url.rstrip("/") + "/moto-api/config",
        data=json.dumps(dict(config if config is not None else MOTO_CONFIG)).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - scheme checked above
        response.read()
    if parts.port is None:
        return
    current = os.environ.get("MOTO_PORT")
    if current is None:
        os.environ["MOTO_PORT"] = str(parts.port)
    elif current != str(parts.port):
        raise RuntimeError(
            f"MOTO_PORT={current} but the moto server listens on {parts.port}: moto's Step Functions "
            "engine would send its Lambda calls to the wrong port."
        )


def _moto_module(name: str) -> types.ModuleType:
    """Import a moto internal lazily: the version check must run first, for a clear error."""
    check_moto_version()
    return importlib.import_module(name)


class _ScaledTime:
    """``time`` stand-in whose ``sleep`` is scaled and recorded; everything else is the real module."""

    def __init__(self, factor: float, requested: list[float]) -> None:
        self._factor = factor
        self._requested = requested

    def sleep(self, seconds: float) -> None:
        self._requested.append(seconds)
        time.sleep(seconds * self._factor)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextlib.contextmanager
def scaled_retry_intervals(factor: float = 0.0) -> Iterator[list[float]]:
    """Scale the engine's Retry back-off sleeps (``0.0``: retry at once); yields the requested intervals.

    moto's engine really sleeps ``IntervalSeconds * BackoffRate**n`` (capped by ``MaxDelaySeconds``)
    between attempts, and ``IntervalSeconds`` must be >= 1 (as on AWS), so a Retry costs seconds per test.
    This swaps the ``time`` module seen by ``moto/stepfunctions/parser/asl/component/common/retry/
    retrier_decl.py`` only (its single ``time.sleep(interval_seconds)``). The yielded list collects the
    unscaled intervals the engine asked for, so a test can assert the back-off schedule. ``Wait`` states
    are unaffected: drive them with ``SecondsPath`` from the test input.
    """
    retrier_decl: Any = _moto_module("moto.stepfunctions.parser.asl.component.common.retry.retrier_decl")
    requested: list[float] = []
    previous = retrier_decl.time
    retrier_decl.time = _ScaledTime(factor, requested)
    try:
        yield requested
    finally:
        retrier_decl.time = previous


# --------------------------------------------------------------------------------------------------
# Function specs and names


@dataclass(frozen=True)
class LocalFunction:
    """How to run one Lambda function in-process.

    ``code_dir`` is the function's CodeUri (e.g. ``functions/trigger``), ``handler`` its Handler
    (``module.attr``, the module may be dotted), ``environment`` its Environment.Variables,
    ``extra_paths`` directories searched after ``code_dir`` (layers: ``layers/core``),
    ``timeout`` seconds and ``memory_size`` MB as in the template.
    """

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


def _safe_function_name(name_or_arn: str) -> str | None:
    try:
        return parse_function_name(name_or_arn)[0]
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------------
# Context and results


class LambdaContext:
    """The subset of the Python runtime's context object that handlers (and Powertools) use."""

    def __init__(
        self,
        *,
        function_name: str,
        function_version: str,
        invoked_function_arn: str,
        memory_limit_in_mb: int,
        aws_request_id: str,
        timeout: float,
    ) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self.timeout = timeout
        self._deadline = time.monotonic() + timeout

    def start_clock(self) -> None:
        """(Re)start the countdown: the handler's time starts when it can run, not while queued."""
        self._deadline = time.monotonic() + self.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext({self.function_name!r}, request_id={self.aws_request_id!r})"


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


def _error_payload(error_type: str, message: str, request_id: str, stack: list[str]) -> bytes:
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}
    ).encode()


def _stack_of(exc: BaseException) -> list[str]:
    # Drop this module's own frames: AWS shows only the user's code.
    here = os.path.abspath(__file__)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) != here]
    return traceback.format_list(traceback.StackSummary.from_list(frames))


# --------------------------------------------------------------------------------------------------
# Per-function module table and environment


class _FunctionState:
    """A function's private modules (the 'container' that stays warm between invocations)."""

    def __init__(self, spec: LocalFunction) -> None:
        self.spec = spec
        self.private_modules: dict[str, types.ModuleType] = {}
        self.discard = False
        self.top_level_names = self._scan_top_level_names(Path(spec.code_dir))

    @staticmethod
    def _scan_top_level_names(code_dir: Path) -> frozenset[str]:
        if not code_dir.is_dir():
            raise FileNotFoundError(f"Lambda code directory does not exist: {code_dir}")
        names = set()
        for entry in code_dir.iterdir():
            if entry.is_file() and entry.suffix != ".py":
                continue
            stem = entry.stem if entry.is_file() else entry.name
            if stem == "__pycache__" or not stem.isidentifier():
                continue
            if stem in sys.stdlib_module_names or stem in sys.builtin_module_names:
                continue
            names.add(stem)
        return frozenset(names)

    def owns(self, module_name: str) -> bool:
        return module_name.partition(".")[0] in self.top_level_names

    @contextlib.contextmanager
    def activated(self) -> Iterator[None]:
        """Make this function's modules and paths the importable ones; undo afterwards."""
        displaced = {name: mod for name, mod in sys.modules.items() if self.owns(name)}
        for name in displaced:
            del sys.modules[name]
        sys.modules.update(self.private_modules)
        added_paths = [str(self.spec.code_dir), *(str(p) for p in self.spec.extra_paths)]
        sys.path[:0] = added_paths
        importlib.invalidate_caches()
        self.discard = False
        try:
            yield
        finally:
            for entry in added_paths:
                with contextlib.suppress(ValueError):
                    sys.path.remove(entry)
            ours = {name: mod for name, mod in sys.modules.items() if self.owns(name)}
            for name in ours:
                del sys.modules[name]
            self.private_modules = {} if self.discard else ours
            self.discard = False
            sys.modules.update(displaced)


@contextlib.contextmanager
def _environment(overrides: Mapping[str, str]) -> Iterator[None]:
    """Apply ``overrides`` to ``os.environ``; afterwards undo every change made meanwhile."""
    before = dict(os.environ)
    os.environ.update(overrides)
    try:
        yield
    finally:
        after = dict(os.environ)
        for key in after.keys() - before.keys():
            os.environ.pop(key, None)
        for key, value in before.items():
            if after.get(key) != value:
                os.environ[key] = value


_invoke_lock = threading.RLock()


@contextlib.contextmanager
def _locked(timeout: float) -> Iterator[None]:
    if not _invoke_lock.acquire(timeout=timeout):
        raise LocalInvocationError(
            "Runtime.LocalLockTimeout",
            f"waited {timeout}s for another local Lambda invocation to finish (a handler synchronously "
            "invoking another function through a moto *server* deadlocks; see lambda_runtime's docs)",
        )
    try:
        yield
    finally:
        _invoke_lock.release()


# --------------------------------------------------------------------------------------------------
# The runtime


class _PatchState:
    """Which runtime is installed and what the patches replaced (``_MISSING``: attribute was inherited)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: LocalLambdaRuntime | None = None
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


class LocalLambdaRuntime:
    """Registry of :class:`LocalFunction` plus the moto patch that runs them.

    Use as a context manager (``with LocalLambdaRuntime([...]):``) or call :meth:`install` /
    :meth:`uninstall`. One runtime can be installed at a time. Works the same under ``mock_aws`` and with a
    ``ThreadedMotoServer`` in the same process (install before or after starting it). Functions can be
    (un)registered while installed.
    """

    def __init__(
        self,
        functions: Iterable[LocalFunction] = (),
        *,
        common_environment: Mapping[str, str] | None = None,
        lock_timeout: float = 60.0,
    ) -> None:
        self._functions: dict[str, _FunctionState] = {}
        self._registry_lock = threading.Lock()
        self.common_environment = dict(common_environment or {})
        self.lock_timeout = lock_timeout
        for spec in functions:
            self.register(spec)

    # -- registry ----------------------------------------------------------------------------------

    def register(self, spec: LocalFunction) -> None:
        """Add (or replace) a function; a replaced function's modules are dropped."""
        state = _FunctionState(spec)
        with self._registry_lock:
            self._functions[spec.name] = state

    def get(self, name_or_arn: str) -> LocalFunction | None:
        state = self._state(name_or_arn)
        return state.spec if state else None

    def is_registered(self, name_or_arn: str) -> bool:
        return self._state(name_or_arn) is not None

    @property
    def function_names(self) -> list[str]:
        with self._registry_lock:
            return sorted(self._functions)

    def _state(self, name_or_arn: str) -> _FunctionState | None:
        name = _safe_function_name(name_or_arn)
        if name is None:
            return None
        with self._registry_lock:
            return self._functions.get(name)

    def _require(self, name_or_arn: str) -> _FunctionState:
        state = self._state(name_or_arn)
        if state is None:
            raise KeyError(f"no local Lambda function registered as {name_or_arn!r}")
        return state

    def reset(self) -> None:
        """Forget every loaded module: the next invocation of each function is a cold start."""
        with _invoke_lock, self._registry_lock:
            for state in self._functions.values():
                state.private_modules = {}

    def module(self, name_or_arn: str) -> types.ModuleType:
        """The function's handler module, imported (cold start) if needed; for ``mock.patch.object``."""
        state = self._require(name_or_arn)
        module_name = state.spec.handler.rpartition(".")[0]
        env = self._environment_for(state.spec, DEFAULT_REGION)
        with _locked(self.lock_timeout), _environment(env), state.activated():
            return importlib.import_module(module_name)

    # -- install -----------------------------------------------------------------------------------

    def install(self) -> None:
        """Patch moto (Lambda Invoke + the fixes in :func:`_install_moto_fixes`); checks moto's version."""
        lambda_models = _moto_module("moto.awslambda.models")
        simple_models = _moto_module("moto.awslambda_simple.models")
        with _patches.lock:
            if _patches.active is self:
                return
            if _patches.active is not None:
                raise RuntimeError("another LocalLambdaRuntime is installed; uninstall it first")
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

    # -- invocation --------------------------------------------------------------------------------

    def invoke(
        self,
        name_or_arn: str,
        event: Any = None,
        *,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
        qualifier: str | None = None,
    ) -> InvocationResult:
        """Run a registered function (what the moto patch calls). Handler errors become the result."""
        state = self._require(name_or_arn)
        spec = state.spec
        name, arn_qualifier = parse_function_name(name_or_arn)
        qualifier = qualifier or arn_qualifier
        request_id = str(uuid.uuid4())
        arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}" + (f":{qualifier}" if qualifier else "")
        context = LambdaContext(
            function_name=name,
            function_version="$LATEST",
            invoked_function_arn=arn,
            memory_limit_in_mb=spec.memory_size,
            aws_request_id=request_id,
            timeout=spec.timeout,
        )
        started = time.monotonic()
        function_error: str | None = None
        try:
            with _locked(self.lock_timeout):
                started = time.monotonic()
                context.start_clock()
                result = self._run(state, event, context, region)
            if time.monotonic() - started > spec.timeout:
                raise LocalInvocationError(
                    "Sandbox.Timedout",
                    f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds",
                )
            try:
                payload = json.dumps(result).encode()
            except (TypeError, ValueError) as exc:
                message = f"Unable to marshal response: {exc}"
                raise LocalInvocationError("Runtime.MarshalError", message) from exc
        except LocalInvocationError as failure:
            payload = _error_payload(failure.error_type, failure.message, request_id, failure.stack)
            function_error = "Unhandled"
        elapsed_ms = (time.monotonic() - started) * 1000
        log_tail = (
            f"START RequestId: {request_id} Version: $LATEST\n"
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\t"
            f"Memory Size: {spec.memory_size} MB\n"
        )
        return InvocationResult(payload, function_error, request_id, log_tail)

    def _environment_for(self, spec: LocalFunction, region: str) -> dict[str, str]:
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

    def _run(self, state: _FunctionState, event: Any, context: LambdaContext, region: str) -> Any:
        module_name, _, attr = state.spec.handler.rpartition(".")
        with _environment(self._environment_for(state.spec, region)), state.activated():
            try:
                module = importlib.import_module(module_name)
            except SyntaxError as exc:
                state.discard = True
                message = f"Syntax error in module '{module_name}': {exc}"
                raise LocalInvocationError("Runtime.UserCodeSyntaxError", message) from exc
            except ImportError as exc:
                state.discard = True
                message = f"Unable to import module '{module_name}': {exc}"
                raise LocalInvocationError("Runtime.ImportModuleError", message) from exc
            except Exception as exc:
                state.discard = True
                raise LocalInvocationError(type(exc).__name__, str(exc), _stack_of(exc)) from exc
            handler = getattr(module, attr, None)
            if not callable(handler):
                message = f"Handler '{attr}' missing on module '{module_name}'"
                raise LocalInvocationError("Runtime.HandlerNotFound", message)
            try:
                return handler(event, context)
            except Exception as exc:
                raise LocalInvocationError(type(exc).__name__, str(exc), _stack_of(exc)) from exc


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
            worker.pool.init_failed(body)
        elif len(parts) == 5 and parts[2] == "invocation" and parts[4] in {"response", "error"}:
            worker.finished(parts[3], body, None if parts[4] == "response" else "Unhandled")
        else:
            self._reply(404, b'{"errorType":"InvalidRequest"}')
            return
        self._reply(202)


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
            start_new_session=True,  # Ctrl-C goes to the cloud, which stops its workers
        )
        threading.Thread(target=self._watch, name=f"worker-{pool.spec.name}", daemon=True).start()

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

    def __init__(self, spec: LocalFunction, environment: Mapping[str, str], limit: int) -> None:
        self.spec = spec
        self.environment = dict(environment)
        self.limit = limit
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
            self.queue.append(invocation)
            if len(self.queue) > self.idle and len(self.workers) < self.limit:
                self.workers.append(_Worker(self, self.environment))
            self._condition.notify()

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


class ProcessLambdaRuntime(LocalLambdaRuntime):
    """The local cloud's Lambda: each function's invocations run in its own worker processes.

    A worker is one sandbox: AWS's Runtime Interface Client (awslambdaric) imports the handler once (the cold
    start) and then serves one invocation at a time through the Runtime API; a function gets up to
    ``concurrency`` workers (its reserved concurrency, else ``default_concurrency``), started when every
    worker is busy. A worker's environment is exactly the function's (runtime variables, ``common_environment``
    and the function's own, as :meth:`_environment_for` builds it) plus what the runtime itself sets on AWS
    (``PATH``, ``LANG``, ``TZ``, ``PYTHONPATH`` with the code directory and the layers): nothing of this
    process's ``os.environ``. A handler that runs longer than its timeout is killed (``Sandbox.Timedout``), as
    is a sandbox on AWS; one that exits mid-invocation is ``Runtime.ExitError``.
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
        spec = self._require(name).spec
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
                pool = _Pool(spec, environment, spec.concurrency or self.default_concurrency)
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
        """Queue the event for one of the function's workers and wait for its answer."""
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
        while not invocation.taken.wait(1.0) and not invocation.done.is_set():
            if pool.stopping:
                message = "the local Lambda runtime stopped"
                return InvocationResult(
                    _error_payload("Runtime.Unavailable", message, request_id, []), "Unhandled", request_id
                )
        if not invocation.done.wait(pool.spec.timeout):
            if invocation.worker is not None:
                invocation.worker.kill()  # AWS stops the sandbox of a timed-out invocation
            message = f"RequestId: {request_id} Error: Task timed out after {pool.spec.timeout:.2f} seconds"
            invocation.finish(_error_payload("Sandbox.Timedout", message, request_id, []), "Unhandled")
        return InvocationResult(invocation.payload, invocation.function_error, request_id)

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


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    with contextlib.suppress(Exception):
        value = headers.get(name)  # werkzeug's and botocore's headers are case-insensitive
        if value is not None:
            return str(value)
    lowered = name.lower()
    for key, value in dict(headers).items():
        if str(key).lower() == lowered:
            return str(value)
    return None


def _decode_event(body: Any) -> Any:
    if body is None or body in {"", b""}:
        return {}
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    if isinstance(body, str):
        return json.loads(body)
    return body


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
            event = _decode_event(body)
        except (ValueError, UnicodeDecodeError) as exc:
            exceptions = importlib.import_module("moto.awslambda.exceptions")
            message = f"Could not parse request body into json: {exc}"
            raise exceptions.InvalidParameterValueException(message) from exc
        invocation_type = _header(headers, "X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type == "DryRun":
            return b""
        result = runtime.invoke(
            function_name,
            event,
            account_id=backend.account_id,
            region=backend.region_name,
            qualifier=qualifier,
        )
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
    """Narrow fixes for moto 5.2.5 where its engine is kinder than AWS, or breaks constructs our ASL uses.

    1. The request/response normalisation of the engine's ``states`` integration
       (``StateTaskService._normalise_parameters`` and ``_normalise_response``) is stubbed out with ``pass``
       in moto (LocalStack, where the engine comes from, maps the ASL's PascalCase names onto the botocore
       shapes). For ``states:startExecution[.sync[:2]]`` that is fatal: botocore's Step Functions API is
       camelCase, so ``StateMachineArn`` raises ``KeyError`` in botocore's serializer (the task fails with
       ``States.Runtime``), and the response keys would be ``executionArn``/``output``... instead of AWS's
       ``ExecutionArn``/``Output``. Fix, for the ``states`` integration only: run moto's own
       ``_to_boto_request`` / ``_from_boto_response`` helpers against the botocore operation model.
    2. ``StepFunctionsParserBackend.start_execution`` does not check the name ("TODO: validate name
       format"). AWS refuses a name longer than 80 characters or with whitespace, brackets, wildcards,
       ``"#%\\^|~`$&,;:/`` or control characters (StartExecution, ``name``:
       https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html); moto's plain
       backend has that check (``_validate_name``), so it is applied here too. Stricter than AWS: only
       ``[0-9A-Za-z_-]`` — the names AWS can also log to CloudWatch (same page) and our naming contract.
       A missing name is left to moto (the product always names its executions).
    3. The engine's ``ErrorEqualsDecl`` lets ``States.ALL`` match ``States.DataLimitExceeded`` and
       ``States.Runtime``. On AWS a state input/output, task result or execution input over 256 KiB is a
       terminal error, and so is a runtime error (e.g. a JSONPath that is not in the input); ``States.ALL``
       neither catches nor retries them ("This error type can't catch the States.DataLimitExceeded terminal
       error type and runtime error types":
       https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html; the 256 KiB quota:
       https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html). moto already raises
       DataLimitExceeded at that size (``moto/stepfunctions/parser/quotas.py``); naming the error in
       ``ErrorEquals`` still catches it.
    4. SNS ``Publish`` accepts a subject of exactly 100 characters, non-ASCII or multi-line, and measures the
       256 KiB message limit in characters. AWS refuses (``InvalidParameter``) a subject that is not ASCII, has
       line breaks or control characters, or is 100 characters or longer, and a message over 262,144 *bytes*
       of UTF-8 (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
    5. Speed only, no behaviour: the engine parses a definition with ANTLR (pure Python, 50-130 ms here) at
       every execution start and again for its static analysis; the parse tree of each definition is kept,
       and the evaluation components are still built afresh from it for every execution.
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
