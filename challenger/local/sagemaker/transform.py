"""Batch transform jobs: the model's container scoring S3 objects, as SageMaker Batch Transform does.

https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html: the platform starts the model's container,
reads every object under the input `S3Prefix`, splits it into mini-batches (`mini_batches`), POSTs each to
`/invocations` with the input `ContentType` and the output `Accept`, and writes the answers, in order, to
`<S3OutputPath>/<object name>.out` (`AssembleWith=Line` ends each with a newline). Compute exists only while the
job runs: the container stops when the job ends.
"""

from __future__ import annotations

import io
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from challenger.local.sagemaker import s3io
from challenger.local.sagemaker.hosting import ContainerSpec

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from challenger.local.sagemaker.service import BackendFactory, BackendLike

logger = logging.getLogger(__name__)

FAILURE_REASON_LIMIT = 1024


class TransformRun:
    """Runs one transform job to Completed or Failed on the calling thread (the service starts it on a worker)."""

    def __init__(
        self,
        description: dict[str, Any],
        spec: ContainerSpec,
        directory: Path,
        *,
        s3: S3Client,
        backend_factory: BackendFactory,
        env_cache: Path | None,
        health_timeout: float,
        stopping: threading.Event,
        lock: threading.RLock,
        save: Callable[[], None],
        fail_health: str | None = None,
    ) -> None:
        self.description = description
        self._spec = spec
        self._dir = directory
        self._s3 = s3
        self._backend_factory = backend_factory
        self._env_cache = env_cache
        self._health_timeout = health_timeout
        self._stopping = stopping
        self._lock = lock
        self._save = save
        self._fail_health = fail_health
        self._stop_reason: str | None = None

    def request_stop(self, reason: str) -> None:
        """Stop before the next mini-batch: `Stopped` (StopTransformJob), or, for "Shutdown", `Failed` as the
        service's restart records a job it lost."""
        self._stop_reason = reason

    def run(self) -> None:
        backend = self._backend_factory(self._spec, self._dir, self._env_cache)
        try:
            backend.start(
                self._s3, timeout=self._health_timeout, stopping=self._stopping, fail_health=self._fail_health
            )
        except Exception as exc:
            self._finish("Failed", f"ClientError: the model container did not start: {exc}")
            return
        status, reason = "Completed", None
        try:
            with self._lock:
                self.description["TransformStartTime"] = time.time()
            self._transform(backend)
        except _JobFailed as exc:
            status, reason = "Failed", str(exc)
        except _JobStopped:
            status, reason = "Stopped", None
            if self._stop_reason == "Shutdown":
                status, reason = (
                    "Failed",
                    "InternalServerError: the local SageMaker service stopped while the job was running",
                )
        except Exception as exc:  # the platform failed, not the model
            logger.exception("transform job %s: local SageMaker error", self.description["TransformJobName"])
            status, reason = "Failed", f"InternalServerError: {exc}"
        finally:
            backend.terminate()  # the job's compute is gone before the job says it ended
        self._finish(status, reason)

    def _transform(self, backend: BackendLike) -> None:
        request = self.description
        source = request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        output = request["TransformOutput"]["S3OutputPath"].rstrip("/")
        self._dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self._dir) as tmp:
            count = s3io.download_prefix(self._s3, source, Path(tmp))
            if count == 0:
                raise _JobFailed(
                    f'ClientError: No S3 objects found under S3 URL "{source}" given in input data source.'
                )
            for path in sorted(p for p in Path(tmp).rglob("*") if p.is_file()):
                relative = path.relative_to(tmp).as_posix()
                answers = [self._invoke(backend, relative, batch) for batch in mini_batches(path.read_bytes(), request)]
                bucket, key = s3io.split_uri(f"{output}/{relative}.out")
                self._s3.put_object(Bucket=bucket, Key=key, Body=b"".join(answers))

    def _invoke(self, backend: BackendLike, name: str, body: bytes) -> bytes:
        request = self.description
        headers = {"Content-Type": request["TransformInput"].get("ContentType", "application/octet-stream")}
        accept = request["TransformOutput"].get("Accept")
        if accept:
            headers["Accept"] = accept
        if self._stop_reason is not None:
            raise _JobStopped
        if not backend.acquire():
            raise _JobFailed("InternalServerError: the model container stopped during the job")
        try:
            status, payload, _ = backend.invoke(body, headers)
        except OSError as exc:
            raise _JobFailed(f"ClientError: the model container could not be reached: {exc}") from exc
        finally:
            backend.release()
        if status >= 400:
            message = payload.decode("utf-8", errors="replace")
            # No CloudWatch here: the container's answer goes into the reason instead of "see the logs".
            raise _JobFailed(f"ClientError: {name}: the model container answered {status}: {message}")
        if request["TransformOutput"].get("AssembleWith", "None") == "Line" and not payload.endswith(b"\n"):
            payload += b"\n"
        return payload

    def _finish(self, status: str, reason: str | None) -> None:
        with self._lock:
            self.description.update(TransformJobStatus=status, TransformEndTime=time.time())
            if reason is not None:
                self.description["FailureReason"] = reason[:FAILURE_REASON_LIMIT]
        self._save()
        logger.info(
            "transform job %s: %s%s", self.description["TransformJobName"], status, f" ({reason})" if reason else ""
        )


def mini_batches(data: bytes, job: dict[str, Any]) -> Iterator[bytes]:
    """One object's request bodies, per the TransformInput / CreateTransformJob API reference: `SplitType=Line`
    splits "on a newline character boundary" (0x0A, inside CSV quotes too; CR is none), `MultiRecord` sends "the
    maximum number of records in each request, up to the MaxPayloadInMB limit" (0: no limit), `SingleRecord` one
    each, and a record over MaxPayloadInMB fails the job. Blank lines are skipped (undocumented; none are sent)."""
    if job["TransformInput"].get("SplitType", "None") != "Line":
        yield data
        return
    max_payload_mb = int(job.get("MaxPayloadInMB", 6))  # the API's default
    limit = max_payload_mb * 1024 * 1024 or len(data)
    batch: list[bytes] = []
    size = 0
    for n, record in enumerate(io.BytesIO(data), start=1):  # lines end at b"\n" only, each with its line break
        if not record.strip():
            continue
        if len(record) > limit:
            raise _JobFailed(f"ClientError: record {n} is {len(record):,} bytes, over MaxPayloadInMB={max_payload_mb}")
        if batch and (job.get("BatchStrategy") == "SingleRecord" or size + len(record) > limit):
            yield b"".join(batch)
            batch, size = [], 0
        batch.append(record)
        size += len(record)
    if batch:
        yield b"".join(batch)


class _JobFailed(Exception):
    """The job fails with this FailureReason."""


class _JobStopped(Exception):
    """The job was asked to stop (`request_stop`)."""
