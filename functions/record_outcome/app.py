"""RecordOutcomeFunction: close the run (SUCCEEDED deployed/rejected, or FAILED with its cause)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import training
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.adapters.workflow import Workflow
from challenger_core.clients import client
from challenger_core.errors import ChallengerError
from challenger_core.messaging import record_cost
from challenger_core.models import Model, RunOutcome, TrainingState
from challenger_core.observability import logger, metrics, to_state, tracer
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

registry = Registry(client("dynamodb"), get_settings().models_table)
sagemaker = SageMaker(client("sagemaker"))
sfn = client("stepfunctions")


class RecordOutcomeRequest(Model):
    outcome: RunOutcome
    training: TrainingState


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=RecordOutcomeRequest)
def lambda_handler(event: RecordOutcomeRequest, context: LambdaContext) -> dict[str, Any]:
    state = training.record_outcome(event.training, event.outcome, registry, sagemaker)
    try:  # the run's final cost (its deployment included): best effort, the outcome is recorded already
        record_cost(state, registry, Workflow(sfn).history, region=sfn.meta.region_name)
    except ChallengerError:
        logger.warning("the run's cost could not be recorded", exc_info=True)
    metrics.add_metric(name=f"Runs{event.outcome.value.title()}", unit="Count", value=1)
    return to_state(state)
