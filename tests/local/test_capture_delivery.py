"""Lossless inference capture (issue 23): a capture is a log line the sandbox wrote before its response, and the log
stream belongs to the Lambda service, so killing the sandbox right after the response loses nothing; the local
cloud's log delivery (challenger.local.logs) brings it to the subscription's destination as CloudWatch Logs does."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from challenger.local.lambda_runtime import LocalFunction, ProcessLambdaRuntime
from challenger.local.logs import LogDelivery, Subscription, subscriptions_from_template
from challenger.local.template import LocalTemplate
from challenger_core.capture import CaptureLine, parse_capture_message

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "capture_api"
SUBSCRIPTION = Subscription("challenger-CaptureSubscription", "Api", "/aws/lambda/x/api", '"challenger-capture"', "Dst")


@pytest.fixture
def runtime() -> Iterator[ProcessLambdaRuntime]:
    # One function per request: a killed sandbox's pending poll for work must not take the next request.
    lambdas = ProcessLambdaRuntime(
        [
            LocalFunction(f"api{n}", FIXTURE, "app.predict", extra_paths=[ROOT / "layers" / "core"], timeout=30)
            for n in range(4)
        ],
        common_environment={"POWERTOOLS_LOG_LEVEL": "WARNING"},  # as the local cloud sets it: captures still log
    )
    yield lambdas
    lambdas.stop()


def delivered_lines(deliveries: list[tuple[str, dict[str, Any]]]) -> list[CaptureLine]:
    lines = []
    for target, event in deliveries:
        assert target == "Dst"
        data = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
        assert (data["messageType"], data["logGroup"]) == ("DATA_MESSAGE", "/aws/lambda/x/api")
        lines += [line for e in data["logEvents"] if (line := parse_capture_message(e["message"]))]
    return lines


def test_a_capture_survives_the_sandbox_killed_right_after_the_response(runtime: ProcessLambdaRuntime) -> None:
    deliveries: list[tuple[str, dict[str, Any]]] = []
    logs = LogDelivery([SUBSCRIPTION], lambda target, event: deliveries.append((target, event)), account="1")
    sink = logs.sink("Api")
    assert sink is not None
    killed = []
    for n in range(4):
        runtime.ship_logs(f"api{n}", sink)
        assert runtime.invoke(f"api{n}", {"request_id": f"r{n}"}).function_error is None
        for worker in list(runtime.pool(f"api{n}").workers):
            worker.kill()  # SIGKILL right after the response: no flush, no shutdown hook
            killed.append(worker.process)
    deadline = time.monotonic() + 10
    while len(delivered_lines(deliveries)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    logs.close()
    assert sorted(line.request_id for line in delivered_lines(deliveries)) == ["r0", "r1", "r2", "r3"]
    assert {process.wait(5) for process in killed} == {-9}


def test_only_lines_the_filter_matches_are_delivered() -> None:
    deliveries: list[tuple[str, dict[str, Any]]] = []
    logs = LogDelivery([SUBSCRIPTION], lambda target, event: deliveries.append((target, event)), account="1")
    sink = logs.sink("Api")
    assert sink is not None
    assert logs.sink("Other") is None  # no subscription on that function's log group: its lines are not read
    assert sink("s1", '{"message":"drift checked"}\n') is False  # not taken: it goes on to the cloud's output
    sink("s1", '{"message":"challenger-capture","capture":{"v":1,"request_id":"a","ts":"2026-12-01T00:00:00Z"}}\n')
    sink("s2", '{"message":"challenger-capture","capture":{"v":1,"request_id":"b","ts":"2026-12-01T00:00:00Z"}}\n')
    logs.close()
    assert len(deliveries) == 2  # one delivery per log stream
    assert sorted(line.request_id for line in delivered_lines(deliveries)) == ["a", "b"]


def test_the_template_subscription_is_read_from_the_api_log_group() -> None:
    [subscription] = subscriptions_from_template(LocalTemplate())
    assert (subscription.source, subscription.destination) == ("ApiFunction", "CaptureFunction")
    assert subscription.log_group == "/aws/lambda/challenger/api"
    assert subscription.pattern == '"challenger-capture"'
