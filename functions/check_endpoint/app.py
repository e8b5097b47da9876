"""CheckEndpointFunction: one bounded poll of the endpoint (deployment or rollback phase)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import deployment
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.clients import client
from challenger_core.models import DeploymentState
from challenger_core.observability import logger, metrics, to_state, tracer

sagemaker = SageMaker(client("sagemaker"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=DeploymentState)
def lambda_handler(event: DeploymentState, context: LambdaContext) -> dict[str, Any]:
    return to_state(deployment.check_endpoint(event, sagemaker))
