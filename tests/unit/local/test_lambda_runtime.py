"""The unit tests' LocalLambdaRuntime: our handlers run in-process behind moto's Lambda Invoke (decorator mode)."""

from __future__ import annotations

import base64
import importlib.metadata
import json
import os
import sys
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaBackend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)

from challenger.local.lambda_runtime import MOTO_CONFIG, SUPPORTED_MOTO_VERSION, LocalFunction, parse_function_name
from tests.support import inprocess_lambda
from tests.support.clock import Clock
from tests.support.inprocess_lambda import LambdaContext, LocalLambdaRuntime

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/sfn-role"

ToyFactory = Callable[..., LocalFunction]
Waiter = Callable[..., dict[str, Any]]


def fn_a(**kwargs: Any) -> LocalFunction:
    return LocalFunction("fn-a", FIXTURES / "fn_a", "app.lambda_handler", **kwargs)


def fn_b(**kwargs: Any) -> LocalFunction:
    return LocalFunction("fn-b", FIXTURES / "fn_b", "app.lambda_handler", **kwargs)


def invoke(client: Any, name: str, payload: Any = None, **kwargs: Any) -> tuple[Any, str | None]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}), **kwargs)
    return json.loads(response["Payload"].read()), response.get("FunctionError")


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws(config=MOTO_CONFIG):
        yield


@pytest.fixture
def lambda_client(aws: None) -> Any:
    return boto3.client("lambda", region_name=REGION)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The runtime's clock, set by the test: the context's countdown without waiting or measuring."""
    return Clock.install(monkeypatch, inprocess_lambda)


# --------------------------------------------------------------------------------------------------
# Results, context, names


def test_handler_result_is_the_payload_with_a_realistic_context(lambda_client: Any, clock: Clock) -> None:
    with LocalLambdaRuntime([fn_a(timeout=30, memory_size=512)]):
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn-a"
        result, error = invoke(lambda_client, arn, {"x": [1, 2]})
    assert error is None
    assert result["function"] == "a"
    assert result["event"] == {"x": [1, 2]}
    context = result["context"]
    assert context["function_name"] == "fn-a"
    assert context["memory_limit_in_mb"] == 512
    assert context["invoked_function_arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn-a"
    assert len(context["aws_request_id"]) == 36
    assert context["remaining_ms"] == 30_000  # the function's timeout (the clock did not move)


def test_response_metadata_like_lambda(lambda_client: Any) -> None:
    with LocalLambdaRuntime([fn_a()]):
        response = lambda_client.invoke(FunctionName="fn-a", Payload=b"{}", LogType="Tail")
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "REPORT RequestId:" in base64.b64decode(response["LogResult"]).decode()


@pytest.mark.parametrize(
    ("name_or_arn", "expected"),
    [
        ("fn-a", ("fn-a", None)),
        ("fn-a:live", ("fn-a", "live")),
        (f"{ACCOUNT}:function:fn-a", ("fn-a", None)),
        (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn-a", ("fn-a", None)),
        (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn-a:$LATEST", ("fn-a", "$LATEST")),
    ],
)
def test_function_name_forms(name_or_arn: str, expected: tuple[str, str | None]) -> None:
    assert parse_function_name(name_or_arn) == expected
    assert LocalLambdaRuntime([fn_a()]).is_registered(name_or_arn)


def test_qualifier_is_part_of_the_invoked_arn(lambda_client: Any) -> None:
    with LocalLambdaRuntime([fn_a()]):
        result, _ = invoke(lambda_client, "fn-a:live")
        # moto 5.2.5 quirk: LambdaResponse.invoke reads the query parameter "qualifier" (lower case), so
        # boto3's Qualifier= never reaches the backend. Pinned here; we don't use aliases/versions.
        unqualified, _ = invoke(lambda_client, "fn-a", Qualifier="live")
    assert result["context"]["invoked_function_arn"].endswith(":function:fn-a:live")
    assert unqualified["context"]["invoked_function_arn"].endswith(":function:fn-a")


def test_direct_invoke_without_moto() -> None:
    result = LocalLambdaRuntime([fn_a()]).invoke("fn-a", {"k": 1}, region="eu-west-1")
    assert result.function_error is None
    assert result.json()["event"] == {"k": 1}
    assert result.json()["context"]["invoked_function_arn"].startswith("arn:aws:lambda:eu-west-1:")


# --------------------------------------------------------------------------------------------------
# Environment


def test_environment_applied_during_the_call_and_restored(
    lambda_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GREETING", "process value")
    monkeypatch.delenv("SET_BY_HANDLER", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    before = dict(os.environ)
    spec = fn_a(environment={"GREETING": "function value"})
    setter = LocalFunction("setter", FIXTURES / "fn_a", "app.set_env_and_return")
    with LocalLambdaRuntime([spec, setter], common_environment={"GREETING": "common", "STAGE": "test"}):
        result, _ = invoke(lambda_client, "fn-a")
        assert dict(os.environ) == before
        assert invoke(lambda_client, "setter")[0] == {"greeting": "common"}
    assert result["greeting"] == "function value"  # the function's own value beats common_environment
    assert result["loaded_greeting"] == "function value"  # also at import time
    assert result["function_name_env"] == "fn-a"
    assert dict(os.environ) == before  # incl. the variable the handler set itself


def test_concurrent_invocations_each_see_their_own_environment() -> None:
    a, b = fn_a(environment={"GREETING": "from a"}), fn_b(environment={"GREETING": "from b"})
    runtime = LocalLambdaRuntime([a, b])
    results: list[tuple[str, Any]] = []

    def call(name: str) -> None:
        for _ in range(5):
            results.append((name, runtime.invoke(name).json()))

    threads = [threading.Thread(target=call, args=(name,)) for name in ("fn-a", "fn-b") * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 30
    for name, payload in results:
        assert payload["function"] == name[-1]
        assert payload["greeting"] == f"from {name[-1]}"


# --------------------------------------------------------------------------------------------------
# Module isolation


def test_functions_with_the_same_module_names_do_not_clash(
    lambda_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    somebody_elses_app = types.ModuleType("app")
    monkeypatch.setitem(sys.modules, "app", somebody_elses_app)
    with LocalLambdaRuntime([fn_a(), fn_b()]):
        outcomes = [invoke(lambda_client, name)[0] for name in ("fn-a", "fn-b", "fn-a", "fn-b")]
    assert [o["function"] for o in outcomes] == ["a", "b", "a", "b"]
    assert outcomes[0]["module_name"] == "app"  # real name, as on AWS
    assert Path(outcomes[0]["helper_file"]).parent == FIXTURES / "fn_a"
    assert outcomes[3]["lazy"] == "lazy-b"  # import inside the handler, second (warm) call
    assert sys.modules["app"] is somebody_elses_app
    assert "helper" not in sys.modules
    assert "lazy_sibling" not in sys.modules
    assert str(FIXTURES / "fn_a") not in sys.path


def test_modules_stay_warm_per_function_until_reset() -> None:
    runtime = LocalLambdaRuntime([fn_a(), LocalFunction("fn-a2", FIXTURES / "fn_a", "app.lambda_handler")])
    first = runtime.module("fn-a")
    runtime.invoke("fn-a")
    assert runtime.module("fn-a") is first
    assert runtime.module("fn-a2") is not first  # same code dir, other function: other "container"
    runtime.reset()
    assert runtime.module("fn-a") is not first


def test_layer_modules_are_shared(toy_function: ToyFactory) -> None:
    runtime = LocalLambdaRuntime([toy_function("add", "app.add"), toy_function("flaky", "app.flaky")])
    add_module, flaky_module = runtime.module("add"), runtime.module("flaky")
    assert add_module is not flaky_module
    assert add_module.DataValidationError is flaky_module.DataValidationError


# --------------------------------------------------------------------------------------------------
# Errors


def test_exception_becomes_an_unhandled_function_error(lambda_client: Any, toy_function: ToyFactory) -> None:
    with LocalLambdaRuntime([toy_function("validate", "app.validate")]):
        payload, error = invoke(lambda_client, "validate", {"bad": True})
    assert error == "Unhandled"
    assert set(payload) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert payload["errorType"] == "DataValidationError"
    assert payload["errorMessage"] == "column 'label' is missing"
    assert any("app.py" in frame and "in validate" in frame for frame in payload["stackTrace"])
    assert not any("inprocess_lambda.py" in frame for frame in payload["stackTrace"])


@pytest.mark.parametrize(
    ("handler", "kwargs", "event", "error_type", "message"),
    [
        ("app.boom", {}, {}, "KeyError", "'nope'"),
        ("broken_import.handler", {}, {}, "Runtime.ImportModuleError", "Unable to import module"),
        ("app.missing", {}, {}, "Runtime.HandlerNotFound", "Handler 'missing' missing on module 'app'"),
        ("app.not_json", {}, {}, "Runtime.MarshalError", "Unable to marshal response"),
        ("app.sleepy", {"timeout": 0.05}, {"seconds": 0.1}, "Sandbox.Timedout", "Task timed out after 0.05"),
    ],
    ids=["exception", "import", "handler", "marshal", "timeout"],
)
def test_runtime_errors_like_aws(
    toy_function: ToyFactory,
    handler: str,
    kwargs: dict[str, Any],
    event: Any,
    error_type: str,
    message: str,
) -> None:
    result = LocalLambdaRuntime([toy_function("fn", handler, **kwargs)]).invoke("fn", event)
    assert result.function_error == "Unhandled"
    assert result.json()["errorType"] == error_type
    assert message in result.json()["errorMessage"]


def test_failed_import_is_retried_on_the_next_call(toy_function: ToyFactory) -> None:
    runtime = LocalLambdaRuntime([toy_function("fn", "broken_import.handler")])
    assert runtime.invoke("fn").json()["errorType"] == "Runtime.ImportModuleError"
    assert runtime.invoke("fn").json()["errorType"] == "Runtime.ImportModuleError"
    assert "broken_import" not in sys.modules


def test_context_counts_down_from_when_the_handler_can_run(clock: Clock) -> None:
    context = LambdaContext(
        function_name="fn",
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn",
        memory_limit_in_mb=128,
        aws_request_id="r",
        timeout=2,
    )
    clock.now = 100.0  # queued behind another invocation for 100 s: not the handler's time
    context.start_clock()
    clock.now = 100.25
    assert context.get_remaining_time_in_millis() == 1_750
    clock.now = 103.0
    assert context.get_remaining_time_in_millis() == 0


# --------------------------------------------------------------------------------------------------
# Invocation types, nesting, serialisation


def test_event_and_dry_run_invocation_types(lambda_client: Any, toy_function: ToyFactory) -> None:
    runtime = LocalLambdaRuntime([toy_function("record", "app.record_token")])
    runtime.module("record").TOKENS.clear()
    with runtime:
        event = lambda_client.invoke(FunctionName="record", InvocationType="Event", Payload=b'{"n": 1}')
        dry = lambda_client.invoke(FunctionName="record", InvocationType="DryRun", Payload=b'{"n": 2}')
    assert (event["StatusCode"], dry["StatusCode"]) == (202, 204)
    assert runtime.module("record").TOKENS == [{"n": 1}]


def test_nested_synchronous_invoke_in_decorator_mode(lambda_client: Any, toy_function: ToyFactory) -> None:
    functions = [toy_function("outer", "app.call_other"), toy_function("validate", "app.validate")]
    with LocalLambdaRuntime(functions):
        payload, error = invoke(lambda_client, "outer", {"target": "validate", "payload": {"bad": True}})
    assert error is None
    assert payload["inner_error"] == "Unhandled"
    assert payload["inner"]["errorType"] == "DataValidationError"
    assert payload["my_function_name"] == "outer"  # the inner call's environment was undone


# --------------------------------------------------------------------------------------------------
# Fallback, install/uninstall, version pin


def test_unregistered_function_falls_back_to_moto(lambda_client: Any) -> None:
    with LocalLambdaRuntime([fn_a()]):
        # LambdaSimpleBackend (use_docker: false) echoes the payload, registered or created or not.
        response = lambda_client.invoke(FunctionName="someone-else", Payload=b'{"echo": true}')
    assert response.get("FunctionError") is None
    assert json.loads(response["Payload"].read()) == {"echo": True}


def test_registered_function_runs_with_the_docker_backend_too(toy_function: ToyFactory) -> None:
    runtime = LocalLambdaRuntime([toy_function("add", "app.add")])
    with mock_aws(config={"lambda": {"use_docker": True}}), runtime:
        client = boto3.client("lambda", region_name=REGION)
        assert invoke(client, "add", {"value": 1}) == ({"value": 2, "by": "add"}, None)
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.invoke(FunctionName="not-registered-not-created", Payload=b"{}")


def test_uninstall_restores_moto(lambda_client: Any) -> None:
    originals = (LambdaBackend.__dict__["invoke"], LambdaSimpleBackend.__dict__["invoke"])
    with LocalLambdaRuntime([fn_a()]) as runtime:
        assert runtime.installed
        assert LambdaBackend.__dict__["invoke"] is not originals[0]
        assert "_normalise_response" in StateTaskServiceSfn.__dict__
    assert not runtime.installed
    assert (LambdaBackend.__dict__["invoke"], LambdaSimpleBackend.__dict__["invoke"]) == originals
    assert "_normalise_response" not in StateTaskServiceSfn.__dict__
    # Not installed: moto's echo again.
    assert invoke(lambda_client, "fn-a", {"plain": "moto"}) == ({"plain": "moto"}, None)


def test_one_runtime_at_a_time() -> None:
    with LocalLambdaRuntime([fn_a()]), pytest.raises(RuntimeError, match="is installed"):
        LocalLambdaRuntime([fn_b()]).install()


def test_install_refuses_another_moto_version(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = importlib.metadata.version

    def fake_version(name: str) -> str:
        return "5.3.0" if name == "moto" else real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", fake_version)
    runtime = LocalLambdaRuntime([fn_a()])
    with pytest.raises(RuntimeError, match=rf"pinned to moto=={SUPPORTED_MOTO_VERSION}.*moto==5\.3\.0"):
        runtime.install()
    assert not runtime.installed


# --------------------------------------------------------------------------------------------------
# moto bugs the runtime fixes: each canary shows the bug without the runtime and the fix with it


def _create(sfn: Any, definition: dict[str, Any], name: str) -> str:
    response = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE_ARN)
    return str(response["stateMachineArn"])


def _sfn_run(
    sfn: Any,
    wait: Waiter,
    definition: dict[str, Any],
    name: str,
    payload: Any = None,
) -> dict[str, Any]:
    arn = _create(sfn, definition, name)
    execution = sfn.start_execution(stateMachineArn=arn, name=f"{name}-run", input=json.dumps(payload or {}))
    return wait(sfn, execution["executionArn"])


def _nested_definition(child_arn: str) -> dict[str, Any]:
    return {
        "StartAt": "Child",
        "States": {
            "Child": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": child_arn, "Input": {"n": 1}},
                "ResultSelector": {"output.$": "$.Output"},
                "End": True,
            }
        },
    }


@pytest.mark.parametrize("installed", [False, True], ids=["plain-moto", "with-runtime"])
def test_canary_start_execution_sync2(wait_for_execution: Waiter, installed: bool) -> None:
    with mock_aws(config=MOTO_CONFIG), LocalLambdaRuntime() as runtime:
        if not installed:
            runtime.uninstall()
        sfn = boto3.client("stepfunctions", region_name=REGION)
        child = sfn.create_state_machine(
            name="child",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn=ROLE_ARN,
        )["stateMachineArn"]
        described = _sfn_run(sfn, wait_for_execution, _nested_definition(child), "parent")
    if installed:
        assert json.loads(described["output"]) == {"output": {"n": 1}}
    else:
        assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")
        assert "StateMachineArn" in described["cause"]
