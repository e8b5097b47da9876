"""Who may do what (docs/decisions/0007-operator-identity.md): the API key predicts and reads; operators decide,
each decision lands in the audit log; rollback reaches only versions that served before."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from challenger_core.models import ModelStatus, utcnow
from tests.support.events import load_event
from tests.support.stack import Stack
from tests.unit.functions.api_support import (
    OPERATOR_ARN,
    call,
    live_model,
    put_model,
    registry_of,
    through_key_door,
    waiting_approval,
    workflow_with,
)


@pytest.fixture
def started(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every Step Functions execution the API starts (payloads), instead of starting them."""
    payloads: list[dict[str, Any]] = []
    workflow_with(stack, start=lambda arn, name, payload: payloads.append(payload) or f"arn:{name}")
    return payloads


def rollback_to(stack: Stack, version: int | None) -> tuple[int, Any]:
    event = load_event("api", "operator_rollback")
    event["body"] = json.dumps({} if version is None else {"version": version})
    return call(stack, event)


# The API key cannot change what serves ------------------------------------------------------------------


@pytest.mark.parametrize("case", ["operator_retrain", "operator_rollback", "operator_decide_run", "operator_audit"])
def test_the_api_key_cannot_decide_or_read_the_audit_log(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, started: list[dict[str, Any]], case: str
) -> None:
    approval, resumed = waiting_approval(stack, monkeypatch)
    put_model(stack, 1, ModelStatus.RETIRED, model_data_url="s3://a/1.tar.gz", was_live=True)
    stack.put_data("incoming/reviews/train.csv", b"review_text,sentiment\nok,1\n")
    status, body = call(stack, through_key_door(load_event("api", case)))
    assert status == 403
    assert "operator identity" in body["message"]
    assert (started, resumed) == ([], [])
    registry = registry_of(stack)
    assert registry.get_approval(approval.approval_id).status.value == "PENDING"
    assert registry.list_runs() == []
    assert registry.list_audit(10) == ([], None)


def test_an_operator_door_without_an_identity_is_refused(stack: Stack, started: list[dict[str, Any]]) -> None:
    put_model(stack, 1, ModelStatus.RETIRED, model_data_url="s3://a/1.tar.gz", was_live=True)
    event = load_event("api", "operator_rollback")
    event["requestContext"]["identity"]["userArn"] = None  # never happens behind API Gateway's IAM check
    assert call(stack, event)[0] == 403
    assert started == []


def test_the_api_key_still_reads_and_predicts(stack: Stack) -> None:
    live_model(stack)
    assert call(stack, load_event("api", "models"))[0] == 200
    assert call(stack, load_event("api", "predict"))[0] == 200
    assert call(stack, load_event("api", "approvals"))[0] == 200


# The audit log ------------------------------------------------------------------------------------------


def test_every_decision_is_audited_with_who_when_where_and_why(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, started: list[dict[str, Any]]
) -> None:
    approval, _ = waiting_approval(stack, monkeypatch)
    live_model(stack, version=3)
    put_model(stack, 1, ModelStatus.RETIRED, model_data_url="s3://a/1.tar.gz", was_live=True)
    stack.put_data("incoming/reviews/train.csv", b"review_text,sentiment\nok,1\n")

    decide = load_event("api", "console_decide_run")
    decide["pathParameters"] = {"run_id": approval.run_id}
    decide["path"] = f"/console/runs/{approval.run_id}/approval"
    assert call(stack, decide)[0] == 200
    assert call(stack, load_event("api", "operator_retrain"))[0] == 202
    assert rollback_to(stack, 1)[0] == 202

    status, page = call(stack, load_event("api", "operator_audit"))
    assert status == 200
    entries = page["entries"]
    assert [e["action"] for e in entries] == ["rollback", "retrain", "reject"]  # newest first
    rollback, retrain, reject = entries
    assert reject | {"at": None, "audit_id": None} == {
        "audit_id": None,
        "at": None,
        "action": "reject",
        "actor": "ops@example.com",
        "actor_id": "5f1c2a9e-0d3b-4c1e-9a57-1b2c3d4e5f60",
        "via": "console",
        "source_ip": "127.0.0.1",
        "user_agent": None,
        "comment": "worse on negatives",
        "run_id": "r4",
        "version": 4,
        "detail": "the pipeline resumes: the champion keeps serving",
    }
    assert (rollback["actor"], rollback["via"], rollback["version"]) == (OPERATOR_ARN, "operator", 1)
    assert (rollback["source_ip"], rollback["user_agent"]) == ("203.0.113.7", "challenger-cli/1.0")
    assert rollback["detail"].startswith("from v3 to v1")
    assert retrain["detail"] == "dataset reviews: started"
    assert retrain["run_id"]


def test_email_link_decisions_are_audited_with_the_clients_address(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import urlencode

    from tests.unit.functions.api_support import signed_fields

    approval, _ = waiting_approval(stack, monkeypatch)
    event = load_event("api", "approval_decide")
    event["body"] = urlencode(signed_fields(approval, "approve"))
    event["requestContext"]["identity"] |= {"sourceIp": "192.0.2.44", "userAgent": "Mozilla/5.0"}
    assert call(stack, event)[0] == 200
    [entry], _ = registry_of(stack).list_audit(10)
    assert (entry.action, entry.actor, entry.via, entry.source_ip, entry.user_agent, entry.version) == (
        "approve",
        "email link",
        "email-link",
        "192.0.2.44",
        "Mozilla/5.0",
        4,
    )


def test_the_audit_log_pages_newest_first(stack: Stack, started: list[dict[str, Any]]) -> None:
    put_model(stack, 1, ModelStatus.RETIRED, model_data_url="s3://a/1.tar.gz", was_live=True)
    for _ in range(5):
        assert rollback_to(stack, 1)[0] == 202
    event = load_event("api", "operator_audit")
    event["queryStringParameters"] = {"limit": "2"}
    seen: list[str] = []
    while True:
        status, page = call(stack, event)
        assert status == 200
        assert len(page["entries"]) <= 2
        seen += [e["audit_id"] for e in page["entries"]]
        if not page["next"]:
            break
        event["queryStringParameters"] = {"limit": "2", "after": page["next"]}
    assert len(seen) == len(set(seen)) == 5


def test_model_and_run_records_carry_their_decisions_for_operators_only(
    stack: Stack, started: list[dict[str, Any]]
) -> None:
    put_model(stack, 1, ModelStatus.RETIRED, model_data_url="s3://a/1.tar.gz", was_live=True)
    assert rollback_to(stack, 1)[0] == 202
    model = load_event("api", "model")
    assert call(stack, model)[1]["audit"] is None  # the API key's door: no operator names or addresses
    model["path"] = "/console/models/1"
    model["requestContext"]["authorizer"] = {"claims": {"email": "ops@example.com"}}
    status, body = call(stack, model)
    assert status == 200
    assert [e["action"] for e in body["audit"]] == ["rollback"]


# Rollback reaches only versions that served ---------------------------------------------------------------


@pytest.mark.parametrize("status", [ModelStatus.STAGED, ModelStatus.REJECTED, ModelStatus.APPROVED])
def test_rollback_to_a_version_that_never_served_is_refused(
    stack: Stack, started: list[dict[str, Any]], status: ModelStatus
) -> None:
    live_model(stack, version=3)
    put_model(stack, 5, status, model_data_url="s3://a/5.tar.gz")
    code, body = rollback_to(stack, 5)
    assert code == 409
    assert f"v5 has never been live ({status.value})" in body["message"]
    assert "only through approval" in body["message"]
    assert started == []
    assert registry_of(stack).get_champion().version == 3  # type: ignore[union-attr]


def test_rollback_to_a_version_that_served_and_then_failed_is_allowed(
    stack: Stack, started: list[dict[str, Any]]
) -> None:
    live_model(stack, version=3)
    put_model(stack, 2, ModelStatus.FAILED, model_data_url="s3://a/2.tar.gz", was_live=True)
    status, body = rollback_to(stack, 2)
    assert (status, body["version"]) == (202, 2)
    assert started[0]["request"]["version"] == 2


def test_two_rollbacks_to_one_version_within_a_second_start_two_executions(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first was refused by the deployment (e.g. a replaced archive) and the operator asks again at once.
    names: list[str] = []
    workflow_with(stack, start=lambda arn, name, payload: names.append(name) or f"arn:{name}")
    live_model(stack, version=3)
    put_model(stack, 1, ModelStatus.RETIRED, model_data_url="s3://a/1.tar.gz", was_live=True)
    assert [rollback_to(stack, 1)[0], rollback_to(stack, 1)[0]] == [202, 202]
    assert len(set(names)) == 2
    assert all(re.fullmatch(r"rollback-v1-\d{8}T\d{6}Z-[0-9a-f]{6}", name) for name in names)


def test_default_rollback_target_is_the_version_live_just_before_the_champion(
    stack: Stack, started: list[dict[str, Any]]
) -> None:
    from datetime import timedelta

    now = utcnow()
    # v1 served first, then v2, now v3. v2 is newer to have served than v1, though v1 was retired later
    # (e.g. after a rollback to v1 and forward again, updated_at moves; live_since is what counts).
    put_model(
        stack,
        1,
        ModelStatus.RETIRED,
        model_data_url="s3://a/1.tar.gz",
        was_live=True,
        live_since=now - timedelta(days=3),
    )
    put_model(
        stack,
        2,
        ModelStatus.RETIRED,
        model_data_url="s3://a/2.tar.gz",
        was_live=True,
        live_since=now - timedelta(days=1),
    )
    put_model(stack, 4, ModelStatus.STAGED, model_data_url="s3://a/4.tar.gz")  # newer, but never served
    live_model(stack, version=3)
    status, body = rollback_to(stack, None)
    assert (status, body["version"]) == (202, 2)


def test_rollback_with_nothing_earlier_says_so(stack: Stack, started: list[dict[str, Any]]) -> None:
    live_model(stack, version=3)
    put_model(stack, 4, ModelStatus.STAGED, model_data_url="s3://a/4.tar.gz")
    status, body = rollback_to(stack, None)
    assert status == 409
    assert "no earlier version has been live" in body["message"]
    assert started == []
