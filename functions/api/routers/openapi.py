"""GET /openapi.json and GET /swagger: the API's own description, as seen through the door a request came in.

Each door's document has its own server URL (the stage, plus /console or /operator), its credential, and only the
operations that door has (routers/doors.py). /predict's records are the recipe's: the route takes generic
instances (the recipe is read from S3 on first use, never at import) and the document shows the recipe's own
request and prediction models. Powertools' OpenAPI models (~60 ms of import) are imported by these two routes only.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Request, Response, content_types

from challenger_core import serving
from challenger_core.recipe import RecipeSpec
from routers.deps import RecipeDep
from routers.doors import DOOR_SECURITY, PREFIXES, door_of, doors_of, rest_event

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import SecurityScheme

TITLE = "Challenger API"
API_VERSION = "1.0.0"
DESCRIPTION = (
    "Continuous training and blue/green deployment of a SageMaker serverless endpoint. Inference clients send "
    "`x-api-key` (POST /predict and the GET reads only). Operators decide (retrain, approve/reject, roll back, "
    "read the audit log) under `/console` with `Authorization: Bearer <Cognito ID token>` (the dashboard) or under "
    "`/operator` with an AWS SigV4 signature (IAM: the CLI, automation). "
    'Errors are JSON `{"message": ...}` (validation errors add `detail`).'
)
# The routes that describe the API rather than being part of it: at every door, in no document.
META_ROUTES = {("GET", "/openapi.json"): "OpenApi", ("GET", "/swagger"): "SwaggerUi"}


@cache
def security_schemes() -> dict[str, SecurityScheme]:
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


def base_path(request: Request) -> str:
    """Where this door's operations live: the stage when the URL has it (not behind a custom domain), then the
    door's prefix (the same rule as Powertools' REST resolver for the stage)."""
    event = rest_event(request)
    stage = event.request_context.stage
    base = f"/{stage}" if stage and stage != "$default" and event.request_context.path.startswith(f"/{stage}") else ""
    return base + PREFIXES.get(door_of(event.path), "")


def document(app: APIGatewayRestResolver, request: Request, recipe: RecipeSpec) -> dict[str, Any]:
    """The OpenAPI document for the door this request came through: its server URL, credential and operations."""
    from aws_lambda_powertools.event_handler.openapi.models import Server  # noqa: PLC0415

    door = door_of(request.resolved_event.path)
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=API_VERSION,
            description=DESCRIPTION,
            servers=[Server(url=base_path(request) or "/")],
            security_schemes=security_schemes(),
            security=DOOR_SECURITY[door],
        )
    )
    paths: dict[str, dict[str, Any]] = document["paths"]
    for operations in paths.values():
        for method in list(operations):
            if door not in doors_of(operations[method].get("security")):
                del operations[method]
    document["paths"] = {path: operations for path, operations in paths.items() if operations}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (serving.request_model(recipe), serving.response_model(recipe)):
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(definition.pop("$defs", {}))
        schemas[model.__name__] = definition
    return document


def register(app: APIGatewayRestResolver) -> None:
    """Declare the two description routes on the resolver (they describe it, so they need it, not a Router)."""

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_json(request: Request, recipe: RecipeDep) -> Response[str]:
        body = json.dumps(document(app, request, recipe))
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)

    @app.get("/swagger", include_in_schema=False, compress=True)
    def swagger(request: Request, recipe: RecipeDep) -> Response[str]:
        """Swagger UI on this door's document, embedded in the page (no second fetch); `?format=json`: the document."""
        from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html  # noqa: PLC0415

        # The </ escape keeps a string in the document from closing the page's <script> (as Powertools does).
        spec = json.dumps(document(app, request, recipe), indent=2).replace("</", "<\\/")
        if (request.query_parameters or {}).get("format") == "json":
            return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=spec)
        assets = files("aws_lambda_powertools.event_handler.openapi.swagger_ui")
        page = generate_swagger_html(
            spec,
            (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
            (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
            "",
            None,
        )
        return Response(status_code=200, content_type=content_types.TEXT_HTML, body=page)
