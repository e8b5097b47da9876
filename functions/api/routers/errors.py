"""How the API fails: one table from exception to status, the error bodies, and the strict JSON body reader.

Every error the API answers itself is JSON `{"message": ...}` (a 422 adds `detail`), never a stack trace.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field

from challenger_core import operations, serving
from challenger_core.errors import (
    ConflictError,
    DataValidationError,
    InvalidCursorError,
    NotFoundError,
    ServiceError,
    TransientServiceError,
)
from challenger_core.observability import logger
from routers.doors import ForbiddenError

JSON_ONLY = "Content-Type must be application/json"
# A serverless endpoint that is cold (starting a container), throttled (over MaxConcurrency) or slower than the
# API's budget: the caller should come back shortly, not read it as our failure (a 502).
RETRY_AFTER_SECONDS = 10


# The error bodies document the responses (OpenAPI) and are never validated on the way out: their schemas are
# built when the document is (defer_build), not at init.
class ErrorMessage(BaseModel):
    """Every error the API answers itself: a human-readable reason, never a stack trace."""

    model_config = ConfigDict(defer_build=True)

    message: str


class ValidationErrorItem(BaseModel):
    model_config = ConfigDict(defer_build=True)

    loc: list[str | int]
    type: str
    msg: str = ""


class ValidationErrorMessage(BaseModel):
    """A request the models refuse (422): the reason, and where (`loc`) each problem is."""

    model_config = ConfigDict(defer_build=True)

    message: str
    detail: list[ValidationErrorItem] = Field(default_factory=list)


class TooLargeError(Exception):
    """The body is over the serverless endpoint's request limit."""


class BadRequestError(Exception):
    """The body cannot be read at all."""


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response[dict[str, str]]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body={"message": message}, headers=headers
    )


def json_response(description: str, model: type[BaseModel] = ErrorMessage) -> OpenAPIResponse:
    """An OpenAPI response with a JSON body (Powertools documents the return type only when a route declares
    no responses of its own, so a route with error responses names its 200 this way too)."""
    return {"description": description, "content": {content_types.APPLICATION_JSON: {"model": model}}}


FORBIDDEN = json_response("Not an operator: decisions need /console (Cognito) or /operator (IAM)")
INVALID = json_response(
    "The request does not match the schema (the reason is in message/detail)", ValidationErrorMessage
)
NOT_FOUND = json_response("No such model, run or dataset")
CONFLICT = json_response("The request contradicts the current state")
BAD_BODY = {
    400: json_response("The body is not readable JSON"),
    413: json_response("The body is over the serverless endpoint's 4 MB limit"),
    415: json_response(JSON_ONLY),
    422: INVALID,
}


# The table: an exception (or a subclass: Powertools looks handlers up along the MRO) → its status and message.
def _reason(exc: Exception) -> str:
    return str(exc)


STATUS: dict[type[Exception], tuple[int, Callable[[Exception], str]]] = {
    BadRequestError: (400, _reason),
    InvalidCursorError: (400, _reason),
    ForbiddenError: (403, _reason),
    NotFoundError: (404, _reason),
    ConflictError: (409, _reason),
    operations.HistoryGoneError: (410, _reason),
    TooLargeError: (413, lambda _: f"payload over the endpoint's {serving.MAX_PAYLOAD_BYTES} byte limit"),
    RequestUnsupportedContentType: (415, lambda _: JSON_ONLY),
    DataValidationError: (422, _reason),
    serving.NoModelLiveError: (503, _reason),
}


def _validation_error(exc: RequestValidationError) -> Response[dict[str, Any]]:
    # Powertools' default hides pydantic's messages; they name the field and the rule, which is what a caller
    # needs. The input itself is never echoed (it may be large or sensitive).
    detail = [
        {
            "loc": [str(part) if not isinstance(part, int) else part for part in e["loc"]],
            "type": e["type"],
            "msg": str(e.get("msg", "")),
        }
        for e in exc.errors()
    ]
    unreadable = [item for item in detail if item["type"] == "json_invalid"]
    if unreadable:  # our own reasons (StrictJsonBody) start with "the body"; Powertools' do not
        reason = unreadable[0]["msg"]
        message = reason if reason.startswith("the body") else "the body is not valid JSON"
    else:
        message = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in detail[:5])
    return Response(
        status_code=422,
        content_type=content_types.APPLICATION_JSON,
        body={"message": message or "invalid request", "detail": detail},
    )


def _unavailable(exc: TransientServiceError) -> Response[dict[str, str]]:
    logger.warning("the endpoint is not answering yet", extra={"reason": str(exc)})
    return error(
        503,
        "the model endpoint is starting or busy; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


# InvokeEndpoint's ModelError quotes the container's whole answer: `Received server error (500) from primary with
# message "<body>". See https://... in account ... for more information.` The image's stack answers anything a
# handler raises with Flask's HTML 500 page, so the caller gets its first meaningful line, bounded; the log keeps all.
_MODEL_ANSWER = re.compile(r'\((\d{3})\) from \w+ with message "(.*)"', re.DOTALL)
_MARKUP = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|<![^>]*>|<[^>]+>", re.DOTALL | re.IGNORECASE)
MAX_MODEL_REASON = 200


def model_error_reason(text: str) -> str:
    """The model's answer in a ModelError, short: its status and first meaningful line, markup stripped."""
    from html import unescape  # noqa: PLC0415  # only on this error path, not at the API's init

    found = _MODEL_ANSWER.search(text)
    status, body = (found.group(1), found.group(2)) if found else ("", text.partition("ModelError:")[2] or text)
    line = ""
    with contextlib.suppress(ValueError, RecursionError):
        answer = json.loads(body)
        if isinstance(answer, dict):  # a container that answers JSON: its message
            line = next((str(answer[k]) for k in ("message", "error", "detail") if answer.get(k)), "")
    if not line:
        lines = (" ".join(part.split()) for part in unescape(_MARKUP.sub("\n", body)).splitlines())
        line = next((part for part in lines if part), "")
    if status and not line.startswith(status):
        line = f"{status}: {line}" if line else status
    line = line or "no message"
    return line if len(line) <= MAX_MODEL_REASON else line[: MAX_MODEL_REASON - 1] + "…"


def _upstream(exc: ServiceError) -> Response[dict[str, str]]:
    if "ModelError" in str(exc):  # the caller's records, not our failure: no stack trace in the logs either
        logger.warning("the model refused the instances", extra={"reason": str(exc)})
        return error(400, f"the model could not read the instances (it answered {model_error_reason(str(exc))})")
    logger.exception("upstream failure")
    return error(502, "the model endpoint failed to answer; the error is logged")


def register(app: APIGatewayRestResolver) -> None:
    """Answer every exception of the table with its status, and the three that need more than a message."""
    for exc_type, (status, message) in STATUS.items():
        app.exception_handler(exc_type)(lambda exc, status=status, message=message: error(status, message(exc)))
    app.exception_handler(RequestValidationError)(_validation_error)
    app.exception_handler(TransientServiceError)(_unavailable)
    app.exception_handler(ServiceError)(_upstream)


# The request body ---------------------------------------------------------------------------------
class StrictJsonBody(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, with the body read here, strictly, before the models see it.

    Powertools accepts form and multipart bodies on a route with a JSON model (and then reports a confusing
    validation error), compares media types case-sensitively, and lets a non-UTF-8 body, a body nested deeper
    than the parser's recursion limit or an integer over Python's 4300-digit limit escape as exceptions (502s).
    Here a body over the endpoint's limit is a 413, one that is not ``application/json`` (any case) a 415, bytes
    that are not UTF-8 a 400 and JSON the parser refuses a 422 with the reason.

    Powertools offers no public way to replace its request validation (it runs before any user middleware), so
    `install` sets the resolver's `_request_validation_middleware` — the attribute Powertools 3.37.0
    (requirements/dev.txt, the layer in template.yaml) reads in `Route._build_middleware_stack`;
    tests/unit/functions/test_api_hostile.py fails if an upgrade stops reading it.
    """

    def _get_body(self, app: Any) -> dict[str, Any]:
        event = app.current_event
        raw = event.body or ""
        if not raw:
            return super()._get_body(app)
        if decoded_size(raw, base64_encoded=event.is_base64_encoded) > serving.MAX_PAYLOAD_BYTES:
            raise TooLargeError()
        if media_type(event.headers) != content_types.APPLICATION_JSON:
            raise RequestUnsupportedContentType(JSON_ONLY, errors=[])
        try:
            text = base64.b64decode(raw, validate=True).decode("utf-8") if event.is_base64_encoded else raw
        except (UnicodeDecodeError, binascii.Error) as exc:
            raise BadRequestError("the body is not UTF-8 JSON") from exc
        try:
            body: dict[str, Any] = json.loads(text, parse_constant=_no_constants)
            # "\ud800" is valid JSON but no Unicode text: it would fail later, storing or logging it.
            json.dumps(body, ensure_ascii=False).encode()
        except UnicodeEncodeError as exc:
            raise _invalid_json("the body has a string with an unpaired surrogate (not Unicode text)") from exc
        except RecursionError as exc:
            raise _invalid_json("the body is nested too deeply") from exc
        except json.JSONDecodeError as exc:
            raise _invalid_json("the body is not valid JSON") from exc
        except ValueError as exc:  # e.g. an integer with more digits than int() accepts
            raise _invalid_json(f"the body is not acceptable JSON: {exc}") from exc
        return body

    @classmethod
    def install(cls, app: APIGatewayRestResolver) -> None:
        app._request_validation_middleware = cls()  # see the class docstring


def decoded_size(raw: str, *, base64_encoded: bool) -> int:
    """The body's size in bytes as the client sent it (API Gateway base64-encodes binary bodies)."""
    return len(raw) * 3 // 4 - raw.count("=") if base64_encoded else len(raw.encode())


def _no_constants(name: str) -> None:
    raise json.JSONDecodeError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)", name, 0)


def _invalid_json(message: str) -> RequestValidationError:
    return RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": message, "input": {}}])


def media_type(headers: dict[str, str] | None) -> str:
    """The request's media type, lower case (RFC 9110 8.3.1: type and subtype are case-insensitive)."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "content-type"), "")
    return value.split(";")[0].strip().lower()
