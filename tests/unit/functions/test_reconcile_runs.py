"""ReconcileRunsFunction (issue 18, #74): a run whose execution ended without recording it is closed, not left
RUNNING forever; a run whose execution still runs, or that has only just started, is left alone."""

from __future__ import annotations

from datetime import timedelta

from challenger_core.models import ModelStatus, ModelVersion, Run, RunStatus, TriggerSource, utcnow
from challenger_core.registry import Registry
from tests.support.events import load_event
from tests.support.lambda_context import context
from tests.support.stack import Stack


def run(run_id: str, execution_arn: str | None, minutes_ago: int) -> Run:
    return Run(
        run_id=run_id,
        status=RunStatus.RUNNING,
        dataset="reviews",
        trigger=TriggerSource.UPLOAD,
        source_fingerprint=run_id,
        execution_arn=execution_arn,
        started_at=utcnow() - timedelta(minutes=minutes_ago),
    )


def test_runs_whose_execution_ended_or_is_gone_are_closed_and_only_those(stack: Stack) -> None:
    machine = stack.sfn.create_state_machine(
        name="pipeline",
        definition='{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}',
        roleArn="arn:aws:iam::123456789012:role/pipeline",
    )["stateMachineArn"]
    failed = stack.sfn.start_execution(stateMachineArn=machine, name="failed", input="{}")["executionArn"]
    # What #74 left behind: the execution ended (here: stopped) but RecordFailure never closed the run.
    stack.sfn.stop_execution(executionArn=failed, error="States.TaskFailed", cause="RecordFailure: throttled")
    running = stack.sfn.start_execution(stateMachineArn=machine, name="running", input="{}")["executionArn"]
    registry = Registry(stack.ddb, stack.env["MODELS_TABLE"])
    registry.put_run(run("r-failed", failed, 60).model_copy(update={"version": 7}))
    registry.put_model(
        ModelVersion(
            version=7,
            status=ModelStatus.TRAINING,
            run_id="r-failed",
            dataset="reviews",
            data_fingerprint="f",
            training_job_name="job-7",
        )
    )
    registry.put_run(run("r-running", running, 60))
    registry.put_run(run("r-gone", machine.replace(":stateMachine:", ":execution:") + ":gone", 60))
    registry.put_run(run("r-young", None, 1))

    result = stack.handler("reconcile_runs").lambda_handler(
        load_event("reconcile_runs", "scheduled"), context("ReconcileRunsFunction")
    )

    assert sorted(result["closed"]) == ["r-failed", "r-gone"]
    runs = {r.run_id: r for r in registry.list_runs()}
    assert runs["r-failed"].status is RunStatus.FAILED
    assert "ended ABORTED" in (runs["r-failed"].error or "")
    # DescribeExecution's `error`/`cause` join the message on AWS; moto's stop_execution does not keep them.
    assert registry.get_model(7).status is ModelStatus.FAILED  # as RecordFailure leaves a model in flight
    assert runs["r-gone"].ended_at is not None
    assert "no longer exists" in (runs["r-gone"].error or "")
    assert (runs["r-running"].status, runs["r-young"].status) == (RunStatus.RUNNING, RunStatus.RUNNING)
