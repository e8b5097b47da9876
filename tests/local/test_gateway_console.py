"""The local gateway's stand-in for the dashboard's Cognito authorizer, its config and its outbox endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from challenger.local.gateway import LOCAL_CLAIMS, LocalApiGateway
from challenger.local.outbox import INDEX_FILE
from challenger.local.template import LocalTemplate

KEY = "local-dev-key"
TOKEN = "local-console-token"


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "[]"}


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def outbox_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "outbox"
    directory.mkdir()
    messages = [
        ("older", "Run finished", "run_result", "2026-11-23T10:00:00+00:00"),
        ("newer", "Approve v2?", "approval_request", "2026-11-23T11:00:00+00:00"),
    ]
    index = []
    for ident, subject, kind, date in messages:
        (directory / f"{ident}.eml").write_text(
            f"From: challenger@localhost\r\nTo: you@localhost\r\nSubject: {subject}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nbody of {ident}\r\n"
        )
        index.append(
            {"id": ident, "file": f"{ident}.eml", "subject": subject, "kind": kind, "date": date, "to": "you@localhost"}
        )
    (directory / INDEX_FILE).write_text(json.dumps({"messages": index}))
    return directory


@pytest.fixture
def gateway(template: LocalTemplate, recorder: Recorder, outbox_dir: Path) -> Iterator[LocalApiGateway]:
    with LocalApiGateway(template, recorder, api_key=KEY, console_token=TOKEN, outbox_dir=outbox_dir) as gateway:
        yield gateway


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer "},
        {"x-api-key": KEY},
        {"Authorization": "Basic x"},
    ],
)
def test_console_routes_need_the_token(gateway: LocalApiGateway, recorder: Recorder, headers: dict[str, str]) -> None:
    response = requests.get(f"{gateway.api_url}/console/models", headers=headers, timeout=5)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert recorder.events == []


@pytest.mark.parametrize("value", [f"Bearer {TOKEN}", f"bearer {TOKEN}", TOKEN])
def test_console_routes_pass_the_local_users_claims(gateway: LocalApiGateway, recorder: Recorder, value: str) -> None:
    response = requests.get(f"{gateway.api_url}/console/models", headers={"Authorization": value}, timeout=5)

    assert response.status_code == 200
    event = recorder.events[-1]
    assert (event["path"], event["resource"]) == ("/console/models", "/console/models")
    assert event["requestContext"]["authorizer"] == {"claims": LOCAL_CLAIMS}
    assert event["requestContext"]["identity"]["apiKey"] is None


def test_api_key_routes_carry_no_claims(gateway: LocalApiGateway, recorder: Recorder) -> None:
    requests.get(f"{gateway.api_url}/models", headers={"x-api-key": KEY}, timeout=5)

    assert "authorizer" not in recorder.events[-1]["requestContext"]


def test_without_a_token_configured_console_routes_are_closed(template: LocalTemplate, recorder: Recorder) -> None:
    with LocalApiGateway(template, recorder, api_key=KEY) as gateway:
        response = requests.get(f"{gateway.api_url}/console/models", headers={"Authorization": "Bearer "}, timeout=5)
    assert response.status_code == 401


def test_config_json_tells_the_dashboard_where_the_api_is(gateway: LocalApiGateway) -> None:
    response = requests.get(f"{gateway.url}/config.json", timeout=5)  # no credential: it holds none

    assert response.status_code == 200
    assert response.json() == {
        "apiBase": "/v1/console",
        "auth": {"mode": "local"},
        "outbox": "/_local/outbox",
        "stage": "local",
    }


def test_outbox_lists_the_messages_newest_first(gateway: LocalApiGateway) -> None:
    response = requests.get(f"{gateway.url}/_local/outbox", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)

    assert response.status_code == 200
    listing = response.json()
    assert [m["id"] for m in listing] == ["newer", "older"]
    assert set(listing[0]) == {"id", "subject", "kind", "date", "to", "body"}
    assert listing[0]["subject"] == "Approve v2?"
    assert listing[0]["body"].strip() == "body of newer"
    assert listing[0]["date"].startswith("2026-11-23T11:00:00")


def test_outbox_needs_the_token(gateway: LocalApiGateway) -> None:
    response = requests.get(f"{gateway.url}/_local/outbox", timeout=5)
    assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})
    assert requests.post(f"{gateway.url}/_local/outbox", timeout=5).status_code == 405


def test_empty_outbox(template: LocalTemplate, recorder: Recorder, tmp_path: Path) -> None:
    with LocalApiGateway(template, recorder, api_key=KEY, console_token=TOKEN, outbox_dir=tmp_path) as gateway:
        response = requests.get(f"{gateway.url}/_local/outbox", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert response.json() == []
