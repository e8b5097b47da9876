"""X-Ray must not keep the API's responses: they carry signed approval links (email pages) and predictions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support.events import load_event
from tests.support.lambda_context import context
from tests.support.stack import Stack


class Segments:
    """Stands in for the X-Ray recorder: records what the tracer would put on the handler's subsegment."""

    def __init__(self) -> None:
        self.metadata: dict[str, Any] = {}

    @contextmanager
    def in_subsegment(self, name: str) -> Iterator[Segments]:
        yield self

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        self.metadata[key] = value

    def put_annotation(self, key: str, value: Any) -> None:
        pass


def test_the_api_handler_never_hands_its_response_to_xray(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    module = stack.handler("api")
    segments = Segments()
    monkeypatch.setattr(module.tracer, "provider", segments)
    response = module.lambda_handler(load_event("api", "health"), context("ApiFunction"))
    assert response["statusCode"] == 200
    assert not [key for key in segments.metadata if key.endswith("response")]


def test_a_handler_with_the_default_would_hand_it_over(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # The check above can fail: the same tracer, with Powertools' default, records the response.
    module = stack.handler("api")
    segments = Segments()
    monkeypatch.setattr(module.tracer, "provider", segments)
    monkeypatch.delenv("POWERTOOLS_TRACER_CAPTURE_RESPONSE", raising=False)
    traced = module.tracer.capture_lambda_handler(lambda event, ctx: {"statusCode": 200, "body": "signed link"})
    traced({}, context("ApiFunction"))
    assert segments.metadata == {"<lambda> response": {"statusCode": 200, "body": "signed link"}}
