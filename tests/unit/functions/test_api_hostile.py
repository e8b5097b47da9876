"""Hostile input against the API handler: whatever arrives, the answer is a 4xx with a reason, never a 5xx, and
nothing changes — no model, run, approval, audit entry or champion (issue 8, "Hostile input").

Every case is an attack that once got a 5xx or did the wrong thing, or one of its neighbours. Each runs through
the handler exactly as API Gateway would invoke it, with an operator identity where the route needs one (the
attacker is assumed to hold a credential: the point is what the input can do).
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from challenger_core.models import Approval, ModelStatus, utcnow
from tests.support.events import load_event
from tests.support.stack import Stack
from tests.unit.functions.api_support import (
    call,
    live_model,
    put_model,
    registry_of,
    signed_fields,
    waiting_approval,
    workflow_with,
)

DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "9" * 5_000
# Every route that reads a JSON body, as (sample event, a valid body to mutate).
JSON_ROUTES = {
    "predict": ("predict", {"instances": ["fine"]}),
    "retrain": ("operator_retrain", {"dataset": "reviews", "force": False}),
    "decide": ("operator_decide_run", {"decision": "approve", "comment": ""}),
    "rollback": ("operator_rollback", {"version": 1}),
}


def snapshot(stack: Stack) -> dict[str, Any]:
    """Everything an attack could change: models, runs, approvals, audit log, champion."""
    registry = registry_of(stack)
    approval = registry.get_approval("0123456789abcdef0123456789abcdef")
    return {
        "models": [m.model_dump() for m in registry.list_models()],
        "runs": [r.model_dump() for r in registry.list_runs()],
        "approval": approval.model_dump(),
        "audit": registry.list_audit(100)[0],
        "champion": registry.get_champion(),
    }


@pytest.fixture
def world(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Callable[[], dict[str, Any]]:
    """A live champion (v3), an earlier one (v1), a challenger waiting on approval (v4), a dataset; the pipeline
    and deployments never really start (a start would be a change and fail `unchanged`)."""
    put_model(stack, 1, ModelStatus.RETIRED, model_data_url="s3://a/1.tar.gz", was_live=True)
    live_model(stack, version=3)
    waiting_approval(stack, monkeypatch)
    stack.put_data("incoming/reviews/train.csv", b"review_text,sentiment\nok,1\n")

    def refuse(*_: Any) -> str:
        raise AssertionError("hostile input started an execution")

    workflow_with(stack, start=refuse, succeed_task=refuse)
    return lambda: snapshot(stack)


def assert_refused(stack: Stack, event: dict[str, Any], before: dict[str, Any], *, status: int | None = None) -> Any:
    """The answer is a 4xx with a reason, and nothing changed."""
    code, body = call(stack, event)
    assert 400 <= code < 500, (code, body)
    if status is not None:
        assert code == status, (code, body)
    if isinstance(body, dict):
        assert isinstance(body.get("message"), str), body
        assert body["message"], body
    else:  # the approval links answer a browser with a page; the reason is on it
        assert "<p>" in body, body
    assert snapshot(stack) == before
    return body


def with_body(case: str, body: str, *, content_type: str = "application/json") -> dict[str, Any]:
    event = load_event("api", case)
    event["body"] = body
    event["headers"]["Content-Type"] = content_type
    event["multiValueHeaders"]["Content-Type"] = [content_type]
    return event


# The approval links ----------------------------------------------------------------------------------------


def test_link_with_a_non_ascii_signature_is_refused(stack: Stack, world: Any) -> None:
    fields = {"decision": "approve", "expires": str(int(time.time()) + 600), "sig": "é" * 64}
    page = load_event("api", "approval_page")
    page["queryStringParameters"] = fields
    page["multiValueQueryStringParameters"] = {k: [v] for k, v in fields.items()}
    assert "malformed" in assert_refused(stack, page, world(), status=403)
    post = with_body("approval_decide", urlencode(fields), content_type="application/x-www-form-urlencoded")
    assert "malformed" in assert_refused(stack, post, world(), status=403)


def test_link_with_a_5000_digit_expiry_is_refused(stack: Stack, world: Any) -> None:
    fields = {"decision": "approve", "expires": HUGE_INT, "sig": "0" * 64}
    page = load_event("api", "approval_page")
    page["queryStringParameters"] = fields
    page["multiValueQueryStringParameters"] = {k: [v] for k, v in fields.items()}
    assert_refused(stack, page, world(), status=403)
    post = with_body("approval_decide", urlencode(fields), content_type="application/x-www-form-urlencoded")
    assert_refused(stack, post, world(), status=413)  # bigger than any approval form


def test_approval_post_with_invalid_utf8_is_a_400(stack: Stack, world: Any) -> None:
    event = with_body(
        "approval_decide",
        base64.b64encode(b"decision=approve&sig=\xff\xfe").decode(),
        content_type="application/x-www-form-urlencoded",
    )
    event["isBase64Encoded"] = True
    assert "not UTF-8" in assert_refused(stack, event, world(), status=400)


def test_approval_post_of_a_million_fields_is_refused_without_parsing_them(
    stack: Stack, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = "&".join(["a=b"] * 1_000_000)[: 10 * 1024 * 1024]
    event = with_body("approval_decide", body, content_type="application/x-www-form-urlencoded")
    before = world()
    pages = sys.modules["routers.pages"]  # the API's module, as the stack fixture imported it

    def never(*_: Any, **__: Any) -> None:
        raise AssertionError("a form over the size limit was parsed")

    monkeypatch.setattr(pages, "parse_qs", never)
    assert "over 4096 bytes" in assert_refused(stack, event, before, status=413)


def test_approval_post_of_many_small_fields_is_refused(stack: Stack, world: Any) -> None:
    event = with_body("approval_decide", "&".join(["a=b"] * 50), content_type="application/x-www-form-urlencoded")
    assert "too many fields" in assert_refused(stack, event, world(), status=413)


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=x", "text/plain"])
def test_approval_post_must_be_a_form(stack: Stack, world: Any, content_type: str) -> None:
    approval = registry_of(stack).get_approval("0123456789abcdef0123456789abcdef")
    event = with_body("approval_decide", urlencode(signed_fields(approval, "approve")), content_type=content_type)
    assert_refused(stack, event, world(), status=415)


def test_approval_form_type_is_case_insensitive(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    approval, resumed = waiting_approval(stack, monkeypatch)
    event = with_body(
        "approval_decide",
        urlencode(signed_fields(approval, "reject")),
        content_type="Application/X-WWW-Form-URLEncoded; Charset=UTF-8",
    )
    assert call(stack, event)[0] == 200
    assert len(resumed) == 1


# JSON bodies on every JSON route ---------------------------------------------------------------------------


@pytest.mark.parametrize("route", JSON_ROUTES)
def test_json_nested_100000_deep_is_a_422(stack: Stack, world: Any, route: str) -> None:
    body = assert_refused(stack, with_body(JSON_ROUTES[route][0], DEEP), world(), status=422)
    assert body["message"] == "the body is nested too deeply"


@pytest.mark.parametrize("route", JSON_ROUTES)
def test_json_with_a_5000_digit_integer_is_a_422(stack: Stack, world: Any, route: str) -> None:
    case, valid = JSON_ROUTES[route]
    field = next(iter(valid))
    body = assert_refused(stack, with_body(case, f'{{"{field}": {HUGE_INT}}}'), world(), status=422)
    assert "not acceptable JSON" in body["message"]


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize(
    "body",
    ['"just a string"', "[1, 2]", "null", "{", '{"a": NaN}', '{"x": "\\ud800"}'],
    ids=["string", "array", "null", "truncated", "nan", "lone-surrogate"],
)
def test_json_that_is_not_an_object_of_the_right_shape_is_a_422(
    stack: Stack, world: Any, route: str, body: str
) -> None:
    assert_refused(stack, with_body(JSON_ROUTES[route][0], body), world(), status=422)


def test_a_lone_surrogate_in_a_stored_field_is_refused(stack: Stack, world: Any) -> None:
    event = with_body("operator_decide_run", '{"decision": "reject", "comment": "\\ud800"}')
    event["path"] = "/operator/runs/r4/approval"
    event["pathParameters"] = {"run_id": "r4"}
    assert_refused(stack, event, world(), status=422)


@pytest.mark.parametrize(
    ("case", "body", "field"),
    [
        ("operator_rollback", {"version": True}, "version"),
        ("operator_rollback", {"version": "1"}, "version"),
        ("operator_rollback", {"version": 1.0}, "version"),
        ("operator_retrain", {"force": "yes"}, "force"),
        ("operator_retrain", {"force": 1}, "force"),
        ("operator_retrain", {"dataset": 7}, "dataset"),
        ("operator_decide_run", {"decision": "approve", "comment": 5}, "comment"),
        ("operator_decide_run", {"decision": "APPROVE"}, "decision"),
        ("operator_rollback", {"version": 1, "force": True}, "force"),
    ],
)
def test_state_changing_fields_have_strict_types(
    stack: Stack, world: Any, case: str, body: dict[str, Any], field: str
) -> None:
    event = with_body(case, json.dumps(body))
    if case == "operator_decide_run":
        event["path"], event["pathParameters"] = "/operator/runs/r4/approval", {"run_id": "r4"}
    answer = assert_refused(stack, event, world(), status=422)
    assert field in answer["message"]


def test_media_types_are_case_insensitive(stack: Stack) -> None:
    live_model(stack)
    event = with_body("predict", json.dumps({"instances": ["great"]}), content_type="APPLICATION/JSON")
    assert call(stack, event)[0] == 200
    event = with_body("predict", json.dumps({"instances": ["great"]}), content_type="Application/Json; Charset=UTF-8")
    assert call(stack, event)[0] == 200


@pytest.mark.parametrize("route", JSON_ROUTES)
def test_form_bodies_on_json_routes_are_a_415(stack: Stack, world: Any, route: str) -> None:
    event = with_body(JSON_ROUTES[route][0], "a=b", content_type="application/x-www-form-urlencoded")
    assert_refused(stack, event, world(), status=415)


# Datasets under incoming/ ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "incoming/train.csv",
        "incoming/a/b/train.csv",
        "incoming/bad name/train.csv",
        "incoming/ünïcode/train.csv",
        "incoming/" + "x" * 41 + "/train.csv",
        "incoming/-leading/train.csv",
    ],
)
def test_retrain_latest_skips_keys_that_are_not_datasets(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    stack.put_data("incoming/reviews/train.csv", b"review_text,sentiment\nok,1\n")
    time.sleep(0.01)
    stack.put_data(key, b"review_text,sentiment\nok,1\n")  # newer than the real dataset
    workflow_with(stack, start=lambda *_: "arn:x")
    event = with_body("operator_retrain", "{}")
    status, body = call(stack, event)
    assert status == 202, body
    assert "-reviews-" in body["run_id"]


def test_retrain_latest_with_only_malformed_keys_is_a_404(stack: Stack, world: Any) -> None:
    # world() has incoming/reviews/train.csv; replace it by malformed drops only
    stack.s3.delete_object(Bucket=stack.data_bucket, Key="incoming/reviews/train.csv")
    stack.put_data("incoming/a/b/train.csv", b"x")
    stack.put_data("incoming/bad name/train.csv", b"x")
    body = assert_refused(stack, with_body("operator_retrain", "{}"), world(), status=404)
    assert "no dataset under" in body["message"]


def test_the_schedule_skips_keys_that_are_not_datasets(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.lambda_context import context

    stack.put_data("incoming/reviews/train.csv", b"review_text,sentiment\nok,1\n")
    time.sleep(0.01)
    stack.put_data("incoming/bad name/train.csv", b"x")
    trigger = stack.handler("trigger")
    starts: list[str] = []
    monkeypatch.setattr(trigger.workflow, "start", lambda arn, name, payload: starts.append(name) or "arn:x")
    trigger.lambda_handler(load_event("trigger", "schedule"), context("TriggerFunction"))
    assert len(starts) == 1
    assert "-reviews-" in starts[0]


# Runs -----------------------------------------------------------------------------------------------------


def test_two_forced_retrains_in_the_same_second_get_their_own_runs(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import challenger_core.triggering as triggering

    frozen = utcnow()
    monkeypatch.setattr(triggering, "utcnow", lambda: frozen)
    stack.put_data("incoming/reviews/train.csv", b"review_text,sentiment\nok,1\n")
    names: list[str] = []
    workflow_with(stack, start=lambda arn, name, _: names.append(name) or f"arn:{name}")
    event = with_body("operator_retrain", json.dumps({"force": True}))
    first, second = call(stack, event), call(stack, event)
    assert first[0] == second[0] == 202
    assert first[1]["run_id"] != second[1]["run_id"]
    assert names == [first[1]["run_id"], second[1]["run_id"]]
    assert len(registry_of(stack).list_runs()) == 2


# Lists ----------------------------------------------------------------------------------------------------


def test_pending_approvals_beyond_100_are_listed_by_time_and_paginated(stack: Stack) -> None:
    registry = registry_of(stack)
    now = utcnow()
    for index in range(130):
        registry.put_approval(
            Approval(
                approval_id=f"{index:032x}"[::-1],  # ids do not sort like their times
                run_id=f"r{index}",
                version=index + 1,
                task_token="t",
                expires_at=now + timedelta(minutes=10 + index),
            )
        )
    event = load_event("api", "approvals")
    seen: list[dict[str, Any]] = []
    query: dict[str, str] = {}
    while True:
        event["queryStringParameters"] = query or None
        status, page = call(stack, event)
        assert status == 200
        assert len(page) <= 100
        if not page:
            break
        seen += page
        query = {"after": page[-1]["approval_id"]}
    assert [a["run_id"] for a in seen] == [f"r{i}" for i in range(130)]


@pytest.mark.parametrize(
    ("case", "query"),
    [
        ("approvals", {"limit": "0"}),
        ("approvals", {"limit": "100000"}),
        ("approvals", {"limit": "ten"}),
        ("approvals", {"after": "../../etc"}),
        ("operator_audit", {"limit": "-1"}),
    ],
)
def test_bad_pagination_is_a_422(stack: Stack, world: Any, case: str, query: dict[str, str]) -> None:
    event = load_event("api", case)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    assert_refused(stack, event, world(), status=422)


@pytest.mark.parametrize("query", [{"after": "2026-01-01"}, {"cursor": "../../etc"}])
def test_a_cursor_the_list_never_gave_out_is_a_400(stack: Stack, world: Any, query: dict[str, str]) -> None:
    # /audit's cursors are opaque since issue 22 (`after` still takes an old raw key); anything else is refused.
    event = load_event("api", "operator_audit")
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    assert_refused(stack, event, world(), status=400)


def test_an_unknown_approval_cursor_is_a_404(stack: Stack, world: Any) -> None:
    event = load_event("api", "approvals")
    event["queryStringParameters"] = {"after": "f" * 32}
    assert_refused(stack, event, world(), status=404)


# Paths ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "path", "parameters"),
    [
        ("model", "/models/1e3", {"version": "1e3"}),
        ("model", "/models/-1", {"version": "-1"}),
        ("model", "/models/%00", {"version": "\x00"}),
        ("run_unknown", "/runs/..%2F..", {"run_id": "../.."}),
        ("run_unknown", "/runs/é", {"run_id": "é"}),
        ("approval_page", "/approvals/" + "a" * 65, {"approval_id": "a" * 65}),
    ],
)
def test_path_parameters_out_of_shape_are_a_422(
    stack: Stack, world: Any, case: str, path: str, parameters: dict[str, str]
) -> None:
    event = load_event("api", case)
    event["path"], event["pathParameters"] = path, parameters
    assert_refused(stack, event, world(), status=422)


# Our own additions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", JSON_ROUTES)
def test_a_json_body_without_a_content_type_is_a_415(stack: Stack, world: Any, route: str) -> None:
    case, valid = JSON_ROUTES[route]
    event = load_event("api", case)
    event["body"] = json.dumps(valid)
    for headers in (event["headers"], event["multiValueHeaders"]):
        for name in [n for n in headers if n.lower() == "content-type"]:
            del headers[name]
    assert_refused(stack, event, world(), status=415)


def test_an_overlong_comment_is_a_422(stack: Stack, world: Any) -> None:
    event = with_body("operator_decide_run", json.dumps({"decision": "reject", "comment": "x" * 501}))
    event["path"], event["pathParameters"] = "/operator/runs/r4/approval", {"run_id": "r4"}
    assert "comment" in assert_refused(stack, event, world(), status=422)["message"]


def test_a_forged_identity_header_is_not_an_identity(stack: Stack, world: Any) -> None:
    # Only API Gateway's request context names the caller; headers a client sends name no one.
    event = with_body("operator_rollback", json.dumps({"version": 1}))
    event["path"] = event["resource"] = "/rollback"
    event["requestContext"]["identity"] = {"sourceIp": "198.51.100.9", "apiKey": "k"}
    forged = {"X-Amzn-Iam-User-Arn": "arn:aws:iam::123456789012:user/admin", "Authorization": "Bearer forged"}
    event["headers"] |= forged
    event["multiValueHeaders"] |= {name: [value] for name, value in forged.items()}
    assert_refused(stack, event, world(), status=403)
