"""CloudFormation custom resources: the request CloudFormation sends, and the one way to answer it.

A custom resource's function must PUT its result to the presigned `ResponseURL` on every path, or the stack
waits an hour for a reply (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class CustomResourceEvent(BaseModel):
    """What CloudFormation sends a custom resource's function (the fields we use)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    request_type: Literal["Create", "Update", "Delete"] = Field(alias="RequestType")
    response_url: str = Field(alias="ResponseURL")
    stack_id: str = Field(alias="StackId")
    request_id: str = Field(alias="RequestId")
    logical_resource_id: str = Field(alias="LogicalResourceId")
    physical_resource_id: str | None = Field(default=None, alias="PhysicalResourceId")
    properties: dict[str, Any] = Field(default_factory=dict, alias="ResourceProperties")


def respond(
    event: CustomResourceEvent, status: str, reason: str, *, resource: str, data: dict[str, str] | None = None
) -> None:
    """PUT the result to CloudFormation's presigned URL; `resource` names the physical id on first creation."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000],  # CloudFormation shows it in the stack events; keep it short
            "PhysicalResourceId": event.physical_resource_id or f"{event.stack_id.split('/')[-1]}-{resource}",
            "StackId": event.stack_id,
            "RequestId": event.request_id,
            "LogicalResourceId": event.logical_resource_id,
            "NoEcho": False,
            "Data": data or {},
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 — CloudFormation's https presigned S3 URL
        event.response_url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        response.read()
