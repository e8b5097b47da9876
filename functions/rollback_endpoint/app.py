"""RollbackEndpointFunction: put the endpoint back on the previous config; mark the version FAILED."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import deployment
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.clients import client
from challenger_core.models import DeploymentState
from challenger_core.observability import logger, metrics, to_state, tracer
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

settings = get_settings()
registry = Registry(client("dynamodb"), settings.models_table)
sagemaker = SageMaker(client("sagemaker"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=DeploymentState)
def lambda_handler(event: DeploymentState, context: LambdaContext) -> dict[str, Any]:
    state = deployment.start_rollback(event, registry, sagemaker, settings)
    if state.rollback is not None:  # None: the promotion had committed, nothing was undone
        metrics.add_metric(name="DeploymentsRolledBack", unit="Count", value=1)
        logger.warning("rolling back", extra={"cause": state.rollback.failure_reason})
    return to_state(state)
