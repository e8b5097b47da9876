"""What a person asks of Challenger through the API or CLI: retrain now, decide, roll back, watch a run."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field

from challenger_core import approvals, audit
from challenger_core.cost import RunCost, run_cost
from challenger_core.errors import ChallengerError, ConflictError, DataValidationError, NotFoundError
from challenger_core.models import (
    Approval,
    AuditAction,
    AuditEntry,
    DeploymentRequest,
    Model,
    ModelStatus,
    ModelVersion,
    Run,
    RunStatus,
    TriggerSource,
    Verdict,
    utcnow,
)

if TYPE_CHECKING:  # annotations only: the API imports this module at init for its request and response models
    from challenger_core.adapters.storage import Storage
    from challenger_core.adapters.workflow import Workflow
    from challenger_core.recipe import RecipeSpec
    from challenger_core.registry import Registry
    from challenger_core.settings import Settings

# Rollback reaches only versions that served before; a STAGED or REJECTED one goes live only through approval.
ROLLBACK_TARGETS = (ModelStatus.LIVE, ModelStatus.RETIRED)


# The same rule as triggering.dataset_of: a name that can be an S3 prefix component, checked at the edge.
DATASET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"
# Run ids are `<UTC timestamp>-<dataset>-<fingerprint prefix>` (triggering.new_run_id); bounded so a fuzzed id
# can never become a DynamoDB key the service refuses (which would be a 5xx instead of a 404).
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"
MAX_VERSION = 2**31 - 1  # versions are small counters; bounding them keeps DynamoDB number keys valid


class _Command(Model):
    """A request that changes what serves: strict types, so `{"force": "yes"}` or `{"version": true}` is a 422
    instead of a coerced `True` or `1`."""

    model_config = ConfigDict(extra="forbid", strict=True)


class RetrainRequest(_Command):
    """`POST /runs`: retrain now."""

    dataset: str | None = Field(
        default=None, pattern=DATASET_PATTERN, description="dataset under incoming/; default: the latest upload"
    )
    force: bool = Field(default=False, description="train even if the data did not change")


class RetrainResponse(Model):
    """Whether a run started; `reason` says why not (e.g. the data did not change)."""

    started: bool
    run_id: str | None
    reason: str


class DecisionRequest(_Command):
    """`POST /runs/{run_id}/approval`: the dashboard's approve/reject buttons."""

    decision: Literal["approve", "reject"]
    comment: str = Field(default="", max_length=500)


class DecisionResponse(Model):
    """The decision recorded on the run's pending approval."""

    run_id: str
    version: int
    decision: str = Field(description="APPROVED or REJECTED")


class RollbackRequest(_Command):
    """`POST /rollback`: redeploy an earlier version."""

    version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="default: the version live before the champion"
    )
    reason: str = Field(default="", max_length=500, description="why (recorded in the audit log, shown as its comment)")


class DeploymentStarted(Model):
    """A deployment pipeline execution was started for `version`."""

    version: int
    execution_arn: str


class PendingApproval(Model):
    """A challenger waiting for a human decision, with the champion it would replace (for a side-by-side view)."""

    approval_id: str
    run_id: str
    version: int = Field(description="the challenger's version")
    expires_at: datetime
    champion_version: int | None = Field(description="the version live now; null if none is")
    verdict: Verdict | None = Field(
        default=None, description="the policy's verdict: each rule with its numbers, delta [low, high] per metric"
    )


class Step(Model):
    name: str
    status: Literal["entered", "succeeded", "failed"]
    entered_at: datetime | None = Field(default=None, description="when the state was (last) entered")
    exited_at: datetime | None = Field(default=None, description="when it was left; null while it runs")


class RunDetail(Model):
    run: Run
    steps: list[Step]
    plan: list[str] = Field(
        default_factory=list,
        description="while the run is running: the states still ahead on the way to success (from the ASL)",
    )
    audit: list[AuditEntry] | None = Field(
        default=None, description="decisions about this run, newest first (operator doors only)"
    )
    verdict: Verdict | None = Field(default=None, description="the run's challenger against the champion, if compared")
    cost: RunCost | None = Field(
        default=None,
        description="what the run cost on AWS so far: training, Lambda, Step Functions (pinned us-east-1 list prices)",
    )


class ModelDetail(ModelVersion):
    """A model version with the decisions taken about it."""

    audit: list[AuditEntry] | None = Field(
        default=None, description="decisions about this version, newest first (operator doors only)"
    )
    run_cost: RunCost | None = Field(default=None, description="what the run that trained it cost on AWS")


class AuditPage(Model):
    """One page of the audit log, newest first; pass `next` as `after` for the following page."""

    entries: list[AuditEntry]
    next: str | None = None


class HistoryGoneError(NotFoundError):
    """The run is recorded but its execution history is no longer available (the API answers 410)."""


class DeploymentStatus(Model):
    """A deployment pipeline execution (a rollback), as `POST /rollback` started it."""

    execution_arn: str
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
    error: str | None = None
    cause: str | None = Field(default=None, description="why it failed (the pipeline's Fail cause)")


class PromotionPolicy(Model):
    """The rules a challenger must pass, and who decides (the stack's parameters, as this API reads them)."""

    approval_mode: str
    primary_metric: str
    min_improvement: float
    floor_metric: str
    metric_floor: float
    guardrail_metrics: list[str]
    guardrail_tolerance: float
    promotion_confidence: float | None = Field(default=None, description="the paired interval's confidence level")
    directions: dict[str, str] = Field(default_factory=dict, description="metric → higher or lower is better")
    recipe: str = ""


def retrain(
    request: RetrainRequest,
    *,
    caller: audit.Caller,
    storage: Storage,
    registry: Registry,
    workflow: Workflow,
    settings: Settings,
) -> RetrainResponse:
    """Start a training run on a dataset now (unchanged data is skipped unless forced); audited either way."""
    from challenger_core import triggering  # noqa: PLC0415  # POST /runs only, not the API's init

    dataset = request.dataset or triggering.latest_dataset(storage, settings.data_bucket)
    run = triggering.prepare_run(
        storage, settings.data_bucket, dataset, TriggerSource.API, requested_by=caller.actor, force=request.force
    )
    result = triggering.start_run(run, registry, workflow, settings)
    audit.record(
        registry,
        caller,
        AuditAction.RETRAIN,
        run_id=result.run_id,
        detail=f"dataset {dataset}{' (forced)' if request.force else ''}: "
        + ("started" if result.started else f"not started: {result.reason}"),
    )
    return RetrainResponse(started=result.started, run_id=result.run_id, reason=result.reason)


def decide_run(
    run_id: str, request: DecisionRequest, *, caller: audit.Caller, registry: Registry, workflow: Workflow
) -> Approval:
    """Approve or reject the challenger a run is waiting on (dashboard, CLI, automation)."""
    pending = [a for a in registry.pending_approvals() if a.run_id == run_id]
    if not pending:
        raise NotFoundError(f"run {run_id} is not waiting for an approval")
    return decide_approval(
        pending[0].approval_id,
        approved=request.decision == "approve",
        caller=caller,
        comment=request.comment,
        registry=registry,
        workflow=workflow,
    )


def decide_approval(
    approval_id: str,
    *,
    approved: bool,
    caller: audit.Caller,
    comment: str,
    registry: Registry,
    workflow: Workflow,
) -> Approval:
    """Decide one approval (once) and audit it: every door (link, console, operator) ends here.

    Approving a verdict that did not say PROMOTE (a label-shift flag, issue 19) overrules the policy: it needs a
    comment, which the audit log and the run keep."""
    if approved and not comment.strip():
        verdict = _verdict(registry, registry.get_approval(approval_id).version)
        if verdict is not None and not verdict.promote:
            raise DataValidationError(
                [f"the policy said KEEP ({verdict.decided_by}): approving overrules it and needs a comment saying why"],
                source=f"approval {approval_id}",
            )
    approval = approvals.decide(
        approval_id, approved=approved, actor=caller.actor, comment=comment, registry=registry, workflow=workflow
    )
    audit.record(
        registry,
        caller,
        AuditAction.APPROVE if approved else AuditAction.REJECT,
        run_id=approval.run_id,
        version=approval.version,
        comment=comment,
        detail="the pipeline resumes: deploying" if approved else "the pipeline resumes: the champion keeps serving",
    )
    return approval


def pending_approvals(*, registry: Registry, limit: int = 100, after: str | None = None) -> list[PendingApproval]:
    """Approvals still waiting for a decision, oldest first (the one expiring soonest leads), one page.

    `after` is the approval id the previous page ended with. The champion is read once: every pending
    challenger competes with the same live model.
    """
    champion = registry.get_champion()
    now = utcnow()
    waiting = [a for a in registry.pending_approvals() if a.expires_at > now]  # expired: the pipeline timed out
    if after is not None:
        last = registry.get_approval(after)  # NotFoundError for a cursor that never was an approval
        waiting = [a for a in waiting if (a.expires_at, a.approval_id) > (last.expires_at, last.approval_id)]
    return [
        PendingApproval(
            approval_id=approval.approval_id,
            run_id=approval.run_id,
            version=approval.version,
            expires_at=approval.expires_at,
            champion_version=champion.version if champion else None,
            verdict=_verdict(registry, approval.version),
        )
        for approval in waiting[:limit]
    ]


def previous_live_version(registry: Registry, champion_version: int | None) -> int:
    """The version that served before the champion: of those that were live, the latest to go live."""
    earlier = [
        m
        for m in registry.list_models()
        if (m.was_live or m.status in ROLLBACK_TARGETS) and m.version != champion_version
    ]
    if not earlier:
        raise ConflictError("no earlier version has been live: there is nothing to roll back to")
    return max(earlier, key=lambda m: (m.live_since or m.updated_at, m.version)).version


def _verdict(registry: Registry, version: int | None) -> Verdict | None:
    if version is None:
        return None
    try:
        return registry.get_model(version).verdict
    except NotFoundError:
        return None


def rollback(
    request: RollbackRequest,
    *,
    caller: audit.Caller,
    registry: Registry,
    workflow: Workflow,
    settings: Settings,
) -> DeploymentStarted:
    """Redeploy a version that was live before through the deployment pipeline (blue/green, smoke test).

    Only versions that have served can be rolled back to: a STAGED or REJECTED challenger never passed a human
    or the policy, and reaching it through rollback would bypass both (it goes live only through approval).
    """
    champion = registry.get_champion()
    champion_version = champion.version if champion else None
    version = request.version if request.version is not None else previous_live_version(registry, champion_version)
    model = registry.get_model(version)
    if champion_version == version:
        raise ConflictError(f"v{version} is already live")
    if not (model.was_live or model.status in ROLLBACK_TARGETS):
        raise ConflictError(
            f"v{version} has never been live ({model.status.value}): rollback only reaches versions that served "
            "before; a new version goes live only through approval"
        )
    if not model.model_data_url:
        raise ConflictError(f"v{version} has no artifact to deploy")
    payload = DeploymentRequest(version=version, reason="rollback", requested_by=caller.actor)
    # Unique per request: two rollbacks to one version within a second (e.g. after a refused one) are two
    # executions, and Step Functions refuses a reused name for 90 days (ExecutionAlreadyExists).
    name = f"rollback-v{version}-{utcnow():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    arn = workflow.start(settings.deployment_pipeline_arn, name, {"request": payload.model_dump()})
    audit.record(
        registry,
        caller,
        AuditAction.ROLLBACK,
        version=version,
        comment=request.reason,
        detail=f"from v{champion_version} to v{version}: deployment {arn.rsplit(':', 1)[-1]}"
        if champion_version
        else f"to v{version}: deployment {arn.rsplit(':', 1)[-1]}",
    )
    return DeploymentStarted(version=version, execution_arn=arn)


# The training pipeline's state that waits for a human. CompareWithChampion asks for approval only when the stack's
# ApprovalMode is manual (training.py: `requires_approval`), so in auto mode it is never ahead of a run.
APPROVAL_STATE = "RequestApproval"
# The shadow stage's states this stack's ShadowMode never takes (issue 23): off skips to DeployModel at once.
SHADOW_UNREACHABLE = {
    "off": frozenset({"WaitForShadow"}),
    "replay": frozenset({"MirrorWindow"}),
    "mirror": frozenset({"ReplayShadow"}),
}


def unreachable_states(approval_mode: str, shadow_mode: str) -> frozenset[str]:
    """The training pipeline's states a run of this stack never enters (its plan leaves them out)."""
    approval = frozenset() if approval_mode == "manual" else frozenset({APPROVAL_STATE})
    return approval | SHADOW_UNREACHABLE.get(shadow_mode, frozenset())


def run_detail(
    run_id: str,
    *,
    registry: Registry,
    workflow: Workflow,
    approval_mode: str,
    with_audit: bool = False,
    shadow_mode: str = "replay",
) -> RunDetail:
    """A run with the pipeline states it went through so far (per-state progress), and its decisions."""
    run = registry.get_run(run_id)
    steps: list[Step] = []
    plan: list[str] = []
    spent = run.cost  # the execution history, when there is one, gives the whole run's
    if run.execution_arn:
        try:
            history = workflow.history(run.execution_arn)
        except NotFoundError as exc:
            # Step Functions keeps a closed execution's history for 90 days; the local cloud keeps none across
            # a restart. The run's own record (status, outcome, error) is still in GET /runs.
            raise HistoryGoneError(
                f"run {run_id} is recorded ({run.status.value}) but its execution history is no longer available "
                "(Step Functions keeps it 90 days after the run; the local cloud forgets it on restart)"
            ) from exc
        for event in history:
            steps = _fold(steps, event)
        recorded = run.cost
        spent = run_cost(
            instance_type=recorded.instance_type if recorded else None,
            billable_seconds=recorded.billable_seconds if recorded else None,
            spot=recorded.spot if recorded else False,
            history=history,
            history_of=workflow.history,
            region=recorded.region if recorded else None,
        )
        if run.status is RunStatus.RUNNING and steps:
            try:
                unreachable = unreachable_states(approval_mode, shadow_mode)
                plan = _ahead(workflow.definition(run.execution_arn), steps[-1].name, unreachable)
            except ChallengerError:  # the steps so far matter more than the outlook: show them without it
                plan = []
    return RunDetail(
        run=run,
        steps=steps,
        plan=plan,
        audit=registry.audit_of(run_id=run_id) if with_audit else None,
        verdict=_verdict(registry, run.version),
        cost=spent,
    )


def model_detail(version: int, *, registry: Registry, with_audit: bool = False) -> ModelDetail:
    """A model version, and the decisions about it (approval, rejection, rollbacks to it)."""
    model = registry.get_model(version)
    try:
        trained_by = registry.get_run(model.run_id).cost
    except NotFoundError:
        trained_by = None
    return ModelDetail(
        **model.model_dump(), audit=registry.audit_of(version=version) if with_audit else None, run_cost=trained_by
    )


def deployment_status(name: str, *, workflow: Workflow, settings: Settings) -> DeploymentStatus:
    """How a deployment pipeline execution (e.g. a rollback) is doing, by execution name."""
    # An execution ARN is the state machine's ARN with `execution` for `stateMachine`, plus the name.
    # https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html
    arn = settings.deployment_pipeline_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name
    described = workflow.describe(arn)
    return DeploymentStatus(
        execution_arn=arn,
        status=described["status"],
        error=described.get("error"),
        cause=described.get("cause"),
    )


def promotion_policy(settings: Settings, recipe: RecipeSpec) -> PromotionPolicy:
    """The policy in force: the stack's parameters, and the recipe's choices where they are left empty."""
    from challenger_core import policy  # noqa: PLC0415  # GET /health only, not the API's init

    rules = policy.PromotionPolicy.from_settings(settings, recipe)
    return PromotionPolicy(
        approval_mode=settings.approval_mode,
        primary_metric=rules.primary_metric,
        min_improvement=rules.min_improvement,
        floor_metric=rules.floor_metric,
        metric_floor=rules.metric_floor,
        guardrail_metrics=list(rules.guardrail_metrics),
        guardrail_tolerance=rules.guardrail_tolerance,
        promotion_confidence=rules.confidence,
        directions=dict(rules.directions),
        recipe=recipe.name,
    )


def _ahead(definition: dict[str, Any], current: str, unreachable: frozenset[str] = frozenset()) -> list[str]:
    """The states after `current` on the longest loop-free way to a Succeed state (the run's best case).

    Only Next, Choice rules and Defaults are followed, never a Catch: the failure path is not "ahead"; nor is a
    state in `unreachable` (this stack's settings never take it).
    """
    states: dict[str, dict[str, Any]] = definition.get("States", {})

    def longest(name: str, seen: frozenset[str]) -> list[str] | None:
        # A pipeline has a few dozen states and few branches: plain search, no memo to get wrong.
        state = states.get(name)
        if state is None or name in seen or name in unreachable:
            return None
        if state.get("Type") == "Succeed":
            return [name]
        targets = [state.get("Next"), *(rule.get("Next") for rule in state.get("Choices", [])), state.get("Default")]
        paths = [path for target in targets if target for path in [longest(target, seen | {name})] if path]
        return [name, *max(paths, key=len)] if paths else None

    path = longest(current, frozenset()) or []
    return path[1:]


def _fold(steps: list[Step], event: dict[str, Any]) -> list[Step]:
    kind = event["type"]
    at = event.get("timestamp")
    if "stateEnteredEventDetails" in event:
        return [*steps, Step(name=event["stateEnteredEventDetails"]["name"], status="entered", entered_at=at)]
    if "stateExitedEventDetails" in event and steps and steps[-1].exited_at is None:
        # A state whose error a Catch handled still exits: it stays "failed".
        status = "succeeded" if steps[-1].status == "entered" else steps[-1].status
        return [*steps[:-1], steps[-1].model_copy(update={"status": status, "exited_at": at})]
    if kind.endswith("Failed") and steps and steps[-1].status == "entered":
        return [*steps[:-1], steps[-1].model_copy(update={"status": "failed"})]
    return steps
