"""ValidateDataFunction: check the dropped dataset against the recipe's schema; a bad file fails the run with the
exact problems. A single CSV is streamed here (the function's memory does not bound its size; validation.MAX_BYTES
does, sized for its timeout). A set of parts, Parquet or a larger file is validated by a SageMaker Processing job
running the same code (validation_job): the first call starts it, the pipeline's bounded poll calls again until
its result is the manifest."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import training, validation_job
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.adapters.storage import Storage
from challenger_core.clients import client
from challenger_core.models import TrainingState
from challenger_core.observability import logger, metrics, to_state, tracer
from challenger_core.recipe import load_recipe
from challenger_core.settings import get_settings

settings = get_settings()
storage = Storage(client("s3"))
sagemaker = SageMaker(client("sagemaker"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=TrainingState)
def lambda_handler(event: TrainingState, context: LambdaContext) -> dict[str, Any]:
    if event.validation is not None:
        state = validation_job.check(event, storage, sagemaker)
    else:
        recipe = load_recipe(storage, settings.artifact_bucket, settings.recipe)
        if validation_job.needs_job(event, storage):
            state = validation_job.start(event, storage, sagemaker, settings, recipe)
            logger.info("validation job started", extra={"job": state.validation and state.validation.job_name})
            return to_state(state)
        state = training.validate_data(event, storage, recipe)
    if state.manifest is not None:
        logger.info("dataset valid", extra={"manifest": state.manifest.model_dump()})
    return to_state(state)
