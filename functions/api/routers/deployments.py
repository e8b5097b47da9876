"""POST /rollback and GET /deployments/{name}: redeploy a version that was live before, and how it ended."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from challenger_core import operations
from routers.deps import RegistryDep, SettingsDep, WorkflowDep
from routers.doors import DECISION, Operator
from routers.errors import BAD_BODY, FORBIDDEN, INVALID, NOT_FOUND, json_response

router = Router()

# Step Functions execution names: at most 80 of [0-9A-Za-z_-] (the names this stack gives them).
ExecutionNamePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,80}$", description="execution name")]


@router.post(
    "/rollback",
    summary="Roll back",
    description="Redeploy a version that was live before (default: the one live before the champion) through the "
    "same blue/green deployment pipeline. A version that never served (STAGED, REJECTED) is a 409: it goes live "
    "only through approval. Operators only; audited.",
    security=DECISION,
    responses={
        **BAD_BODY,
        202: json_response("The deployment started", operations.DeploymentStarted),
        403: FORBIDDEN,
        404: NOT_FOUND,
        409: json_response("Already live, never live, or nothing to roll back to (the reason says which)"),
    },
)
def rollback(
    request: operations.RollbackRequest,
    *,
    caller: Operator,
    registry: RegistryDep,
    workflow: WorkflowDep,
    settings: SettingsDep,
) -> Response[operations.DeploymentStarted]:
    started = operations.rollback(request, caller=caller, registry=registry, workflow=workflow, settings=settings)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=started)


@router.get(
    "/deployments/<name>",
    summary="Get a deployment",
    description="A deployment pipeline execution by name (the last part of `execution_arn` from POST /rollback): "
    "RUNNING, SUCCEEDED, or FAILED with the cause.",
    responses={200: json_response("OK", operations.DeploymentStatus), 404: NOT_FOUND, 422: INVALID},
)
def get_deployment(
    name: ExecutionNamePath,
    *,
    workflow: WorkflowDep,
    settings: SettingsDep,
) -> operations.DeploymentStatus:
    return operations.deployment_status(name, workflow=workflow, settings=settings)
