"""CompareModelsFunction: the promotion policy's verdict, challenger vs champion."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import training
from challenger_core.adapters.storage import Storage
from challenger_core.clients import client
from challenger_core.models import TrainingState
from challenger_core.observability import logger, metrics, to_state, tracer
from challenger_core.policy import PromotionPolicy
from challenger_core.recipe import load_recipe
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

settings = get_settings()
registry = Registry(client("dynamodb"), settings.models_table)
storage = Storage(client("s3"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=TrainingState)
def lambda_handler(event: TrainingState, context: LambdaContext) -> dict[str, Any]:
    policy = PromotionPolicy.from_settings(settings, load_recipe(storage, settings.artifact_bucket, settings.recipe))
    state = training.compare_with_champion(
        event, registry, policy, settings.approval_mode, settings.approval_ttl_seconds
    )
    assert state.verdict is not None
    logger.info("verdict", extra={"promote": state.verdict.promote, "decided_by": state.verdict.decided_by})
    metrics.add_metric(
        name="ChallengersPromoted" if state.verdict.promote else "ChallengersRejected", unit="Count", value=1
    )
    return to_state(state)
