"""Step Functions: start pipeline executions, answer waiting approval tasks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from challenger_core.adapters import translate_errors
from challenger_core.errors import ChallengerError, TaskClosedError

# SendTask* on a token whose task already closed: TaskTimedOut (answered, or its timeout passed) or
# TaskDoesNotExist (https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html).
_TASK_CLOSED = ("TaskTimedOut", "TaskDoesNotExist")


@contextmanager
def _task_closed(operation: str) -> Iterator[None]:
    try:
        with translate_errors(operation):
            yield
    except ChallengerError as exc:
        from botocore.exceptions import ClientError  # noqa: PLC0415  # loaded by the call (adapters.translate_errors)

        cause = exc.__cause__
        if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in _TASK_CLOSED:
            raise TaskClosedError(str(exc)) from exc
        raise


if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient
else:
    SFNClient = Any


class Workflow:
    def __init__(self, client: SFNClient) -> None:
        self._sfn = client

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        """Start an execution with a deterministic name; ConflictError if that name already ran."""
        with translate_errors(f"states StartExecution {name}"):
            response = self._sfn.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload, default=str)
            )
        return response["executionArn"]

    @staticmethod
    def execution_arn(state_machine_arn: str, name: str) -> str:
        """The ARN Step Functions gives a Standard execution of that name (no call needed)."""
        return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"

    def succeed_task(self, task_token: str, output: dict[str, Any]) -> None:
        """SendTaskSuccess; TaskClosedError if the task no longer waits (answered before, or timed out)."""
        with _task_closed("states SendTaskSuccess"):
            self._sfn.send_task_success(taskToken=task_token, output=json.dumps(output))

    def describe(self, execution_arn: str) -> dict[str, Any]:
        """DescribeExecution: status, and error/cause once it failed."""
        with translate_errors("states DescribeExecution"):
            return dict(self._sfn.describe_execution(executionArn=execution_arn))

    def definition(self, execution_arn: str) -> dict[str, Any]:
        """The ASL document of the state machine version an execution runs."""
        with translate_errors("states DescribeStateMachineForExecution"):
            response = self._sfn.describe_state_machine_for_execution(executionArn=execution_arn)
        document: dict[str, Any] = json.loads(response["definition"])
        return document

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every event of an execution, oldest first."""
        events: list[dict[str, Any]] = []
        with translate_errors("states GetExecutionHistory"):
            for page in self._sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
                events.extend(dict(event) for event in page["events"])
        return events
