"""Powertools Logger, Tracer and Metrics, configured once (service name and namespace from Globals).

Tracing costs nothing where it is off: Powertools' `Tracer()` imports the X-Ray SDK (~0.3-0.4 s of every cold
start on this kind of machine) even when disabled. Where Powertools would disable tracing anyway, the Tracer gets
a provider that records nothing, so its decorators work unchanged and the SDK is never imported.
"""

from __future__ import annotations

import contextlib
import numbers
import os
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment
from pydantic import BaseModel


def tracing_off(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """Powertools' own rule (Tracer._is_tracer_disabled): off if POWERTOOLS_TRACE_DISABLED is truthy, outside the
    Lambda runtime (no LAMBDA_TASK_ROOT: tests, the local cloud), or under SAM CLI / Chalice local."""
    disabled = environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in ("1", "true", "yes", "on")
    in_lambda = bool(environ.get("LAMBDA_TASK_ROOT"))
    emulated = bool(environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE"))
    return disabled or not in_lambda or emulated


class _Segment(BaseSegment):
    def close(self, end_time: int | None = None) -> None: ...
    def add_subsegment(self, subsegment: Any) -> None: ...
    def remove_subsegment(self, subsegment: Any) -> None: ...
    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def add_exception(self, exception: BaseException, stack: list[Any], remote: bool = False) -> None: ...


class Untraced(BaseProvider):
    """A tracing provider that records nothing (and needs no X-Ray SDK)."""

    @contextlib.contextmanager
    def in_subsegment(self, name: str = "", **kwargs: Any) -> Generator[BaseSegment]:
        yield _Segment()

    @contextlib.asynccontextmanager
    async def in_subsegment_async(self, name: str = "", **kwargs: Any) -> AsyncGenerator[BaseSegment]:
        yield _Segment()

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def patch(self, modules: Sequence[str]) -> None: ...
    def patch_all(self) -> None: ...


# The service and namespace the template's Globals set, also when this module is first imported outside a
# function's environment (the unit tests import the core before any function's environment is applied): the alarms
# read the `Challenger` namespace with the dimension service=challenger. Not the Logger's: its service is also its
# Python logger's name, and a logger named `challenger` would take in the local cloud's `challenger.local.*` records
# wherever both live in one process (tests).
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "challenger"
logger = Logger()
# Inference captures (challenger_core.capture): their own logger at a fixed level, so LOG_LEVEL=WARNING (the local
# cloud's default, or an operator's quieter stack) never silences the lines the capture subscription delivers.
capture_logger = Logger(service=f"{SERVICE}-capture", level="INFO")
tracer = Tracer(disabled=True, provider=Untraced()) if tracing_off() else Tracer()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Challenger", service=SERVICE)


def to_state(model: BaseModel) -> dict[str, Any]:
    """A state document as the next state expects it: JSON types, ASL field names, no nulls."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
