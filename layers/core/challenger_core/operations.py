"""What a person asks of Challenger through the API or CLI: retrain now, decide, roll back, watch a run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from challenger_core import approvals, triggering
from challenger_core.adapters.storage import Storage
from challenger_core.adapters.workflow import Workflow
from challenger_core.errors import ConflictError, NotFoundError
from challenger_core.models import (
    Approval,
    DeploymentRequest,
    Model,
    ModelStatus,
    Run,
    TriggerSource,
    utcnow,
)
from challenger_core.registry import Registry
from challenger_core.settings import Settings

DEPLOYABLE = (ModelStatus.LIVE, ModelStatus.RETIRED, ModelStatus.APPROVED, ModelStatus.STAGED, ModelStatus.REJECTED)


class RetrainRequest(Model):
    dataset: str | None = Field(default=None, description="dataset under incoming/; default: the latest upload")
    force: bool = Field(default=False, description="train even if the data did not change")


class RetrainResponse(Model):
    started: bool
    run_id: str | None
    reason: str


class DecisionRequest(Model):
    decision: Literal["approve", "reject"]
    comment: str = Field(default="", max_length=500)


class RollbackRequest(Model):
    version: int | None = Field(default=None, ge=1, description="default: the version live before the champion")


class DeploymentStarted(Model):
    version: int
    execution_arn: str


class Step(Model):
    name: str
    status: Literal["entered", "succeeded", "failed"]


class RunDetail(Model):
    run: Run
    steps: list[Step]


def retrain(
    request: RetrainRequest, *, actor: str, storage: Storage, registry: Registry, workflow: Workflow, settings: Settings
) -> RetrainResponse:
    """Start a training run on a dataset now (unchanged data is skipped unless forced)."""
    dataset = request.dataset or triggering.latest_dataset(storage, settings.data_bucket)
    run = triggering.prepare_run(
        storage, settings.data_bucket, dataset, TriggerSource.API, requested_by=actor, force=request.force
    )
    result = triggering.start_run(run, registry, workflow, settings)
    return RetrainResponse(started=result.started, run_id=result.run_id, reason=result.reason)


def decide_run(
    run_id: str, request: DecisionRequest, *, actor: str, registry: Registry, workflow: Workflow
) -> Approval:
    """Approve or reject the challenger a run is waiting on (the dashboard's buttons; auth by API key)."""
    pending = [a for a in registry.pending_approvals() if a.run_id == run_id]
    if not pending:
        raise NotFoundError(f"run {run_id} is not waiting for an approval")
    return approvals.decide(
        pending[0].approval_id,
        approved=request.decision == "approve",
        actor=actor,
        comment=request.comment,
        registry=registry,
        workflow=workflow,
    )


def rollback(
    request: RollbackRequest, *, actor: str, registry: Registry, workflow: Workflow, settings: Settings
) -> DeploymentStarted:
    """Redeploy an earlier version through the deployment pipeline (same blue/green swap and smoke test)."""
    champion = registry.get_champion()
    if request.version is None:
        earlier = [m for m in registry.list_models() if m.status is ModelStatus.RETIRED]
        if not earlier:
            raise NotFoundError("there is no earlier live version to roll back to")
        version = earlier[0].version
    else:
        version = request.version
    model = registry.get_model(version)
    if champion is not None and champion.version == version:
        raise ConflictError(f"v{version} is already live")
    if model.status not in DEPLOYABLE or not model.model_data_url:
        raise ConflictError(f"v{version} is {model.status.value} and cannot be deployed")
    payload = DeploymentRequest(version=version, reason="rollback", requested_by=actor)
    name = f"rollback-v{version}-{utcnow():%Y%m%dT%H%M%SZ}"
    arn = workflow.start(settings.deployment_pipeline_arn, name, {"request": payload.model_dump()})
    return DeploymentStarted(version=version, execution_arn=arn)


def run_detail(run_id: str, *, registry: Registry, workflow: Workflow) -> RunDetail:
    """A run with the pipeline states it went through so far (per-state progress)."""
    run = registry.get_run(run_id)
    steps: list[Step] = []
    if run.execution_arn:
        for event in workflow.history(run.execution_arn):
            steps = _fold(steps, event)
    return RunDetail(run=run, steps=steps)


def _fold(steps: list[Step], event: dict[str, Any]) -> list[Step]:
    kind = event["type"]
    if "stateEnteredEventDetails" in event:
        return [*steps, Step(name=event["stateEnteredEventDetails"]["name"], status="entered")]
    if "stateExitedEventDetails" in event and steps:
        return [*steps[:-1], steps[-1].model_copy(update={"status": "succeeded"})]
    if kind.endswith("Failed") and steps and steps[-1].status == "entered":
        return [*steps[:-1], steps[-1].model_copy(update={"status": "failed"})]
    return steps
