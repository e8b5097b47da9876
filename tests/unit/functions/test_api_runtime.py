"""What `POST /predict` answers when a real serverless endpoint is cold, throttled or mid-swap (issue 7 §3)."""

from __future__ import annotations

import boto3

from challenger_core.clients import API_RUNTIME, SMOKE_TEST_RUNTIME, ClientConfig
from challenger_core.errors import TransientServiceError
from tests.support.events import load_event
from tests.support.lambda_context import context
from tests.support.stack import Stack
from tests.unit.functions.test_api import call, live_model


def test_a_cold_or_throttled_endpoint_is_a_503_with_retry_after_not_a_502(stack: Stack) -> None:
    live_model(stack)
    stack.sagemaker.invoke_failures = [
        TransientServiceError("sagemaker-runtime InvokeEndpoint challenger: ThrottlingException: over MaxConcurrency")
    ]
    response = stack.handler("api").lambda_handler(load_event("api", "predict"), context("ApiFunction"))
    assert response["statusCode"] == 503
    assert response["multiValueHeaders"]["Retry-After"] == ["10"]
    assert "starting or busy" in response["body"]
    assert call(stack, load_event("api", "predict"))[0] == 200  # and the retry is served


def test_model_version_names_the_variant_that_answered_not_the_pointer(stack: Stack) -> None:
    live_model(stack, 3)
    # Mid-swap: the pointer still says v3 while the endpoint already serves the config of v4.
    stack.sagemaker.configs["challenger-v4-config"] = "challenger-v4"
    stack.sagemaker.variants["challenger-v4-config"] = "v4"
    stack.sagemaker.endpoints["challenger"]["config"] = "challenger-v4-config"
    status, body = call(stack, load_event("api", "predict"))
    assert (status, body["model_version"]) == (200, 4)


def _attempts(config: ClientConfig) -> dict[str, object]:
    """The retries a client built with ``config`` makes: botocore rewrites ``max_attempts`` (retries) into
    ``total_max_attempts`` (attempts) inside the Config itself when the first client is built, so the Config's own
    dict depends on whether another test built one first."""
    return dict(boto3.client("sagemaker-runtime", region_name="us-east-1", config=config.build()).meta.config.retries)


def test_the_api_and_the_smoke_test_size_their_runtime_clients_for_who_waits() -> None:
    # API Gateway ends the integration at 29 s; InvokeEndpoint gives the container 60 s (advice: a 70 s socket).
    api = _attempts(API_RUNTIME)
    assert api == {"mode": "standard", "total_max_attempts": 1}  # one call: a retry would outlive the gateway
    assert (API_RUNTIME.connect_timeout + API_RUNTIME.read_timeout) * int(api["total_max_attempts"]) < 29
    assert SMOKE_TEST_RUNTIME.read_timeout >= 70
    assert _attempts(SMOKE_TEST_RUNTIME) == {"mode": "standard", "total_max_attempts": 1}  # the state machine retries
