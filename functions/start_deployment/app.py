"""StartDeploymentFunction: pin the verified archive (models/sha256/<digest>/), new model from it + serverless
endpoint config, then create or update the endpoint."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import artifacts, deployment
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.adapters.storage import Storage
from challenger_core.clients import client
from challenger_core.models import DeploymentState
from challenger_core.observability import logger, metrics, to_state, tracer
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

settings = get_settings()
registry = Registry(client("dynamodb"), settings.models_table)
sagemaker = SageMaker(client("sagemaker"))
storage = Storage(client("s3"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=DeploymentState)
def lambda_handler(event: DeploymentState, context: LambdaContext) -> dict[str, Any]:
    # The registered version of the archive, verified and copied to its content-addressed key, which CreateModel uses.
    artifacts.check_before_deploy(event, registry, storage, settings.artifact_bucket)
    return to_state(deployment.start_deployment(event, registry, sagemaker, settings))
