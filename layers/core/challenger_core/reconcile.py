"""Runs that can no longer end by themselves are closed: the reconciler behind ReconcileRunsFunction.

A run is closed by its own pipeline (RecordOutcome, or RecordFailure on a caught error). If that last write fails
too (#74: a RecordFailure that failed), or the execution is gone (StartExecution lost after the run was recorded,
history expired, a local restart), the record would say RUNNING forever: the dashboard shows a run in flight, and
`retrain_on_drift` and the schedule refuse to start another one while it does. Each scheduled pass asks Step
Functions about every RUNNING run older than a grace period and closes those whose execution ended.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from challenger_core.adapters.workflow import Workflow
from challenger_core.errors import NotFoundError
from challenger_core.models import ModelStatus, Run, RunOutcome, RunStatus, utcnow
from challenger_core.registry import Registry

# A run is recorded just before its execution starts (triggering.start_run): younger runs are left alone.
GRACE = timedelta(minutes=10)
RUNS_EXAMINED = 500  # newest first: a run older than that many later runs is long past any pipeline bound
MAX_CAUSE_CHARS = 500
IN_FLIGHT = (ModelStatus.TRAINING, ModelStatus.STAGED, ModelStatus.APPROVED)  # what RecordFailure fails too


def reconcile_runs(registry: Registry, workflow: Workflow, *, now: datetime | None = None) -> dict[str, str]:
    """Close every RUNNING run whose execution has ended or is gone; run id → the cause recorded."""
    now = now or utcnow()
    closed: dict[str, str] = {}
    for run in registry.list_runs(limit=RUNS_EXAMINED):
        if run.status is not RunStatus.RUNNING or now - run.started_at < GRACE:
            continue
        if run.execution_arn is None:
            cause = "closed by the reconciler: its Step Functions execution never started"
        else:
            try:
                execution = workflow.describe(run.execution_arn)
            except NotFoundError:
                execution = {"status": "GONE"}
            if execution["status"] == "RUNNING":
                continue
            cause = _cause(execution)
        close_run(registry, run, cause, now=now)
        closed[run.run_id] = cause
    return closed


def close_run(registry: Registry, run: Run, cause: str, *, now: datetime | None = None) -> None:
    """Close a run its pipeline can no longer close, as RecordFailure would (training.record_outcome): FAILED with
    the cause, and its model version FAILED too while it was still in flight."""
    if run.version is not None:
        try:
            model = registry.get_model(run.version)
        except NotFoundError:
            model = None
        if model is not None and model.run_id == run.run_id and model.status in IN_FLIGHT:
            registry.update_model(model.version, status=ModelStatus.FAILED, failure_reason=cause)
    registry.update_run(
        run.run_id,
        status=RunStatus.FAILED.value,
        outcome=RunOutcome.FAILED.value,
        ended_at=now or utcnow(),
        error=cause,
    )


def _cause(execution: dict[str, object]) -> str:
    status = str(execution["status"])
    if status == "GONE":
        return "interrupted: its Step Functions execution no longer exists (never started, expired, or a restart)"
    detail = ": ".join(str(execution[k]) for k in ("error", "cause") if execution.get(k))
    text = f"closed by the reconciler: its execution ended {status} without recording the outcome" + (
        f" ({detail})" if detail else ""
    )
    return text[:MAX_CAUSE_CHARS]
