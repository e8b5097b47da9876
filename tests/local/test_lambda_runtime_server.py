"""ProcessLambdaRuntime behind a ThreadedMotoServer: moto's Step Functions engine reaches the worker processes."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import boto3
import moto.core.config as moto_config
import pytest
from moto.server import ThreadedMotoServer

from challenger.local.lambda_runtime import LocalFunction, ProcessLambdaRuntime, configure_moto_server

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "local" / "fixtures"
REGION = "us-east-1"
DEFINITION = {
    "StartAt": "Validate",
    "States": {
        "Validate": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "validate", "Payload.$": "$"},
            "OutputPath": "$.Payload",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Pass", "End": True},
    },
}


def _toy(name: str, handler: str) -> LocalFunction:
    return LocalFunction(name=name, code_dir=FIXTURES / "toy", handler=handler, extra_paths=[FIXTURES / "toy_layer"])


def _wait(sfn: Any, execution_arn: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            pytest.fail(f"execution still RUNNING after {timeout}s")
        time.sleep(0.02)
    return dict(described)


def test_handlers_run_in_their_workers_behind_a_moto_server(monkeypatch: pytest.MonkeyPatch) -> None:
    saved_config = copy.deepcopy(moto_config.default_user_config)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    runtime = ProcessLambdaRuntime([_toy("validate", "app.validate"), _toy("add", "app.add")])
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        monkeypatch.setenv("MOTO_PORT", str(port))  # where the engine sends its Lambda calls
        configure_moto_server(endpoint)
        with runtime:
            client = boto3.client("lambda", region_name=REGION, endpoint_url=endpoint)
            response = client.invoke(FunctionName="add", Payload=json.dumps({"value": 1}))
            assert json.loads(response["Payload"].read()) == {"value": 2, "by": "add"}
            assert "FunctionError" not in response
            sfn = boto3.client("stepfunctions", region_name=REGION, endpoint_url=endpoint)
            arn = sfn.create_state_machine(
                name="server-mode", definition=json.dumps(DEFINITION), roleArn="arn:aws:iam::123456789012:role/r"
            )["stateMachineArn"]
            started = sfn.start_execution(stateMachineArn=arn, name="bad-input", input=json.dumps({"bad": True}))
            described = _wait(sfn, started["executionArn"])
        assert json.loads(described["output"])["error"]["Error"] == "DataValidationError"
        assert "validate" in runtime.cold_starts()  # the engine's invoke ran in the function's worker
    finally:
        runtime.stop()
        server.stop()
        # POST /moto-api/config changed moto's process-wide config; put it back for later tests.
        moto_config.default_user_config.clear()
        moto_config.default_user_config.update(saved_config)
