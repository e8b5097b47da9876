"""From an upload, the schedule or an API call to one training pipeline execution.

Duplicates never start a second run: the trigger function is idempotent on the event id, the run id is a
function of the event (its time, the dataset and the data's fingerprint), and the execution is named after
the run, which Step Functions refuses to start twice. Every step is safe to retry: the run is recorded
before its execution starts but counts as started only once its execution ARN is recorded, so a failed or
lost StartExecution is retried by the next delivery instead of being skipped as "unchanged".

A dataset is `incoming/<dataset>/train.csv`, or a set of parts under `incoming/<dataset>/train/` (CSV or Parquet,
as Spark or Glue write them) whose marker — `_manifest.json` listing the parts, or `_SUCCESS` (every part
then) — starts one run for the whole set; a part alone starts nothing (issue 24). Each part is pinned by the
VersionId current when the marker was handled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from challenger_core.adapters.storage import Storage
from challenger_core.adapters.workflow import Workflow
from challenger_core.errors import ConflictError, DataValidationError, NotFoundError
from challenger_core.models import DataPart, Run, RunRequest, RunStatus, TriggerSource, utcnow
from challenger_core.registry import Registry
from challenger_core.settings import Settings

INCOMING = "incoming/"
TRAIN_FILE = "train.csv"
TEST_FILE = "test.csv"
TRAIN_SET = "train/"  # incoming/<dataset>/train/: a dataset of many parts
MANIFEST = "_manifest.json"  # {"parts": ["part-00000.csv", ...]}: names under train/, in reading order
SUCCESS = "_SUCCESS"  # Hadoop's output committer's marker (Spark, Glue, EMR): every part under train/
SET_MARKERS = (MANIFEST, SUCCESS)
PART_FORMATS = (".csv", ".parquet")
# A set's parts travel in the run request, which is in every state of the pipeline: Step Functions fails a state
# over 256 KB (States.DataLimitExceeded, uncatchable). A part is ~200 bytes there, so 500 parts stay under 100 KB;
# Spark writes 200 by default (spark.sql.shuffle.partitions). Each part is one CopyObject: at most 5 GB.
MAX_PARTS = 500
MAX_PART_BYTES = 5 * 1024**3
MAX_MANIFEST_BYTES = 1024 * 1024
_DATASET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_PART_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,254}$")


@dataclass(frozen=True)
class TriggerResult:
    started: bool
    run_id: str | None
    reason: str
    execution_arn: str | None = None


def dataset_of(key: str) -> str:
    """`incoming/<dataset>/train.csv` or `incoming/<dataset>/train/{_manifest.json,_SUCCESS}` → `<dataset>`;
    anything else (a part of a set included) is not a training drop."""
    parts = key.split("/")
    single = len(parts) == 3 and parts[2] == TRAIN_FILE
    marker = len(parts) == 4 and parts[2] + "/" == TRAIN_SET and parts[3] in SET_MARKERS
    if parts[0] + "/" != INCOMING or not (single or marker):
        raise DataValidationError(
            [
                f"not a training drop: expected s3://<bucket>/{INCOMING}<dataset>/{TRAIN_FILE} or a set's marker "
                f"{INCOMING}<dataset>/{TRAIN_SET}{MANIFEST} (or {SUCCESS}), got {key!r}"
            ]
        )
    if not _DATASET.fullmatch(parts[1]):  # fullmatch: "$" would let a trailing newline through
        raise DataValidationError(
            [f"dataset name {parts[1]!r} must be 1-40 letters, digits, '-' or '_' and start with a letter or digit"]
        )
    return parts[1]


def source_fingerprint(train_etag: str, test_etag: str | None) -> str:
    """Identity of the dropped data as S3 reports it (content ETags), cheap to compute on every event."""
    return hashlib.sha256(f"{train_etag}|{test_etag or ''}".encode()).hexdigest()


def set_etag(parts: list[DataPart]) -> str:
    """A set's ETag for `source_fingerprint`: its parts' names and ETags, in order (the same parts re-dropped with
    the same content give the same value; the marker's own bytes, a timestamp in Glue's _SUCCESS, do not count)."""
    return hashlib.sha256("\n".join(f"{p.key.rsplit('/', 1)[-1]}|{p.etag}" for p in parts).encode()).hexdigest()


def set_parts(storage: Storage, bucket: str, dataset: str, marker: str) -> list[DataPart]:
    """The parts of `incoming/<dataset>/train/`, in reading order, each with its current VersionId.

    `_manifest.json` names them (in its order; each must exist); `_SUCCESS` means every object of the prefix but
    hidden ones (`_` or `.` first, as Hadoop's input formats skip them), empty parts skipped, by name. Every part
    is `.csv` (with its header) or `.parquet`, all of one format.
    """
    prefix = f"{INCOMING}{dataset}/{TRAIN_SET}"
    source = f"s3://{bucket}/{prefix}"
    try:
        listed = storage.latest_versions(bucket, prefix, limit=MAX_PARTS + len(SET_MARKERS))
    except ValueError as exc:
        raise DataValidationError([f"a set has at most {MAX_PARTS:,} parts ({exc})"], source=source) from exc
    current = {o.key.removeprefix(prefix): o for o in listed if "/" not in o.key.removeprefix(prefix)}
    if marker == MANIFEST:
        names = _manifest_names(storage.read(bucket, prefix + MANIFEST, max_bytes=MAX_MANIFEST_BYTES), source)
        missing = [n for n in names if n not in current]
        if missing:
            shown = ", ".join(repr(n) for n in missing[:5]) + (", …" if len(missing) > 5 else "")
            raise DataValidationError([f"{len(missing)} part(s) of {MANIFEST} do not exist: {shown}"], source=source)
    else:
        names = sorted(n for n, o in current.items() if not n.startswith(("_", ".")) and o.size > 0)
    problems = []
    formats = {name[name.rfind(".") :] for name in names}
    if not names:
        problems.append(f"no parts: {marker} was dropped but there is no part beside it")
    elif not formats <= set(PART_FORMATS):
        odd = sorted(n for n in names if not n.endswith(PART_FORMATS))[:5]
        problems.append(f"parts must be .csv or .parquet: {', '.join(repr(n) for n in odd)}")
    elif len(formats) > 1:
        problems.append("parts must all be CSV or all Parquet, not both")
    big = [n for n in names if current[n].size > MAX_PART_BYTES]
    if big:
        problems.append(f"parts over {MAX_PART_BYTES:,} bytes (split them): {', '.join(repr(n) for n in big[:5])}")
    if problems:
        raise DataValidationError(problems, source=source)
    return [
        DataPart(key=current[n].key, version_id=current[n].version_id, etag=current[n].etag, size=current[n].size)
        for n in names
    ]


def _manifest_names(body: bytes, source: str) -> list[str]:
    try:
        document = json.loads(body)
        names = document["parts"]
        assert isinstance(names, list) and all(isinstance(n, str) for n in names)
    except (ValueError, KeyError, TypeError, AssertionError) as exc:
        raise DataValidationError(
            [f'{MANIFEST} must be {{"parts": ["part-00000.csv", ...]}} (names under {TRAIN_SET}): {exc!s:.80}'],
            source=source,
        ) from exc
    bad = [n for n in names if not _PART_NAME.fullmatch(n) or n in SET_MARKERS]
    if bad or len(set(names)) != len(names) or len(names) > MAX_PARTS:
        raise DataValidationError(
            [
                f"{MANIFEST} lists {len(names):,} part(s); names must be unique, at most {MAX_PARTS:,}, without '/' "
                f"(refused: {', '.join(repr(n[:40]) for n in bad[:5]) or 'duplicates'})"
            ],
            source=source,
        )
    return names


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
    """The dataset whose train.csv (or set marker) changed last (what the schedule retrains on).

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

    The dataset is its train.csv or its set of parts, whichever was dropped last (the set by its marker).
    `at`: when the event happened (EventBridge's `time`); the run id and request are then the same on every
    delivery of that event, which makes StartExecution idempotent too.
    """
    train_key = f"{INCOMING}{dataset}/{TRAIN_FILE}"
    train = storage.info(bucket, train_key)
    markers = [m for m in (storage.info(bucket, f"{INCOMING}{dataset}/{TRAIN_SET}{n}") for n in SET_MARKERS) if m]
    marker = max(markers, key=lambda m: m.last_modified, default=None)
    parts: list[DataPart] = []
    if marker is not None and (train is None or marker.last_modified >= train.last_modified):
        parts = set_parts(storage, bucket, dataset, marker.key.rsplit("/", 1)[-1])
        train_key, train_etag = f"{INCOMING}{dataset}/{TRAIN_SET}", set_etag(parts)
    elif train is None:
        raise NotFoundError(f"s3://{bucket}/{train_key} does not exist")
    else:
        train_etag = train.etag
    test = storage.info(bucket, f"{INCOMING}{dataset}/{TEST_FILE}")
    fingerprint = source_fingerprint(train_etag, test.etag if test else None)
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
        train_parts=parts,
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
