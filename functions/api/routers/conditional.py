"""Conditional GET for the lists the dashboard polls: an ETag on each answer, and 304 when the caller has it.

The dashboard asks `/models`, `/runs` and `/approvals` every few seconds; most answers are the same as the last
one. With `If-None-Match` the unchanged ones come back as an empty 304 (RFC 9110 §13.1.2), so an idle tab moves a
few hundred bytes per poll instead of the whole registry, and its browser skips re-parsing and re-rendering.
The Lambda still runs (API Gateway REST has no cache keyed on the registry's state); the cost per idle tab is
written down in docs/dashboard.md.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from routers.paging import NEXT_CURSOR

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import APIGatewayRestResolver
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware


def entity_tag(body: Any) -> str:
    """A weak validator of the JSON the route answers: equal bodies, equal tags."""
    text = body if isinstance(body, str) else json.dumps(body, sort_keys=True, default=str, separators=(",", ":"))
    return 'W/"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def conditional_get(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Tag a 200 with its ETag; answer 304 with no body when `If-None-Match` already names it."""
    response = next_middleware(app)
    if not isinstance(response, Response) or response.status_code != 200 or response.body is None:
        return response
    tag = entity_tag(response.body)
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = "private, no-cache"  # always revalidate; never serve a stale list
    asked = app.current_event.headers.get("If-None-Match") or app.current_event.headers.get("if-none-match") or ""
    if tag in {candidate.strip() for candidate in asked.split(",")}:
        # A 304 carries the headers a 200 would have had that describe the page (RFC 9110 §15.4.5): its next cursor.
        kept = {name: value for name, value in response.headers.items() if name == NEXT_CURSOR}
        return Response(status_code=304, body="", headers={"ETag": tag, "Cache-Control": "private, no-cache", **kept})
    return response
