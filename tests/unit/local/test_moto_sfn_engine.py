"""What moto 5.2.5's ASL engine really does with the constructs Challenger's state machines rely on.

Each test runs a small, real state machine under ``mock_aws(config=MOTO_CONFIG)`` with its Lambda tasks
served in-process by ``LocalLambdaRuntime`` (toy handlers in ``fixtures/toy``, toy "layer" in
``fixtures/toy_layer``). Waits are 0-1 s and Retry back-off is scaled to zero where the test is not about
timing, so the module runs in a few seconds. Executions are awaited by polling DescribeExecution with a
bounded timeout (the ``wait_for_execution`` fixture).

Findings, moto 5.2.5 (with ``LocalLambdaRuntime.install()``'s fixes applied):

* ``lambda:invoke``: ``Parameters`` with ``Payload.$``, ``ResultSelector``, ``ResultPath``, ``OutputPath``
  behave as on AWS; the raw task result is the Invoke response (``Payload``, ``StatusCode``...). A bare
  function ARN as ``Resource`` passes the payload itself through.
* Lambda errors: error name = the payload's ``errorType`` (the exception class name), cause = the compact
  JSON payload, for both resource styles. ``Catch``/``Retry`` match custom names, ``States.ALL`` and
  ``States.TaskFailed``; ``ResultPath: null`` in a Catch keeps the input.
* ``Retry``: ``IntervalSeconds: 0`` is rejected at CreateStateMachine (as on AWS: 1..99999999). Back-off is
  a real ``time.sleep(IntervalSeconds * BackoffRate**n)``, capped by ``MaxDelaySeconds``, hence
  ``scaled_retry_intervals``.
* ``lambda:invoke.waitForTaskToken`` with ``$$.Task.Token``: SendTaskSuccess from another thread resumes the
  execution; ``TimeoutSeconds`` and ``TimeoutSecondsPath`` fail it with ``States.Timeout`` and the token is dead
  afterwards. (moto's SendTaskFailure drops ``cause``; not fixed, not tested: the product answers approval
  tasks with SendTaskSuccess only.)
* ``states:startExecution.sync:2``: broken in plain moto 5.2.5 (PascalCase parameters hit botocore's
  camelCase Step Functions API -> ``States.Runtime``); with the runtime's fix the parent waits (polling
  every 0.5 s), ``Output`` is parsed JSON, ``ExecutionArn``/``Status`` are there, ``Name.$`` with
  ``States.Format`` works, and a failed child fails the task with ``States.TaskFailed`` whose cause is the
  child's DescribeExecution JSON.
* StartExecution names: the runtime's fix refuses what AWS refuses (over 80 characters, whitespace, special
  characters) and, stricter, anything outside ``[0-9A-Za-z_-]`` (the names CloudWatch can log). Without a
  ``name`` moto names the execution ``None``; left alone, the product always names its executions.
* ``States.ALL`` neither catches nor retries ``States.DataLimitExceeded`` (a task result or state output over
  256 KiB) or ``States.Runtime``, as on AWS (the runtime's fix; naming the error in ``ErrorEquals`` catches it).
* ``Wait`` (``SecondsPath``, really waits), ``Choice`` (``Default``), ``Fail`` (``Error``/``Cause``,
  ``ErrorPath``/``CausePath``, mixed), ``Succeed``, ``Pass`` (``Result``/``ResultPath``/``Parameters``),
  ``Map`` (``ItemsPath``, ``ItemSelector``, ``MaxConcurrency``), intrinsics ``States.Format`` and
  ``States.StringToJson`` work.
* Quirk (not fixed): an execution whose output is a bare JSON *string* reports ``output`` unquoted.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from challenger.local.lambda_runtime import MOTO_CONFIG, LocalFunction
from tests.support.inprocess_lambda import LocalLambdaRuntime, scaled_retry_intervals

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/sfn-role"

Waiter = Callable[..., dict[str, Any]]


def _toy(name: str, handler: str) -> LocalFunction:
    return LocalFunction(name, FIXTURES / "toy", handler, extra_paths=[FIXTURES / "toy_layer"])


def fn_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def invoke_state(function: str, **fields: Any) -> dict[str, Any]:
    """A `lambda:invoke` Task state the way our templates write it."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": fn_arn(function), "Payload.$": "$"},
        "OutputPath": "$.Payload",
    }
    state.update(fields)
    if "Next" not in state:
        state["End"] = True
    return state


def machine(**states: dict[str, Any]) -> dict[str, Any]:
    """A definition whose first keyword is the start state."""
    return {"StartAt": next(iter(states)), "States": states}


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalLambdaRuntime]:
    functions = [
        _toy("add", "app.add"),
        _toy("validate", "app.validate"),
        _toy("flaky", "app.flaky"),
        _toy("record-token", "app.record_token"),
        _toy("boom", "app.boom"),
        _toy("big", "app.big"),
    ]
    with mock_aws(config=MOTO_CONFIG), LocalLambdaRuntime(functions) as rt:
        yield rt


@pytest.fixture
def sfn(runtime: LocalLambdaRuntime) -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def flaky_module(runtime: LocalLambdaRuntime) -> Any:
    """The `flaky` function's own warm module (each function has its own module table)."""
    module = runtime.module("flaky")
    module.ATTEMPTS.clear()
    return module


@pytest.fixture
def token_module(runtime: LocalLambdaRuntime) -> Any:
    module = runtime.module("record-token")
    module.TOKENS.clear()
    return module


_names = count()


def create(sfn: Any, definition: dict[str, Any], name: str = "sm") -> str:
    response = sfn.create_state_machine(
        name=f"{name}-{next(_names)}", definition=json.dumps(definition), roleArn=ROLE_ARN
    )
    return str(response["stateMachineArn"])


def start(sfn: Any, arn: str, payload: Any) -> str:
    name = f"e-{next(_names)}"  # the product names every execution; moto names a nameless one "None"
    return str(sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))["executionArn"])


def run(sfn: Any, wait: Waiter, definition: dict[str, Any], payload: Any) -> dict[str, Any]:
    return wait(sfn, start(sfn, create(sfn, definition), payload))


def output_of(described: dict[str, Any]) -> Any:
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"])


def failure_of(described: dict[str, Any]) -> tuple[str, str]:
    assert described["status"] == "FAILED", described
    return described.get("error", ""), described.get("cause", "")


# --------------------------------------------------------------------------------------------------
# lambda:invoke and the data-flow fields


def test_lambda_invoke_payload_path_and_output_path(sfn: Any, wait_for_execution: Waiter) -> None:
    definition = machine(Add=invoke_state("add", Parameters={"FunctionName": "add", "Payload.$": "$.input"}))
    result = output_of(run(sfn, wait_for_execution, definition, {"input": {"value": 1, "step": 2}}))
    assert result == {"value": 3, "by": "add"}


def test_lambda_invoke_raw_result_result_selector_and_result_path(
    sfn: Any,
    wait_for_execution: Waiter,
) -> None:
    definition = machine(
        Raw={
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": fn_arn("add"), "Payload": {"value.$": "$.value"}},
            "ResultPath": "$.raw",
            "Next": "Selected",
        },
        Selected={
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": fn_arn("add"), "Payload": {"value.$": "$.value", "step": 10}},
            "ResultSelector": {"sum.$": "$.Payload.value", "code.$": "$.StatusCode"},
            "ResultPath": "$.selected",
            "End": True,
        },
    )
    result = output_of(run(sfn, wait_for_execution, definition, {"value": 5}))
    assert result["value"] == 5  # ResultPath keeps the input
    assert result["raw"]["Payload"] == {"value": 6, "by": "add"}
    assert result["raw"]["StatusCode"] == 200
    assert result["selected"] == {"sum": 15, "code": 200}


def test_bare_function_arn_resource(sfn: Any, wait_for_execution: Waiter) -> None:
    definition = machine(Add={"Type": "Task", "Resource": fn_arn("add"), "End": True})
    assert output_of(run(sfn, wait_for_execution, definition, {"value": 1})) == {"value": 2, "by": "add"}


def test_pass_result_with_result_path_and_succeed(sfn: Any, wait_for_execution: Waiter) -> None:
    definition = machine(
        TimedOut={
            "Type": "Pass",
            "Result": {"Error": "PollingExhaustedError", "Cause": "bound"},
            "ResultPath": "$.error",
            "Next": "Done",
        },
        Done={"Type": "Succeed"},
    )
    result = output_of(run(sfn, wait_for_execution, definition, {"run": 1}))
    assert result == {"run": 1, "error": {"Error": "PollingExhaustedError", "Cause": "bound"}}


# --------------------------------------------------------------------------------------------------
# Errors: Catch and Retry on custom error names


def test_catch_custom_error_with_result_path(sfn: Any, wait_for_execution: Waiter) -> None:
    definition = machine(
        Validate=invoke_state(
            "validate",
            Catch=[
                {"ErrorEquals": ["NotThisOne"], "Next": "Wrong"},
                {"ErrorEquals": ["DataValidationError"], "ResultPath": "$.error", "Next": "Rejected"},
            ],
        ),
        Wrong={"Type": "Fail", "Error": "WrongCatcher"},
        Rejected={"Type": "Pass", "End": True},
    )
    result = output_of(run(sfn, wait_for_execution, definition, {"bad": True, "keep": 1}))
    assert (result["keep"], result["bad"]) == (1, True)
    assert result["error"]["Error"] == "DataValidationError"
    cause = json.loads(result["error"]["Cause"])
    assert cause["errorType"] == "DataValidationError"
    assert cause["errorMessage"] == "column 'label' is missing"
    assert isinstance(cause["stackTrace"], list)


def test_catch_with_null_result_path_keeps_input(sfn: Any, wait_for_execution: Waiter) -> None:
    definition = machine(
        Validate=invoke_state(
            "validate", Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Caught"}]
        ),
        Caught={"Type": "Pass", "End": True},
    )
    assert output_of(run(sfn, wait_for_execution, definition, {"bad": True})) == {"bad": True}


def test_uncaught_error_fails_execution_with_error_and_cause(sfn: Any, wait_for_execution: Waiter) -> None:
    error, cause = failure_of(run(sfn, wait_for_execution, machine(Boom=invoke_state("boom")), {}))
    assert error == "KeyError"
    assert json.loads(cause)["errorMessage"] == "'nope'"


def test_bare_arn_resource_error_name(sfn: Any, wait_for_execution: Waiter) -> None:
    definition = machine(
        Validate={
            "Type": "Task",
            "Resource": fn_arn("validate"),
            "Catch": [{"ErrorEquals": ["DataValidationError"], "ResultPath": "$.error", "Next": "Done"}],
            "End": True,
        },
        Done={"Type": "Pass", "End": True},
    )
    result = output_of(run(sfn, wait_for_execution, definition, {"bad": True}))
    assert result["error"]["Error"] == "DataValidationError"


def test_states_all_and_task_failed_match_custom_lambda_errors(sfn: Any, wait_for_execution: Waiter) -> None:
    definition = machine(
        A=invoke_state(
            "validate",
            Catch=[{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.a", "Next": "B"}],
            Next="B",
        ),
        B=invoke_state(
            "validate",
            Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.b", "Next": "Done"}],
            OutputPath="$",
        ),
        Done={"Type": "Pass", "End": True},
    )
    result = output_of(run(sfn, wait_for_execution, definition, {"bad": True}))
    assert result["a"]["Error"] == "DataValidationError"
    assert result["b"]["Error"] == "DataValidationError"


def test_retry_on_custom_error_then_success_really_waits(
    sfn: Any, wait_for_execution: Waiter, flaky_module: Any
) -> None:
    definition = machine(
        Flaky=invoke_state(
            "flaky",
            Retry=[
                {"ErrorEquals": ["DataValidationError"], "MaxAttempts": 0},
                {"ErrorEquals": ["TransientServiceError"], "IntervalSeconds": 1, "MaxAttempts": 3},
            ],
        )
    )
    started = time.monotonic()
    result = output_of(run(sfn, wait_for_execution, definition, {"key": "ok", "failures": 1}))
    assert result == {"attempts": 2}
    assert time.monotonic() - started >= 1  # the engine sleeps IntervalSeconds for real


def test_retry_interval_seconds_zero_is_rejected(sfn: Any) -> None:
    retry = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 0}]
    with pytest.raises(sfn.exceptions.ClientError, match="IntervalSeconds"):
        create(sfn, machine(Flaky=invoke_state("flaky", Retry=retry)))


def test_retry_backoff_schedule_max_delay_and_exhaustion_to_catch(
    sfn: Any, wait_for_execution: Waiter, flaky_module: Any
) -> None:
    definition = machine(
        Flaky=invoke_state(
            "flaky",
            Retry=[
                {
                    "ErrorEquals": ["Lambda.ServiceException", "Lambda.TooManyRequestsException"],
                    "IntervalSeconds": 1,
                    "MaxAttempts": 3,
                },
                {
                    "ErrorEquals": ["TransientServiceError"],
                    "IntervalSeconds": 2,
                    "MaxAttempts": 4,
                    "BackoffRate": 2,
                    "MaxDelaySeconds": 5,
                },
            ],
            Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "GaveUp"}],
        ),
        GaveUp={"Type": "Pass", "End": True},
    )
    # 2 + 4 + 5 + 5 s of back-off, skipped: unscaled, the execution would outlast the waiter's 15 s.
    with scaled_retry_intervals(0.0) as intervals:
        result = output_of(run(sfn, wait_for_execution, definition, {"key": "never", "failures": 99}))
    assert intervals == [2, 4, 5, 5]
    assert result["error"]["Error"] == "TransientServiceError"
    assert flaky_module.ATTEMPTS["never"] == 5  # first try + MaxAttempts retries


def test_retry_does_not_apply_to_other_errors(sfn: Any, wait_for_execution: Waiter) -> None:
    retry = [{"ErrorEquals": ["TransientServiceError"], "IntervalSeconds": 1}]
    described = run(sfn, wait_for_execution, machine(V=invoke_state("validate", Retry=retry)), {"bad": True})
    assert failure_of(described)[0] == "DataValidationError"


# --------------------------------------------------------------------------------------------------
# Callbacks: waitForTaskToken


def _callback_definition(**timeout: Any) -> dict[str, Any]:
    return machine(
        AskApproval={
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {
                "FunctionName": fn_arn("record-token"),
                "Payload": {"task_token.$": "$$.Task.Token", "run.$": "$.run"},
            },
            **(timeout or {"TimeoutSeconds": 10}),
            "ResultPath": "$.decision",
            "Catch": [
                {"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": "TimedOut"},
                {"ErrorEquals": ["ApprovalRejected"], "ResultPath": "$.error", "Next": "Rejected"},
            ],
            "End": True,
        },
        TimedOut={"Type": "Pass", "Result": "timed-out", "ResultPath": "$.outcome", "End": True},
        Rejected={"Type": "Pass", "End": True},
    )


def _await_token(module: Any, run_id: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in list(module.TOKENS):
            if event["run"] == run_id:
                return str(event["task_token"])
        time.sleep(0.02)
    pytest.fail(f"no task token recorded for {run_id}")


def _in_thread(target: Callable[..., Any], **kwargs: Any) -> None:
    """Call `target` from another thread (as the approval API would) and re-raise its error here."""
    errors: list[BaseException] = []

    def call() -> None:
        try:
            target(**kwargs)
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(10)
    if errors:
        raise errors[0]


def test_wait_for_task_token_send_task_success(
    sfn: Any,
    wait_for_execution: Waiter,
    token_module: Any,
) -> None:
    execution_arn = start(sfn, create(sfn, _callback_definition()), {"run": "r1"})
    token = _await_token(token_module, "r1")
    time.sleep(0.1)
    assert sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
    _in_thread(sfn.send_task_success, taskToken=token, output=json.dumps({"approved": True, "by": "ana"}))
    result = output_of(wait_for_execution(sfn, execution_arn))
    assert result == {"run": "r1", "decision": {"approved": True, "by": "ana"}}


def test_wait_for_task_token_timeout(sfn: Any, wait_for_execution: Waiter, token_module: Any) -> None:
    cases = {  # both run at once: 1 s in total
        "r3": ({"TimeoutSeconds": 1}, {"run": "r3"}),
        "r4": ({"TimeoutSecondsPath": "$.ttl"}, {"run": "r4", "ttl": 1}),
    }
    executions = {
        run_id: start(sfn, create(sfn, _callback_definition(**timeout)), payload)
        for run_id, (timeout, payload) in cases.items()
    }
    for run_id, execution_arn in executions.items():
        result = output_of(wait_for_execution(sfn, execution_arn))
        assert result == {**cases[run_id][1], "outcome": "timed-out"}
        token = _await_token(token_module, run_id)
        with pytest.raises(sfn.exceptions.ClientError):  # the token is dead after the timeout
            sfn.send_task_success(taskToken=token, output="{}")


# --------------------------------------------------------------------------------------------------
# Nested executions


def _deploy_state(child_arn: str, **fields: Any) -> dict[str, Any]:
    """Shaped like training_pipeline's DeployModel state."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {
            "StateMachineArn": child_arn,
            "Name.$": "States.Format('{}-deploy', $.run_id)",
            "Input": {
                "value.$": "$.value",
                "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id",
            },
        },
        "ResultPath": "$.deployment",
        "End": True,
        **fields,
    }


def test_start_execution_sync2_parses_child_output(sfn: Any, wait_for_execution: Waiter) -> None:
    child = create(sfn, machine(Add=invoke_state("add")), name="child")
    selector = {"execution_arn.$": "$.ExecutionArn", "status.$": "$.Status", "output.$": "$.Output"}
    definition = machine(Deploy=_deploy_state(child, ResultSelector=selector))
    result = output_of(run(sfn, wait_for_execution, definition, {"value": 1, "run_id": "run-7"}))
    deployment = result["deployment"]
    assert deployment["status"] == "SUCCEEDED"
    assert deployment["output"] == {"value": 2, "by": "add"}  # parsed, not a string
    assert deployment["execution_arn"].endswith(":execution:" + child.rsplit(":", 1)[1] + ":run-7-deploy")
    child_input = json.loads(sfn.describe_execution(executionArn=deployment["execution_arn"])["input"])
    assert child_input["AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"].startswith("arn:aws:states:")


def test_start_execution_sync2_child_failure(sfn: Any, wait_for_execution: Waiter) -> None:
    child = create(sfn, machine(Boom=invoke_state("boom")), name="child")
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}]
    definition = machine(Deploy=_deploy_state(child, Catch=catch), Failed={"Type": "Pass", "End": True})
    result = output_of(run(sfn, wait_for_execution, definition, {"value": 1, "run_id": "run-8"}))
    assert result["error"]["Error"] == "States.TaskFailed"
    cause = json.loads(result["error"]["Cause"])
    assert (cause["Status"], cause["Error"]) == ("FAILED", "KeyError")


@pytest.mark.parametrize(
    "name",
    [
        "x" * 81,  # AWS: 1-80 characters
        "run 1",  # whitespace
        "run/1",  # a special character AWS refuses
        "run.1",  # AWS accepts it, but cannot log it to CloudWatch: refused here (the naming contract)
        "ré",  # non-ASCII: the same
    ],
)
def test_execution_names_follow_awss_rules(sfn: Any, name: str) -> None:
    # https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html (name)
    arn = create(sfn, machine(P={"Type": "Pass", "End": True}))

    with pytest.raises(sfn.exceptions.ClientError) as raised:
        sfn.start_execution(stateMachineArn=arn, name=name, input="{}")

    assert raised.value.response["Error"]["Code"] in {"InvalidName", "ValidationException"}
    assert sfn.list_executions(stateMachineArn=arn)["executions"] == []


def test_an_80_character_name_of_the_allowed_characters_starts(sfn: Any, wait_for_execution: Waiter) -> None:
    arn = create(sfn, machine(P={"Type": "Pass", "End": True}))
    name = ("20261201T120000Z-reviews-0123abcd_" * 3)[:80]

    execution = sfn.start_execution(stateMachineArn=arn, name=name, input="{}")

    assert output_of(wait_for_execution(sfn, execution["executionArn"])) == {}


# --------------------------------------------------------------------------------------------------
# The 256 KiB state data limit (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html)

OVER_LIMIT = 256 * 1024 + 1
CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]


def test_a_task_result_over_256_kib_fails_the_execution_past_a_states_all_catch(
    sfn: Any, wait_for_execution: Waiter
) -> None:
    # "States.ALL ... can't catch the States.DataLimitExceeded terminal error type"
    # (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html)
    retry = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}]
    definition = machine(Big=invoke_state("big", Catch=CATCH_ALL, Retry=retry), Caught={"Type": "Pass", "End": True})

    with scaled_retry_intervals(0.0) as intervals:
        described = wait_for_execution(sfn, start(sfn, create(sfn, definition), {"size": OVER_LIMIT}))

    assert failure_of(described)[0] == "States.DataLimitExceeded"
    assert intervals == []  # not retried either


def test_naming_states_data_limit_exceeded_catches_it(sfn: Any, wait_for_execution: Waiter) -> None:
    catch = [{"ErrorEquals": ["States.DataLimitExceeded"], "ResultPath": "$.error", "Next": "Caught"}]
    definition = machine(Big=invoke_state("big", Catch=catch), Caught={"Type": "Pass", "End": True})

    result = output_of(run(sfn, wait_for_execution, definition, {"size": OVER_LIMIT}))

    assert result["error"]["Error"] == "States.DataLimitExceeded"


def test_a_result_under_the_limit_passes_and_other_errors_are_still_caught(
    sfn: Any, wait_for_execution: Waiter
) -> None:
    under = machine(Big=invoke_state("big", Catch=CATCH_ALL), Caught={"Type": "Pass", "End": True})
    failing = machine(Boom=invoke_state("boom", Catch=CATCH_ALL), Caught={"Type": "Pass", "End": True})

    assert len(output_of(run(sfn, wait_for_execution, under, {"size": 200 * 1024}))["blob"]) == 200 * 1024
    assert output_of(run(sfn, wait_for_execution, failing, {"value": 1}))["error"]["Error"] == "KeyError"


def test_a_state_output_over_256_kib_fails_the_execution(sfn: Any, wait_for_execution: Waiter) -> None:
    doubled = {"Type": "Pass", "Parameters": {"a.$": "$.blob", "b.$": "$.blob"}, "End": True}

    described = run(sfn, wait_for_execution, machine(Double=doubled), {"blob": "y" * (150 * 1024)})

    assert failure_of(described)[0] == "States.DataLimitExceeded"


# --------------------------------------------------------------------------------------------------
# Flow states


def test_wait_seconds_path(sfn: Any, wait_for_execution: Waiter) -> None:
    definition = machine(Wait={"Type": "Wait", "SecondsPath": "$.poll.wait_seconds", "End": True})
    assert output_of(run(sfn, wait_for_execution, definition, {"poll": {"wait_seconds": 0}}))
    started = time.monotonic()
    output_of(run(sfn, wait_for_execution, definition, {"poll": {"wait_seconds": 1}}))
    assert time.monotonic() - started >= 1


def test_choice_with_default(sfn: Any, wait_for_execution: Waiter) -> None:
    definition = machine(
        Decide={
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.status", "StringEquals": "Completed", "Next": "Done"},
                {"Variable": "$.poll.exhausted", "BooleanEquals": True, "Next": "GiveUp"},
            ],
            "Default": "Again",
        },
        GiveUp={"Type": "Pass", "Result": {"next": "give-up"}, "End": True},
        Done={"Type": "Pass", "Result": {"next": "done"}, "End": True},
        Again={"Type": "Pass", "Result": {"next": "again"}, "End": True},
    )
    outcomes = [
        output_of(run(sfn, wait_for_execution, definition, payload))["next"]
        for payload in (
            {"poll": {"exhausted": True}, "status": "InProgress"},
            {"poll": {"exhausted": False}, "status": "Completed"},
            {"poll": {"exhausted": False}, "status": "InProgress"},
        )
    ]
    assert outcomes == ["give-up", "done", "again"]


@pytest.mark.parametrize(
    ("fail_state", "expected"),
    [
        ({"Error": "PipelineFailed", "Cause": "why"}, ("PipelineFailed", "why")),
        ({"ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}, ("TrainingFailedError", "boom")),
        ({"Error": "PipelineFailed", "CausePath": "$.error.Cause"}, ("PipelineFailed", "boom")),
    ],
    ids=["static", "paths", "mixed"],
)
def test_fail_error_and_cause(
    sfn: Any, wait_for_execution: Waiter, fail_state: dict[str, str], expected: tuple[str, str]
) -> None:
    definition = machine(F={"Type": "Fail", **fail_state})
    payload = {"error": {"Error": "TrainingFailedError", "Cause": "boom"}}
    assert failure_of(run(sfn, wait_for_execution, definition, payload)) == expected


def test_intrinsics_parse_lambda_error_cause(sfn: Any, wait_for_execution: Waiter) -> None:
    definition = machine(
        Validate=invoke_state(
            "validate",
            Catch=[{"ErrorEquals": ["DataValidationError"], "ResultPath": "$.error", "Next": "Explain"}],
        ),
        Explain={
            "Type": "Pass",
            "Parameters": {
                "cause.$": "States.StringToJson($.error.Cause)",
                "text.$": "States.Format('{} failed: {}', $.name, $.error.Error)",
            },
            "End": True,
        },
    )
    result = output_of(run(sfn, wait_for_execution, definition, {"bad": True, "name": "run-1"}))
    assert result["cause"]["errorType"] == "DataValidationError"
    assert result["text"] == "run-1 failed: DataValidationError"


def test_map_over_lambda(sfn: Any, wait_for_execution: Waiter) -> None:
    definition = machine(
        Each={
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemSelector": {"value.$": "$$.Map.Item.Value", "step.$": "$.step"},
            "MaxConcurrency": 2,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Add",
                "States": {"Add": invoke_state("add")},
            },
            "ResultPath": "$.results",
            "End": True,
        }
    )
    result = output_of(run(sfn, wait_for_execution, definition, {"items": [1, 2, 3], "step": 10}))
    assert [r["value"] for r in result["results"]] == [11, 12, 13]


def test_history_records_lambda_failure(sfn: Any, wait_for_execution: Waiter) -> None:
    execution_arn = start(sfn, create(sfn, machine(V=invoke_state("validate"))), {"bad": True})
    wait_for_execution(sfn, execution_arn)
    events = sfn.get_execution_history(executionArn=execution_arn)["events"]
    failed = next(e for e in events if e["type"] == "TaskFailed")
    assert failed["taskFailedEventDetails"]["error"] == "DataValidationError"
    assert events[-1]["type"] == "ExecutionFailed"


def test_quirk_bare_string_output_is_not_json_encoded(sfn: Any, wait_for_execution: Waiter) -> None:
    """moto reports a string output as-is (AWS: '"done"'). Pinned so a moto fix shows up here."""
    described = run(sfn, wait_for_execution, machine(P={"Type": "Pass", "Result": "done", "End": True}), {})
    assert described["output"] == "done"


def test_a_runtime_error_fails_the_execution_past_a_states_all_catch(sfn: Any, wait_for_execution: Waiter) -> None:
    # "A retry or catch on States.ALL won't catch States.Runtime errors"
    # (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html)
    task = invoke_state("add", Catch=CATCH_ALL)
    task["Parameters"] = {"FunctionName": fn_arn("add"), "Payload": {"value.$": "$.not_in_the_input"}}

    described = run(sfn, wait_for_execution, machine(Add=task, Caught={"Type": "Pass", "End": True}), {})

    assert failure_of(described)[0] == "States.Runtime"
