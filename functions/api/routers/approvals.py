"""GET /approvals: the challengers waiting for a decision."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from challenger_core import operations
from routers.conditional import conditional_get
from routers.deps import RegistryDep
from routers.errors import INVALID, json_response
from routers.paging import PageLimit

router = Router()


@router.get(
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
        404: json_response("`after` names no approval"),
        422: INVALID,
    },
    middlewares=[conditional_get],  # ETag / If-None-Match → 304 (the dashboard polls it)
)
def list_approvals(
    registry: RegistryDep,
    limit: PageLimit = 100,
    after: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="cursor")] = None,
) -> list[operations.PendingApproval]:
    return operations.pending_approvals(registry=registry, limit=limit, after=after)
