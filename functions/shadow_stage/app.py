"""ShadowStageFunction: the shadow stage's steps before the swap (issue 23) — start the challenger's serverless
shadow endpoint, poll it, replay captured requests on it, judge what it did, delete it (also on every failure)."""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import shadowing
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.adapters.storage import Storage
from challenger_core.clients import API_RUNTIME, client
from challenger_core.mirror import MirrorStore
from challenger_core.models import Model, TrainingState
from challenger_core.observability import logger, metrics, to_state, tracer
from challenger_core.recipe import load_recipe
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

settings = get_settings()
registry = Registry(client("dynamodb"), settings.models_table)
# The runtime client the API uses for /predict (one attempt, its timeouts): the shadow sees what a caller would.
sagemaker = SageMaker(client("sagemaker"), client("sagemaker-runtime", API_RUNTIME))
storage = Storage(client("s3"))
mirrors = MirrorStore(client("dynamodb"), settings.models_table)


class ShadowStageRequest(Model):
    step: Literal["start", "check", "replay", "judge", "delete"]
    training: TrainingState


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ShadowStageRequest)
def lambda_handler(event: ShadowStageRequest, context: LambdaContext) -> dict[str, Any]:
    state = event.training
    if event.step == "start":
        state = shadowing.start_shadow(state, registry, sagemaker, storage, settings)
    elif event.step == "check":
        state = shadowing.check_shadow(state, sagemaker, mirrors, settings)
    elif event.step == "replay":
        recipe = load_recipe(storage, settings.artifact_bucket, settings.recipe)
        seconds_left = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
        state = shadowing.replay(state, storage, sagemaker, settings, recipe, seconds_left=seconds_left)
    elif event.step == "judge":
        recipe = load_recipe(storage, settings.artifact_bucket, settings.recipe)
        state = shadowing.judge_shadow(state, storage, registry, settings, recipe)
        if state.shadow is not None and state.shadow.outcome == "rejected":
            metrics.add_metric(name="ChallengersRejectedByShadow", unit="Count", value=1)
    else:
        state = shadowing.delete_shadow(state, sagemaker, settings, mirrors)
    return to_state(state)
