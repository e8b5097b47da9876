"""pydantic models for every boundary: pipeline state, registry items, notifications.

The Step Functions state documents (`TrainingState`, `DeploymentState`) flow through every Lambda task:
each handler parses the whole document, fills in its part and returns it (`OutputPath: $.Payload`).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from challenger_core.cost import RunCost
from challenger_core.errors import MAX_MESSAGE_CHARS, bounded
from challenger_core.shadow import ShadowMeasurement, ShadowStage


def utcnow() -> datetime:
    """Now, timezone-aware, second precision (what we store and show)."""
    return datetime.now(UTC).replace(microsecond=0)


class Model(BaseModel):
    """Base: reject unknown fields so a typo in the ASL or an event fails loudly."""

    # defer_build: a model's validator is built when first used, so a Lambda pays only for the models its path
    # touches (building all of them at import was ~0.1 s of every cold start).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


class ModelStatus(StrEnum):
    TRAINING = "TRAINING"
    STAGED = "STAGED"
    REJECTED = "REJECTED"
    APPROVED = "APPROVED"
    DEPLOYING = "DEPLOYING"
    LIVE = "LIVE"
    RETIRED = "RETIRED"
    FAILED = "FAILED"


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class RunOutcome(StrEnum):
    DEPLOYED = "DEPLOYED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"
    UNCHANGED = "UNCHANGED"  # the same rows (any order) as a version was trained on: nothing trained (issue 19)


class TriggerSource(StrEnum):
    UPLOAD = "upload"
    SCHEDULE = "schedule"
    API = "api"
    DRIFT = "drift"


class ApprovalStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


# --------------------------------------------------------------------------------------------------
# Pipeline building blocks


class PollState(Model):
    """A bounded poll loop's counter; the ASL's Choice reads `exhausted`."""

    model_config = ConfigDict(extra="ignore")  # `exhausted` comes back in the next state document

    attempts: int = 0
    max_attempts: int
    wait_seconds: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exhausted(self) -> bool:
        return self.attempts >= self.max_attempts

    def next(self) -> PollState:
        return self.model_copy(update={"attempts": self.attempts + 1})


class StepError(Model):
    """What a Catch puts at `$.error`: Step Functions' own `Error`/`Cause` pair."""

    error: str = Field(alias="Error")
    cause: str = Field(default="", alias="Cause")

    @field_validator("error", "cause")
    @classmethod
    def _bounded(cls, text: str) -> str:
        # The next task's output carries this on: a huge cause (a non-core exception quoting its input) must
        # not push the state document towards Step Functions' 256 KB limit.
        return bounded(text, 4 * MAX_MESSAGE_CHARS)

    @property
    def message(self) -> str:
        """The human part of the cause (bounded): Lambda's errorMessage when the cause is a Lambda error payload."""
        return bounded(self._message())

    def _message(self) -> str:
        try:
            payload = json.loads(self.cause)
        except (TypeError, ValueError):
            return self.cause or self.error
        if isinstance(payload, dict):
            if "errorMessage" in payload:
                return str(payload["errorMessage"])
            # A nested execution's failure, as startExecution.sync reports it (DescribeExecution fields).
            for key in ("Cause", "cause"):
                if key in payload:
                    error = str(payload.get("Error", payload.get("error", self.error)))
                    return StepError.model_validate({"Error": error, "Cause": str(payload[key])}).message
        return self.cause


class DataPart(Model):
    """One part of a dataset of many (issue 24), as the trigger found it: the version every reader must read."""

    key: str
    version_id: str | None = None  # S3's VersionId (the data bucket is versioned): the bytes validated and trained on
    etag: str
    size: int = Field(ge=0)


class RunRequest(Model):
    """What the trigger (upload, schedule, API) asks the training pipeline to do."""

    run_id: str
    dataset: str
    trigger: TriggerSource
    data_bucket: str
    train_key: str
    test_key: str | None = None
    source_fingerprint: str
    requested_at: datetime = Field(default_factory=utcnow)
    requested_by: str = "system"
    force: bool = False
    # A dataset of many parts (`incoming/<dataset>/train/`, then `train_key` is that prefix): every part, in the
    # order validation reads them and pinned by version. Empty for a single `train.csv`.
    train_parts: list[DataPart] = Field(default_factory=list)


class DataManifest(Model):
    """A validated dataset: where it is, how big, what it holds."""

    dataset: str
    train_uri: str
    test_uri: str | None = None
    train_rows: int
    test_rows: int = 0
    class_counts: dict[str, int]
    fingerprint: str
    content_fingerprint: str = ""  # the rows as a multiset, whatever their order or bytes (validation.py)
    train_bytes: int = 0  # the training data's size: StartTraining sizes the job by it (challenger_core.sizing)
    same_as_version: int | None = None  # StartTraining: a version was trained on these very rows; nothing to do


class TrainingJob(Model):
    job_name: str
    version: int
    status: str = "InProgress"
    secondary_status: str | None = None
    model_data_url: str | None = None
    output_data_url: str | None = None
    failure_reason: str | None = None
    training_seconds: int | None = None
    # What SageMaker bills (DescribeTrainingJob), for the run's cost (challenger_core.cost).
    billable_seconds: int | None = None
    instance_type: str | None = None
    spot: bool = False
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    champion_version: int | None = None  # the champion whose artifact the job compared against (`champion` channel)
    trusted_set_version: int | None = None  # the dataset's trusted set the job scored both models on
    poll: PollState


class EvalSet(Model):
    """The rows a model was scored on: a fingerprint (sha256 of the sorted row hashes) and their number."""

    model_config = ConfigDict(extra="ignore")

    fingerprint: str = Field(max_length=128)
    rows: int = Field(ge=0)


class MetricDifference(Model):
    """challenger − champion on the paired rows, with its confidence interval (positive = challenger higher)."""

    model_config = ConfigDict(extra="ignore")

    delta: float = Field(allow_inf_nan=False)
    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)
    # The champion's own score on the same resamples: its interval on these rows (the label-shift check).
    champion_low: float | None = Field(default=None, allow_inf_nan=False)
    champion_high: float | None = Field(default=None, allow_inf_nan=False)


class PairedComparison(Model):
    """Champion and challenger scored on the same unseen rows in the training job (evaluation.json)."""

    model_config = ConfigDict(extra="ignore")

    champion_version: int | None = None  # filled in by the core: the champion whose artifact was the channel
    champion_artifact_sha256: str = Field(default="", max_length=128)
    rows: int = Field(ge=0)
    fingerprint: str = Field(max_length=128)
    champion_metrics: dict[str, float] = Field(default_factory=dict, max_length=64)
    challenger_metrics: dict[str, float] = Field(default_factory=dict, max_length=64)
    differences: dict[str, MetricDifference] = Field(default_factory=dict, max_length=64)
    confidence: float = Field(gt=0, lt=1)
    method: str = Field(default="", max_length=200)
    excluded_champion_training_rows: int = 0


class TrustedEvaluation(Model):
    """The challenger (and, with a champion, both models, paired) on the dataset's trusted evaluation set."""

    model_config = ConfigDict(extra="ignore")

    fingerprint: str = Field(max_length=128)
    rows: int = Field(ge=0)
    metrics: dict[str, float] = Field(default_factory=dict, max_length=64)
    class_counts: dict[str, int] = Field(default_factory=dict, max_length=100)
    comparison: PairedComparison | None = None
    comparison_error: str | None = Field(default=None, max_length=1000)  # why there is no paired comparison
    set_version: int | None = None  # filled in by the core: which version of the dataset's trusted set


class TrustedSet(Model):
    """One version of a dataset's trusted evaluation set: rows whose labels the operators vouch for.

    Seeded from the first champion's hold-out (or its run's test.csv); replaced only by an operator (audited)."""

    dataset: str
    version: int = Field(ge=1)
    uri: str  # s3://<ArtifactBucket>/trusted/<dataset>/v<N>.csv (never overwritten: the key names the rows)
    sha256: str = Field(max_length=64)
    rows: int = Field(ge=0)
    source: str = Field(max_length=300)  # "hold-out of v1 (run ...)" or "pushed by <actor>"
    set_by: str = "system"
    comment: str = ""
    set_at: datetime = Field(default_factory=utcnow)


class PolicySettings(Model):
    """A promotion policy's settings; a field left empty keeps the stack's parameter (or the recipe's choice)."""

    primary_metric: str | None = Field(default=None, max_length=64)
    # The bounds keep a value inside DynamoDB's number range (magnitude below 1E+126; PutItem refuses more), far
    # beyond any metric's scale.
    min_improvement: float | None = Field(default=None, ge=0, le=1e100, allow_inf_nan=False)
    confidence: float | None = Field(default=None, gt=0.5, lt=1.0)
    floor_metric: str | None = Field(default=None, max_length=64)
    metric_floor: float | None = Field(default=None, ge=-1e100, le=1e100, allow_inf_nan=False)
    guardrail_metrics: list[str] | None = Field(default=None, max_length=16)
    guardrail_tolerance: float | None = Field(default=None, ge=0, le=1e100, allow_inf_nan=False)
    label_shift_tolerance: float | None = Field(default=None, ge=0, le=1e100, allow_inf_nan=False)
    # Shadow stage (issue 23): the shadow's p99 may be at most this many times the champion's; agreement with the
    # champion must reach this share (unset: agreement is shown, not judged).
    shadow_p99_ratio: float | None = Field(default=None, ge=1, le=100, allow_inf_nan=False)
    shadow_agreement_floor: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)


class DatasetPolicy(PolicySettings):
    """One version of a dataset's promotion policy, set by an operator (audited); verdicts name the version."""

    dataset: str
    version: int = Field(ge=1)
    set_by: str = "system"
    comment: str = Field(default="", max_length=1000)
    set_at: datetime = Field(default_factory=utcnow)


class Evaluation(Model):
    """What the recipe's train.py writes to evaluation.json."""

    model_config = ConfigDict(extra="ignore")

    metrics: dict[str, float] = Field(max_length=64)
    confusion_matrix: list[list[int]] = Field(default_factory=list, max_length=100)
    n_train: int = 0
    n_test: int = 0
    eval_set: EvalSet | None = None
    comparison: PairedComparison | None = None
    trusted: TrustedEvaluation | None = None
    holdout_class_counts: dict[str, int] = Field(default_factory=dict, max_length=100)

    @field_validator("metrics")
    @classmethod
    def _metrics_are_numbers(cls, metrics: dict[str, float]) -> dict[str, float]:
        # Not [0, 1]: a regression recipe reports rmse and the like. Only finite numbers can be compared.
        bad = sorted(name for name, value in metrics.items() if not math.isfinite(value))
        if bad:
            raise ValueError(f"metrics must be finite numbers: {', '.join(bad)}")
        return metrics


class MetricComparison(Model):
    """One metric of the verdict: both models' values (paired when a comparison exists) and the rule applied."""

    model_config = ConfigDict(extra="ignore")

    name: str
    challenger: float
    champion: float | None = None
    delta: float | None = None  # challenger − champion
    low: float | None = None  # the confidence interval of delta (paired bootstrap)
    high: float | None = None
    direction: Literal["higher", "lower"] = "higher"
    role: Literal["primary", "guardrail", "floor", "info"] = "info"
    passed: bool | None = None


class RuleOutcome(Model):
    """One rule of the promotion policy as applied: pass or fail, with the numbers in `detail`."""

    rule: Literal[
        "floor",
        "comparison",
        "primary",
        "guardrail",
        "trusted",
        "label-shift",
        "shadow-errors",
        "shadow-latency",
        "shadow-agreement",
    ]
    metric: str | None = None
    passed: bool
    detail: str


class Verdict(Model):
    """The promotion policy's answer: promote or not, and why, rule by rule."""

    model_config = ConfigDict(extra="ignore")  # `reasons` is derived from `rules`

    promote: bool
    rules: list[RuleOutcome] = Field(default_factory=list)
    decided_by: str = ""  # the rule that decided: the first that failed, else the one that made the case
    comparisons: list[MetricComparison]
    champion_version: int | None = None
    challenger_version: int
    confidence: float | None = None
    paired_rows: int | None = None
    trusted_rows: int | None = None  # rows of the trusted set both models were scored on (issue 19)
    trusted_comparisons: list[MetricComparison] = Field(default_factory=list)  # both models on the trusted set
    trusted_set_version: int | None = None
    # "the new labels disagree with the live model": never promoted automatically, a person decides (issue 19).
    label_shift: str | None = None
    policy_version: int = 0  # the dataset's promotion policy version (0: the stack's parameters)
    note: str = ""  # why a real gain did not promote: interval width, rows per class, rows needed
    requires_approval: bool = False
    approval_timeout_seconds: int = 86400
    # The shadow stage (issue 23): what the challenger did on real requests before the swap; its rules are in `rules`.
    shadow: ShadowMeasurement | None = None
    shadow_note: str = ""  # why no shadow stage ran (ShadowMode off, no captures, no champion), or how it ended

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reasons(self) -> list[str]:
        """Each rule in one line, e.g. `primary f1: pass — +0.031 [+0.012, +0.050] …`."""
        return [
            f"{rule.rule}{' ' + rule.metric if rule.metric else ''}: {'pass' if rule.passed else 'FAIL'} "
            f"— {rule.detail}"
            for rule in self.rules
        ]


class ApprovalDecision(Model):
    """What SendTaskSuccess hands back to RequestApproval."""

    approved: bool
    actor: str
    comment: str = ""


class ModelVersion(Model):
    """A trained model version as the registry stores it."""

    version: int
    status: ModelStatus
    run_id: str
    dataset: str
    data_fingerprint: str
    content_fingerprint: str | None = None  # its training data's rows as a multiset (DataManifest)
    training_job_name: str
    model_data_url: str | None = None
    artifact_sha256: str | None = None  # of model.tar.gz; deployment refuses an artifact that differs
    # The S3 VersionId of model.tar.gz the digest was taken from (RegisterCandidate); deployment copies that version.
    artifact_version_id: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    confusion_matrix: list[list[int]] = Field(default_factory=list)
    eval_set: EvalSet | None = None
    comparison: PairedComparison | None = None
    trusted: TrustedEvaluation | None = None  # scored on the dataset's trusted set (issue 19)
    holdout_class_counts: dict[str, int] = Field(default_factory=dict)
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    train_rows: int | None = None
    test_rows: int | None = None
    n_train: int | None = None  # rows the model trained on, and was evaluated on (after the stable split)
    n_test: int | None = None
    training_seconds: int | None = None
    verdict: Verdict | None = None  # the promotion policy's verdict, rule by rule (CompareWithChampion)
    model_name: str | None = None
    endpoint_config_name: str | None = None
    failure_reason: str | None = None
    # Set when the version first goes live (PromoteModel); only such versions are rollback targets.
    was_live: bool = False
    live_since: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Run(Model):
    """One pipeline run (one Step Functions execution of the training pipeline)."""

    run_id: str
    status: RunStatus
    dataset: str
    trigger: TriggerSource
    source_fingerprint: str
    execution_arn: str | None = None
    version: int | None = None
    outcome: RunOutcome | None = None
    error: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    cost: RunCost | None = None  # what the run cost on AWS so far (recorded with its emails)
    same_as_version: int | None = None  # outcome UNCHANGED: the version trained on the same rows


class Approval(Model):
    """A pending human decision on a challenger; single use."""

    approval_id: str
    run_id: str
    version: int
    task_token: str
    status: ApprovalStatus = ApprovalStatus.PENDING
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    # Set before the pipeline is told (approvals.decide); the decision is recorded only after it was.
    claimed_decision: Literal["approve", "reject"] | None = None
    claimed_by: str | None = None


class AuditAction(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    ROLLBACK = "rollback"
    RETRAIN = "retrain"
    DEPLOY = "deploy"  # an operator overrules the verdict: deploys a version that never was live (issue 19)
    TRUSTED_SET = "trusted-set"  # a new version of a dataset's trusted evaluation set
    POLICY = "policy"  # a new version of a dataset's promotion policy


class AuditEntry(Model):
    """One decision that changes (or asks to change) what serves: who, when, from where, why."""

    audit_id: str
    at: datetime
    action: AuditAction
    actor: str = Field(description="Cognito email/username, IAM principal ARN, or 'email link'")
    actor_id: str | None = Field(default=None, description="Cognito sub or IAM user id, when known")
    via: Literal["console", "operator", "email-link"]
    source_ip: str | None = None
    user_agent: str | None = None
    comment: str = ""
    run_id: str | None = None
    version: int | None = None
    detail: str = Field(default="", description="what the decision did (e.g. the execution it started)")


class BatchStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


BATCH_ID_PATTERN = r"^\d{8}T\d{6}Z-[0-9a-f]{10}$"  # batch.batch_id: upload time, then a digest of key + sequencer


class BatchJobRecord(Model):
    """One batch file's scoring (BatchPipeline), as its steps recorded it: what GET /batch lists (issue 22)."""

    batch_id: str = Field(pattern=BATCH_ID_PATTERN)
    name: str
    input_uri: str = Field(description="the uploaded file, s3://<data bucket>/batch/<name>.csv")
    input_version: str | None = Field(default=None, description="the S3 version of the file that was scored")
    status: BatchStatus
    received_at: datetime = Field(description="when S3 reported the upload")
    updated_at: datetime = Field(default_factory=utcnow)
    rows: int | None = None
    version: int | None = Field(default=None, description="the model version that scores it (the champion)")
    job_name: str | None = Field(default=None, description="the SageMaker transform job")
    output_uri: str | None = Field(default=None, description="the scored file, s3://<data bucket>/batch-results/…")
    failure_reason: str | None = Field(default=None, description="why it failed; data problems name their rows")


class Champion(Model):
    """The pointer to the version that serves traffic."""

    version: int
    model_name: str
    endpoint_config_name: str
    promoted_at: datetime = Field(default_factory=utcnow)


# --------------------------------------------------------------------------------------------------
# State machine documents


class ValidationJob(Model):
    """ValidateData's Processing job (issue 24): a dataset of many parts, of Parquet, or over the Lambda's limit."""

    job_name: str
    snapshot_uri: str  # the pinned copy of the parts the job validates and the training job reads
    result_uri: str  # where the job writes result.json
    status: str = "InProgress"
    test_rows: int = 0  # test.csv is small: ValidateData checked it itself
    test_sha256: str | None = None
    test_content: str | None = None
    poll: PollState


class TrainingState(Model):
    """The document that flows through TrainingPipeline."""

    run: RunRequest
    validation: ValidationJob | None = None
    manifest: DataManifest | None = None
    training: TrainingJob | None = None
    candidate: ModelVersion | None = None
    verdict: Verdict | None = None
    decision: ApprovalDecision | None = None
    shadow: ShadowStage | None = None  # the shadow stage before the swap (issue 23)
    deployment: dict[str, object] | None = None
    error: StepError | None = None


class DeploymentRequest(Model):
    """Why and what to deploy: a freshly trained version, a manual promote, or a rollback."""

    version: int
    reason: Literal["training", "promote", "rollback"] = "training"
    run_id: str | None = None
    requested_by: str = "system"
    comment: str = Field(default="", max_length=500)  # a person overruling the verdict says why (issue 19)


class EndpointPlan(Model):
    endpoint_name: str
    model_name: str
    config_name: str
    previous_config: str | None = None
    previous_version: int | None = None
    endpoint_existed: bool


# `gone`: a Failed endpoint we deleted has disappeared (StartDeployment runs again and creates it);
# `reissue`: the endpoint settled somewhere other than the rollback's target (RollbackEndpoint runs again).
Outcome = Literal["pending", "healthy", "failed", "gone", "reissue"]


class EndpointStatus(Model):
    """Where the endpoint is relative to the config we want on it; the ASL's Choice reads `outcome`."""

    target_config: str | None = None
    status: str
    current_config: str | None = None
    failure_reason: str | None = None
    outcome: Outcome = "pending"
    recreate: bool = False  # deployment: we deleted a Failed endpoint and create it again once it is gone
    issues: int = 0  # rollback: how many times RollbackEndpoint ran (bounded by MAX_ROLLBACK_ISSUES)
    poll: PollState


class SmokeTestResult(Model):
    passed: bool
    detail: str
    latency_ms: float | None = None


class DeploymentState(Model):
    """The document that flows through DeploymentPipeline."""

    request: DeploymentRequest
    plan: EndpointPlan | None = None
    endpoint: EndpointStatus | None = None
    smoke: SmokeTestResult | None = None
    rollback: EndpointStatus | None = None
    failure: str | None = None  # why the new version did not go live; the Fail state's cause
    error: StepError | None = None
    # Step Functions adds this to a nested execution's input; accepting it keeps `extra=forbid` strict.
    started_by: str | None = Field(default=None, alias="AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID")


class NotificationKind(StrEnum):
    APPROVAL_REQUEST = "approval_request"
    COMPARISON = "comparison"
    REJECTED = "rejected"
    DEPLOYED = "deployed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    DRIFT = "drift"
    BATCH = "batch"
