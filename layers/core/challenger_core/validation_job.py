"""ValidateData's SageMaker Processing job (issue 24): validation where the data is.

A single train.csv up to `validation.MAX_BYTES` is validated by the function itself. A dataset of many parts, of
Parquet, or a larger file is validated by a Processing job in the framework image, running the very same module
(`python -m challenger_core.validation`, shipped as files the job imports: `CODE_FILES`, content-addressed under
`validation/code/<sha256>/`), streaming each part (CSV in chunks, Parquet a row-group batch at a time) with the same
bounded messages naming the part and its line or row group.

What the job reads is what training reads: before the job starts, every part is copied server-side from the
VersionId the trigger pinned into `datasets/<run>/train/` of the artifact bucket (only the pipeline writes there),
and the training job's `train` channel is that prefix. A part replaced in the data bucket after the marker was
handled changes nothing in the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
from pathlib import Path

from challenger_core import validation
from challenger_core.adapters.sagemaker import ProcessingInput, ProcessingSpec, SageMaker
from challenger_core.adapters.storage import Storage
from challenger_core.errors import ConflictError, DataValidationError
from challenger_core.models import DataManifest, DataPart, PollState, TrainingState, ValidationJob
from challenger_core.naming import sagemaker_name
from challenger_core.recipe import RecipeSpec
from challenger_core.settings import Settings
from challenger_core.training import training_polls
from challenger_core.validation import DatasetSummary, clip, validate_stream

CODE_FILES = ("__init__.py", "errors.py", "temporal.py", "validation.py")  # all validation.py imports of the core
PROCESSING = "/opt/ml/processing"
MAX_RESULT_BYTES = 64 * 1024  # result.json: counts and at most MAX_MESSAGE_CHARS of problems
_PACKAGE = Path(__file__).resolve().parent


def needs_job(state: TrainingState, storage: Storage) -> bool:
    """Whether the dataset is validated by the Processing job: many parts (Parquet is always a set), or a single
    file over the function's limit."""
    run = state.run
    if run.train_parts:
        return True
    info = storage.info(run.data_bucket, run.train_key)
    return info is not None and info.size > validation.MAX_BYTES


def start(
    state: TrainingState, storage: Storage, sagemaker: SageMaker, settings: Settings, recipe: RecipeSpec
) -> TrainingState:
    """Pin the parts, stage the job's code and request, and start the job (safe to retry: same names, same bytes).

    test.csv, small by nature, is validated here, so a bad one fails before a job is paid for.
    """
    run = state.run
    test = _validate_test(state, storage, recipe)
    parts = run.train_parts or [_single_part(storage, run.data_bucket, run.train_key)]
    bucket = settings.artifact_bucket
    snapshot = f"datasets/{run.run_id}/train/"
    files = []
    for index, part in enumerate(parts):
        name = f"part-{index:05d}{'.parquet' if part.key.endswith('.parquet') else '.csv'}"
        storage.copy_version(run.data_bucket, part.key, part.version_id, bucket, snapshot + name)
        files.append({"file": name, "name": part.key.removeprefix(f"incoming/{run.dataset}/")})
    code = publish_code(storage, bucket)
    runs = f"validation/runs/{run.run_id}/"
    request = {
        "schema": recipe.data_schema.model_dump(mode="json"),
        "source": f"dataset '{run.dataset}'",
        "role": "train",
        "parts": files,
    }
    storage.write(bucket, runs + "request/request.json", json.dumps(request).encode(), "application/json")
    spec = processing_spec(
        job_name(settings, run.run_id),
        settings,
        bucket=bucket,
        code=code,
        runs=runs,
        snapshot=snapshot,
        size=sum(part.size for part in parts),
    )
    with contextlib.suppress(ConflictError):  # a retry after the job was created: it is already running
        sagemaker.start_processing(spec)
    state.validation = ValidationJob(
        job_name=spec.job_name,
        snapshot_uri=f"s3://{bucket}/{snapshot}",
        result_uri=f"{spec.output_uri}result.json",
        test_rows=test.rows if test else 0,
        test_sha256=test.sha256 if test else None,
        test_content=test.content if test else None,
        poll=PollState(max_attempts=training_polls(settings), wait_seconds=settings.poll_seconds),
    )
    return state


def check(state: TrainingState, storage: Storage, sagemaker: SageMaker) -> TrainingState:
    """One poll of the job. Completed: its result becomes the manifest (or DataValidationError with the job's
    findings, as the function's own check raises); Failed or Stopped: DataValidationError with SageMaker's reason."""
    job = state.validation
    assert job is not None, "ValidateData must have started the job"
    status = sagemaker.processing_status(job.job_name)
    source = f"dataset '{state.run.dataset}'"
    if status.status in ("Failed", "Stopped"):
        reason = status.exit_message or status.failure_reason or f"the job ended {status.status}"
        raise DataValidationError(
            [f"the validation job {job.job_name} {status.status.lower()}: {clip(reason, 600)}"], source=source
        )
    state.validation = job.model_copy(update={"status": status.status, "poll": job.poll.next()})
    if status.status != "Completed":
        return state
    bucket, key = job.result_uri.removeprefix("s3://").split("/", 1)
    result = json.loads(storage.read(bucket, key, max_bytes=MAX_RESULT_BYTES))
    if not result.get("valid"):
        raise DataValidationError([str(p) for p in result.get("problems", [])][:20], source=source)
    run = state.run
    state.manifest = DataManifest(
        dataset=run.dataset,
        train_uri=job.snapshot_uri,
        test_uri=f"s3://{run.data_bucket}/{run.test_key}" if run.test_key else None,
        train_rows=int(result["rows"]),
        test_rows=job.test_rows,
        class_counts={str(k): int(v) for k, v in result["class_counts"].items()},
        fingerprint=str(result["sha256"]) + (f"+{job.test_sha256}" if job.test_sha256 else ""),
        content_fingerprint=str(result["content"]) + (f"+{job.test_content}" if job.test_content else ""),
        train_bytes=int(result.get("size", 0)),  # the set's bytes: StartTraining sizes the job by it (sizing.py)
    )
    return state


def processing_spec(
    name: str, settings: Settings, *, bucket: str, code: str, runs: str, snapshot: str, size: int
) -> ProcessingSpec:
    """The job: `python -m challenger_core.validation REQUEST DATA OUTPUT` in the training image, without network,
    its code, request and the pinned parts as inputs, result.json uploaded under `runs`result/<job>/."""
    return ProcessingSpec(
        job_name=name,
        image_uri=settings.training_image_uri,
        role_arn=settings.sagemaker_role_arn,
        instance_type=settings.training_instance_type,
        volume_gb=max(30, -(-size * 2 // 1024**3) + 10),  # the parts, and room to spare
        entrypoint=["python3", "-m", "challenger_core.validation"],
        arguments=[f"{PROCESSING}/input/request/request.json", f"{PROCESSING}/input/data", f"{PROCESSING}/output"],
        environment={"PYTHONPATH": f"{PROCESSING}/input/code", "PYTHONDONTWRITEBYTECODE": "1"},
        inputs=[
            ProcessingInput("code", f"s3://{bucket}/{code}", f"{PROCESSING}/input/code/challenger_core"),
            ProcessingInput("request", f"s3://{bucket}/{runs}request/", f"{PROCESSING}/input/request"),
            ProcessingInput("data", f"s3://{bucket}/{snapshot}", f"{PROCESSING}/input/data"),
        ],
        output_uri=f"s3://{bucket}/{runs}result/{name}/",
        output_path=f"{PROCESSING}/output",
        max_seconds=settings.max_training_seconds,
    )


def job_name(settings: Settings, run_id: str) -> str:
    """`<stack>-<uid>-val-<run>`: one job per run (a retried start finds it: ConflictError)."""
    return sagemaker_name(settings.stack_name, settings.stack_uid, "val", re.sub(r"[^A-Za-z0-9]", "", run_id)[:24])


def code_digest() -> str:
    """SHA-256 of the job's code: each file's name and bytes, in CODE_FILES order."""
    digest = hashlib.sha256()
    for name in CODE_FILES:
        data = (_PACKAGE / name).read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def publish_code(storage: Storage, bucket: str) -> str:
    """The job's code under `validation/code/<sha256>/` (the key prefix the job's `code` input names): written
    once per digest, each file with its own SHA-256 for S3 to check (put_checked); only ValidateData writes there."""
    prefix = f"validation/code/{code_digest()}/"
    if storage.info(bucket, prefix + CODE_FILES[-1]) is None:
        for name in CODE_FILES:
            data = (_PACKAGE / name).read_bytes()
            storage.put_checked(bucket, prefix + name, io.BytesIO(data), sha256=hashlib.sha256(data).hexdigest())
    return prefix


def _single_part(storage: Storage, bucket: str, key: str) -> DataPart:
    info = storage.info(bucket, key)
    if info is None:
        raise DataValidationError([f"train file s3://{bucket}/{clip(key, 200)} does not exist"])
    return DataPart(key=key, version_id=info.version_id, etag=info.etag, size=info.size)


def _validate_test(state: TrainingState, storage: Storage, recipe: RecipeSpec) -> DatasetSummary | None:
    run = state.run
    if run.test_key is None:
        return None
    info = storage.info(run.data_bucket, run.test_key)
    if info is None:
        raise DataValidationError([f"test file s3://{run.data_bucket}/{clip(run.test_key, 200)} does not exist"])
    with storage.open(run.data_bucket, run.test_key, version_id=info.version_id) as body:
        return validate_stream(
            body, recipe.data_schema, source=f"test file {clip(run.test_key, 200)}", size=info.size, role="test"
        )
