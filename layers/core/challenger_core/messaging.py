"""Which email a pipeline event becomes: the Notify step's input → a rendered message."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import model_validator

from challenger_core import notifications
from challenger_core.cost import RunCost, run_cost
from challenger_core.deployment import failure_cause
from challenger_core.models import DeploymentState, Model, NotificationKind, TrainingState
from challenger_core.notifications import Message
from challenger_core.registry import Registry
from challenger_core.settings import Settings


class NotifyRequest(Model):
    """`{"kind": ..., "training": <state>}` from TrainingPipeline or `{"kind": ..., "deployment": <state>}`."""

    kind: NotificationKind
    training: TrainingState | None = None
    deployment: DeploymentState | None = None

    @model_validator(mode="after")
    def _one_state(self) -> NotifyRequest:
        if (self.training is None) == (self.deployment is None):
            raise ValueError("exactly one of 'training' or 'deployment' is required")
        return self


def record_cost(
    state: TrainingState | str,
    registry: Registry,
    history_of: Callable[[str], Iterable[Mapping[str, Any]]],
    region: str | None = None,
) -> RunCost:
    """The run's cost so far (training job + its execution history), recorded on the run. Given a run id alone
    (a deployment's email), the training part is the one recorded before."""
    run = registry.get_run(state if isinstance(state, str) else state.run.run_id)
    job = state.training if not isinstance(state, str) else run.cost
    cost = run_cost(
        instance_type=job.instance_type if job else None,
        billable_seconds=job.billable_seconds if job else None,
        spot=job.spot if job else False,
        history=history_of(run.execution_arn) if run.execution_arn else (),
        history_of=history_of,
        region=region,
    )
    registry.update_run(run.run_id, cost=cost)
    return cost


def compose(request: NotifyRequest, registry: Registry, settings: Settings, cost: RunCost | None = None) -> Message:
    """Render the message for a pipeline event, with the champion looked up where it matters."""
    champion = registry.get_champion()
    serving = champion.version if champion else None
    if request.training is not None:
        state = request.training
        if request.kind is NotificationKind.FAILED:
            cause = state.error.message if state.error else "unknown failure"
            return notifications.failed(
                stack=settings.stack_name,
                run_id=state.run.run_id,
                dataset=state.run.dataset,
                cause=cause,
                serving_version=serving,
                cost=cost,
            )
        if state.verdict is None:
            raise ValueError(f"a {request.kind.value} notification needs the verdict")
        return notifications.comparison(
            stack=settings.stack_name,
            run_id=state.run.run_id,
            dataset=state.run.dataset,
            verdict=state.verdict,
            approval_mode=settings.approval_mode,
            cost=cost,
        )
    assert request.deployment is not None
    deployment = request.deployment
    if request.kind is NotificationKind.DEPLOYED:
        assert deployment.plan is not None
        return notifications.deployed(
            stack=settings.stack_name,
            version=deployment.request.version,
            endpoint=deployment.plan.endpoint_name,
            reason=deployment.request.reason
            + (
                f" — against the verdict, by {deployment.request.requested_by}: {deployment.request.comment}"
                if deployment.request.comment
                else ""
            ),
            previous_version=deployment.plan.previous_version,
            cost=cost,
        )
    return notifications.not_deployed(
        stack=settings.stack_name,
        version=deployment.request.version,
        endpoint=deployment.plan.endpoint_name if deployment.plan else settings.endpoint_name,
        cause=failure_cause(deployment),
        serving_version=serving,
        rolled_back=deployment.rollback is not None,
    )
