"""ReconcileRunsFunction: on a schedule, close runs still RUNNING whose Step Functions execution ended (#74)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core.adapters.workflow import Workflow
from challenger_core.clients import client
from challenger_core.observability import logger, metrics, tracer
from challenger_core.reconcile import reconcile_runs
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

registry = Registry(client("dynamodb"), get_settings().models_table)
workflow = Workflow(client("stepfunctions"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    closed = reconcile_runs(registry, workflow)
    metrics.add_metric(name="RunsReconciled", unit="Count", value=len(closed))
    for run_id, cause in closed.items():
        logger.warning("run closed by the reconciler", extra={"run_id": run_id, "cause": cause})
    return {"closed": closed}
