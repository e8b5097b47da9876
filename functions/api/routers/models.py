"""GET /models and GET /models/{version}: the registry's versions."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from challenger_core import operations
from challenger_core.models import ModelVersion
from routers.conditional import conditional_get
from routers.deps import RegistryDep
from routers.doors import RequestDoor
from routers.errors import INVALID, NOT_FOUND, json_response
from routers.paging import BAD_CURSOR, Cursor, PageLimit, page_response, paged

router = Router()

VersionPath = Annotated[int, Path(ge=1, le=operations.MAX_VERSION, description="model version")]


@router.get(
    "/models",
    summary="List models",
    description="Model versions, newest first, with their metrics. Paginated: `limit` (default 100), and the "
    "`X-Next-Cursor` header of one page as `cursor` for the next (no header: the last page).",
    responses={200: page_response("One page of versions, newest first", ModelVersion), 422: INVALID, **BAD_CURSOR},
    middlewares=[conditional_get],  # ETag / If-None-Match → 304 (the dashboard polls it)
)
def list_models(
    *,
    registry: RegistryDep,
    limit: PageLimit = 100,
    cursor: Cursor = None,
) -> Response[list[ModelVersion]]:
    return paged(*registry.models_page(limit, cursor))


@router.get(
    "/models/<version>",
    summary="Get a model",
    description="One model version: status, metrics, confusion matrix, artifact; through an operator door also "
    "the decisions taken about it (`audit`).",
    responses={200: json_response("OK", operations.ModelDetail), 404: NOT_FOUND, 422: INVALID},
)
def get_model(
    version: VersionPath,
    *,
    registry: RegistryDep,
    door: RequestDoor,
) -> operations.ModelDetail:
    return operations.model_detail(version, registry=registry, with_audit=door != "api-key")
