"""GET /monitoring: serving health per version and the drift checks."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from challenger_core import monitoring
from routers.deps import MonitoringDep, SettingsDep
from routers.errors import INVALID, json_response

router = Router()


@router.get(
    "/monitoring",
    summary="Serving health and drift",
    description="Per version over the last `hours` (default 24): invocations, errors and latency percentiles "
    "(from hourly histograms the API records off the response path), plus the daily drift checks. With `minutes` "
    "(5 to 2880), over the 5-minute windows that overlap the last `minutes` instead (the live block's 15 minutes).",
    responses={200: json_response("OK", monitoring.MonitoringOverview), 422: INVALID},
)
def get_monitoring(
    store: MonitoringDep,
    settings: SettingsDep,
    hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24,
    minutes: Annotated[int | None, Query(ge=5, le=2 * 24 * 60)] = None,
) -> monitoring.MonitoringOverview:
    return monitoring.overview(
        store,
        hours=hours,
        minutes=minutes,
        sample_rate=settings.capture_sample_rate,
        threshold=settings.drift_threshold,
        memory_mb=settings.serverless_memory_mb,
    )
