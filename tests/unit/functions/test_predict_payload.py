"""POST /predict and the serverless endpoint's 4 MB request limit (issue 17): the limit applies to the body sent
to InvokeEndpoint, which the API re-serializes; a request under the limit must not reach SageMaker over it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from challenger_core.serving import MAX_PAYLOAD_BYTES
from tests.support.events import load_event
from tests.support.stack import Stack
from tests.unit.functions.api_support import call, live_model


@pytest.fixture
def sent(stack: Stack) -> list[int]:
    """The size of every body InvokeEndpoint receives."""
    sizes: list[int] = []
    invoke = stack.sagemaker.invoke_with_variant

    def measured(endpoint_name: str, body: bytes, content_type: str = "application/json") -> Any:
        sizes.append(len(body))
        return invoke(endpoint_name, body, content_type)

    stack.sagemaker.invoke_with_variant = measured  # type: ignore[method-assign]
    return sizes


def predict(stack: Stack, instances: list[Any]) -> int:
    event = load_event("api", "predict")
    event["body"] = json.dumps({"instances": instances}, ensure_ascii=False)
    assert len(event["body"].encode()) <= MAX_PAYLOAD_BYTES  # the request itself is within the limit
    status: int = call(stack, event)[0]
    return status


def test_non_ascii_text_under_the_limit_is_sent_within_it(stack: Stack, sent: list[int]) -> None:
    """'é' is 2 bytes of UTF-8 in the request; json.dumps' ensure_ascii sent it on as 6 (`\\u00e9`)."""
    live_model(stack)
    assert predict(stack, ["très bien " + "é" * 19_000] * 100) == 200  # ~3.8 MB of UTF-8
    assert sent
    assert max(sent) <= MAX_PAYLOAD_BYTES


def test_a_request_that_grows_past_the_limit_when_sent_is_a_413_not_a_502(stack: Stack, sent: list[int]) -> None:
    """1,000 shorthand strings just under the limit: each becomes {"review_text": ...} on the way out."""
    live_model(stack)
    assert predict(stack, ["x" * 4_190] * 1_000) == 413
    assert sent == []  # refused before the endpoint (which would have answered 4xx: a 502 to the caller)
