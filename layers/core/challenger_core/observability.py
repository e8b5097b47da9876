"""Powertools Logger, Tracer and Metrics, configured once (service name and namespace from Globals).

Tracing costs nothing where it is off: Powertools' `Tracer()` imports the X-Ray SDK (~0.3-0.4 s of every cold
start on this kind of machine) even when disabled, so where Powertools would disable it anyway the handlers get
a pass-through stand-in instead, and the SDK is never imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from pydantic import BaseModel


def tracing_off(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """Powertools' own rule (Tracer._is_tracer_disabled): off if POWERTOOLS_TRACE_DISABLED is truthy, outside the
    Lambda runtime (no LAMBDA_TASK_ROOT: tests, the local cloud), or under SAM CLI / Chalice local."""
    disabled = environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in ("1", "true", "yes", "on")
    in_lambda = bool(environ.get("LAMBDA_TASK_ROOT"))
    emulated = bool(environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE"))
    return disabled or not in_lambda or emulated


class Untraced:
    """What the handlers use of `Tracer` (its decorators), doing nothing: tracing is off here."""

    disabled = True

    def capture_lambda_handler(self, lambda_handler: Callable[..., Any] | None = None, **_: Any) -> Any:
        return lambda_handler if lambda_handler is not None else (lambda handler: handler)

    def capture_method(self, method: Callable[..., Any] | None = None, **_: Any) -> Any:
        return method if method is not None else (lambda wrapped: wrapped)


logger = Logger()
tracer: Tracer | Untraced = Untraced() if tracing_off() else Tracer()
metrics = Metrics()


def to_state(model: BaseModel) -> dict[str, Any]:
    """A state document as the next state expects it: JSON types, ASL field names, no nulls."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
