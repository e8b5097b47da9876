"""RegisterCandidateFunction: store the evaluated model as STAGED in the registry, with the SHA-256 and S3 VersionId
of its archive, once the archive's members are the files the training job hashed (challenger_core.artifacts)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import training
from challenger_core.adapters.storage import Storage
from challenger_core.clients import client
from challenger_core.models import TrainingState
from challenger_core.observability import logger, metrics, to_state, tracer
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

registry = Registry(client("dynamodb"), get_settings().models_table)
storage = Storage(client("s3"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=TrainingState)
def lambda_handler(event: TrainingState, context: LambdaContext) -> dict[str, Any]:
    return to_state(training.register_candidate(event, registry, storage))
