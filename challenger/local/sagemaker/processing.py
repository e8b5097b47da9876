"""Processing jobs: the image's environment running the job's own entry point over its S3 inputs.

What CreateProcessingJob promises (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateProcessingJob.html,
https://docs.aws.amazon.com/sagemaker/latest/dg/build-your-own-processing-container.html): every `S3Input` (S3Prefix,
File mode) is copied to its `LocalPath` under /opt/ml/processing before `AppSpecification.ContainerEntrypoint`
runs with `ContainerArguments` and the job's `Environment`; with `NetworkConfig.EnableNetworkIsolation` the
container has no network; when the entry point exits 0 every file under each output's `LocalPath` is uploaded to its
`S3Uri` (EndOfJob) and the job is Completed, otherwise it is Failed ("AlgorithmError: ..."); `ExitMessage` is the
first KB of /opt/ml/output/message (https://docs.aws.amazon.com/sagemaker/latest/dg/byoc-metadata.html).

Like a training job (training.py, the same JobKind path in service.py), the data moves with the job's role, and the
entry point runs in the framework image's environment (images.py), here in its own mount namespace where the job
directory is /opt/ml (no Docker: `unshare` as hosting.py uses it), so the paths the job names are the real ones.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from challenger.local import iam
from challenger.local.sagemaker import images, s3io
from challenger.local.sagemaker.hosting import kill_group
from challenger.local.sagemaker.training import FAILURE_REASON_LIMIT, LOG_TAIL_LINES, STOP_GRACE_SECONDS

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

logger = logging.getLogger(__name__)

PROCESSING_ROOT = "/opt/ml/processing/"
DEFAULT_MAX_RUNTIME = 86_400  # StoppingCondition.MaxRuntimeInSeconds when none is given (one day)
_POLL_SECONDS = 0.1
# The container's /opt is its own tmpfs (nothing of the host's /opt shows); the job directory is its /opt/ml.
_LAUNCH = r"""
set -eu
ml=$1
shift
mount -t tmpfs -o mode=0755 container-opt /opt
mkdir -p /opt/ml
mount --bind "$ml" /opt/ml
cd /
exec "$@"
"""


class _Stopped(Exception):
    pass


class ProcessingRun:
    """Runs one processing job to Completed, Failed or Stopped on the calling thread (the service's worker)."""

    def __init__(
        self,
        description: dict[str, Any],
        job_dir: Path,
        *,
        s3: S3Client,
        env_cache: Path | None,
        lock: threading.RLock,
        save: Callable[[], None],
    ) -> None:
        self.description = description
        self.dir = job_dir
        self.name = str(description["ProcessingJobName"])
        # SageMaker moves the job's data with its role (CreateProcessingJob RoleArn).
        self._s3 = iam.as_role(s3, description.get("RoleArn"), self.name)
        self._env_cache = env_cache
        self._lock = lock
        self._save = save
        self._stop_reason: str | None = None
        self._started = time.time()

    def run(self) -> None:
        """Download the inputs, run the entry point, upload the outputs; record the final status."""
        try:
            failure = self._download() or self._process()
            if failure is None:
                self._upload()
                self._finish("Completed")
            else:
                self._finish("Failed", failure)
        except _Stopped:
            if self._stop_reason == "Shutdown":
                self._finish("Failed", "InternalServerError: the local SageMaker service stopped while the job ran")
            else:
                self._finish("Stopped")
        except Exception as exc:  # the platform failed, not the job's code
            logger.exception("processing job %s: local SageMaker error", self.name)
            self._finish("Failed", f"InternalServerError: {exc}")

    def request_stop(self, reason: str) -> None:
        """StopProcessingJob (or MaxRuntimeExceeded, or the service stopping): the run thread ends the job."""
        with self._lock:
            if self._stop_reason is not None or self.description["ProcessingJobStatus"] != "InProgress":
                return
            self._stop_reason = reason
            if reason != "Shutdown":
                self.description["ProcessingJobStatus"] = "Stopping"
        self._save()

    # Phases ---------------------------------------------------------------------------------------------------
    def _local(self, container_path: str) -> Path:
        if not container_path.startswith(PROCESSING_ROOT):
            raise ValueError(f"LocalPath {container_path!r} is not under {PROCESSING_ROOT}")
        return self.dir / "ml" / container_path.removeprefix("/opt/ml/")

    def _download(self) -> str | None:
        (self.dir / "ml" / "output").mkdir(parents=True, exist_ok=True)
        for item in self.description.get("ProcessingInputs") or []:
            self._check_stop()
            source = item["S3Input"]
            if source.get("S3DataType", "S3Prefix") != "S3Prefix" or source.get("S3InputMode", "File") != "File":
                return "ClientError: local SageMaker supports S3Input with S3DataType S3Prefix in File mode only"
            if s3io.download_prefix(self._s3, source["S3Uri"], self._local(source["LocalPath"])) == 0:
                return f'ClientError: No S3 objects found under S3 URL "{source["S3Uri"]}" given in input data source.'
        for output in (self.description.get("ProcessingOutputConfig") or {}).get("Outputs", []):
            self._local(output["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
        return None

    def _process(self) -> str | None:
        app = self.description["AppSpecification"]
        try:
            image = images.image_for_uri(str(app["ImageUri"]))
            env = images.ensure_environment(image, self._env_cache)
        except images.ImageError as exc:
            return f"ClientError: the image {app['ImageUri']} could not be used: {exc}"
        variables = {name: os.environ[name] for name in ("TZ", "LANG") if name in os.environ}
        variables.update(image.environment)
        variables["PATH"] = f"{env.root / 'bin'}:/usr/local/bin:/usr/bin:/bin"
        variables.update({str(k): str(v) for k, v in (self.description.get("Environment") or {}).items()})
        isolated = bool((self.description.get("NetworkConfig") or {}).get("EnableNetworkIsolation"))
        rootless = os.geteuid() != 0
        command = [
            "unshare",
            *(["--map-root-user"] if rootless else []),
            "--mount",
            *(["--net"] if isolated else []),
            "--fork",
            "--",
            "/bin/sh",
            "-c",
            _LAUNCH,
            "processing",
            str(self.dir / "ml"),
            *app.get("ContainerEntrypoint", []),
            *app.get("ContainerArguments", []),
        ]
        limit = float((self.description.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME))
        with (self.dir / "logs.txt").open("ab") as log:
            process = subprocess.Popen(  # noqa: S603  # the job's entry point in its own mount namespace
                command,
                env=variables,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while process.poll() is None:
            if time.time() > self._started + limit:
                self.request_stop("MaxRuntimeExceeded")
            if self._stop_reason is not None:
                kill_group(process, STOP_GRACE_SECONDS)
                if self._stop_reason == "MaxRuntimeExceeded":
                    return "MaxRuntimeExceeded: the job ran longer than StoppingCondition.MaxRuntimeInSeconds"
                raise _Stopped
            time.sleep(_POLL_SECONDS)
        if process.returncode == 0:
            return None
        lines = (self.dir / "logs.txt").read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return f"AlgorithmError: exit code {process.returncode}: " + "\n".join(lines[-LOG_TAIL_LINES:])

    def _upload(self) -> None:
        for output in (self.description.get("ProcessingOutputConfig") or {}).get("Outputs", []):
            target = output["S3Output"]
            local = self._local(target["LocalPath"])
            bucket, prefix = s3io.split_uri(target["S3Uri"].rstrip("/") + "/")
            for path in sorted(p for p in local.rglob("*") if p.is_file()):
                self._s3.upload_file(str(path), bucket, prefix + path.relative_to(local).as_posix())

    def _check_stop(self) -> None:
        if self._stop_reason is not None:
            raise _Stopped

    def _finish(self, status: str, failure: str | None = None) -> None:
        message = self.dir / "ml" / "output" / "message"
        with self._lock:
            now = time.time()
            self.description.update(
                ProcessingJobStatus=status,
                ProcessingStartTime=self._started,
                ProcessingEndTime=now,
                LastModifiedTime=now,
            )
            if failure is not None:
                self.description["FailureReason"] = failure[:FAILURE_REASON_LIMIT]
            if message.is_file():
                self.description["ExitMessage"] = message.read_text(encoding="utf-8", errors="replace")[:1024]
        self._save()
        logger.info("processing job %s: %s%s", self.name, status, f" ({failure})" if failure else "")
