"""ApiFunction: the REST API behind API Gateway (API key), including the approval links' pages.

Routes: GET /health, POST /predict, GET /models, GET /models/{version}, GET /runs, POST /runs,
GET /runs/{run_id}, POST /runs/{run_id}/approval, POST /rollback, GET/POST /approvals/{approval_id}.
A GET never decides anything (mail scanners follow links): it shows a confirmation form that POSTs.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as HTTPNotFound
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import approvals, operations, serving
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.adapters.storage import Storage
from challenger_core.adapters.workflow import Workflow
from challenger_core.clients import client
from challenger_core.errors import ApprovalLinkError, ConflictError, NotFoundError, ServiceError
from challenger_core.models import ModelVersion, Run
from challenger_core.observability import logger, metrics, tracer
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

settings = get_settings()
registry = Registry(client("dynamodb"), settings.models_table)
sagemaker = SageMaker(client("sagemaker"), client("sagemaker-runtime"))
workflow = Workflow(client("stepfunctions"))
storage = Storage(client("s3"))
secrets = parameters.SecretsProvider(boto3_client=client("secretsmanager"))

app = APIGatewayRestResolver(enable_validation=True)


def _error(status: int, message: str) -> Response[dict[str, str]]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body={"message": message})


@app.exception_handler(serving.NoModelLiveError)
def _no_model(exc: serving.NoModelLiveError) -> Response[dict[str, str]]:
    return _error(503, str(exc))


@app.exception_handler(NotFoundError)
def _not_found(exc: NotFoundError) -> Response[dict[str, str]]:
    return _error(404, str(exc))


@app.exception_handler(ConflictError)
def _conflict(exc: ConflictError) -> Response[dict[str, str]]:
    return _error(409, str(exc))


@app.exception_handler(ServiceError)
def _upstream(exc: ServiceError) -> Response[dict[str, str]]:
    logger.exception("upstream failure")
    if "ModelError" in str(exc):
        return _error(400, f"the model could not read the instances: {exc}")
    return _error(502, "the model endpoint failed to answer; the error is logged")


@app.get("/health")
def health() -> dict[str, Any]:
    champion = registry.get_champion()
    return {"status": "ok", "champion_version": champion.version if champion else None}


@app.post("/predict")
def predict(request: serving.PredictRequest) -> serving.PredictResponse:
    raw = app.current_event.body or ""
    if len(raw.encode()) > serving.MAX_PAYLOAD_BYTES:
        raise _TooLarge()
    return serving.predict(request, registry, sagemaker, settings)


class _TooLarge(Exception):
    pass


@app.exception_handler(_TooLarge)
def _too_large(_: _TooLarge) -> Response[dict[str, str]]:
    return _error(413, f"payload over the endpoint's {serving.MAX_PAYLOAD_BYTES} byte limit")


@app.get("/models")
def list_models() -> list[ModelVersion]:
    return registry.list_models()


@app.get("/models/<version>")
def get_model(version: int) -> ModelVersion:
    return registry.get_model(version)


@app.get("/runs")
def list_runs() -> list[Run]:
    return registry.list_runs()


@app.post("/runs")
def retrain(request: operations.RetrainRequest) -> Response[operations.RetrainResponse]:
    result = operations.retrain(
        request, actor=_caller(), storage=storage, registry=registry, workflow=workflow, settings=settings
    )
    return Response(
        status_code=202 if result.started else 200, content_type=content_types.APPLICATION_JSON, body=result
    )


@app.get("/runs/<run_id>")
def get_run(run_id: str) -> operations.RunDetail:
    return operations.run_detail(run_id, registry=registry, workflow=workflow)


@app.post("/runs/<run_id>/approval")
def decide_run(run_id: str, request: operations.DecisionRequest) -> dict[str, Any]:
    approval = operations.decide_run(run_id, request, actor=_caller(), registry=registry, workflow=workflow)
    return {"run_id": run_id, "version": approval.version, "decision": approval.status.value}


@app.post("/rollback")
def rollback(request: operations.RollbackRequest) -> Response[operations.DeploymentStarted]:
    started = operations.rollback(request, actor=_caller(), registry=registry, workflow=workflow, settings=settings)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=started)


def _caller() -> str:
    """Who is calling: the Cognito user when signed in, else the API key's caller."""
    context = app.current_event.request_context
    claims = (context.authorizer.claims or {}) if context.authorizer else {}
    return str(claims.get("email") or claims.get("cognito:username") or "api-key caller")


# Approval links ----------------------------------------------------------------------------------
def _approval_key() -> bytes:
    return str(secrets.get(settings.approval_secret_arn, max_age=300)).encode()


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


def _link_fields(values: dict[str, str]) -> tuple[str, int, str]:
    try:
        return values["decision"], int(values["expires"]), values["sig"]
    except (KeyError, ValueError) as exc:
        raise ApprovalLinkError("the link is incomplete: it needs decision, expires and sig") from exc


@app.get("/approvals/<approval_id>")
def confirm_page(approval_id: str) -> Response[str]:
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
        f"<form method=post><input type=hidden name=decision value={html.escape(decision)}>"
        f"<input type=hidden name=expires value={expires}><input type=hidden name=sig value={html.escape(sig)}>"
        f"<button type=submit>{verb} v{approval.version}</button></form>"
    )
    return _page(200, f"{verb} v{approval.version}?", form)


@app.post("/approvals/<approval_id>")
def decide(approval_id: str) -> Response[str]:
    raw = app.current_event.decoded_body or ""
    fields = {name: values[0] for name, values in parse_qs(raw).items()}
    try:
        decision, expires, sig = _link_fields(fields)
        approvals.verify(_approval_key(), approval_id, decision, expires, sig)
        approval = approvals.decide(
            approval_id,
            approved=decision == "approve",
            actor="email link",
            comment="",
            registry=registry,
            workflow=workflow,
        )
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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
