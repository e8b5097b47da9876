"""A model server speaking SageMaker's inference container contract, run as one process per endpoint backend.

Run as ``python -I model_server.py --model-data DIR --code DIR --port P`` with the framework image's interpreter
(stdlib only, Python 3.10+: it must import in any image environment, and nothing of this repository):

* loads the user module (``--program``, default ``$SAGEMAKER_PROGRAM``) from the code directory, which is put on
  ``sys.path`` first, as the framework containers do;
* calls ``model_fn(model_dir)`` once, *before* it binds: a model that cannot load makes the process exit non-zero
  and the endpoint never becomes healthy (SageMaker's "did not pass the ping health check");
* ``GET /ping`` answers 200; ``POST /invocations`` runs ``input_fn`` → ``predict_fn`` → ``output_fn`` (or
  ``transform_fn``), with the scikit-learn container's defaults for whichever the module leaves out;
* an exception carrying an ``int`` ``status_code`` (the recipe's ``InputError``) becomes that status with its
  message as the body; anything else becomes 500.

With ``--port 0`` the OS picks the port; ``--port-file`` receives it (written atomically once listening), so the
platform never races another process for a port. ``--parent-pid`` makes the server exit when the platform process
disappears without stopping it, so a crashed local cloud leaves no model servers behind.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

logger = logging.getLogger("challenger.local.sagemaker.model_server")

# The sagemaker-containers serving stack's fallback when a request has no Accept header.
DEFAULT_ACCEPT = "application/json"
# Exit code for "the container never became healthy" (model or module failed to load, or an injected fault).
EXIT_LOAD_FAILED = 3
PARENT_POLL_SECONDS = 1.0


class _ServerError(Exception):
    """A handler failure mapped to an HTTP status (what the container's worker would answer)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Handlers:
    """The user module's inference functions bound to the loaded model."""

    def __init__(self, module: ModuleType, model_dir: str, wrong_answers: bool = False) -> None:
        transform_fn = getattr(module, "transform_fn", None)
        custom = [name for name in ("input_fn", "predict_fn", "output_fn") if hasattr(module, name)]
        if transform_fn is not None and custom:
            # The scikit-learn container refuses this combination too (UserError at startup).
            raise RuntimeError(f"Cannot use transform_fn implementation with {', '.join(custom)}")
        model_fn: Callable[[str], Any] | None = getattr(module, "model_fn", None)
        if model_fn is None:
            raise RuntimeError(f"{module.__name__} defines no model_fn: the scikit-learn container has no default")
        self._transform_fn: Callable[..., Any] | None = transform_fn
        self._input_fn: Callable[[Any, str], Any] = getattr(module, "input_fn", _default_input_fn)
        self._predict_fn: Callable[[Any, Any], Any] = getattr(module, "predict_fn", _default_predict_fn)
        self._output_fn: Callable[[Any, str], Any] = getattr(module, "output_fn", _default_output_fn)
        self.model = model_fn(model_dir)
        self._wrong_answers = wrong_answers

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        """Run one request through the handler chain; returns (body, content type)."""
        if self._transform_fn is not None:
            result = self._transform_fn(self.model, body, content_type, accept)
        else:
            data = self._input_fn(body, content_type)
            prediction = self._predict_fn(data, self.model)
            result = self._output_fn(prediction, accept)
        payload, response_type = _response_parts(result, accept)
        if self._wrong_answers:
            payload = perturb(payload)
        return payload, response_type


def perturb(payload: bytes) -> bytes:
    """Fault injection: the same response shape with wrong answers (a model that loads and serves, badly).

    In a JSON body every integer `label` is flipped (0 <-> 1, else + 1) and every other number moves
    (x -> 1 - x inside [0, 1], 0.5 -> 0, else x + 1), so both labels and scores disagree with a golden set. A body that
    is not JSON is returned reversed.
    """
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


def _default_input_fn(body: Any, content_type: str) -> Any:
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise _ServerError(415, f"Content type {content_type} is not supported by this framework.")
    return json.loads(body)


def _default_predict_fn(data: Any, model: Any) -> Any:
    return model.predict(data)


def _default_output_fn(prediction: Any, accept: str) -> tuple[str, str]:
    if hasattr(prediction, "tolist"):
        prediction = prediction.tolist()
    return json.dumps(prediction), "application/json"


def _response_parts(result: Any, accept: str) -> tuple[bytes, str]:
    # Both SageMaker serving stacks accept (body, content_type) from output_fn; a bare body takes the Accept type.
    content_type = accept if accept and "*" not in accept else DEFAULT_ACCEPT
    if isinstance(result, tuple) and len(result) == 2:
        result, content_type = result
    if isinstance(result, str):
        return result.encode("utf-8"), str(content_type)
    if isinstance(result, (bytes, bytearray, memoryview)):
        return bytes(result), str(content_type)
    raise _ServerError(500, f"output_fn returned {type(result).__name__}, expected str or bytes")


def _error_status(exc: BaseException) -> int:
    status = getattr(exc, "status_code", None)
    if isinstance(exc, _ServerError):
        return exc.status
    if isinstance(status, int) and 400 <= status <= 599:
        return status
    return 500


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Bursts of concurrent invocations must queue, not be refused (the stdlib default backlog is 5).
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handlers: Handlers) -> None:
        super().__init__(address, _RequestHandler)
        self.handlers = handlers


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "LocalSageMakerModelServer/1.0"

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/ping":
            # model_fn ran before the socket was bound, so being reachable means being healthy.
            self._send(200, b"", "text/plain")
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path.split("?", 1)[0] != "/invocations":
            self._send(404, b"not found", "text/plain")
            return
        content_type = self.headers.get("Content-Type") or DEFAULT_ACCEPT
        accept = self.headers.get("Accept") or DEFAULT_ACCEPT
        try:
            payload, response_type = self.server.handlers.invoke(body, content_type, accept)
        except Exception as exc:
            status = _error_status(exc)
            if status >= 500:
                logger.error("invocation failed:\n%s", traceback.format_exc())
                message = f"{type(exc).__name__}: {exc}"
            else:
                message = str(exc)
            self._send(status, message.encode("utf-8"), "text/plain; charset=utf-8")
            return
        self._send(200, payload, response_type)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)


def load_handlers(model_dir: Path, code_dir: Path, program: str, wrong_answers: bool = False) -> Handlers:
    """Import the user module from code_dir and load the model (what the container does at startup)."""
    module_name = program[:-3] if program.endswith(".py") else program
    if not (code_dir / f"{module_name}.py").is_file() and not (code_dir / module_name).is_dir():
        raise RuntimeError(f"{program} not found in the code directory {code_dir} (SAGEMAKER_PROGRAM / submit dir)")
    sys.path.insert(0, str(code_dir))
    module = importlib.import_module(module_name)
    return Handlers(module, str(model_dir), wrong_answers)


def _write_port_file(path: Path, port: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(str(port), encoding="utf-8")
    os.replace(tmp, path)  # the platform polls for this file: it must never see it half-written


def build_parser() -> argparse.ArgumentParser:
    """The server's command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model-data", required=True, type=Path, help="the extracted model.tar.gz (/opt/ml/model)")
    parser.add_argument("--code", required=True, type=Path, help="directory holding the inference program")
    parser.add_argument("--program", default=os.environ.get("SAGEMAKER_PROGRAM", "inference.py"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument("--fail-health", metavar="MESSAGE", help="fault injection: exit before becoming healthy")
    parser.add_argument("--parent-pid", type=int, help="shut down when this process is no longer our parent")
    parser.add_argument("--wrong-answers", action="store_true", help="fault injection: perturb every prediction")
    return parser


def _watch_parent(parent_pid: int) -> None:
    # The platform normally terminates us; if it dies without doing so (SIGKILL, crash) we must not linger.
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    logger.warning("parent process %d is gone: shutting down", parent_pid)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: Sequence[str] | None = None) -> int:
    """Load, bind, serve until SIGTERM/SIGINT; non-zero exit if the container could not become healthy."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.fail_health:
        print(f"model server: injected fault: {args.fail_health}", file=sys.stderr, flush=True)
        return EXIT_LOAD_FAILED
    try:
        handlers = load_handlers(args.model_data, args.code, args.program, args.wrong_answers)
    except Exception as exc:
        traceback.print_exc()
        print(f"model server: failed to load the model: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return EXIT_LOAD_FAILED
    server = _Server((args.host, args.port), handlers)
    port = server.server_address[1]

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        # shutdown() blocks until serve_forever returns, so it must not run on the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.parent_pid is not None:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()
    if args.port_file:
        _write_port_file(args.port_file, port)
    logger.info("serving %s on %s:%d", args.program, args.host, port)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
