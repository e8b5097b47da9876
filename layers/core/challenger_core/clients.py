"""boto3 client construction shared by all handlers (they call it at module level, once per sandbox).

Creating a client makes no AWS call; endpoints come from the standard `AWS_ENDPOINT_URL[_<SERVICE>]`
variables, which is how the local cloud points the same code at loopback.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# Bounded well inside the functions' 30 s timeout: a slow call must surface as a retryable error, not a
# sandbox timeout; the state machines retry TransientServiceError with backoff.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=3, read_timeout=10)


def client(service: str) -> Any:
    """A boto3 client with our timeouts and retry mode."""
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]
