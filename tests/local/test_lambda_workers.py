"""ProcessLambdaRuntime: each function runs in its own worker processes (AWS's Runtime Interface Client against a
local Runtime API), with its own environment only, init once per worker, up to its concurrency (issue 16)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from challenger.local.lambda_runtime import MOTO_CONFIG, LocalFunction, ProcessLambdaRuntime, TooManyRequests

TOY = Path(__file__).resolve().parents[1] / "unit" / "local" / "fixtures"
Make = Callable[..., LocalFunction]


def toy(name: str, handler: str, **kwargs: Any) -> LocalFunction:
    return LocalFunction(name, TOY / "toy", handler, extra_paths=[TOY / "toy_layer"], **kwargs)


@pytest.fixture
def runtime() -> Iterator[Callable[..., ProcessLambdaRuntime]]:
    started: list[ProcessLambdaRuntime] = []

    def make(*functions: LocalFunction, **kwargs: Any) -> ProcessLambdaRuntime:
        started.append(ProcessLambdaRuntime(functions, **kwargs))
        return started[-1]

    yield make
    for each in started:
        each.stop()


def test_a_function_runs_in_its_own_process_with_its_environment_only(
    runtime: Callable[..., ProcessLambdaRuntime], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONLY_THE_PARENT_HAS_THIS", "1")
    lambdas = runtime(toy("fn", "app.whoami", environment={"GREETING": "hi"}), common_environment={"STAGE": "t"})

    answer = lambdas.invoke("fn", {}).json()

    assert answer["pid"] != os.getpid()
    environ = answer["environ"]
    assert (environ["GREETING"], environ["STAGE"], environ["AWS_LAMBDA_FUNCTION_NAME"]) == ("hi", "t", "fn")
    assert "ONLY_THE_PARENT_HAS_THIS" not in environ
    assert environ["_HANDLER"] == "app.whoami"


def test_init_runs_once_per_worker_and_warm_calls_reuse_it(runtime: Callable[..., ProcessLambdaRuntime]) -> None:
    lambdas = runtime(toy("fn", "app.whoami"))

    answers = [lambdas.invoke("fn", {}).json() for _ in range(3)]

    assert {a["init_pid"] for a in answers} == {answers[0]["pid"]}
    assert [a["calls"] for a in answers] == [1, 2, 3]
    assert len(lambdas.cold_starts()["fn"]) == 1


def test_two_functions_never_share_a_process(runtime: Callable[..., ProcessLambdaRuntime]) -> None:
    lambdas = runtime(toy("a", "app.whoami"), toy("b", "app.whoami"))

    assert lambdas.invoke("a", {}).json()["pid"] != lambdas.invoke("b", {}).json()["pid"]


def test_concurrent_calls_run_at_once_in_up_to_the_local_default_sandboxes_and_queue_beyond(
    runtime: Callable[..., ProcessLambdaRuntime],
) -> None:
    lambdas = runtime(toy("fn", "app.whoami", timeout=30), default_concurrency=2)  # no reservation: never throttled
    lambdas.invoke("fn", {})  # one warm sandbox

    with ThreadPoolExecutor(4) as pool:
        answers = [r.json() for r in pool.map(lambda _: lambdas.invoke("fn", {"seconds": 0.5}), range(4))]

    assert len({a["pid"] for a in answers}) == 2  # a second sandbox started, no third
    assert len(lambdas.pool("fn").workers) == 2


def test_a_reserved_concurrency_throttles_what_it_cannot_run_at_once(
    runtime: Callable[..., ProcessLambdaRuntime],
) -> None:
    lambdas = runtime(toy("fn", "app.whoami", concurrency=1, timeout=30), default_concurrency=4)
    with ThreadPoolExecutor(1) as pool:
        busy = pool.submit(lambdas.invoke, "fn", {"seconds": 2})
        time.sleep(0.5)
        with pytest.raises(TooManyRequests, match=r"Rate Exceeded\."):
            lambdas.invoke("fn", {})
        assert busy.result().function_error is None

    assert lambdas.invoke("fn", {}).function_error is None  # the slot is free again
    assert len(lambdas.pool("fn").workers) == 1


def test_a_reserved_concurrency_of_zero_is_invokes_429(runtime: Callable[..., ProcessLambdaRuntime]) -> None:
    lambdas = runtime(toy("fn", "app.whoami", concurrency=0))

    with mock_aws(config=cast(Any, MOTO_CONFIG)), lambdas:
        client = boto3.client("lambda", region_name="us-east-1")
        with pytest.raises(ClientError) as throttled:
            client.invoke(FunctionName="fn", Payload=b"{}")
        accepted = client.invoke(FunctionName="fn", Payload=b"{}", InvocationType="Event")  # Lambda queues it

    error: dict[str, Any] = dict(throttled.value.response)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert accepted["StatusCode"] == 202
    assert lambdas.pool("fn").workers == []  # no sandbox ever started


def test_a_long_call_does_not_hold_up_another_function(runtime: Callable[..., ProcessLambdaRuntime]) -> None:
    """Before: one lock for every function, so any call waited for a long one (60 s, then LocalLockTimeout)."""
    lambdas = runtime(toy("slow", "app.whoami", timeout=30), toy("quick", "app.whoami"))
    lambdas.invoke("quick", {})  # warm
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(lambdas.invoke, "slow", {"seconds": 3})
        time.sleep(0.5)
        started = time.monotonic()
        quick = lambdas.invoke("quick", {})
        waited = time.monotonic() - started
        assert slow.result().function_error is None
    assert quick.function_error is None
    assert waited < 2.0


def test_a_handler_error_is_reported_as_lambda_reports_it(runtime: Callable[..., ProcessLambdaRuntime]) -> None:
    result = runtime(toy("fn", "app.boom")).invoke("fn", {})

    assert result.function_error == "Unhandled"
    assert result.json()["errorType"] == "KeyError"


def test_an_init_error_fails_the_call_and_the_next_call_inits_again(
    runtime: Callable[..., ProcessLambdaRuntime],
) -> None:
    lambdas = runtime(toy("fn", "broken_import.handler"))

    first, second = lambdas.invoke("fn", {}), lambdas.invoke("fn", {})

    assert first.function_error == second.function_error == "Unhandled"
    assert first.json()["errorType"] == second.json()["errorType"] == "Runtime.ImportModuleError"


def test_a_timed_out_call_stops_its_sandbox(runtime: Callable[..., ProcessLambdaRuntime]) -> None:
    lambdas = runtime(toy("fn", "app.whoami", timeout=1))
    before = lambdas.invoke("fn", {}).json()["pid"]

    result = lambdas.invoke("fn", {"seconds": 10})
    after = lambdas.invoke("fn", {}).json()

    assert result.function_error == "Unhandled"
    assert result.json()["errorType"] == "Sandbox.Timedout"
    assert after["pid"] != before
    assert after["calls"] == 1  # a new sandbox: a cold start
