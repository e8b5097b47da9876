"""Batch scoring: a file dropped under `batch/` is scored by the champion with a SageMaker Batch Transform job.

BatchPipeline (statemachine/batch_pipeline.asl.json): StartBatch → [Wait → CheckBatch]* → FinishBatch, any
failure → FailBatch (stop the job, email the cause) → Fail. The live endpoint is never involved: the transform
job runs the champion's SageMaker model on its own instance, which exists only while the job runs.

The job reads a features-only copy of the file (the recipe's feature columns in its order, no header), because
the serving code reads CSV rows positionally; FinishBatch joins the predictions back to the original rows and
writes `batch-results/<name>.out.csv` into the data bucket with the model version on every row.

Every read of the dropped file uses the S3 version the event names (#81: a file replaced mid-job must not get
another file's predictions). Batch Transform splits the job's input at every line break (`SplitType=Line`), so a
feature cell with a line break in it is refused instead of being cut into two records. Result cells that a
spreadsheet would run as a formula are neutralised (#78, OWASP "CSV Injection").
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from challenger_core import artifacts
from challenger_core.adapters.batch_transform import BatchTransform, TransformSpec
from challenger_core.adapters.storage import Storage, split_s3_uri
from challenger_core.errors import DataValidationError, NotFoundError, TrainingFailedError
from challenger_core.models import BatchJobRecord, BatchStatus, Model, PollState, StepError, utcnow
from challenger_core.naming import BATCH_PREFIX, sagemaker_name
from challenger_core.recipe import RecipeSpec
from challenger_core.registry import Registry
from challenger_core.settings import Settings
from challenger_core.validation import validate_stream

RESULTS_PREFIX = "batch-results/"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")
MAX_BATCH_BYTES = 100 * 1024 * 1024
VERSION_COLUMN = "model_version"
# OWASP "CSV Injection": a cell starting with one of these is run as a formula by spreadsheet applications.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class BatchScoringError(TrainingFailedError):
    """The transform job failed or its output does not match the input."""


class BatchRequest(Model):
    bucket: str
    key: str
    name: str
    sequencer: str
    # The uploaded object's S3 version (the event's `version-id`): every read of the file uses it.
    version_id: str | None = None
    # When S3 reported the upload (the event's `time`): the batch's id and its place in GET /batch start with it.
    received_at: datetime | None = None


class BatchJob(Model):
    job_name: str
    version: int
    model_name: str
    input_uri: str
    output_uri: str
    rows: int
    status: str = "InProgress"
    failure_reason: str | None = None
    poll: PollState


class BatchResult(Model):
    output_uri: str
    rows: int
    version: int


class BatchState(Model):
    """The document that flows through BatchPipeline."""

    request: BatchRequest
    job: BatchJob | None = None
    result: BatchResult | None = None
    error: StepError | None = None


def batch_name(key: str) -> str:
    """`batch/<name>.csv` → `<name>`; anything else is refused with the expected layout."""
    name = key[len(BATCH_PREFIX) : -len(".csv")] if key.startswith(BATCH_PREFIX) and key.endswith(".csv") else ""
    if not _NAME.fullmatch(name):
        raise DataValidationError(
            [f"not a batch file: expected {BATCH_PREFIX}<name>.csv with a name of 1-60 letters, digits, '-' or '_'"],
            source=key,
        )
    return name


def request_from_event(detail: dict[str, Any], event_id: str, received_at: datetime | None = None) -> BatchRequest:
    """The S3 "Object Created" event's bucket, key and version (the sequencer tells two uploads of one key apart).

    `detail` is the event's detail as S3 sends it (`version-id`, present on a versioned bucket such as the data
    bucket: https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html).
    """
    key = str(detail["object"]["key"])
    version_id = detail["object"].get("version-id")
    return BatchRequest(
        bucket=str(detail["bucket"]["name"]),
        key=key,
        name=batch_name(key),
        sequencer=str(detail["object"].get("sequencer") or event_id),
        version_id=str(version_id) if version_id else None,
        received_at=received_at,
    )


def _digest(key: str, sequencer: str) -> str:
    return hashlib.sha256(f"{key}|{sequencer}".encode()).hexdigest()[:10]


def batch_id(key: str, sequencer: str, received_at: datetime | None) -> str:
    """The batch's id: the upload's time (GET /batch lists the newest upload first) and the digest that
    names its transform job; one upload, one id, however often a step is retried."""
    at = (received_at or datetime.fromtimestamp(0, UTC)).astimezone(UTC)
    return f"{at:%Y%m%dT%H%M%SZ}-{_digest(key, sequencer)}"


def job_record(state: BatchState, status: BatchStatus, failure_reason: str | None = None) -> BatchJobRecord:
    """What GET /batch shows of this batch now (each step records it whole; a retried step writes the same)."""
    request, job, result = state.request, state.job, state.result
    return BatchJobRecord(
        batch_id=batch_id(request.key, request.sequencer, request.received_at),
        name=request.name,
        input_uri=f"s3://{request.bucket}/{request.key}",
        input_version=request.version_id,
        status=status,
        received_at=request.received_at or utcnow(),
        rows=result.rows if result else job.rows if job else None,
        version=result.version if result else job.version if job else None,
        job_name=job.job_name if job else None,
        output_uri=result.output_uri if result else None,
        failure_reason=failure_reason,
    )


def failed_upload_record(
    detail: dict[str, Any], event_id: str, received_at: datetime | None, cause: str
) -> BatchJobRecord:
    """The record of an upload that failed before its job started (a file the recipe cannot read, no champion):
    its key may not even be a valid batch name, so it is named by the file."""
    key = str(detail["object"]["key"])
    sequencer = str(detail["object"].get("sequencer") or event_id)
    version_id = detail["object"].get("version-id")
    return BatchJobRecord(
        batch_id=batch_id(key, sequencer, received_at),
        name=key.rsplit("/", 1)[-1].removesuffix(".csv")[:60] or key[:60],
        input_uri=f"s3://{detail['bucket']['name']}/{key}",
        input_version=str(version_id) if version_id else None,
        status=BatchStatus.FAILED,
        received_at=received_at or utcnow(),
        failure_reason=cause,
    )


def _job_name(settings: Settings, request: BatchRequest) -> str:
    digest = _digest(request.key, request.sequencer)
    return sagemaker_name(settings.stack_name, settings.stack_uid, "batch", request.name[:16], digest)


def _lines(body: io.RawIOBase) -> Iterator[str]:
    """The streamed object as text lines with their line breaks (what csv.reader wants)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    for chunk in iter(lambda: body.read(256 * 1024), b""):
        pending += decoder.decode(chunk or b"")
        *complete, pending = pending.split("\n")
        yield from (line + "\n" for line in complete)
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def _rows(body: io.RawIOBase) -> Iterator[list[str]]:
    yield from csv.reader(_lines(body), strict=True)


def neutralise(cell: str) -> str:
    """A result cell a spreadsheet shows as text: one starting with = + - @ tab or CR gets a leading `'` (OWASP
    "CSV Injection"), unless it is a plain number such as -1.5, which stays a number."""
    if cell.startswith(FORMULA_LEADS) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def _line_breaks(rows: list[int], source: str) -> DataValidationError:
    shown = ", ".join(str(n) for n in rows[:5]) + (" ..." if len(rows) > 5 else "")
    return DataValidationError(
        [
            f"{len(rows)} row(s) have a line break inside a feature cell (data row(s) {shown}): Batch Transform "
            "splits its input at every line break (SplitType=Line), so such a row would be scored in pieces; "
            "replace the line breaks with spaces"
        ],
        source=source,
    )


def start_batch(
    state: BatchState,
    *,
    storage: Storage,
    registry: Registry,
    transform: BatchTransform,
    recipe: RecipeSpec,
    settings: Settings,
) -> BatchState:
    """Validate the file against the recipe's features, write the job's input, start the transform job."""
    request = state.request
    champion = registry.get_champion()
    if champion is None:
        raise NotFoundError("no model is live yet: a batch file is scored by the champion; deploy one first")
    # The transform runs the champion's SageMaker model, created from its pinned copy: that copy must still be the
    # registered bytes (issue 18, F1) before a job starts the champion's code on this file.
    artifacts.verify_pinned(registry.get_model(champion.version), storage, settings.artifact_bucket)
    source = f"batch file {request.key}"
    info = storage.info(request.bucket, request.key, version_id=request.version_id)
    if info is None:
        raise NotFoundError(f"s3://{request.bucket}/{request.key} does not exist")
    # No version in the event (an unversioned bucket): pin the one read now, so the three reads see one file.
    request = state.request = request.model_copy(update={"version_id": request.version_id or info.version_id})
    if info.size > MAX_BATCH_BYTES:
        raise DataValidationError([f"file is {info.size} bytes, over the {MAX_BATCH_BYTES} byte limit"], source=source)
    with storage.open(request.bucket, request.key, version_id=request.version_id) as body:
        summary = validate_stream(body, recipe.data_schema, source=source, size=info.size, role="batch")
    job_name = _job_name(settings, request)
    input_key = f"batch-jobs/{job_name}/input/{request.name}.csv"
    broken: list[int] = []
    with (
        storage.open(request.bucket, request.key, version_id=request.version_id) as body,
        tempfile.SpooledTemporaryFile(8 * 1024 * 1024) as out,
    ):
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        rows = _rows(body)
        header = [column.strip() for column in next(rows)]
        at = [header.index(feature.name) for feature in recipe.data_schema.features]
        n = 0
        for row in rows:
            if any(cell.strip() for cell in row):
                n += 1
                features = [row[i] for i in at]
                if any("\n" in cell or "\r" in cell for cell in features):
                    broken.append(n)
                writer.writerow(features)
        if broken:
            raise _line_breaks(broken, source)
        text.flush()
        text.detach()
        out.seek(0)
        storage.write(settings.artifact_bucket, input_key, out.read(), content_type="text/csv")
    output_uri = f"s3://{settings.artifact_bucket}/batch-jobs/{job_name}/output/"
    transform.start(
        TransformSpec(
            job_name=job_name,
            model_name=champion.model_name,
            input_uri=f"s3://{settings.artifact_bucket}/{input_key}",
            output_uri=output_uri,
            instance_type=settings.batch_instance_type,
            max_seconds=settings.max_training_seconds,
            tags={"challenger:batch": request.name, "challenger:version": str(champion.version)},
        )
    )
    state.job = BatchJob(
        job_name=job_name,
        version=champion.version,
        model_name=champion.model_name,
        input_uri=f"s3://{settings.artifact_bucket}/{input_key}",
        output_uri=output_uri,
        rows=summary.rows,
        poll=PollState(max_attempts=settings.max_polls, wait_seconds=settings.poll_seconds),
    )
    return state


def check_batch(state: BatchState, transform: BatchTransform) -> BatchState:
    """One poll of the transform job; Failed or Stopped raises with SageMaker's reason."""
    assert state.job is not None, "StartBatch must run first"
    status = transform.status(state.job.job_name)
    if status.status in ("Failed", "Stopped"):
        reason = status.failure_reason or f"the transform job ended {status.status}"
        raise BatchScoringError(f"batch transform job {state.job.job_name} {status.status.lower()}: {reason}")
    state.job = state.job.model_copy(
        update={"status": status.status, "failure_reason": status.failure_reason, "poll": state.job.poll.next()}
    )
    return state


def _predictions(raw: bytes) -> list[dict[str, Any]]:
    predictions: list[dict[str, Any]] = []
    for n, line in enumerate(raw.decode().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            predictions.extend(json.loads(line)["predictions"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BatchScoringError(f"transform output line {n} is not a prediction document: {line[:200]!r}") from exc
    return predictions


def finish_batch(state: BatchState, *, storage: Storage, recipe: RecipeSpec) -> BatchState:
    """Join the transform output to the original rows and write `batch-results/<name>.out.csv`."""
    assert state.job is not None, "StartBatch must run first"
    request, job = state.request, state.job
    bucket, prefix = split_s3_uri(job.output_uri)
    input_name = job.input_uri.rsplit("/", 1)[1]
    predictions = _predictions(storage.read(bucket, f"{prefix}{input_name}.out"))
    if len(predictions) != job.rows:
        raise BatchScoringError(f"the transform job returned {len(predictions)} prediction(s) for {job.rows} row(s)")
    fields = list(recipe.prediction.fields)
    result_key = f"{RESULTS_PREFIX}{request.name}.out.csv"
    with (
        storage.open(request.bucket, request.key, version_id=request.version_id) as body,
        tempfile.SpooledTemporaryFile(8 * 1024 * 1024) as out,
    ):
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        rows = _rows(body)
        header = next(rows)
        writer.writerow([neutralise(cell) for cell in [*header, *fields, VERSION_COLUMN]])
        scored = iter(predictions)
        for row in rows:
            if any(cell.strip() for cell in row):
                prediction = next(scored)
                cells = [*row, *(str(prediction.get(f, "")) for f in fields), str(job.version)]
                writer.writerow([neutralise(cell) for cell in cells])
        text.flush()
        text.detach()
        out.seek(0)
        storage.write(request.bucket, result_key, out.read(), content_type="text/csv")
    state.result = BatchResult(output_uri=f"s3://{request.bucket}/{result_key}", rows=job.rows, version=job.version)
    return state


def fail_batch(state: BatchState, transform: BatchTransform) -> str:
    """Stop a job nobody waits for any more; return the cause for the email and the Fail state."""
    if state.job is not None and state.job.status == "InProgress":
        transform.stop(state.job.job_name)
    return state.error.message if state.error else "unknown failure"
