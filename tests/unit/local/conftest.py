"""Fixtures for the local-runtime tests (fixtures rather than helper imports: works in any import mode)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from challenger.local.lambda_runtime import LocalFunction

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def toy_function() -> Callable[..., LocalFunction]:
    """Factory: a function from fixtures/toy, with fixtures/toy_layer standing in for the core layer."""

    def make(name: str, handler: str, **kwargs: Any) -> LocalFunction:
        return LocalFunction(
            name=name,
            code_dir=FIXTURES / "toy",
            handler=handler,
            extra_paths=[FIXTURES / "toy_layer"],
            **kwargs,
        )

    return make


def _wait_for_execution(sfn: Any, execution_arn: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            history = sfn.get_execution_history(executionArn=execution_arn)["events"]
            pytest.fail(f"execution still RUNNING after {timeout}s; history: {history}")
        time.sleep(0.02)


@pytest.fixture
def wait_for_execution() -> Callable[..., dict[str, Any]]:
    """Poll DescribeExecution until the execution leaves RUNNING; fail the test after `timeout` s."""
    return _wait_for_execution
