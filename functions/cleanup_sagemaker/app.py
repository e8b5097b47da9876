"""CleanupSageMakerFunction: the `Custom::SageMakerCleanup` custom resource — `sam delete` leaves no endpoint.

The endpoint, its configs and models are created by the pipeline, not by CloudFormation, so deleting the stack
would leave them (and the endpoint billing). On Delete this removes this stack's endpoint, then every endpoint
config and model whose name carries the stack's uid (`deployment.resource_names`), waits until the endpoint is
gone, and answers CloudFormation. Create and Update do nothing. Safe to run again: deleted resources are skipped.
The data and artifact buckets are retained by design (docs/decisions/0002-template.md) and left as they are.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from challenger_core import deployment
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.clients import client
from challenger_core.observability import logger
from challenger_core.settings import get_settings

settings = get_settings()
sagemaker = SageMaker(client("sagemaker"))
POLL_SECONDS = 15
SPARE_MILLIS = 60_000  # answer CloudFormation with a minute to spare, or the delete waits an hour for nothing


class CustomResourceEvent(BaseModel):
    """What CloudFormation sends a custom resource's function (the fields we use)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    request_type: Literal["Create", "Update", "Delete"] = Field(alias="RequestType")
    response_url: str = Field(alias="ResponseURL")
    stack_id: str = Field(alias="StackId")
    request_id: str = Field(alias="RequestId")
    logical_resource_id: str = Field(alias="LogicalResourceId")
    physical_resource_id: str | None = Field(default=None, alias="PhysicalResourceId")


def respond(event: CustomResourceEvent, status: str, reason: str) -> None:
    """PUT the result to CloudFormation's presigned URL (the only way a custom resource answers)."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000],
            "PhysicalResourceId": event.physical_resource_id or f"{event.stack_id.split('/')[-1]}-sagemaker-cleanup",
            "StackId": event.stack_id,
            "RequestId": event.request_id,
            "LogicalResourceId": event.logical_resource_id,
            "NoEcho": False,
            "Data": {},
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 — CloudFormation's https presigned S3 URL
        event.response_url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        response.read()


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
            respond(event, "SUCCESS", "nothing to do until the stack is deleted")
            return
        removed = deployment.remove_stack_resources(sagemaker, settings, wait=wait)
        logger.info("SageMaker resources removed", extra={"removed": removed})
        respond(event, "SUCCESS", f"removed {len(removed)} SageMaker resource(s)")
    except Exception as exc:
        logger.exception("SageMaker clean-up failed")
        respond(event, "FAILED", f"{type(exc).__name__}: {exc}")
