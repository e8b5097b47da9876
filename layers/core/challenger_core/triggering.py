"""From an upload, the schedule or an API call to one training pipeline execution.

Duplicates never start a second run: the trigger function is idempotent on the event id, the run id is a
function of the event (its time, the dataset and the data's fingerprint), and the execution is named after
the run, which Step Functions refuses to start twice. Every step is safe to retry: the run is recorded
before its execution starts but counts as started only once its execution ARN is recorded, so a failed or
lost StartExecution is retried by the next delivery instead of being skipped as "unchanged".
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from challenger_core.adapters.storage import Storage
from challenger_core.adapters.workflow import Workflow
from challenger_core.errors import ConflictError, DataValidationError, NotFoundError
from challenger_core.models import Run, RunRequest, RunStatus, TriggerSource, utcnow
from challenger_core.registry import Registry
from challenger_core.settings import Settings

INCOMING = "incoming/"
TRAIN_FILE = "train.csv"
TEST_FILE = "test.csv"
_DATASET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class TriggerResult:
    started: bool
    run_id: str | None
    reason: str
    execution_arn: str | None = None


def dataset_of(key: str) -> str:
    """`incoming/<dataset>/train.csv` → `<dataset>`; anything else is not a training drop."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] + "/" != INCOMING or parts[2] != TRAIN_FILE:
        raise DataValidationError(
            [f"not a training drop: expected s3://<bucket>/{INCOMING}<dataset>/{TRAIN_FILE}, got {key!r}"]
        )
    if not _DATASET.fullmatch(parts[1]):  # fullmatch: "$" would let a trailing newline through
        raise DataValidationError(
            [f"dataset name {parts[1]!r} must be 1-40 letters, digits, '-' or '_' and start with a letter or digit"]
        )
    return parts[1]


def source_fingerprint(train_etag: str, test_etag: str | None) -> str:
    """Identity of the dropped data as S3 reports it (content ETags), cheap to compute on every event."""
    return hashlib.sha256(f"{train_etag}|{test_etag or ''}".encode()).hexdigest()


def new_run_id(dataset: str, fingerprint: str, at: datetime | None = None, *, force: bool = False) -> str:
    """Time-sortable, unique, and a legal execution name (≤ 80 chars, `[0-9A-Za-z_-]`).

    An unforced run's id is deterministic — `at` is the triggering event's time — so a duplicate, redelivered
    or retried event maps to the same execution name and Step Functions refuses a second one. A forced run is
    a deliberate second run on the same data: a random suffix keeps two forced requests within the same second
    from sharing an id (and one overwriting the other).
    """
    run_id = f"{(at or utcnow()):%Y%m%dT%H%M%SZ}-{dataset}-{fingerprint[:8]}"
    return f"{run_id}-{secrets.token_hex(3)}" if force else run_id


def is_training_drop(key: str) -> bool:
    """Whether a key is `incoming/<dataset>/train.csv` with a valid dataset name."""
    try:
        dataset_of(key)
    except DataValidationError:
        return False
    return True


def latest_dataset(storage: Storage, bucket: str) -> str:
    """The dataset whose train.csv changed last (what the schedule retrains on).

    Keys that are not training drops (a stray file, a nested folder, a name the trigger refuses) are skipped:
    one malformed upload must not stop every scheduled retrain.
    """
    drops = [o for o in storage.list(bucket, INCOMING) if is_training_drop(o.key)]
    if not drops:
        raise NotFoundError(f"no dataset under s3://{bucket}/{INCOMING}: upload {INCOMING}<dataset>/{TRAIN_FILE}")
    return dataset_of(max(drops, key=lambda o: o.last_modified).key)


def prepare_run(
    storage: Storage,
    bucket: str,
    dataset: str,
    trigger: TriggerSource,
    *,
    requested_by: str = "system",
    force: bool = False,
    at: datetime | None = None,
) -> RunRequest:
    """Look up the dataset's files and build the run request (test.csv is optional).

    `at`: when the event happened (EventBridge's `time`); the run id and request are then the same on every
    delivery of that event, which makes StartExecution idempotent too.
    """
    train_key = f"{INCOMING}{dataset}/{TRAIN_FILE}"
    train = storage.info(bucket, train_key)
    if train is None:
        raise NotFoundError(f"s3://{bucket}/{train_key} does not exist")
    test = storage.info(bucket, f"{INCOMING}{dataset}/{TEST_FILE}")
    fingerprint = source_fingerprint(train.etag, test.etag if test else None)
    at = (at or utcnow()).astimezone(UTC).replace(microsecond=0)
    return RunRequest(
        run_id=new_run_id(dataset, fingerprint, at, force=force),
        requested_at=at,
        dataset=dataset,
        trigger=trigger,
        data_bucket=bucket,
        train_key=train_key,
        test_key=test.key if test else None,
        source_fingerprint=fingerprint,
        requested_by=requested_by,
        force=force,
    )


def already_trained(registry: Registry, request: RunRequest) -> Run | None:
    """Another started-and-running or successful run of the same dataset on the same data, if any.

    Failed runs don't count, and neither does a run whose execution never started (no ARN recorded): that is
    this request's own earlier attempt, or one whose StartExecution failed, and must be started, not skipped.
    """
    for run in registry.list_runs(limit=200):
        if (
            run.dataset == request.dataset
            and run.source_fingerprint == request.source_fingerprint
            and (run.status is RunStatus.SUCCEEDED or (run.status is RunStatus.RUNNING and run.execution_arn))
        ):
            return run
    return None


def start_run(request: RunRequest, registry: Registry, workflow: Workflow, settings: Settings) -> TriggerResult:
    """Record the run, start its execution (named after the run), then record the execution's ARN.

    A fault at any of the three calls leaves a state the next attempt finishes: the run record is created
    once (conditional put), StartExecution with the same name and input is idempotent (and a finished
    execution of that name is ExecutionAlreadyExists, whose ARN we know), and the ARN update is a plain SET.
    The execution's first task reads the run, so it is recorded before the execution starts.
    """
    if not request.force:
        previous = already_trained(registry, request)
        if (
            previous is not None
            and previous.run_id == request.run_id
            and previous.trigger == request.trigger
            and request.trigger is not TriggerSource.API  # an API request's id has the clock: a second one is new
        ):
            # This very run, started by an earlier attempt of this event (its answer was lost).
            return TriggerResult(
                started=True, run_id=request.run_id, reason="started", execution_arn=previous.execution_arn
            )
        if previous is not None:
            return TriggerResult(
                started=False,
                run_id=previous.run_id,
                reason=f"dataset '{request.dataset}' unchanged since run {previous.run_id} ({previous.status.value})"
                + (f": the same files v{previous.version} was trained on" if previous.version is not None else "")
                + "; nothing started (force a retrain with `challenger runs start --force`)",
            )
    # A conflict is an earlier attempt of this very request: the execution name below decides whether it starts.
    with contextlib.suppress(ConflictError):
        registry.put_run(
            Run(
                run_id=request.run_id,
                status=RunStatus.RUNNING,
                dataset=request.dataset,
                trigger=request.trigger,
                source_fingerprint=request.source_fingerprint,
                started_at=request.requested_at,
            ),
            create=True,  # never overwrite another run's record
        )
    try:
        arn = workflow.start(settings.training_pipeline_arn, request.run_id, {"run": request.model_dump(mode="json")})
    except ConflictError:
        # Started by an earlier attempt whose answer was lost; Step Functions never runs a name twice.
        arn = workflow.execution_arn(settings.training_pipeline_arn, request.run_id)
    registry.update_run(request.run_id, execution_arn=arn)
    return TriggerResult(started=True, run_id=request.run_id, reason="started", execution_arn=arn)
