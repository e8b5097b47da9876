"""CheckTrainingFunction: one bounded poll of the training job."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import training
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.clients import client
from challenger_core.models import TrainingState
from challenger_core.observability import logger, metrics, to_state, tracer

sagemaker = SageMaker(client("sagemaker"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=TrainingState)
def lambda_handler(event: TrainingState, context: LambdaContext) -> dict[str, Any]:
    return to_state(training.check_training(event, sagemaker))
