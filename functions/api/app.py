"""ApiFunction: the REST API behind API Gateway, the approval links' pages and the API's OpenAPI document.

The routes live in `routers/`, one module per resource; each route declares the doors it has once, through its
OpenAPI `security` (routers/doors.py), and `scripts/api_routes.py` generates the template's API events from that.
Errors map to statuses in one table (routers/errors.py); what a route works with comes through `Depends`
(routers/deps.py). A GET never decides anything (mail scanners follow links).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core.observability import logger, metrics, tracer
from routers import (
    approvals,
    audit,
    batch,
    datasets,
    deployments,
    deps,
    errors,
    models,
    monitoring,
    openapi,
    pages,
    predict,
    runs,
)
from routers.doors import PREFIXES
from routers.paging import NEXT_CURSOR

ROUTERS = (predict, models, runs, deployments, approvals, audit, monitoring, pages, datasets, batch)

_origin = deps.settings().dashboard_origin  # the dashboard behind CloudFront; unset locally (same origin)
app = APIGatewayRestResolver(
    enable_validation=True,
    strip_prefixes=list(PREFIXES.values()),
    # If-None-Match / ETag: the dashboard's conditional polls (routers/conditional.py).
    cors=CORSConfig(
        allow_origin=_origin,
        allow_headers=["Authorization", "Content-Type", "x-api-key", "If-None-Match"],
        expose_headers=["ETag", NEXT_CURSOR],
        max_age=600,
    )
    if _origin
    else None,
)
errors.StrictJsonBody.install(app)
errors.register(app)
for module in ROUTERS:
    app.include_router(module.router)
openapi.register(app)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
# No response capture: responses carry signed approval links and predictions; X-Ray must not keep them.
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
