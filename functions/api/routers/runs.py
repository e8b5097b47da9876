"""Training runs: list, read, retrain now, and decide the challenger a run waits on."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from challenger_core import operations
from challenger_core.models import Run
from routers.conditional import conditional_get
from routers.deps import RegistryDep, SettingsDep, StorageDep, WorkflowDep
from routers.doors import DECISION, Operator, RequestDoor
from routers.errors import BAD_BODY, CONFLICT, FORBIDDEN, INVALID, NOT_FOUND, json_response
from routers.paging import BAD_CURSOR, Cursor, PageLimit, page_response, paged

router = Router()

RunIdPath = Annotated[str, Path(pattern=operations.RUN_ID_PATTERN, description="run id")]


@router.get(
    "/runs",
    summary="List runs",
    description="Training pipeline runs, newest first. Paginated: `limit` (default 50), and the `X-Next-Cursor` "
    "header of one page as `cursor` for the next (no header: the last page).",
    responses={200: page_response("One page of runs, newest first", Run), 422: INVALID, **BAD_CURSOR},
    middlewares=[conditional_get],  # ETag / If-None-Match → 304 (the dashboard polls it)
)
def list_runs(
    *,
    registry: RegistryDep,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> Response[list[Run]]:
    return paged(*registry.runs_page(limit, cursor))


@router.post(
    "/runs",
    summary="Retrain now",
    description="Start a training run on a dataset (default: the latest upload). Unchanged data is skipped "
    "(200, `started: false`) unless `force` is set; a started run answers 202. Operators only; audited.",
    security=DECISION,
    responses={
        200: json_response("Nothing started; `reason` says why", operations.RetrainResponse),
        **BAD_BODY,
        202: json_response("A run started", operations.RetrainResponse),
        403: FORBIDDEN,
        404: NOT_FOUND,
        409: CONFLICT,
    },
)
def retrain_now(
    request: operations.RetrainRequest,
    *,
    caller: Operator,
    storage: StorageDep,
    registry: RegistryDep,
    workflow: WorkflowDep,
    settings: SettingsDep,
) -> Response[operations.RetrainResponse]:
    result = operations.retrain(
        request, caller=caller, storage=storage, registry=registry, workflow=workflow, settings=settings
    )
    return Response(
        status_code=202 if result.started else 200, content_type=content_types.APPLICATION_JSON, body=result
    )


@router.get(
    "/runs/<run_id>",
    summary="Get a run",
    description="A run with the pipeline states it went through so far, each with when it was entered and left; "
    "through an operator door also the decisions taken about it (`audit`).",
    responses={
        200: json_response("OK", operations.RunDetail),
        404: NOT_FOUND,
        410: json_response("The run is recorded but its execution history is gone (expired, or a local restart)"),
        422: INVALID,
    },
)
def get_run(
    run_id: RunIdPath,
    *,
    registry: RegistryDep,
    workflow: WorkflowDep,
    settings: SettingsDep,
    door: RequestDoor,
) -> operations.RunDetail:
    return operations.run_detail(
        run_id,
        registry=registry,
        workflow=workflow,
        approval_mode=settings.approval_mode,
        with_audit=door != "api-key",
        shadow_mode=settings.shadow_mode,
    )


@router.post(
    "/runs/<run_id>/approval",
    summary="Approve or reject a run's challenger",
    description="Decide the challenger a run is waiting on (manual approval mode); the pipeline resumes. "
    "Operators only; audited.",
    security=DECISION,
    responses={
        200: json_response("The decision was recorded; the pipeline resumes", operations.DecisionResponse),
        **BAD_BODY,
        403: FORBIDDEN,
        404: json_response("The run is not waiting for an approval"),
        409: CONFLICT,
    },
)
def decide_run(
    run_id: RunIdPath,
    request: operations.DecisionRequest,
    *,
    caller: Operator,
    registry: RegistryDep,
    workflow: WorkflowDep,
) -> operations.DecisionResponse:
    approval = operations.decide_run(run_id, request, caller=caller, registry=registry, workflow=workflow)
    return operations.DecisionResponse(run_id=run_id, version=approval.version, decision=approval.status.value)
