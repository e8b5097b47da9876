"""The cost of a run and of predictions, from the pinned price table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from challenger_core import cost, notifications, prices
from challenger_core.errors import NotFoundError
from tests.unit.core.test_notifications import verdict

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TRAINING = "arn:aws:states:us-east-1:123456789012:execution:shop-training:run-1"
DEPLOYMENT = "arn:aws:states:us-east-1:123456789012:execution:shop-deployment:run-1"


def _task(state: str, function: str, seconds: float, at: float, *, end: str = "TaskSucceeded") -> list[dict[str, Any]]:
    parameters = json.dumps({"FunctionName": f"arn:aws:lambda:us-east-1:123456789012:function:shop-{function}-Ab12"})
    details = {"resourceType": "lambda", "resource": "invoke", "parameters": parameters}
    return [
        {
            "type": "TaskStateEntered",
            "timestamp": T0 + timedelta(seconds=at),
            "stateEnteredEventDetails": {"name": state},
        },
        {"type": "TaskScheduled", "timestamp": T0 + timedelta(seconds=at), "taskScheduledEventDetails": details},
        {"type": "TaskStarted", "timestamp": T0 + timedelta(seconds=at)},
        {"type": end, "timestamp": T0 + timedelta(seconds=at + seconds)},
        {"type": "TaskStateExited", "timestamp": T0 + timedelta(seconds=at + seconds)},
    ]


def _deploy_task(at: float) -> list[dict[str, Any]]:
    details = {"resourceType": "states", "resource": "startExecution.sync:2", "parameters": "{}"}
    return [
        {
            "type": "TaskStateEntered",
            "timestamp": T0 + timedelta(seconds=at),
            "stateEnteredEventDetails": {"name": "D"},
        },
        {"type": "TaskScheduled", "timestamp": T0 + timedelta(seconds=at), "taskScheduledEventDetails": details},
        {"type": "TaskStarted", "timestamp": T0 + timedelta(seconds=at)},
        {
            "type": "TaskSucceeded",
            "timestamp": T0 + timedelta(seconds=at + 60),
            "taskSucceededEventDetails": {"output": json.dumps({"ExecutionArn": DEPLOYMENT, "Status": "SUCCEEDED"})},
        },
    ]


def test_training_costs_its_billable_seconds_at_the_instance_hourly_price() -> None:
    # ml.m5.large: $0.115 an hour; 1,800 billable seconds (a spot job's saving is in the billable time).
    assert cost.training_usd("ml.m5.large", 1800) == pytest.approx(0.0575)
    assert cost.training_usd("ml.p99.huge", 1800) is None


def test_pipeline_usage_reads_lambda_gb_seconds_and_transitions_from_the_history() -> None:
    history = [
        *_task("ValidateData", "ValidateDataFunction", 2.0, 0),  # 1024 MB: 2 GB-s
        *_task("StartTraining", "StartTrainingFunction", 1.0, 3),  # 256 MB: 0.25 GB-s
        {"type": "WaitStateEntered", "timestamp": T0, "stateEnteredEventDetails": {"name": "Wait"}},
    ]
    usage = cost.pipeline_usage(history)
    assert usage.invocations == 2
    assert usage.gb_seconds == pytest.approx(2.25)
    assert usage.transitions == 3


def test_an_approval_wait_counts_the_lambda_until_it_returned_not_until_the_decision() -> None:
    history = _task("RequestApproval", "RequestApprovalFunction", 0.5, 0, end="TaskSubmitted")
    history.append({"type": "TaskSucceeded", "timestamp": T0 + timedelta(days=1)})  # the human decided a day later
    assert cost.pipeline_usage(history).gb_seconds == pytest.approx(0.125)


def test_the_run_cost_adds_training_lambda_step_functions_and_the_deployment_it_started() -> None:
    history = [*_task("ValidateData", "ValidateDataFunction", 2.0, 0), *_deploy_task(10)]
    nested = _task("StartDeployment", "StartDeploymentFunction", 4.0, 20)

    run = cost.run_cost(
        instance_type="ml.m5.large",
        billable_seconds=120,
        history=history,
        history_of=lambda arn: nested if arn == DEPLOYMENT else [],
    )

    assert run.lambda_invocations == 2
    assert run.lambda_gb_seconds == pytest.approx(3.0)
    assert run.state_transitions == 3
    expected = (
        0.115 * 120 / 3600
        + 3.0 * prices.LAMBDA_ARM_PER_GB_SECOND
        + 2 * prices.LAMBDA_PER_REQUEST
        + 3 * prices.STEP_FUNCTIONS_PER_TRANSITION
    )
    assert run.total_usd == pytest.approx(expected)
    assert run.prices_as_of == prices.AS_OF


def test_a_nested_history_that_cannot_be_read_leaves_the_rest_of_the_cost() -> None:
    def refused(arn: str) -> list[dict[str, Any]]:
        raise NotFoundError(arn)

    run = cost.run_cost(instance_type="ml.m5.large", billable_seconds=60, history=_deploy_task(0), history_of=refused)
    assert run.training_usd == pytest.approx(0.115 / 60)
    assert run.state_transitions == 1


def test_function_memory_table_matches_the_template() -> None:
    template, _ = decode(str(ROOT / "template.yaml"))
    assert template is not None
    default = template["Globals"]["Function"]["MemorySize"]
    functions = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert default == cost.DEFAULT_FUNCTION_MEMORY_MB
    for logical_id, resource in functions.items():
        assert cost.function_memory_mb(f"shop-{logical_id}-Ab12") == resource["Properties"].get("MemorySize", default)


def test_a_stack_outside_the_priced_region_says_its_prices_are_us_east_1s() -> None:
    run = cost.run_cost(instance_type="ml.m5.large", billable_seconds=60, region="eu-west-1")
    assert "eu-west-1 priced as us-east-1" in cost.summary(run)
    assert cost.run_cost(instance_type="ml.m5.large", billable_seconds=60, region="us-east-1").region is None


def test_the_comparison_email_shows_the_runs_cost() -> None:
    run = cost.run_cost(instance_type="ml.m5.large", billable_seconds=300, history=_task("V", "ValidateData", 1, 0))
    message = notifications.comparison(
        stack="prod", run_id="r1", dataset="reviews", verdict=verdict(), approval_mode="auto", cost=run
    )
    line = next(line for line in message.body.splitlines() if line.startswith("Cost:"))
    assert line.startswith(f"Cost:     {cost.usd(run.total_usd)}: training $0.0096 (300 billable s on ml.m5.large)")
    assert f"us-east-1 list prices of {prices.AS_OF}" in line


def test_a_thousand_predictions_cost_their_requests_and_endpoint_seconds() -> None:
    one = cost.prediction_usd(model_seconds=0.1, memory_mb=2048, payload_bytes=0, api_seconds=0.05)
    assert one == pytest.approx(
        prices.API_GATEWAY_REST_PER_REQUEST
        + prices.LAMBDA_PER_REQUEST
        + 0.05 * 0.25 * prices.LAMBDA_ARM_PER_GB_SECOND
        + 0.1 * 2 * prices.SERVERLESS_PER_GB_SECOND
    )
    assert cost.serving_usd(predictions=1000, mean_latency_ms=100, memory_mb=2048, payload_bytes=0) == pytest.approx(
        1000 * one
    )


def test_docs_cost_md_states_the_idle_cost_the_template_adds_up_to() -> None:
    template, _ = decode(str(ROOT / "template.yaml"))
    assert template is not None
    types = [resource["Type"] for resource in template["Resources"].values()]
    docs = (ROOT / "docs" / "cost.md").read_text()
    assert f"**Idle total: ≈ ${cost.idle_usd_per_month(types):.2f} a month**" in docs
    assert f"(${cost.idle_usd_per_month(types, free_dashboards=False):.2f} when" in docs
    assert prices.AS_OF in docs


def test_docs_cost_md_cites_every_pricing_page_of_the_table() -> None:
    docs = (ROOT / "docs" / "cost.md").read_text()
    assert [url for url in prices.SOURCES.values() if url not in docs] == []


def test_a_run_that_failed_before_training_says_so_and_shows_fractions_of_a_cent() -> None:
    run = cost.run_cost(instance_type=None, billable_seconds=None, history=_task("V", "ValidateDataFunction", 0.2, 0))
    line = cost.summary(run)
    assert "no training job" in line
    assert "Lambda <$0.0001 (1 invocations" in line
