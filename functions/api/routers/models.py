"""GET /models and GET /models/{version}: the registry's versions."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from challenger_core import operations
from challenger_core.models import ModelVersion
from routers.conditional import conditional_get
from routers.deps import RegistryDep
from routers.doors import RequestDoor
from routers.errors import INVALID, NOT_FOUND, json_response

router = Router()

VersionPath = Annotated[int, Path(ge=1, le=operations.MAX_VERSION, description="model version")]


@router.get(
    "/models",
    summary="List models",
    description="Every model version, newest first, with its metrics.",
    middlewares=[conditional_get],  # ETag / If-None-Match → 304 (the dashboard polls it)
)
def list_models(
    *,
    registry: RegistryDep,
) -> list[ModelVersion]:
    return registry.list_models()


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
