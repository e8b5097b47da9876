"""Issue 22: the lists the dashboard polls answer 304 when nothing changed (ETag / If-None-Match)."""

from __future__ import annotations

from typing import Any

from challenger_core.models import ModelStatus
from tests.support.events import load_event
from tests.support.lambda_context import context
from tests.support.stack import Stack
from tests.unit.functions.api_support import put_model


def raw(stack: Stack, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = stack.handler("api").lambda_handler(event, context("ApiFunction"))
    return response


def header(response: dict[str, Any], name: str) -> str | None:
    values = response["multiValueHeaders"].get(name)
    return values[0] if values else None


def test_an_unchanged_list_is_a_304_without_a_body(stack: Stack) -> None:
    put_model(stack, 1, ModelStatus.LIVE)
    event = load_event("api", "models")
    first = raw(stack, event)
    tag = header(first, "ETag")
    assert first["statusCode"] == 200
    assert tag is not None
    assert tag.startswith('W/"')
    again = load_event("api", "models")
    again["headers"] = {**(again.get("headers") or {}), "If-None-Match": tag}
    again["multiValueHeaders"] = {**(again.get("multiValueHeaders") or {}), "If-None-Match": [tag]}
    second = raw(stack, again)
    assert (second["statusCode"], second["body"], header(second, "ETag")) == (304, "", tag)
    # A change in the registry is a new tag and a full answer.
    put_model(stack, 2, ModelStatus.STAGED)
    third = raw(stack, again)
    assert third["statusCode"] == 200
    assert header(third, "ETag") != tag
