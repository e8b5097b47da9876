"""boto3 client construction shared by all handlers: lazy, once per sandbox, sized for who waits.

Handlers call `client(...)` at module level, but nothing is built there: the boto3 client (and the service
model it loads, ~30-80 ms each) is created on the first call that uses it, then reused by every warm
invocation. A handler that needs one client of five on a given path pays for one. Creating a client makes
no AWS call; endpoints come from the standard `AWS_ENDPOINT_URL[_<SERVICE>]` variables, which is how the
local cloud points the same code at loopback.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from botocore.config import Config


@dataclass(frozen=True)
class ClientConfig:
    """The botocore `Config` a client gets, built with the client: importing `botocore.config` pulls in most of
    botocore (~0.1 s), which a handler's init must not pay before a code path calls AWS."""

    connect_timeout: int
    read_timeout: int
    total_max_attempts: int
    retry_mode: Literal["legacy", "standard", "adaptive"] = "standard"

    def build(self) -> Config:
        from botocore.config import Config  # noqa: PLC0415  # see the class docstring

        return Config(
            retries={"mode": self.retry_mode, "total_max_attempts": self.total_max_attempts},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )


# Bounded well inside the functions' 30 s timeout: a slow call must surface as a retryable error, not a
# sandbox timeout; the state machines retry TransientServiceError with backoff.
# `total_max_attempts` counts the first call; botocore's `max_attempts` counts retries only (so `max_attempts: 1`
# is two calls) and rewrites a shared Config to `total_max_attempts` when a client is built from it.
DEFAULT = ClientConfig(total_max_attempts=2, connect_timeout=3, read_timeout=10)

# InvokeEndpoint for the smoke test. A serverless endpoint's first request after a deploy meets a cold start
# (container start and model load; the container has 3 minutes to answer /ping and 60 s per /invocations:
# https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-invoke.html), and InvokeEndpoint's
# reference advises a 70 s socket timeout for a model that may take up to its 60 s limit
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html). One attempt:
# the deployment state machine retries TransientServiceError with backoff (SmokeTest's Retry), so a cold or
# throttled endpoint is waited for instead of rolled back, and no retry is hidden inside one Lambda run.
SMOKE_TEST_RUNTIME = ClientConfig(total_max_attempts=1, connect_timeout=5, read_timeout=70)

# InvokeEndpoint for `POST /predict`. API Gateway ends a REST integration at 29 s
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html), so one attempt with a 20 s read
# leaves the function time to answer 503 + Retry-After itself instead of API Gateway's bare 504.
API_RUNTIME = ClientConfig(total_max_attempts=1, connect_timeout=2, read_timeout=20)


class LazyClient:
    """A boto3 client built on first attribute access (thread-safe), then the client itself for every use."""

    def __init__(self, service: str, config: ClientConfig) -> None:
        self._service = service
        self._config = config
        self._client: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3  # noqa: PLC0415  # boto3's import is the cost a handler that never calls AWS skips

                    self._client = boto3.client(self._service, config=self._config.build())  # type: ignore[call-overload]
        return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def build(self) -> LazyClient:
        """Build the boto3 client now (e.g. before handing it to a background thread); returns self."""
        self._get()
        return self


def client(service: str, config: ClientConfig = DEFAULT) -> Any:
    """A boto3 client with our timeouts and retry mode, created when first used."""
    return LazyClient(service, config)
