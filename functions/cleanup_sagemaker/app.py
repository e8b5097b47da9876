"""CleanupSageMakerFunction: the `Custom::SageMakerCleanup` custom resource — `sam delete` leaves no endpoint.

The endpoint, its configs and models are created by the pipeline, not by CloudFormation, so deleting the stack
would leave them (and the endpoint billing). On Delete this removes this stack's endpoints (serving, and the shadow
stage's), then every endpoint config and model whose name carries the stack's uid (`deployment.resource_names`),
waits until the endpoints are gone, and answers CloudFormation. Create and Update do nothing. Safe to run again:
deleted resources are skipped.
The data and artifact buckets are retained by design (docs/decisions/0002-template.md) and left as they are.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import deployment
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.clients import client
from challenger_core.custom_resource import CustomResourceEvent, respond
from challenger_core.observability import logger
from challenger_core.settings import get_settings

settings = get_settings()
sagemaker = SageMaker(client("sagemaker"))
POLL_SECONDS = 15
RESOURCE = "sagemaker-cleanup"
SPARE_MILLIS = 60_000  # answer CloudFormation with a minute to spare, or the delete waits an hour for nothing


@logger.inject_lambda_context
def lambda_handler(raw: dict[str, Any], context: LambdaContext) -> None:
    event = CustomResourceEvent.model_validate(raw)

    def wait() -> bool:
        if context.get_remaining_time_in_millis() < SPARE_MILLIS + POLL_SECONDS * 1000:
            return False
        time.sleep(POLL_SECONDS)
        return True

    try:
        if event.request_type != "Delete":
            respond(event, "SUCCESS", "nothing to do until the stack is deleted", resource=RESOURCE)
            return
        removed = deployment.remove_stack_resources(sagemaker, settings, wait=wait)
        logger.info("SageMaker resources removed", extra={"removed": removed})
        respond(event, "SUCCESS", f"removed {len(removed)} SageMaker resource(s)", resource=RESOURCE)
    except Exception as exc:
        logger.exception("SageMaker clean-up failed")
        respond(event, "FAILED", f"{type(exc).__name__}: {exc}", resource=RESOURCE)
