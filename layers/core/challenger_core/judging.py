"""What an operator may change about how a dataset is judged, and how a person overrules a verdict (issue 19).

Every action here is an operator's (the console or the operator door, never the inference key), takes a comment,
and is audited: a new trusted evaluation set, a new promotion-policy version, deploying a version the policy kept
out. Template parameters stay the defaults; a dataset's versions override them field by field.
"""

from __future__ import annotations

import secrets

from pydantic import ConfigDict, Field

from challenger_core import audit
from challenger_core.adapters.storage import Storage
from challenger_core.adapters.workflow import Workflow
from challenger_core.errors import ConflictError
from challenger_core.models import (
    AuditAction,
    DatasetPolicy,
    DeploymentRequest,
    Model,
    ModelStatus,
    PolicySettings,
    TrustedSet,
    utcnow,
)
from challenger_core.recipe import RecipeSpec
from challenger_core.registry import Registry
from challenger_core.settings import Settings

MAX_TRUSTED_BYTES = 5 * 1024 * 1024  # the request travels through API Gateway and Lambda (6 MB payloads)
DATASET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
# Versions the policy kept out, or that a person never decided: a person may deploy them against the verdict.
OVERRULABLE = (ModelStatus.STAGED, ModelStatus.REJECTED)


class _Command(Model):
    model_config = ConfigDict(extra="forbid", strict=True)


class OverruleRequest(_Command):
    """`POST /deploy`: deploy a version that never was live, against (or without) the verdict."""

    version: int = Field(ge=1, le=999_999)
    comment: str = Field(min_length=3, max_length=500, description="why (mandatory: it goes to the audit log)")


class OverruleStarted(Model):
    version: int
    execution_arn: str
    verdict: str = Field(description="what the policy had said")


class TrustedSetRequest(_Command):
    """`POST /datasets/{dataset}/trusted-set`: replace the dataset's trusted evaluation set."""

    csv: str = Field(min_length=1, max_length=MAX_TRUSTED_BYTES, description="CSV with the recipe's columns")
    comment: str = Field(min_length=3, max_length=500, description="why (mandatory: it goes to the audit log)")


class PolicyRequest(PolicySettings):
    """`POST /datasets/{dataset}/policy`: a new version of the dataset's promotion policy (empty = the default)."""

    model_config = ConfigDict(extra="forbid")

    comment: str = Field(min_length=3, max_length=500, description="why (mandatory: it goes to the audit log)")


class HistoryPoint(Model):
    """One version of the dataset: its figures on the trusted set (comparable across versions scored on the same
    set version) and its own hold-out's (each on other rows: not comparable, labelled as such)."""

    version: int
    status: ModelStatus
    was_live: bool
    trusted_set_version: int | None = None
    on_trusted_set: dict[str, float] = Field(default_factory=dict)
    own_holdout: dict[str, float] = Field(default_factory=dict, description="its own hold-out: other rows per version")


class DatasetJudging(Model):
    """How a dataset is judged now: its trusted set and its policy version (None: the stack's parameters), and
    the history of its versions as one comparable series on the trusted set."""

    dataset: str
    trusted_set: TrustedSet | None = None
    policy: DatasetPolicy | None = None
    history: list[HistoryPoint] = Field(default_factory=list)


def judging(dataset: str, *, registry: Registry) -> DatasetJudging:
    """The dataset's current trusted set, policy version and version history (oldest first)."""
    history = [
        HistoryPoint(
            version=model.version,
            status=model.status,
            was_live=model.was_live,
            trusted_set_version=model.trusted.set_version if model.trusted else None,
            on_trusted_set=dict(model.trusted.metrics) if model.trusted else {},
            own_holdout=dict(model.metrics),
        )
        for model in sorted(registry.list_models(), key=lambda m: m.version)
        if model.dataset == dataset and model.metrics
    ]
    return DatasetJudging(
        dataset=dataset,
        trusted_set=registry.get_trusted_set(dataset),
        policy=registry.get_dataset_policy(dataset),
        history=history,
    )


def set_trusted_set(
    dataset: str,
    request: TrustedSetRequest,
    *,
    caller: audit.Caller,
    storage: Storage,
    registry: Registry,
    recipe: RecipeSpec,
    settings: Settings,
) -> TrustedSet:
    """Validate and store a new trusted-set version; audited with the comment and the rows' digest."""
    from challenger_core import trusted as trusted_sets  # noqa: PLC0415  # validation: this route only, not the API's init

    trusted = trusted_sets.store(
        request.csv.encode("utf-8"),
        dataset=dataset,
        bucket=settings.artifact_bucket,
        storage=storage,
        registry=registry,
        recipe=recipe,
        source=f"pushed by {caller.actor}",
        set_by=caller.actor,
        comment=request.comment,
    )
    audit.record(
        registry,
        caller,
        AuditAction.TRUSTED_SET,
        comment=request.comment,
        detail=f"dataset '{dataset}': trusted set v{trusted.version}, {trusted.rows} rows, "
        f"sha256 {trusted.sha256[:12]}",
    )
    return trusted


def set_policy(dataset: str, request: PolicyRequest, *, caller: audit.Caller, registry: Registry) -> DatasetPolicy:
    """Record the next policy version of a dataset; the next comparison uses it and names it. Audited."""
    current = registry.get_dataset_policy(dataset)
    version = (current.version if current else 0) + 1
    chosen = DatasetPolicy(
        dataset=dataset,
        version=version,
        set_by=caller.actor,
        set_at=utcnow(),
        **request.model_dump(exclude={"comment"}),
        comment=request.comment,
    )
    registry.put_dataset_policy(chosen)  # ConflictError when two operators race for one version
    settings = request.model_dump(exclude={"comment"}, exclude_none=True)
    audit.record(
        registry,
        caller,
        AuditAction.POLICY,
        comment=request.comment,
        detail=f"dataset '{dataset}': policy v{version} {settings or '(the stack defaults)'}"[:1000],
    )
    return chosen


def overrule(
    request: OverruleRequest,
    *,
    caller: audit.Caller,
    registry: Registry,
    workflow: Workflow,
    settings: Settings,
) -> OverruleStarted:
    """Deploy a version that never served (STAGED or REJECTED: the policy said KEEP, or nobody decided) through
    the deployment pipeline, with the operator's mandatory reason in the audit log. The verdict stays recorded."""
    model = registry.get_model(request.version)
    champion = registry.get_champion()
    if champion is not None and champion.version == model.version:
        raise ConflictError(f"v{model.version} is already live")
    if model.was_live:
        raise ConflictError(f"v{model.version} was live before: use rollback")
    if model.status not in OVERRULABLE:
        raise ConflictError(f"v{model.version} is {model.status.value}: only a STAGED or REJECTED version is deployed")
    if not model.model_data_url or not model.artifact_sha256:
        raise ConflictError(f"v{model.version} has no registered artifact to deploy")
    said = (
        f"the policy said {'PROMOTE' if model.verdict.promote else 'KEEP'} ({model.verdict.decided_by})"
        if model.verdict
        else "no verdict"
    )
    payload = DeploymentRequest(
        version=model.version,
        reason="promote",
        run_id=model.run_id,
        requested_by=caller.actor,
        comment=request.comment,
    )
    name = f"overrule-v{model.version}-{utcnow():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    arn = workflow.start(settings.deployment_pipeline_arn, name, {"request": payload.model_dump()})
    audit.record(
        registry,
        caller,
        AuditAction.DEPLOY,
        run_id=model.run_id,
        version=model.version,
        comment=request.comment,
        detail=f"deployed against the verdict: {said}; deployment {arn.rsplit(':', 1)[-1]}",
    )
    return OverruleStarted(version=model.version, execution_arn=arn, verdict=said)
