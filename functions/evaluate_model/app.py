"""EvaluateModelFunction: read the recipe's evaluation.json for the trained model."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import training
from challenger_core.adapters.storage import Storage
from challenger_core.clients import client
from challenger_core.models import TrainingState
from challenger_core.observability import logger, metrics, to_state, tracer

storage = Storage(client("s3"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=TrainingState)
def lambda_handler(event: TrainingState, context: LambdaContext) -> dict[str, Any]:
    state = training.evaluate(event, storage)
    assert state.candidate is not None
    for name, value in state.candidate.metrics.items():
        metrics.add_metric(name=f"Challenger_{name}", unit="None", value=value)
    return to_state(state)
