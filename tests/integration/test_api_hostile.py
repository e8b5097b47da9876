"""The hostile-input suite through the local cloud's real HTTP (gateway, Lambda runtime, moto): whatever arrives,
a 4xx with a reason, never a 5xx, and nothing changes. No model is trained: the attacks need none.

The handler-level suite (tests/unit/functions/test_api_hostile.py) covers each case in depth; this one checks
that the same answers survive the gateway (its 10 MB limit, its base64 handling of non-text bodies, its
authorizers) and real sockets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from challenger.local.cloud import LocalCloud


@pytest.fixture(scope="module")
def cloud(cloud_factory: Callable[..., LocalCloud]) -> LocalCloud:
    return cloud_factory()


def state(cloud: LocalCloud) -> dict[str, Any]:
    key = {"x-api-key": cloud.api_key}
    operator = {"Authorization": f"Bearer {cloud.console_token}"}
    api = cloud.gateway.api_url
    return {
        "models": requests.get(f"{api}/models", headers=key, timeout=10).json(),
        "runs": requests.get(f"{api}/runs", headers=key, timeout=10).json(),
        "health": requests.get(f"{api}/health", headers=key, timeout=10).json(),
        "audit": requests.get(f"{api}/operator/audit", headers=operator, timeout=10).json(),
    }


def cases(cloud: LocalCloud) -> list[tuple[str, str, dict[str, str], bytes]]:
    key = {"x-api-key": cloud.api_key}
    json_key = key | {"Content-Type": "application/json"}
    operator = {"Authorization": f"Bearer {cloud.console_token}", "Content-Type": "application/json"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    approval = "/approvals/0123456789abcdef0123456789abcdef"
    deep = b"[" * 100_000 + b"]" * 100_000
    return [
        ("GET", approval + "?decision=approve&expires=9999999999&sig=" + "%C3%A9" * 64, {}, b""),
        ("POST", approval, form, b"decision=approve&sig=\xff\xfe"),
        ("POST", approval, form, b"&".join([b"a=b"] * 1_000_000)[: 9 * 1024 * 1024]),
        ("POST", "/predict", json_key, deep),
        ("POST", "/predict", json_key, b'{"instances": [' + b"9" * 5000 + b"]}"),
        ("POST", "/operator/rollback", operator, deep),
        ("POST", "/operator/rollback", operator, b'{"version": true}'),
        ("POST", "/operator/runs", operator, b'{"force": "yes"}'),
        ("POST", "/operator/runs", operator, b'{"dataset": "../etc"}'),
        ("POST", "/operator/runs", operator, b"{}"),  # nothing under incoming/: 404 with the reason
        ("POST", "/operator/runs/r1/approval", operator, b'{"decision": "approve", "comment": "\\ud800"}'),
        ("POST", "/rollback", json_key, b"{}"),  # the key has no decision routes
        ("POST", "/operator/rollback", json_key, b"{}"),  # nor the operator door
        ("GET", "/approvals?limit=100000", key, b""),
        ("GET", "/operator/audit?after=nope", operator, b""),
    ]


def test_hostile_requests_get_a_4xx_with_a_reason_and_change_nothing(cloud: LocalCloud) -> None:
    before = state(cloud)
    answers = []
    for method, path, headers, body in cases(cloud):
        response = requests.request(method, cloud.gateway.api_url + path, headers=headers, data=body, timeout=60)
        answers.append((method, path[:60], response.status_code))
        assert 400 <= response.status_code < 500, answers[-1]
        reason = response.json()["message"] if "json" in response.headers.get("Content-Type", "") else response.text
        assert reason, answers[-1]
    assert state(cloud) == before


def test_media_types_are_case_insensitive_through_the_gateway(cloud: LocalCloud) -> None:
    response = requests.post(
        f"{cloud.gateway.api_url}/predict",
        headers={"x-api-key": cloud.api_key, "Content-Type": "APPLICATION/JSON"},
        data=b'{"instances": ["fine"]}',
        timeout=60,
    )
    assert response.status_code == 503  # read past the body checks: no model is live yet
    assert "no model is live yet" in response.json()["message"]
