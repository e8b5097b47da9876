"""A ModelError from the endpoint is a short 400: the container's answer without its HTML, bounded (issue 16).

The image's serving stack answers whatever a handler raises with Flask's HTML 500 page, and InvokeEndpoint quotes
the container's whole body in its message.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.support.events import load_event
from tests.support.stack import Stack
from tests.unit.functions.api_support import call, live_model

# werkzeug's InternalServerError().get_body() in the sklearn 1.9-0 image environment (Flask's 500 page).
FLASK_500 = (
    "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n"
    "<p>The server encountered an internal error and was unable to complete your request. Either the server is "
    "overloaded or there is an error in the application.</p>\n"
)


def model_error(body: str, status: int = 500) -> str:
    """What the core's translate_errors makes of InvokeEndpoint's ModelError (SageMaker's wording)."""
    kind = "server" if status >= 500 else "client"
    return (
        f"sagemaker-runtime InvokeEndpoint challenger: ModelError: Received {kind} error ({status}) from primary "
        f'with message "{body}". See https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1'
        "#logEventViewer:group=/aws/sagemaker/Endpoints/challenger in account 123456789012 for more information."
    )


def test_a_model_error_is_a_short_400_without_the_containers_html(stack: Stack) -> None:
    live_model(stack)
    stack.sagemaker.invoke_error = model_error(FLASK_500)
    status, body = call(stack, load_event("api", "predict"))
    assert status == 400
    assert body["message"] == "the model could not read the instances (it answered 500 Internal Server Error)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (model_error(FLASK_500), "500 Internal Server Error"),
        (model_error('{"message": "x must be a list"}', 400), "400: x must be a list"),
        (model_error("\n\n  plain &amp; simple\nsecond line", 415), "415: plain & simple"),
        (model_error(""), "500"),
        ("sagemaker-runtime InvokeEndpoint challenger: ModelError: bad input", "bad input"),
    ],
)
def test_the_reason_is_the_answers_first_meaningful_line(stack: Stack, text: str, expected: str) -> None:
    assert errors_module().model_error_reason(text) == expected


def test_the_reason_is_bounded(stack: Stack) -> None:
    errors = errors_module()
    reason = errors.model_error_reason(model_error("<p>" + "x" * 10_000 + "</p>"))
    assert len(reason) == errors.MAX_MODEL_REASON
    assert reason.endswith("…")


def errors_module() -> Any:
    return sys.modules["routers.errors"]  # the API's module, as the stack fixture imported it
