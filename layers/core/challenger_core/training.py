"""The training pipeline's steps: validate → train → poll → evaluate → register → compare → record."""

from __future__ import annotations

import contextlib
import json
import re

from challenger_core.adapters.sagemaker import SageMaker, TrainingSpec
from challenger_core.adapters.storage import Storage
from challenger_core.errors import ConflictError, DataValidationError, NotFoundError, TrainingFailedError
from challenger_core.models import (
    DataManifest,
    Evaluation,
    ModelStatus,
    ModelVersion,
    PollState,
    RunOutcome,
    RunStatus,
    TrainingJob,
    TrainingState,
    utcnow,
)
from challenger_core.policy import PromotionPolicy
from challenger_core.registry import Registry
from challenger_core.settings import Settings
from challenger_core.validation import validate_csv

EVALUATION_FILE = "evaluation.json"


def validate_data(state: TrainingState, storage: Storage) -> TrainingState:
    """Read the dropped train (and optional test) CSV and check it; DataValidationError says what is wrong."""
    run = state.run
    problems: list[str] = []
    summaries = {}
    for role, key in (("train", run.train_key), ("test", run.test_key)):
        if key is None:
            continue
        try:
            data = storage.read(run.data_bucket, key)
        except NotFoundError:
            problems.append(f"{role} file s3://{run.data_bucket}/{key} does not exist")
            continue
        try:
            summaries[role] = validate_csv(data, source=f"{role} file {key}", min_rows=5 if role == "test" else 20)
        except DataValidationError as exc:
            problems.append(str(exc))
    if problems:
        raise DataValidationError(problems, source=f"dataset '{run.dataset}'")
    train = summaries["train"]
    test = summaries.get("test")
    state.manifest = DataManifest(
        dataset=run.dataset,
        train_uri=f"s3://{run.data_bucket}/{run.train_key}",
        test_uri=f"s3://{run.data_bucket}/{run.test_key}" if run.test_key else None,
        train_rows=train.rows,
        test_rows=test.rows if test else 0,
        class_counts=train.class_counts,
        fingerprint=train.sha256 + (f"+{test.sha256}" if test else ""),
    )
    return state


def job_name(stack: str, version: int, run_id: str) -> str:
    """A SageMaker-legal (≤ 63 chars, [A-Za-z0-9-]) training job name, unique per run and version."""
    suffix = re.sub(r"[^A-Za-z0-9]", "", run_id)[:15]
    prefix = re.sub(r"[^A-Za-z0-9-]", "-", stack)[:30].strip("-")
    return f"{prefix}-v{version}-{suffix}"[:63].rstrip("-")


def start_training(state: TrainingState, registry: Registry, sagemaker: SageMaker, settings: Settings) -> TrainingState:
    """Allocate the version (once per run, so a retried task reuses it) and start the training job."""
    assert state.manifest is not None, "ValidateData must run first"
    run = registry.get_run(state.run.run_id)
    version = run.version if run.version is not None else registry.next_version()
    name = job_name(settings.stack_name, version, state.run.run_id)
    if run.version is None:
        registry.update_run(run.run_id, version=version)
        registry.put_model(
            ModelVersion(
                version=version,
                status=ModelStatus.TRAINING,
                run_id=run.run_id,
                dataset=state.run.dataset,
                data_fingerprint=state.manifest.fingerprint,
                training_job_name=name,
            )
        )
    spec = TrainingSpec(
        job_name=name,
        image_uri=settings.training_image_uri,
        role_arn=settings.sagemaker_role_arn,
        instance_type=settings.training_instance_type,
        source_uri=f"s3://{settings.artifact_bucket}/{settings.source_bundle_key}",
        train_uri=state.manifest.train_uri,
        test_uri=state.manifest.test_uri,
        output_uri=f"s3://{settings.artifact_bucket}/training/",
        hyperparameters=settings.hyperparameters,
        max_seconds=settings.max_training_seconds,
        use_spot=settings.use_spot_training,
        tags={"challenger:run": run.run_id, "challenger:version": str(version)},
    )
    with contextlib.suppress(ConflictError):  # a retry after the job was created: it is already running
        sagemaker.start_training(spec)
    state.training = TrainingJob(
        job_name=name,
        version=version,
        poll=PollState(max_attempts=settings.max_polls, wait_seconds=settings.poll_seconds),
    )
    return state


def check_training(state: TrainingState, sagemaker: SageMaker) -> TrainingState:
    """One poll of the training job; a Failed or Stopped job raises TrainingFailedError with SageMaker's reason."""
    assert state.training is not None, "StartTraining must run first"
    status = sagemaker.training_status(state.training.job_name)
    if status.status in ("Failed", "Stopped"):
        reason = status.failure_reason or f"the training job ended {status.status}"
        raise TrainingFailedError(f"training job {state.training.job_name} {status.status.lower()}: {reason}")
    state.training = state.training.model_copy(
        update={
            "status": status.status,
            "secondary_status": status.secondary_status,
            "model_data_url": status.model_data_url,
            "failure_reason": status.failure_reason,
            "poll": state.training.poll.next(),
        }
    )
    return state


def evaluate(state: TrainingState, storage: Storage) -> TrainingState:
    """Read the recipe's evaluation.json (from output.tar.gz, else model.tar.gz) into the candidate."""
    assert state.training is not None and state.training.model_data_url, "training must have completed"
    model_url = state.training.model_data_url
    output_url = model_url.rsplit("/", 1)[0] + "/output.tar.gz"
    raw: bytes | None = None
    for url in (output_url, model_url):
        try:
            raw = storage.read_tar_member(url, EVALUATION_FILE)
            break
        except NotFoundError:
            continue
    if raw is None:
        raise NotFoundError(f"the training job wrote no {EVALUATION_FILE} (looked in {output_url} and {model_url})")
    try:
        evaluation = Evaluation.model_validate(json.loads(raw))
    except ValueError as exc:
        raise DataValidationError([f"{EVALUATION_FILE} is not valid: {exc}"], source=model_url) from exc
    state.training = state.training.model_copy(update={"output_data_url": output_url})
    assert state.manifest is not None
    state.candidate = ModelVersion(
        version=state.training.version,
        status=ModelStatus.TRAINING,
        run_id=state.run.run_id,
        dataset=state.run.dataset,
        data_fingerprint=state.manifest.fingerprint,
        training_job_name=state.training.job_name,
        model_data_url=model_url,
        metrics=evaluation.metrics,
        confusion_matrix=evaluation.confusion_matrix,
    )
    return state


def register_candidate(state: TrainingState, registry: Registry) -> TrainingState:
    """Store the evaluated model as STAGED with its metrics (numbers) and artifact."""
    assert state.candidate is not None, "Evaluate must run first"
    state.candidate = registry.update_model(
        state.candidate.version,
        status=ModelStatus.STAGED,
        model_data_url=state.candidate.model_data_url,
        metrics=state.candidate.metrics,
        confusion_matrix=state.candidate.confusion_matrix,
    )
    return state


def compare_with_champion(
    state: TrainingState, registry: Registry, policy: PromotionPolicy, approval_mode: str, approval_timeout: int
) -> TrainingState:
    """Pit the challenger against the live champion; a losing challenger is marked REJECTED."""
    assert state.candidate is not None, "RegisterCandidate must run first"
    champion = registry.get_champion()
    champion_metrics = registry.get_model(champion.version).metrics if champion else None
    verdict = policy.evaluate(
        state.candidate.metrics,
        champion_metrics,
        challenger_version=state.candidate.version,
        champion_version=champion.version if champion else None,
    )
    state.verdict = verdict.model_copy(
        update={
            "requires_approval": verdict.promote and approval_mode == "manual",
            "approval_timeout_seconds": approval_timeout,
        }
    )
    if not verdict.promote:
        state.candidate = registry.update_model(
            state.candidate.version, status=ModelStatus.REJECTED, failure_reason="; ".join(verdict.reasons)
        )
    elif approval_mode != "manual":
        state.candidate = registry.update_model(state.candidate.version, status=ModelStatus.APPROVED)
    return state


def record_outcome(
    state: TrainingState, outcome: RunOutcome, registry: Registry, sagemaker: SageMaker
) -> TrainingState:
    """Close the run: SUCCEEDED (deployed or rejected) or FAILED with the precise cause.

    A failed run stops its training job if it is still running (e.g. the poll bound ran out): it would
    otherwise keep billing with nobody waiting for it.
    """
    run_id = state.run.run_id
    fields: dict[str, object] = {"outcome": outcome.value, "ended_at": utcnow()}
    if outcome is RunOutcome.FAILED:
        cause = state.error.message if state.error else "unknown failure"
        fields.update(status=RunStatus.FAILED.value, error=cause)
        if state.training is not None:
            sagemaker.stop_training(state.training.job_name)
            model = _find_model(registry, state.training.version)
            if model is not None and model.status in (ModelStatus.TRAINING, ModelStatus.STAGED, ModelStatus.APPROVED):
                registry.update_model(model.version, status=ModelStatus.FAILED, failure_reason=cause)
    else:
        fields["status"] = RunStatus.SUCCEEDED.value
        if outcome is RunOutcome.REJECTED and state.candidate is not None and state.decision is not None:
            reason = f"rejected by {state.decision.actor}" + (
                f": {state.decision.comment}" if state.decision.comment else ""
            )
            registry.update_model(state.candidate.version, status=ModelStatus.REJECTED, failure_reason=reason)
    registry.update_run(run_id, **fields)
    return state


def _find_model(registry: Registry, version: int) -> ModelVersion | None:
    try:
        return registry.get_model(version)
    except NotFoundError:
        return None
