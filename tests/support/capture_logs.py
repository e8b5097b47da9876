"""CloudWatch Logs' side of the capture path in unit tests: the API's log lines, as the subscription delivers them.

A subscription filter sends matching events to its Lambda destination as `{"awslogs": {"data": <base64 gzip JSON>}}`
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html#LambdaFunctionExample); the
sample event events/capture/subscription.json is one. Filtering is by the template's quoted term, as moto's matcher
(which the local cloud uses) applies it.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from typing import Any

from moto.logs.utils import EventMessageFilter

from challenger.local.template import LocalTemplate


def filter_pattern() -> str:
    """The FilterPattern of the template's capture subscription."""
    template = LocalTemplate()
    [logical_id] = template.of_type("AWS::Logs::SubscriptionFilter")
    return str(template.resources[logical_id]["Properties"]["FilterPattern"])


def awslogs_event(output: str, *, log_stream: str | None = None, pattern: str | None = None) -> dict[str, Any] | None:
    """The delivery of the lines of `output` (a function's stdout) that match the filter, or None when none does."""
    matcher = EventMessageFilter(pattern or filter_pattern())
    messages = [line for line in output.splitlines() if line.strip() and matcher.matches(line)]
    if not messages:
        return None
    data = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/lambda/challenger/api",
        "logStream": log_stream or f"2026/12/01/[$LATEST]{uuid.uuid4().hex}",
        "subscriptionFilters": ["Captures"],
        "logEvents": [
            {"id": str(10**55 + index), "timestamp": 1764613800000 + index, "message": message}
            for index, message in enumerate(messages)
        ],
    }
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(data).encode())).decode()}}
