"""The local gateway's stand-in for IAM authorization on the operator routes (/operator/..., `AWS_IAM`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from challenger.local.gateway import LocalApiGateway
from challenger.local.template import LocalTemplate

KEY = "local-dev-key"
TOKEN = "local-operator-token"


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": "{}"}


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def gateway(template: LocalTemplate, recorder: Recorder) -> Iterator[LocalApiGateway]:
    with LocalApiGateway(template, recorder, api_key=KEY, console_token=TOKEN) as gateway:
        yield gateway


@pytest.mark.parametrize("headers", [{}, {"x-api-key": KEY}, {"Authorization": "Bearer wrong"}])
def test_operator_routes_refuse_requests_without_the_operator_credential(
    gateway: LocalApiGateway, recorder: Recorder, headers: dict[str, str]
) -> None:
    response = requests.post(f"{gateway.api_url}/operator/rollback", json={}, headers=headers, timeout=5)
    # API Gateway's answer to an unsigned request on an AWS_IAM method.
    assert (response.status_code, response.json()) == (403, {"message": "Missing Authentication Token"})
    assert recorder.events == []


def test_the_operator_token_reaches_the_function_as_an_iam_caller(gateway: LocalApiGateway, recorder: Recorder) -> None:
    response = requests.post(
        f"{gateway.api_url}/operator/rollback",
        json={},
        headers={"Authorization": f"Bearer {TOKEN}", "User-Agent": "challenger-cli/1.0"},
        timeout=5,
    )
    assert response.status_code == 202
    [event] = recorder.events
    identity = event["requestContext"]["identity"]
    assert identity["userArn"].endswith(":user/local-operator")
    assert (identity["userAgent"], identity["apiKey"]) == ("challenger-cli/1.0", None)
    assert "authorizer" not in event["requestContext"]  # IAM, not a Cognito authorizer: no claims


@pytest.mark.parametrize(("method", "path"), [("POST", "/rollback"), ("POST", "/runs"), ("GET", "/audit")])
def test_decisions_have_no_route_for_the_api_key(
    gateway: LocalApiGateway, recorder: Recorder, method: str, path: str
) -> None:
    response = requests.request(method, f"{gateway.api_url}{path}", json={}, headers={"x-api-key": KEY}, timeout=5)
    assert (response.status_code, response.json()) == (403, {"message": "Missing Authentication Token"})
    assert recorder.events == []
