"""GET /audit: every decision, newest first (operators only)."""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from challenger_core import operations
from challenger_core.registry import encode_cursor
from routers.deps import RegistryDep
from routers.doors import DECISION, Operator
from routers.errors import FORBIDDEN, INVALID, json_response
from routers.paging import BAD_CURSOR, Cursor, PageLimit

router = Router()

AUDIT_CURSOR = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#[0-9a-f]{32}$"  # registry.audit_key


@router.get(
    "/audit",
    summary="Audit log",
    description="Every decision (approve, reject, rollback, retrain) with who, when, from where and the comment, "
    "newest first. Paginated: pass `next` as `cursor` (`after`, the raw key older clients pass, still works). "
    "Operators only.",
    security=DECISION,
    responses={
        200: json_response("OK", operations.AuditPage),
        **BAD_CURSOR,
        403: FORBIDDEN,
        422: INVALID,
    },
)
def audit(
    _caller: Operator,
    registry: RegistryDep,
    limit: PageLimit = 50,
    cursor: Cursor = None,
    after: Annotated[str | None, Query(description="deprecated: `next` of the page before, as `cursor`")] = None,
) -> operations.AuditPage:
    if after and not cursor:
        # Older clients pass `next` as `after`: an audit key as it used to be, or the cursor it is now.
        cursor = encode_cursor("AUDIT", after) if re.fullmatch(AUDIT_CURSOR, after) else after
    entries, following = registry.audit_page(limit, cursor)
    return operations.AuditPage(entries=entries, next=following)
