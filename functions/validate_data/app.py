"""ValidateDataFunction: check the dropped CSV(s) against the recipe's schema; a bad file fails the run with the
exact problems. The files are streamed (the function's memory does not bound their size; validation.MAX_BYTES
does, sized for its timeout)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import training
from challenger_core.adapters.storage import Storage
from challenger_core.clients import client
from challenger_core.models import TrainingState
from challenger_core.observability import logger, metrics, to_state, tracer
from challenger_core.recipe import load_recipe
from challenger_core.settings import get_settings

settings = get_settings()
storage = Storage(client("s3"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=TrainingState)
def lambda_handler(event: TrainingState, context: LambdaContext) -> dict[str, Any]:
    recipe = load_recipe(storage, settings.artifact_bucket, settings.recipe)
    state = training.validate_data(event, storage, recipe)
    logger.info("dataset valid", extra={"manifest": state.manifest and state.manifest.model_dump()})
    return to_state(state)
