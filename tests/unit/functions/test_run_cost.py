"""NotifyFunction puts the run's cost in its email and on the run's record (issue 17)."""

from __future__ import annotations

from challenger_core.cost import RunCost
from challenger_core.models import NotificationKind
from tests.support.emails import email_of, sent
from tests.support.events import load_event
from tests.support.stack import Stack
from tests.unit.functions.test_training_steps import invoke, registry, with_run


def test_the_comparison_email_and_the_run_record_carry_the_runs_cost(stack: Stack) -> None:
    state = with_run(stack, load_event("notify", "comparison")["training"])
    state["training"].update(billable_seconds=600, instance_type="ml.m5.large")  # as DescribeTrainingJob reported

    invoke(stack, "notify", {"kind": "comparison", "training": state})

    email = email_of(sent(stack), NotificationKind.COMPARISON)
    assert "Cost:     $0.0192: training $0.0192 (600 billable s on ml.m5.large)" in email.body
    run = registry(stack).get_run(state["run"]["run_id"])
    assert run.cost is not None
    assert run.cost.billable_seconds == 600
    assert run.cost.total_usd == 0.115 * 600 / 3600


def test_the_email_goes_without_a_cost_when_the_run_is_not_recorded(stack: Stack) -> None:
    invoke(stack, "notify", load_event("notify", "comparison"))
    assert "Cost:" not in email_of(sent(stack), NotificationKind.COMPARISON).body


def test_the_approval_email_carries_the_runs_cost(stack: Stack) -> None:
    event = load_event("request_approval", "promote")
    with_run(stack, event["training"])
    event["training"]["training"].update(billable_seconds=300, instance_type="ml.m5.large", spot=True)

    invoke(stack, "request_approval", event)

    email = email_of(sent(stack), NotificationKind.APPROVAL_REQUEST)
    assert "Cost:     $0.0096: training $0.0096 (300 billable s on ml.m5.large spot)" in email.body


def test_the_deployed_email_carries_the_runs_cost_with_its_recorded_training(stack: Stack) -> None:
    event = load_event("notify", "deployed")
    state = with_run(stack, load_event("notify", "comparison")["training"])  # the run the deployment belongs to
    assert event["deployment"]["request"]["run_id"] == state["run"]["run_id"]
    spent = RunCost(total_usd=0.0192, training_usd=0.0192, instance_type="ml.m5.large", billable_seconds=600)
    registry(stack).update_run(state["run"]["run_id"], cost=spent)  # recorded with the comparison email

    invoke(stack, "notify", event)

    email = email_of(sent(stack), NotificationKind.DEPLOYED)
    assert "Run cost:  $0.0192: training $0.0192 (600 billable s on ml.m5.large)" in email.body


def test_closing_the_run_records_its_final_cost(stack: Stack) -> None:
    state = with_run(stack, load_event("notify", "comparison")["training"])
    state["training"].update(billable_seconds=900, instance_type="ml.m5.large")

    invoke(stack, "record_outcome", {"outcome": "DEPLOYED", "training": state})

    run = registry(stack).get_run(state["run"]["run_id"])
    assert run.cost is not None
    assert run.cost.training_usd == 0.115 * 900 / 3600
