"""The unit tests' Lambda runtime: our handlers run in this process behind moto's Lambda Invoke, under ``mock_aws``.

The local cloud runs each function in its own worker processes (``challenger.local.lambda_runtime``'s
:class:`ProcessLambdaRuntime`); the unit tests run no sockets and no processes, so moto's decorator mode and this
runtime serve them (the state machine tests, the ASL engine tests). Same registry, same moto patch and fixes
(:class:`LambdaRuntime`); what differs is where a handler runs:

* The handler string (``"app.lambda_handler"``; the module may be dotted) is imported with the function's
  ``code_dir`` first on ``sys.path``, then its ``extra_paths`` (e.g. ``layers/core`` for ``/opt/python``).
* Module isolation: many functions have an ``app.py``. A function's top-level modules keep their real names
  (``__name__ == "app"``, as on AWS) but live in a private per-function table, put into ``sys.modules`` only while
  that function runs. Modules from ``extra_paths`` (layers) are shared by every function of the process: the
  core's module state is shared too (one process here, one per sandbox on AWS). :meth:`LocalLambdaRuntime.module`
  returns a function's handler module (for ``mock.patch.object``).
* Like a warm container, a function's modules are imported once and reused until :meth:`LocalLambdaRuntime.reset`.
  A failed import is not kept.
* Environment: ``os.environ`` gets the function's environment (:meth:`LambdaRuntime._environment_for`) for the
  duration of the call; every variable added, changed or removed meanwhile is put back afterwards.
* Context: :class:`LambdaContext`; result: the JSON-encoded return value, or Lambda's error payload
  (``Runtime.ImportModuleError``, ``Runtime.UserCodeSyntaxError``, ``Runtime.HandlerNotFound``,
  ``Runtime.MarshalError``, the exception's class name); a call longer than ``timeout`` is ``Sandbox.Timedout``
  once it returns (a thread cannot be interrupted).
* Invocations are serialised by one re-entrant lock (environment and modules are process-wide): a Map with
  ``MaxConcurrency > 1`` works, serially.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import threading
import time
import traceback
import types
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from challenger.local.lambda_runtime import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    InvocationResult,
    LambdaRuntime,
    LocalFunction,
    LocalInvocationError,
    _error_payload,
    _moto_module,
    parse_function_name,
)


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


def _stack_of(exc: BaseException) -> list[str]:
    # Drop this module's own frames: AWS shows only the user's code.
    here = os.path.abspath(__file__)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) != here]
    return traceback.format_list(traceback.StackSummary.from_list(frames))


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


# Environment variables, sys.path and sys.modules are process-wide: invocations are serialised. Re-entrant: a
# handler that synchronously invokes another registered function under mock_aws does so on its own thread.
_invoke_lock = threading.RLock()


class LocalLambdaRuntime(LambdaRuntime):
    """Runs registered functions in this process (see the module docstring)."""

    def __init__(self, functions: Iterable[LocalFunction] = (), *, common_environment: Mapping[str, str] | None = None):
        self._states: dict[str, _FunctionState] = {}
        super().__init__(functions, common_environment=common_environment)

    def register(self, spec: LocalFunction) -> None:
        """Add (or replace) a function; a replaced function's modules are dropped."""
        state = _FunctionState(spec)
        super().register(spec)
        with self._registry_lock:
            self._states[spec.name] = state

    def _state(self, name_or_arn: str) -> _FunctionState:
        spec = self._require(name_or_arn)
        with self._registry_lock:
            return self._states[spec.name]

    def reset(self) -> None:
        """Forget every loaded module: the next invocation of each function is a cold start."""
        with _invoke_lock, self._registry_lock:
            for state in self._states.values():
                state.private_modules = {}

    def module(self, name_or_arn: str) -> types.ModuleType:
        """The function's handler module, imported (cold start) if needed; for ``mock.patch.object``."""
        state = self._state(name_or_arn)
        module_name = state.spec.handler.rpartition(".")[0]
        env = self._environment_for(state.spec, DEFAULT_REGION)
        with _invoke_lock, _environment(env), state.activated():
            return importlib.import_module(module_name)

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
        state = self._state(name_or_arn)
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
            with _invoke_lock:
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
