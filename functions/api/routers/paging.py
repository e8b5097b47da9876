"""Paginated lists: `limit` and an opaque `cursor` in, one page and the next page's cursor out.

The body stays the list it always was (every client that read the first page keeps working); the cursor of the
next page travels in the `X-Next-Cursor` header, absent on the last page. A cursor is the page's last DynamoDB key,
encoded by the registry and checked when it comes back: one this list did not give out is a 400 with the reason
(challenger_core.registry.decode_cursor), never a query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel

from routers.errors import json_response

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

NEXT_CURSOR = "X-Next-Cursor"

PageLimit = Annotated[int, Query(ge=1, le=500, description="page size")]
# No pattern or length here: a cursor the list did not give out is a 400 with the reason, not a 422.
Cursor = Annotated[str | None, Query(description=f"the `{NEXT_CURSOR}` header of the page before (opaque)")]


def paged[T](items: list[T], cursor: str | None) -> Response[list[T]]:
    """A page: the items as the body, the next page's cursor (if any) in `X-Next-Cursor`."""
    headers: dict[str, Any] = {NEXT_CURSOR: cursor} if cursor else {}
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=items, headers=headers)


BAD_CURSOR = {400: json_response("`cursor` is not one this list gave out")}


def page_response(description: str, model: type[BaseModel]) -> OpenAPIResponse:
    """The OpenAPI answer of a page: a list of `model`, and the next page's cursor in `X-Next-Cursor`."""
    return {
        "description": f"{description}; the `{NEXT_CURSOR}` header carries the next page's cursor (absent on the last)",
        "content": {content_types.APPLICATION_JSON: {"model": list[model]}},  # type: ignore[valid-type]
    }
