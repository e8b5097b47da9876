"""RequestApprovalFunction: park the pipeline (waitForTaskToken) and email signed approve/reject links."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import approvals
from challenger_core.adapters.notifier import Notifier
from challenger_core.adapters.workflow import Workflow
from challenger_core.clients import client
from challenger_core.cost import RunCost
from challenger_core.errors import ChallengerError
from challenger_core.messaging import record_cost
from challenger_core.models import Model, TrainingState
from challenger_core.observability import logger, metrics, tracer
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

settings = get_settings()
registry = Registry(client("dynamodb"), settings.models_table)
notifier = Notifier(client("sns"), settings.topic_arn)
secretsmanager = client("secretsmanager")
sfn = client("stepfunctions")


@functools.cache
def _secrets() -> Any:
    # Built on first use: Powertools' provider tags (and so builds) the client when it is constructed.
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

    return parameters.SecretsProvider(boto3_client=secretsmanager)


class ApprovalRequest(Model):
    task_token: str
    training: TrainingState


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ApprovalRequest)
def lambda_handler(event: ApprovalRequest, context: LambdaContext) -> dict[str, Any]:
    key = str(_secrets().get(settings.approval_secret_arn, max_age=300)).encode()
    approval = approvals.request_approval(
        event.training,
        event.task_token,
        registry=registry,
        notifier=notifier,
        key=key,
        settings=settings,
        cost=_run_cost(event.training),
    )
    logger.info("approval requested", extra={"approval_id": approval.approval_id, "version": approval.version})
    return {"approval_id": approval.approval_id}


def _run_cost(state: TrainingState) -> RunCost | None:
    """The run's cost so far for the email; it goes without one when the cost cannot be read."""
    try:
        return record_cost(state, registry, Workflow(sfn).history, region=sfn.meta.region_name)
    except ChallengerError:
        logger.warning("the run's cost could not be computed", exc_info=True)
        return None
