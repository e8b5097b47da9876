"""The training pipeline's steps: validate → train → poll → evaluate → register → compare → record."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from typing import Any

from challenger_core import artifacts, sizing
from challenger_core import trusted as trusted_sets
from challenger_core.adapters.sagemaker import SPOT_WAIT_FACTOR, SageMaker, TrainingSpec
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
    TrustedEvaluation,
    TrustedSet,
    utcnow,
)
from challenger_core.naming import sagemaker_name
from challenger_core.policy import PromotionPolicy
from challenger_core.recipe import RecipeSpec
from challenger_core.registry import Registry
from challenger_core.settings import Settings
from challenger_core.validation import DatasetSummary, clip, validate_stream

EVALUATION_FILE = "evaluation.json"


def validate_data(state: TrainingState, storage: Storage, recipe: RecipeSpec) -> TrainingState:
    """Check the dropped train (and optional test) CSV against the recipe's schema, streaming each file.

    The size is checked (HeadObject) before a byte is read; DataValidationError lists every problem found.
    """
    run = state.run
    problems: list[str] = []
    summaries: dict[str, DatasetSummary] = {}
    for role, key in (("train", run.train_key), ("test", run.test_key)):
        if key is None:
            continue
        info = storage.info(run.data_bucket, key)
        if info is None:
            problems.append(f"{role} file s3://{run.data_bucket}/{clip(key, 200)} does not exist")
            continue
        try:
            with storage.open(run.data_bucket, key) as body:
                summaries[role] = validate_stream(
                    body, recipe.data_schema, source=f"{role} file {clip(key, 200)}", size=info.size, role=role
                )
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
        content_fingerprint=train.content + (f"+{test.content}" if test else ""),
        train_bytes=train.size,
    )
    return state


def same_rows_as(registry: Registry, dataset: str, content: str) -> int | None:
    """The newest version of `dataset` trained on exactly these rows (any order), if any: retraining on them would
    give a challenger that cannot win (0005), so nothing starts. A failed version does not count."""
    if not content:
        return None
    for model in registry.list_models():
        if (
            model.dataset == dataset
            and model.content_fingerprint == content
            and model.status not in (ModelStatus.FAILED, ModelStatus.TRAINING)
        ):
            return model.version
    return None


def job_name(settings: Settings, version: int, run_id: str) -> str:
    """The training job's name, unique per run and version (`naming.sagemaker_name`: `<stack>-<uid>-v<N>-<run>`)."""
    return sagemaker_name(
        settings.stack_name, settings.stack_uid, f"v{version}", re.sub(r"[^A-Za-z0-9]", "", run_id)[:15]
    )


def start_training(
    state: TrainingState,
    registry: Registry,
    sagemaker: SageMaker,
    settings: Settings,
    recipe: RecipeSpec,
    *,
    storage: Storage,
) -> TrainingState:
    """Allocate the version (once per run, so a retried task reuses it) and start the training job.

    The job runs the recipe bundle the publisher recorded, once its digest matches (artifacts.verified_bundle_url).
    The live champion's pinned archive goes in as the `champion` channel with its registered digest
    (`champion-sha256`, checked by the kit before anything of it runs): the job scores both models on the same
    unseen rows (recipes/kit), which is what the promotion policy compares.
    """
    assert state.manifest is not None, "ValidateData must run first"
    run = registry.get_run(state.run.run_id)
    if run.version is None and not state.run.force:
        same = same_rows_as(registry, state.run.dataset, state.manifest.content_fingerprint)
        if same is not None:
            state.manifest = state.manifest.model_copy(update={"same_as_version": same})
            return state  # the Unchanged? Choice ends the run: UNCHANGED, naming the version
    version = run.version if run.version is not None else registry.next_version()
    name = job_name(settings, version, state.run.run_id)
    champion = registry.get_champion()
    champion_model = registry.get_model(champion.version) if champion else None
    trusted = registry.get_trusted_set(state.run.dataset)  # scored by the job, never trained on (issue 19)
    if champion_model is not None and not champion_model.artifact_sha256:
        champion_model = None  # nothing to check its archive against: it is not handed to the job to run
    source_uri = artifacts.verified_bundle_url(storage, settings.artifact_bucket, settings.recipe)
    hyperparameters = {
        **recipe.hyperparameter_strings(),
        **settings.hyperparameters,
        "promotion-confidence": str(_confidence(registry, state.run.dataset, settings)),
        "bootstrap-samples": str(settings.bootstrap_samples),
    }
    if champion_model is not None:
        hyperparameters["champion-sha256"] = str(champion_model.artifact_sha256)
    if run.version is None:
        registry.update_run(run.run_id, version=version)
        registry.put_model(
            ModelVersion(
                version=version,
                status=ModelStatus.TRAINING,
                run_id=run.run_id,
                dataset=state.run.dataset,
                data_fingerprint=state.manifest.fingerprint,
                content_fingerprint=state.manifest.content_fingerprint or None,
                training_job_name=name,
                hyperparameters=hyperparameters,
                train_rows=state.manifest.train_rows,
                test_rows=state.manifest.test_rows,
            )
        )
    spec = TrainingSpec(
        job_name=name,
        image_uri=settings.training_image_uri,
        role_arn=settings.sagemaker_role_arn,
        instance_type=settings.training_instance_type,
        source_uri=source_uri,
        train_uri=state.manifest.train_uri,
        test_uri=state.manifest.test_uri,
        output_uri=f"s3://{settings.artifact_bucket}/training/",
        hyperparameters=hyperparameters,
        max_seconds=settings.max_training_seconds,
        use_spot=settings.use_spot_training,
        tags={"challenger:run": run.run_id, "challenger:version": str(version)},
        champion_uri=artifacts.pinned_model_url(settings.artifact_bucket, champion_model) if champion_model else None,
        trusted_uri=trusted.uri if trusted else None,
        # Large data streams (FastFile) rather than being copied first, onto a volume sized to it (sizing.py).
        train_input_mode=sizing.train_input_mode(state.manifest.train_bytes),
        volume_gb=sizing.volume_gb(state.manifest.train_bytes),
    )
    with contextlib.suppress(ConflictError):  # a retry after the job was created: it is already running
        sagemaker.start_training(spec)
    state.training = TrainingJob(
        job_name=name,
        version=version,
        hyperparameters=hyperparameters,
        champion_version=champion_model.version if champion_model else None,
        trusted_set_version=trusted.version if trusted else None,
        poll=PollState(max_attempts=training_polls(settings), wait_seconds=settings.poll_seconds),
    )
    return state


def _confidence(registry: Registry, dataset: str, settings: Settings) -> float:
    """The interval's confidence level: the dataset's policy version's, else the stack's PromotionConfidence."""
    chosen = registry.get_dataset_policy(dataset)
    return chosen.confidence if chosen is not None and chosen.confidence is not None else settings.promotion_confidence


# What a job spends outside its StoppingCondition: launching the instance, downloading the image and the data,
# uploading model.tar.gz, and stopping itself once the limit is reached.
POLL_MARGIN_SECONDS = 900


def training_polls(settings: Settings) -> int:
    """Polls enough to see the job end on its own: past MaxWaitTimeInSeconds (spot) or MaxRuntimeInSeconds with a
    margin, so the pipeline never gives up on a job SageMaker is still running (MaxPolls, if more, stands)."""
    if settings.poll_seconds <= 0:
        return settings.max_polls
    limit = settings.max_training_seconds * (SPOT_WAIT_FACTOR if settings.use_spot_training else 1)
    return max(settings.max_polls, -(-(limit + POLL_MARGIN_SECONDS) // settings.poll_seconds))


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
            "training_seconds": status.training_seconds,
            "billable_seconds": status.billable_seconds,
            "instance_type": status.instance_type,
            "spot": status.spot,
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
        raise DataValidationError([f"{EVALUATION_FILE} is not valid: {clip(str(exc), 500)}"], source=model_url) from exc
    state.training = state.training.model_copy(update={"output_data_url": output_url})
    comparison = evaluation.comparison
    champion = state.training.champion_version
    if comparison is not None:
        # Only a champion we handed the job counts; a comparison against anything else is not one.
        comparison = comparison.model_copy(update={"champion_version": champion}) if champion else None
    trusted = evaluation.trusted
    if trusted is not None:
        paired = trusted.comparison.model_copy(update={"champion_version": champion}) if trusted.comparison else None
        trusted = trusted.model_copy(
            update={"set_version": state.training.trusted_set_version, "comparison": paired if champion else None}
        )
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
        eval_set=evaluation.eval_set,
        comparison=comparison,
        trusted=trusted,
        holdout_class_counts=evaluation.holdout_class_counts,
        hyperparameters=state.training.hyperparameters,
        train_rows=state.manifest.train_rows,
        test_rows=state.manifest.test_rows,
        n_train=evaluation.n_train,
        n_test=evaluation.n_test,
        training_seconds=state.training.training_seconds,
    )
    return state


def register_candidate(state: TrainingState, registry: Registry, storage: Storage) -> TrainingState:
    """Store the evaluated model as STAGED with everything that explains it: metrics, the rows they were measured
    on, the paired comparison, training job, hyperparameters, data, and the artifact's SHA-256 and S3 VersionId —
    of the archive whose members are the files the training job hashed (artifacts.register_artifact)."""
    candidate = state.candidate
    assert candidate is not None and candidate.model_data_url, "Evaluate must run first"
    assert state.training is not None and state.training.output_data_url, "Evaluate must run first"
    sha256, version_id = artifacts.register_artifact(candidate.model_data_url, state.training.output_data_url, storage)
    fields: dict[str, Any] = {
        name: getattr(candidate, name)
        for name in (
            "model_data_url",
            "metrics",
            "confusion_matrix",
            "eval_set",
            "comparison",
            "trusted",
            "holdout_class_counts",
            "hyperparameters",
            "train_rows",
            "test_rows",
            "n_train",
            "n_test",
            "training_seconds",
            "data_fingerprint",
            "training_job_name",
        )
        if getattr(candidate, name) is not None
    }
    state.candidate = registry.update_model(
        candidate.version,
        status=ModelStatus.STAGED,
        artifact_sha256=sha256,
        artifact_version_id=version_id,
        **fields,
    )
    seed_trusted_set(state, registry, storage)
    return state


def seed_trusted_set(state: TrainingState, registry: Registry, storage: Storage) -> TrustedSet | None:
    """The first model of a dataset with no champion and no trusted set seeds the trusted set with its hold-out.

    With a champion already live and no trusted set (a stack from before issue 19), nothing is seeded: the new
    upload could be the bad one; an operator sets one (`challenger data push --test FILE --trusted`)."""
    candidate = state.candidate
    assert candidate is not None and state.training is not None and state.training.output_data_url
    dataset = state.run.dataset
    if registry.get_trusted_set(dataset) is not None or registry.get_champion() is not None:
        return None
    try:
        body = storage.read_tar_member(state.training.output_data_url, trusted_sets.HOLDOUT_FILE)
    except NotFoundError:
        return None  # a kit from before issue 19 writes no holdout.csv
    bucket = state.training.output_data_url.removeprefix("s3://").split("/", 1)[0]
    key = trusted_sets.trusted_key(dataset, 1)
    storage.write(bucket, key, body, "text/csv")
    seeded = TrustedSet(
        dataset=dataset,
        version=1,
        uri=f"s3://{bucket}/{key}",
        sha256=hashlib.sha256(body).hexdigest(),
        rows=max(body.count(b"\n") - 1, 0),
        source=f"the hold-out of v{candidate.version} (run {state.run.run_id})",
    )
    with contextlib.suppress(ConflictError):  # a retried task, or a concurrent first run: the first one stands
        registry.put_trusted_set(seeded)
    stored = registry.get_trusted_set(dataset)
    if stored is not None and stored.sha256 == seeded.sha256 and candidate.eval_set is not None:
        # Its hold-out is the set: its own figures are its trusted-set figures (one comparable history series).
        on_trusted = TrustedEvaluation(
            fingerprint=candidate.eval_set.fingerprint,
            rows=candidate.eval_set.rows,
            metrics=candidate.metrics,
            class_counts=candidate.holdout_class_counts,
            set_version=seeded.version,
        )
        state.candidate = registry.update_model(candidate.version, trusted=on_trusted)
    return seeded


def compare_with_champion(
    state: TrainingState, registry: Registry, policy: PromotionPolicy, approval_mode: str, approval_timeout: int
) -> TrainingState:
    """Pit the challenger against the live champion on their paired comparison; a loser is marked REJECTED."""
    assert state.candidate is not None, "RegisterCandidate must run first"
    policy = policy.for_dataset(registry.get_dataset_policy(state.run.dataset))
    champion = registry.get_champion()
    champion_model = registry.get_model(champion.version) if champion else None
    comparison = state.candidate.comparison
    trusted = state.candidate.trusted.comparison if state.candidate.trusted else None
    if champion_model is not None and comparison is not None:
        artifact = champion_model.artifact_sha256
        compared = comparison.champion_artifact_sha256
        if artifact and compared and artifact != compared:
            comparison = trusted = None  # scored against another artifact than the one serving: not a comparison
    verdict = policy.evaluate(
        state.candidate.metrics,
        challenger_version=state.candidate.version,
        champion_version=champion.version if champion else None,
        comparison=comparison,
        trusted=trusted,
        champion_recorded=champion_model.metrics if champion_model else None,
        class_counts=state.candidate.holdout_class_counts,
        trusted_missing=_trusted_missing(state.candidate),
    )
    state.verdict = verdict.model_copy(
        update={
            # A label-shift flag goes to a person in any approval mode (issue 19); it is never promoted by itself.
            "requires_approval": verdict.requires_approval or (verdict.promote and approval_mode == "manual"),
            "approval_timeout_seconds": approval_timeout,
            "trusted_set_version": state.candidate.trusted.set_version if state.candidate.trusted else None,
        }
    )
    if state.verdict.label_shift:
        state.candidate = registry.update_model(state.candidate.version, verdict=state.verdict)  # a person decides
    elif not verdict.promote:
        state.candidate = registry.update_model(
            state.candidate.version,
            status=ModelStatus.REJECTED,
            verdict=state.verdict,
            failure_reason=clip(
                "; ".join(r for r, rule in zip(verdict.reasons, verdict.rules, strict=True) if not rule.passed), 2000
            ),
        )
    elif approval_mode != "manual":
        state.candidate = registry.update_model(
            state.candidate.version, status=ModelStatus.APPROVED, verdict=state.verdict
        )
    else:
        state.candidate = registry.update_model(state.candidate.version, verdict=state.verdict)
    return state


def _trusted_missing(candidate: ModelVersion) -> str | None:
    """Why a job that had the dataset's trusted set did not compare the models on it (None: it did, or no set)."""
    trusted = candidate.trusted
    if trusted is None or trusted.comparison is not None:
        return None
    return (
        f"the dataset's trusted set (v{trusted.set_version}, {trusted.rows} rows) has no paired comparison: "
        f"{trusted.comparison_error or 'the job did not compare the champion on it'}"
    )


def record_outcome(
    state: TrainingState, outcome: RunOutcome, registry: Registry, sagemaker: SageMaker
) -> TrainingState:
    """Close the run: SUCCEEDED (deployed or rejected) or FAILED with the precise cause.

    A failed run stops its validation or training job if it is still running (e.g. the poll bound ran out): it
    would otherwise keep billing with nobody waiting for it.
    """
    run_id = state.run.run_id
    fields: dict[str, object] = {"outcome": outcome.value, "ended_at": utcnow()}
    if outcome is RunOutcome.FAILED:
        cause = state.error.message if state.error else "unknown failure"
        fields.update(status=RunStatus.FAILED.value, error=cause)
        if state.validation is not None and state.manifest is None:  # the validation poll bound ran out (issue 24)
            sagemaker.stop_processing(state.validation.job_name)
        if state.training is not None:
            sagemaker.stop_training(state.training.job_name)
            model = _find_model(registry, state.training.version)
            if model is not None and model.status in (ModelStatus.TRAINING, ModelStatus.STAGED, ModelStatus.APPROVED):
                registry.update_model(model.version, status=ModelStatus.FAILED, failure_reason=cause)
    else:
        fields["status"] = RunStatus.SUCCEEDED.value
        if outcome is RunOutcome.UNCHANGED and state.manifest is not None:
            fields["same_as_version"] = state.manifest.same_as_version
        shadow_rejected = state.shadow is not None and state.shadow.outcome == "rejected"  # recorded by JudgeShadow
        if outcome is RunOutcome.REJECTED and state.candidate is not None and state.decision and not shadow_rejected:
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
