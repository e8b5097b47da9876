"""NotifyFunction: render a pipeline event as an email and publish it to the SNS topic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core.adapters.notifier import Notifier
from challenger_core.adapters.workflow import Workflow
from challenger_core.clients import client
from challenger_core.cost import RunCost
from challenger_core.errors import ChallengerError
from challenger_core.messaging import NotifyRequest, compose, record_cost
from challenger_core.models import TrainingState
from challenger_core.observability import logger, metrics, tracer
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

settings = get_settings()
registry = Registry(client("dynamodb"), settings.models_table)
notifier = Notifier(client("sns"), settings.topic_arn)
sfn = client("stepfunctions")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=NotifyRequest)
def lambda_handler(event: NotifyRequest, context: LambdaContext) -> dict[str, Any]:
    message = compose(event, registry, settings, cost=_run_cost(event))
    message_id = notifier.send(message)
    logger.info("notification sent", extra={"kind": message.kind, "subject": message.subject})
    return {"message_id": message_id, "kind": message.kind}


def _run_cost(event: NotifyRequest) -> RunCost | None:
    """A run's cost so far (a training event, or a training run's deployment); the email goes without it when it
    cannot be read."""
    run: TrainingState | str | None = event.training
    if run is None and event.deployment is not None:
        run = event.deployment.request.run_id
    if run is None:
        return None
    try:
        return record_cost(run, registry, Workflow(sfn).history, region=sfn.meta.region_name)
    except ChallengerError:
        logger.warning("the run's cost could not be computed", exc_info=True)
        return None
