"""DriftCheckFunction: the scheduled (DriftSchedule) or on-demand drift check of the live champion.

Compares the champion's recent captured predictions with the baseline its training job wrote, stores the day's
result, publishes the score as a metric, emails an alert above DriftThreshold and, with RetrainOnDrift, starts
one training run on the latest data.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import monitoring, notifications
from challenger_core.adapters.notifier import Notifier
from challenger_core.adapters.storage import Storage
from challenger_core.adapters.workflow import Workflow
from challenger_core.clients import client
from challenger_core.observability import logger, metrics, tracer
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

settings = get_settings()
policy = monitoring.DriftPolicy(
    threshold=settings.drift_threshold,
    min_samples=settings.drift_min_samples,
    window_days=settings.drift_window_days,
    retrain=settings.retrain_on_drift,
)


@cache
def _ddb() -> Any:
    return client("dynamodb")


@cache
def _storage() -> Storage:
    return Storage(client("s3"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    registry = Registry(_ddb(), settings.models_table)
    report = monitoring.check_drift(
        registry=registry,
        store=monitoring.MonitoringStore(_ddb(), settings.models_table),
        storage=_storage(),
        artifact_bucket=settings.artifact_bucket,
        policy=policy,
    )
    if report is None:
        return {"checked": False, "reason": "no model is live yet"}
    # One series whatever version serves, so DriftAlarm can watch it; the version rides along as metadata.
    metrics.add_metadata(key="model_version", value=str(report.version))
    metrics.add_metric(name="DriftScore", unit=MetricUnit.NoUnit, value=report.score)
    metrics.add_metric(name="DriftAlerts", unit=MetricUnit.Count, value=int(report.alert))
    action = "none"
    if report.alert:
        action = "retraining disabled (RetrainOnDrift=false)"
        if policy.retrain:
            action = monitoring.retrain_on_drift(
                report,
                storage=_storage(),
                registry=registry,
                workflow=Workflow(client("stepfunctions")),
                settings=settings,
            )
        message = notifications.drift_alert(
            stack=settings.stack_name, report=report, action=action, dashboard_url=settings.dashboard_origin
        )
        Notifier(client("sns"), settings.topic_arn).send(message)
    logger.info("drift checked", extra={"version": report.version, "score": report.score, "alert": report.alert})
    return {
        "checked": True,
        "version": report.version,
        "score": report.score,
        "alert": report.alert,
        "skipped": report.skipped,
        "skipped_lines": report.skipped_lines,
        "skipped_objects": report.skipped_objects,
        "action": action,
    }
