"""ApiFunction: the REST API behind API Gateway, including the approval links' pages and its OpenAPI document.

Routes: GET /health, POST /predict, GET /models, GET /models/{version}, GET /runs, POST /runs,
GET /runs/{run_id}, POST /runs/{run_id}/approval, GET /approvals, POST /rollback, GET /audit,
GET/POST /approvals/{approval_id}, GET /openapi.json, GET /swagger.
A GET never decides anything (mail scanners follow links): it shows a confirmation form that POSTs.

Three doors, one function (docs/decisions/0003-api-auth.md, 0007-operator-identity.md): the API key of the
usage plan reaches only POST /predict and the GET reads; decisions that change what serves (retrain, approve or
reject, roll back) and the audit log need an operator identity, either under ``/console`` (Cognito ID token,
the dashboard) or under ``/operator`` (IAM, SigV4: the CLI and automation). The resolver strips the prefix, so
each handler exists once; `_operator()` refuses a decision that did not come through an operator door, and
names the caller that the audit log records.
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
import json
import os
import re
import time
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as HTTPNotFound
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseContentModel,
    OpenAPIResponseContentSchema,
)
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field, ValidationError

from challenger_core import approvals, audit, monitoring, operations, serving
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.adapters.storage import Storage
from challenger_core.adapters.workflow import Workflow
from challenger_core.capture import CaptureBuffer
from challenger_core.clients import API_RUNTIME, client
from challenger_core.errors import (
    ApprovalLinkError,
    ConflictError,
    DataValidationError,
    NotFoundError,
    ServiceError,
    TransientServiceError,
)
from challenger_core.models import ModelVersion, Run
from challenger_core.observability import logger, metrics, tracer
from challenger_core.recipe import RecipeSpec, load_recipe
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import SecurityScheme

settings = get_settings()
registry = Registry(client("dynamodb"), settings.models_table)
sagemaker = SageMaker(client("sagemaker"), client("sagemaker-runtime", API_RUNTIME))
workflow = Workflow(client("stepfunctions"))
storage = Storage(client("s3"))
secretsmanager = client("secretsmanager")

CONSOLE_PREFIX = "/console"
OPERATOR_PREFIX = "/operator"
TITLE = "Challenger API"
API_VERSION = "1.0.0"
DESCRIPTION = (
    "Continuous training and blue/green deployment of a SageMaker serverless endpoint. Inference clients send "
    "`x-api-key` (POST /predict and the GET reads only). Operators decide (retrain, approve/reject, roll back, "
    "read the audit log) under `/console` with `Authorization: Bearer <Cognito ID token>` (the dashboard) or under "
    "`/operator` with an AWS SigV4 signature (IAM: the CLI, automation). "
    'Errors are JSON `{"message": ...}` (validation errors add `detail`).'
)
JSON_ONLY = "Content-Type must be application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
FORM_ONLY = f"Content-Type must be {FORM_TYPE}"
MAX_FORM_BYTES = 4096  # an approval form is three short fields; anything bigger is not one
MAX_USER_AGENT = 512
# The dashboard's origin (https://<CloudFront domain>); unset locally, where the dashboard is same-origin.
DASHBOARD_ORIGIN = os.environ.get("DASHBOARD_ORIGIN", "")


class _Resolver(APIGatewayRestResolver):
    """The REST resolver, with the OpenAPI server URL following the door a request came through."""

    def _get_base_path(self) -> str:
        # Powertools derives the document's server URL (and Swagger UI's "Try it out" target) from the stage;
        # under /console and /operator the operations live one prefix deeper, behind their authorizer.
        base = super()._get_base_path()
        door = _door(self.current_event.path)
        return base + PREFIXES[door] if door in PREFIXES else base

    def get_openapi_schema(self, **kwargs: Any) -> Any:  # the OpenAPI model; Swagger UI builds on it too
        # /predict's records are the recipe's: the route takes generic instances (the recipe is read from S3 on
        # first use, never at import) and the document shows the recipe's own request and prediction models.
        from aws_lambda_powertools.event_handler.openapi.models import Schema as OpenAPISchema  # noqa: PLC0415

        schema = super().get_openapi_schema(**kwargs)
        components = schema.components.schemas if schema.components and schema.components.schemas else None
        if components is not None:
            spec = _recipe()
            for model in (serving.request_model(spec), serving.response_model(spec)):
                document = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in document.pop("$defs", {}).items():
                    components[name] = OpenAPISchema.model_validate(definition)
                components[model.__name__] = OpenAPISchema.model_validate(document)
        return schema


class _JsonBodyValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, with the body read here, strictly, before the models see it.

    Powertools accepts form and multipart bodies on a route with a JSON model (and then reports a confusing
    validation error), compares media types case-sensitively, and lets a non-UTF-8 body, a body nested deeper
    than the parser's recursion limit or an integer over Python's 4300-digit limit escape as exceptions (502s).
    Here a body over the endpoint's limit is a 413, one that is not ``application/json`` (any case) a 415, bytes
    that are not UTF-8 a 400 and JSON the parser refuses a 422 with the reason.
    """

    def _get_body(self, app: Any) -> dict[str, Any]:
        event = app.current_event
        raw = event.body or ""
        if not raw:
            return super()._get_body(app)
        size = _decoded_size(raw) if event.is_base64_encoded else len(raw.encode())
        if size > serving.MAX_PAYLOAD_BYTES:
            raise _TooLarge()
        if _media_type(event.headers) != content_types.APPLICATION_JSON:
            raise RequestUnsupportedContentType(JSON_ONLY, errors=[])
        try:
            text = base64.b64decode(raw, validate=True).decode("utf-8") if event.is_base64_encoded else raw
        except (UnicodeDecodeError, binascii.Error) as exc:
            raise _BadRequest("the body is not UTF-8 JSON") from exc
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


def _decoded_size(raw: str) -> int:
    return len(raw) * 3 // 4 - raw.count("=")


def _no_constants(name: str) -> None:
    raise json.JSONDecodeError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)", name, 0)


def _invalid_json(message: str) -> RequestValidationError:
    return RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": message, "input": {}}])


def _media_type(headers: dict[str, str]) -> str:
    """The request's media type, lower case (RFC 9110 8.3.1: type and subtype are case-insensitive)."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "content-type"), "")
    return value.split(";")[0].strip().lower()


Door = Literal["api-key", "console", "operator"]
PREFIXES: dict[Door, str] = {"console": CONSOLE_PREFIX, "operator": OPERATOR_PREFIX}


def _door(path: str) -> Door:
    """Which door a request came through: API Gateway routes /console and /operator only after their authorizer."""
    for door, prefix in PREFIXES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return door
    return "api-key"


cors = (
    CORSConfig(
        allow_origin=DASHBOARD_ORIGIN,
        allow_headers=["Authorization", "Content-Type", "x-api-key"],
        max_age=600,
    )
    if DASHBOARD_ORIGIN
    else None
)
app = _Resolver(enable_validation=True, strip_prefixes=[CONSOLE_PREFIX, OPERATOR_PREFIX], cors=cors)
app._request_validation_middleware = _JsonBodyValidation()  # type: ignore[no-untyped-call]  # see _JsonBodyValidation (Powertools 3.37 hook)


# Powertools' OpenAPI document models (~60 ms of import) are needed by /openapi.json and /swagger only: imported
# there, on their first request, so no other route's cold start pays for them.
@cache
def _security_schemes() -> dict[str, SecurityScheme]:
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer  # noqa: PLC0415

    return {
        "apiKey": APIKey(
            name="x-api-key", **{"in": APIKeyIn.header}, description="Inference clients (usage plan): predict and reads"
        ),
        "cognito": HTTPBearer(
            bearerFormat="JWT",
            description="Dashboard, under /console: the signed-in user's Cognito ID token (API Gateway authorizer)",
        ),
        "sigv4": APIKey(
            name="Authorization",
            **{"in": APIKeyIn.header},
            description="CLI and automation, under /operator: an AWS Signature Version 4 (IAM authorization)",
        ),
    }


DOOR_SECURITY: dict[Door, list[dict[str, list[str]]]] = {
    "api-key": [{"apiKey": []}],
    "console": [{"cognito": []}],
    "operator": [{"sigv4": []}],
}
PUBLIC: list[dict[str, list[str]]] = [{}]  # the approval links: the signed link is the credential
# Decisions and the audit log: not reachable with the API key (template.yaml has no plain event for them).
OPERATOR_ONLY = {
    ("post", "/runs"),
    ("post", "/runs/{run_id}/approval"),
    ("post", "/rollback"),
    ("get", "/audit"),
}


# Errors ------------------------------------------------------------------------------------------
class ErrorMessage(BaseModel):
    """Every error the API answers itself: a human-readable reason, never a stack trace."""

    message: str


class ValidationErrorItem(BaseModel):
    loc: list[str | int]
    type: str
    msg: str = ""


class ValidationErrorMessage(BaseModel):
    """A request the models refuse (422): the reason, and where (`loc`) each problem is."""

    message: str
    detail: list[ValidationErrorItem] = Field(default_factory=list)


def _json_error(description: str, model: type[BaseModel] = ErrorMessage) -> OpenAPIResponse:
    return {"description": description, "content": {content_types.APPLICATION_JSON: {"model": model}}}


def _ok(model: type[BaseModel], description: str = "OK") -> OpenAPIResponse:
    # Powertools documents the return type as the 200 only when a route declares no responses of its own.
    return _json_error(description, model)


FORBIDDEN = _json_error("Not an operator: decisions need /console (Cognito) or /operator (IAM)")
INVALID = _json_error("The request does not match the schema (the reason is in message/detail)", ValidationErrorMessage)
NOT_FOUND = _json_error("No such model, run or dataset")
CONFLICT = _json_error("The request contradicts the current state")
BAD_BODY = {
    400: _json_error("The body is not readable JSON"),
    413: _json_error("The body is over the serverless endpoint's 4 MB limit"),
    415: _json_error(JSON_ONLY),
    422: INVALID,
}
HTML: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
    content_types.TEXT_HTML: {"schema": {"type": "string"}}
}


def _error(status: int, message: str) -> Response[dict[str, str]]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body={"message": message})


class _TooLarge(Exception):
    """The body is over the serverless endpoint's request limit."""


class _BadRequest(Exception):
    """The body cannot be read at all."""


class _Forbidden(Exception):
    """A decision asked for through a door that carries no operator identity."""


@app.exception_handler(_Forbidden)
def _forbidden(exc: _Forbidden) -> Response[dict[str, str]]:
    return _error(403, str(exc))


@app.exception_handler(DataValidationError)
def _unusable_data(exc: DataValidationError) -> Response[dict[str, str]]:
    return _error(422, str(exc))


@app.exception_handler(_TooLarge)
def _too_large(_: _TooLarge) -> Response[dict[str, str]]:
    return _error(413, f"payload over the endpoint's {serving.MAX_PAYLOAD_BYTES} byte limit")


@app.exception_handler(_BadRequest)
def _bad_request(exc: _BadRequest) -> Response[dict[str, str]]:
    return _error(400, str(exc))


@app.exception_handler(RequestUnsupportedContentType)
def _unsupported(_: RequestUnsupportedContentType) -> Response[dict[str, str]]:
    return _error(415, JSON_ONLY)


@app.exception_handler(RequestValidationError)
def _invalid(exc: RequestValidationError) -> Response[dict[str, Any]]:
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
    if unreadable:  # our own reasons (_JsonBodyValidation) start with "the body"; Powertools' do not
        reason = unreadable[0]["msg"]
        message = reason if reason.startswith("the body") else "the body is not valid JSON"
    else:
        message = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in detail[:5])
    return Response(
        status_code=422,
        content_type=content_types.APPLICATION_JSON,
        body={"message": message or "invalid request", "detail": detail},
    )


@app.exception_handler(serving.NoModelLiveError)
def _no_model(exc: serving.NoModelLiveError) -> Response[dict[str, str]]:
    return _error(503, str(exc))


@app.exception_handler(operations.HistoryGoneError)
def _gone(exc: operations.HistoryGoneError) -> Response[dict[str, str]]:
    return _error(410, str(exc))


@app.exception_handler(NotFoundError)
def _not_found(exc: NotFoundError) -> Response[dict[str, str]]:
    return _error(404, str(exc))


@app.exception_handler(ConflictError)
def _conflict(exc: ConflictError) -> Response[dict[str, str]]:
    return _error(409, str(exc))


# A serverless endpoint that is cold (starting a container), throttled (over MaxConcurrency) or slower than the
# API's budget: the caller should come back shortly, not read it as our failure (a 502).
RETRY_AFTER_SECONDS = 10


@app.exception_handler(TransientServiceError)
def _unavailable(exc: TransientServiceError) -> Response[dict[str, str]]:
    logger.warning("the endpoint is not answering yet", extra={"reason": str(exc)})
    return Response(
        status_code=503,
        content_type=content_types.APPLICATION_JSON,
        body={"message": "the model endpoint is starting or busy; retry shortly"},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


@app.exception_handler(ServiceError)
def _upstream(exc: ServiceError) -> Response[dict[str, str]]:
    if "ModelError" in str(exc):  # the caller's records, not our failure: no stack trace in the logs either
        logger.warning("the model refused the instances", extra={"reason": str(exc)})
        return _error(400, f"the model could not read the instances: {exc}")
    logger.exception("upstream failure")
    return _error(502, "the model endpoint failed to answer; the error is logged")


# Operations --------------------------------------------------------------------------------------
class Prediction(BaseModel):
    """The recipe's prediction record: its fields and types, and the meaning of `score` (shown by the dashboard)."""

    fields: dict[str, str]
    score: str


class Health(BaseModel):
    """The API answers, which version serves, and the promotion policy in force."""

    status: str
    champion_version: int | None
    policy: operations.PromotionPolicy
    prediction: Prediction = Field(description="the prediction record and what its score means (the recipe's)")


VersionPath = Annotated[int, Path(ge=1, le=operations.MAX_VERSION, description="model version")]
RunIdPath = Annotated[str, Path(pattern=operations.RUN_ID_PATTERN, description="run id")]
# Step Functions execution names: at most 80 of [0-9A-Za-z_-] (the names this stack gives them).
ExecutionNamePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,80}$", description="execution name")]
# Approval ids are uuid4 hex (approvals.py); bounded like run ids so a fuzzed one is a 404, not a 502.
AUDIT_CURSOR = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#[0-9a-f]{32}$"  # registry.audit_key
ApprovalIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="approval id")]


@app.get("/health", summary="Health", description="Whether the API answers and which version is live.")
def health() -> Health:
    champion = registry.get_champion()
    recipe = _recipe()
    return Health(
        status="ok",
        champion_version=champion.version if champion else None,
        policy=operations.promotion_policy(settings, recipe),
        prediction=Prediction(fields=dict(recipe.prediction.fields), score=recipe.prediction.score),
    )


@app.post(
    "/predict",
    summary="Predict",
    description=(
        "Forward `instances` (records as the stack's recipe defines them, see `Instance`) to the live endpoint; "
        "the answer names the version that served it."
    ),
    responses={
        200: _ok(serving.PredictResponse, "The predictions and the version that served them"),
        **BAD_BODY,
        400: _json_error("The body is not readable JSON, or the model could not read the instances"),
        502: _json_error("The endpoint failed to answer"),
        503: _json_error("No model is live yet, or the endpoint is cold or busy (see Retry-After)"),
    },
)
def predict(request: serving.PredictRequest) -> serving.PredictResponse:
    started = time.perf_counter()
    try:
        response = serving.predict(request, _recipe(), registry, sagemaker, settings, capture=_capture())
    except (ServiceError, TransientServiceError):  # the endpoint failed to answer (EndpointErrorsAlarm)
        metrics.add_metric(name="PredictErrors", unit=MetricUnit.Count, value=1)
        raise
    except ValidationError as exc:  # the recipe's record model refused an instance: a 422 like any other
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=len(response.predictions))
    metrics.add_metric(
        name="PredictLatency", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000
    )
    metrics.add_metric(name="CapturedRows", unit=MetricUnit.Count, value=_capture().take_captured())
    return response


def _recipe() -> RecipeSpec:
    return load_recipe(storage, settings.artifact_bucket, settings.recipe)


@cache
def _capture() -> CaptureBuffer:
    """Inference capture and serving counters, written by a background thread (created on the first predict)."""
    # Both clients are built here, inside the invocation that first predicts: the writer thread must not resolve
    # endpoints or credentials itself.
    store = monitoring.MonitoringStore(client("dynamodb").build(), settings.models_table)
    writer = Storage(client("s3").build())
    return CaptureBuffer(
        lambda key, body: writer.write(settings.artifact_bucket, key, body, "application/x-ndjson"),
        store.add_stats,
        sample_rate=settings.capture_sample_rate,
        flush_seconds=settings.capture_flush_seconds,
        on_error=lambda exc: logger.warning("inference capture dropped a batch", exc_info=exc),
    )


@app.get(
    "/monitoring",
    summary="Serving health and drift",
    description="Per version over the last `hours` (default 24): invocations, errors and latency percentiles "
    "(from hourly histograms the API records off the response path), plus the daily drift checks.",
    responses={200: _ok(monitoring.MonitoringOverview), 422: INVALID},
)
def get_monitoring(hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24) -> monitoring.MonitoringOverview:
    return monitoring.overview(
        monitoring.MonitoringStore(client("dynamodb"), settings.models_table),
        hours=hours,
        sample_rate=settings.capture_sample_rate,
        threshold=settings.drift_threshold,
    )


@app.get("/models", summary="List models", description="Every model version, newest first, with its metrics.")
def list_models() -> list[ModelVersion]:
    return registry.list_models()


@app.get(
    "/models/<version>",
    summary="Get a model",
    description="One model version: status, metrics, confusion matrix, artifact; through an operator door also "
    "the decisions taken about it (`audit`).",
    responses={200: _ok(operations.ModelDetail), 404: NOT_FOUND, 422: INVALID},
)
def get_model(version: VersionPath) -> operations.ModelDetail:
    return operations.model_detail(version, registry=registry, with_audit=_door(app.current_event.path) != "api-key")


@app.get("/runs", summary="List runs", description="Training pipeline runs, newest first.")
def list_runs() -> list[Run]:
    return registry.list_runs()


@app.post(
    "/runs",
    summary="Retrain now",
    description="Start a training run on a dataset (default: the latest upload). Unchanged data is skipped "
    "(200, `started: false`) unless `force` is set; a started run answers 202. Operators only; audited.",
    responses={
        200: _ok(operations.RetrainResponse, "Nothing started; `reason` says why"),
        **BAD_BODY,
        202: _ok(operations.RetrainResponse, "A run started"),
        403: FORBIDDEN,
        404: NOT_FOUND,
        409: CONFLICT,
    },
)
def retrain(request: operations.RetrainRequest) -> Response[operations.RetrainResponse]:
    result = operations.retrain(
        request, caller=_operator(), storage=storage, registry=registry, workflow=workflow, settings=settings
    )
    return Response(
        status_code=202 if result.started else 200, content_type=content_types.APPLICATION_JSON, body=result
    )


@app.get(
    "/runs/<run_id>",
    summary="Get a run",
    description="A run with the pipeline states it went through so far, each with when it was entered and left; "
    "through an operator door also the decisions taken about it (`audit`).",
    responses={
        200: _ok(operations.RunDetail),
        404: NOT_FOUND,
        410: _json_error("The run is recorded but its execution history is gone (expired, or a local restart)"),
        422: INVALID,
    },
)
def get_run(run_id: RunIdPath) -> operations.RunDetail:
    return operations.run_detail(
        run_id,
        registry=registry,
        workflow=workflow,
        approval_mode=settings.approval_mode,
        with_audit=_door(app.current_event.path) != "api-key",
    )


@app.post(
    "/runs/<run_id>/approval",
    summary="Approve or reject a run's challenger",
    description="Decide the challenger a run is waiting on (manual approval mode); the pipeline resumes. "
    "Operators only; audited.",
    responses={
        200: _ok(operations.DecisionResponse, "The decision was recorded; the pipeline resumes"),
        **BAD_BODY,
        403: FORBIDDEN,
        404: _json_error("The run is not waiting for an approval"),
        409: CONFLICT,
    },
)
def decide_run(run_id: RunIdPath, request: operations.DecisionRequest) -> operations.DecisionResponse:
    approval = operations.decide_run(run_id, request, caller=_operator(), registry=registry, workflow=workflow)
    return operations.DecisionResponse(run_id=run_id, version=approval.version, decision=approval.status.value)


PageLimit = Annotated[int, Query(ge=1, le=500, description="page size")]


@app.get(
    "/approvals",
    summary="Pending approvals",
    description="Challengers waiting for a decision, oldest first (the one expiring soonest leads), each with the "
    "champion version it would replace (fetch both with GET /models/{version} to compare them). Paginated: pass "
    "the last `approval_id` of a page as `after` for the next.",
    responses={
        200: {
            "description": "One page of pending approvals, oldest first",
            "content": {content_types.APPLICATION_JSON: {"model": list[operations.PendingApproval]}},
        },
        404: _json_error("`after` names no approval"),
        422: INVALID,
    },
)
def list_approvals(
    limit: PageLimit = 100,
    after: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="cursor")] = None,
) -> list[operations.PendingApproval]:
    return operations.pending_approvals(registry=registry, limit=limit, after=after)


@app.post(
    "/rollback",
    summary="Roll back",
    description="Redeploy a version that was live before (default: the one live before the champion) through the "
    "same blue/green deployment pipeline. A version that never served (STAGED, REJECTED) is a 409: it goes live "
    "only through approval. Operators only; audited.",
    responses={
        **BAD_BODY,
        202: _ok(operations.DeploymentStarted, "The deployment started"),
        403: FORBIDDEN,
        404: NOT_FOUND,
        409: _json_error("Already live, never live, or nothing to roll back to (the reason says which)"),
    },
)
def rollback(request: operations.RollbackRequest) -> Response[operations.DeploymentStarted]:
    started = operations.rollback(request, caller=_operator(), registry=registry, workflow=workflow, settings=settings)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=started)


@app.get(
    "/deployments/<name>",
    summary="Get a deployment",
    description="A deployment pipeline execution by name (the last part of `execution_arn` from POST /rollback): "
    "RUNNING, SUCCEEDED, or FAILED with the cause.",
    responses={200: _ok(operations.DeploymentStatus), 404: NOT_FOUND, 422: INVALID},
)
def get_deployment(name: ExecutionNamePath) -> operations.DeploymentStatus:
    return operations.deployment_status(name, workflow=workflow, settings=settings)


@app.get(
    "/audit",
    summary="Audit log",
    description="Every decision (approve, reject, rollback, retrain) with who, when, from where and the comment, "
    "newest first. Paginated: pass `next` as `after`. Operators only.",
    responses={200: _ok(operations.AuditPage), 403: FORBIDDEN, 422: INVALID},
)
def audit_log(
    limit: PageLimit = 50,
    after: Annotated[str | None, Query(pattern=AUDIT_CURSOR, description="cursor: `next` of the page before")] = None,
) -> operations.AuditPage:
    _operator()
    entries, cursor = registry.list_audit(limit, after)
    return operations.AuditPage(entries=entries, next=cursor)


def _operator() -> audit.Caller:
    """The operator making this request, as API Gateway authenticated them; 403 through the API key's door.

    Only the request context counts (filled by API Gateway after its authorizer), never a header or the body.
    """
    event = app.current_event
    context = event.request_context
    identity = context.identity
    door = _door(event.path)
    actor: str | None = None
    actor_id: str | None = None
    if door == "console":
        claims = (context.authorizer.claims or {}) if context.authorizer else {}
        actor = claims.get("email") or claims.get("cognito:username")
        actor_id = claims.get("sub")
    elif door == "operator":
        actor, actor_id = identity.user_arn, identity.user
    if door == "api-key" or not actor:
        raise _Forbidden(
            "this decision needs an operator identity: call it under /operator (IAM, SigV4) or /console (Cognito); "
            "the API key is for inference and reads"
        )
    return audit.Caller(
        actor=str(actor),
        actor_id=str(actor_id) if actor_id else None,
        via=door,
        source_ip=identity.source_ip,
        user_agent=(identity.user_agent or "")[:MAX_USER_AGENT] or None,
    )


# Approval links ----------------------------------------------------------------------------------
@functools.cache
def _secrets() -> Any:
    # Only the approval links need the key: Powertools' parameters utility is imported on that path, not at init.
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

    return parameters.SecretsProvider(boto3_client=secretsmanager)


def _approval_key() -> bytes:
    return str(_secrets().get(settings.approval_secret_arn, max_age=300)).encode()


def _page(status: int, title: str, body: str) -> Response[str]:
    document = (
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>{html.escape(title)}</title><body style='font-family:system-ui;max-width:40em;margin:3em auto'>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Response(
        status_code=status,
        content_type=content_types.TEXT_HTML,
        body=document,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"},
    )


LINK_DECISION = re.compile(r"^(approve|reject)$")
LINK_EXPIRES = re.compile(r"^[0-9]{1,12}$")
LINK_SIG = re.compile(r"^[0-9a-f]{64}$")  # hex HMAC-SHA256 (approvals.sign)


def _link_fields(values: dict[str, str]) -> tuple[str, int, str]:
    """The link's fields, checked for shape before any cryptography sees them (a non-ASCII `sig` is a 403)."""
    decision, expires, sig = (values.get(name, "") for name in ("decision", "expires", "sig"))
    if not (decision and expires and sig):
        raise ApprovalLinkError("the link is incomplete: it needs decision, expires and sig")
    if not (LINK_DECISION.match(decision) and LINK_EXPIRES.match(expires) and LINK_SIG.match(sig)):
        raise ApprovalLinkError("the link is malformed: it was altered or cut short")
    return decision, int(expires), sig


def _form_fields() -> dict[str, str]:
    """The approval form's fields: form-encoded only, small, UTF-8, a handful of fields (else ApprovalFormError)."""
    event = app.current_event
    raw = event.body or ""
    size = _decoded_size(raw) if event.is_base64_encoded else len(raw.encode())
    if size > MAX_FORM_BYTES:
        raise _FormError(413, f"the form is over {MAX_FORM_BYTES} bytes: it is not an approval form")
    if raw and _media_type(event.headers) != FORM_TYPE:
        raise _FormError(415, FORM_ONLY)
    try:
        text = base64.b64decode(raw, validate=True).decode("utf-8") if event.is_base64_encoded else raw
        parsed = parse_qs(text, max_num_fields=10, errors="strict")
    except (UnicodeDecodeError, binascii.Error) as exc:
        raise _FormError(400, "the form is not UTF-8") from exc
    except ValueError as exc:  # over max_num_fields
        raise _FormError(413, "the form has too many fields: it is not an approval form") from exc
    return {name: values[0] for name, values in parsed.items()}


class _FormError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _link_caller() -> audit.Caller:
    identity = app.current_event.request_context.identity
    return audit.Caller(
        actor="email link",
        via="email-link",
        source_ip=identity.source_ip,
        user_agent=(identity.user_agent or "")[:MAX_USER_AGENT] or None,
    )


LINK_PAGES: dict[int, OpenAPIResponse] = {
    200: {"description": "A confirmation form", "content": HTML},
    400: {"description": "The form is not UTF-8", "content": HTML},
    403: {"description": "The link is incomplete, tampered with or expired", "content": HTML},
    413: {"description": "The body is not an approval form (too big, too many fields)", "content": HTML},
    415: {"description": FORM_ONLY, "content": HTML},
    404: _json_error("No such approval"),
    409: {"description": "Already decided", "content": HTML},
    422: INVALID,
}


@app.get(
    "/approvals/<approval_id>",
    summary="Approval link: confirmation page",
    description="Opened from the approval email; shows a form and decides nothing (mail scanners follow links).",
    security=PUBLIC,
    responses=LINK_PAGES,
)
def confirm_page(approval_id: ApprovalIdPath) -> Response[str]:
    query = app.current_event.query_string_parameters or {}
    try:
        decision, expires, sig = _link_fields(query)
        approvals.verify(_approval_key(), approval_id, decision, expires, sig)
        approval = registry.get_approval(approval_id)
    except ApprovalLinkError as exc:
        return _page(403, "This link cannot be used", f"<p>{html.escape(str(exc))}</p>")
    except NotFoundError:
        raise HTTPNotFound(f"approval {approval_id} does not exist") from None
    if approval.status.value != "PENDING":
        return _page(409, "Already decided", f"<p>v{approval.version} was already {approval.status.value.lower()}.</p>")
    verb = "Approve" if decision == "approve" else "Reject"
    form = (
        f"<p>{verb} model <b>v{approval.version}</b> of run <code>{html.escape(approval.run_id)}</code>?</p>"
        f"{_comparison_html(approval.version)}"
        f"<p>This link expires {approval.expires_at:%Y-%m-%d %H:%M} UTC. "
        f"<a href='{html.escape(DASHBOARD_ORIGIN)}/#/versions/{approval.version}'>Open v{approval.version} in the "
        "dashboard</a> for its full record.</p>"
        f"<form method=post><input type=hidden name=decision value={html.escape(decision)}>"
        f"<input type=hidden name=expires value={expires}><input type=hidden name=sig value={html.escape(sig)}>"
        f"<button type=submit>{verb} v{approval.version}</button></form>"
    )
    return _page(200, f"{verb} v{approval.version}?", form)


def _comparison_html(version: int) -> str:
    """The challenger against the champion, as the email shows it: paired numbers with their interval if recorded."""
    challenger = registry.get_model(version)
    champion = registry.get_champion()
    theirs = registry.get_model(champion.version).metrics if champion and champion.version != version else {}
    paired = getattr(challenger, "comparison", None)  # recorded by the training job's paired evaluation
    rows = []
    for name, value in challenger.metrics.items():
        difference = paired.differences.get(name) if paired else None
        other = paired.champion_metrics.get(name) if paired else theirs.get(name)
        delta = (
            f"{difference.delta:+.3f} [{difference.low:+.3f}, {difference.high:+.3f}]"
            if difference
            else (f"{value - other:+.3f}" if other is not None else "")
        )
        rows.append(
            f"<tr><th scope=row>{html.escape(name)}</th><td>{value:.3f}</td>"
            f"<td>{'' if other is None else f'{other:.3f}'}</td><td>{delta}</td></tr>"
        )
    against = f"champion v{champion.version}" if champion and champion.version != version else "no champion yet"
    header = "Δ [interval]" if paired else "Δ"
    return (
        f"<table><caption>v{version} against {against}</caption><tr><th>metric</th><th>v{version}</th>"
        f"<th>champion</th><th>{header}</th></tr>{''.join(rows)}</table>"
    )


@app.post(
    "/approvals/<approval_id>",
    summary="Approval link: decide",
    description="The confirmation form's POST (form-encoded decision, expires, sig); single use.",
    security=PUBLIC,
    responses=LINK_PAGES,
)
def decide(approval_id: ApprovalIdPath) -> Response[str]:
    try:
        decision, expires, sig = _link_fields(_form_fields())
        approvals.verify(_approval_key(), approval_id, decision, expires, sig)
        approval = operations.decide_approval(
            approval_id,
            approved=decision == "approve",
            caller=_link_caller(),
            comment="",
            registry=registry,
            workflow=workflow,
        )
    except _FormError as exc:
        return _page(exc.status, "This is not an approval form", f"<p>{html.escape(str(exc))}</p>")
    except ApprovalLinkError as exc:
        return _page(403, "This link cannot be used", f"<p>{html.escape(str(exc))}</p>")
    except ConflictError:
        return _page(409, "Already decided", "<p>This approval was already decided or has expired.</p>")
    except NotFoundError:
        raise HTTPNotFound(f"approval {approval_id} does not exist") from None
    verdict, outcome = (
        ("approved", "deploying now") if decision == "approve" else ("rejected", "the champion keeps serving")
    )
    return _page(200, f"v{approval.version} {verdict}", f"<p>v{approval.version} {verdict}: {outcome}.</p>")


# The API's own description -------------------------------------------------------------------------
def _openapi_document() -> str:
    """The OpenAPI document for the door this request came through: its server URL, credential and operations."""
    from aws_lambda_powertools.event_handler.openapi.models import Server  # noqa: PLC0415

    door = _door(app.current_event.path)
    document = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=API_VERSION,
            description=DESCRIPTION,
            servers=[Server(url=app._get_base_path() or "/")],
            security_schemes=_security_schemes(),
            security=DOOR_SECURITY[door],
        )
    )
    paths: dict[str, dict[str, Any]] = document["paths"]
    if door == "api-key":  # the key's door has no decisions (template.yaml): the document says so
        for method, path in OPERATOR_ONLY:
            paths.get(path, {}).pop(method, None)
    else:  # the approval links are not repeated under /console or /operator (template.yaml)
        paths.pop("/approvals/{approval_id}", None)
    document["paths"] = {path: operations_ for path, operations_ in paths.items() if operations_}
    return json.dumps(document)


@app.get("/openapi.json", include_in_schema=False)
def openapi_json() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=_openapi_document())


# Swagger UI at /swagger (also /swagger?format=json): the page embeds the document, so it needs no second fetch.
# Registered before the first request for it is resolved: `enable_swagger` imports the OpenAPI models (above).
SWAGGER_PATH = "/swagger"


@cache
def _enable_swagger() -> None:
    app.enable_swagger(
        path=SWAGGER_PATH,
        title=TITLE,
        version=API_VERSION,
        description=DESCRIPTION,
        security_schemes=_security_schemes(),
        security=[{"apiKey": []}, {"cognito": []}, {"sigv4": []}],
        compress=True,
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
# No response capture: responses carry signed approval links and predictions; X-Ray must not keep them.
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if str(event.get("path") or "").rstrip("/").endswith(SWAGGER_PATH):
        _enable_swagger()
    return app.resolve(event, context)
