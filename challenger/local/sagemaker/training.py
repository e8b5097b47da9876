"""Training jobs: a per-job /opt/ml tree run by the `sagemaker-training` toolkit, as in the framework containers.

A job runs on its own thread through SageMaker's secondary statuses: Starting (lay out `jobs/<name>/` like
`/opt/ml`), Downloading (every object under each channel's S3Prefix, and the `sagemaker_submit_directory` source
bundle into `code/`), Training (the toolkit's `train` entry point with `SAGEMAKER_BASE_DIR` pointing at the job
directory: it sets the `SM_*` environment, installs `requirements.txt`, runs `sagemaker_program` with the
hyperparameters as arguments and writes `output/failure` if the script did not), Uploading (`model/` →
`model.tar.gz`, `output/data/` → `output.tar.gz`) and Completed. See README.md for why the toolkit.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from challenger.local import iam
from challenger.local.sagemaker import images, s3io
from challenger.local.sagemaker.hosting import kill_group

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

HOST = "algo-1"  # SageMaker's name for the first training host
INSTANCE_GROUP = "homogeneousCluster"
# SageMaker returns the first 1024 characters of /opt/ml/output/failure as FailureReason.
FAILURE_REASON_LIMIT = 1024
LOG_TAIL_LINES = 10
# SageMaker gives a stopped algorithm 120 s after SIGTERM to save its model; locally a few seconds will do.
STOP_GRACE_SECONDS = 5.0
DEFAULT_MAX_RUNTIME = 86_400  # the API's default MaxRuntimeInSeconds (1 day)
_POLL_SECONDS = 0.1
# Environment variables a container would also have; nothing else of the host's environment leaks in
# (notably no AWS credentials or AWS_ENDPOINT_URL*: the job's S3 transfers are the platform's business).
_INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT")


class JobStopped(Exception):
    """The job was asked to stop (StopTrainingJob, MaxRuntimeExceeded or service shutdown)."""


@dataclass
class TrainingJob:
    """One training job: its DescribeTrainingJob document plus the runtime handles that are not persisted."""

    description: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None
    stop_reason: str | None = None  # "Stopped" | "MaxRuntimeExceeded" | "Shutdown" once stopping
    started_at: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return str(self.description["TrainingJobName"])

    @property
    def status(self) -> str:
        return str(self.description["TrainingJobStatus"])


class TrainingRun:
    """Runs one job to a final status on the calling thread (the service starts it on a worker thread)."""

    def __init__(
        self,
        job: TrainingJob,
        job_dir: Path,
        *,
        s3: S3Client,
        env_cache: Path | None,
        region: str,
        lock: threading.RLock,
        save: Callable[[], None],
        injected_failure: str | None = None,
    ) -> None:
        self.job = job
        self.dir = job_dir
        # SageMaker moves the job's data with the job's role (CreateTrainingJob RoleArn: "to perform tasks on your
        # behalf ... download training data from S3 and upload model artifacts").
        self._s3 = iam.as_role(s3, job.description.get("RoleArn"), job.name)
        self._env_cache = env_cache
        self._python: Path | None = None
        self._region = region
        self._lock = lock
        self._save = save
        self._injected_failure = injected_failure
        self._request = copy.deepcopy(job.description)

    # Public -------------------------------------------------------------------------------------
    def run(self) -> None:
        """Starting → Downloading → Training → Uploading → Completed, or Failed/Stopped with a reason."""
        try:
            self._transition("Starting", "Preparing the instances for training")
            failure = self._prepare_image()
            self._layout()
            if failure is None:
                self._transition("Downloading", "Downloading input data")
                failure = self._download()
            if failure is None:
                self._transition("Training", "Training image download completed. Training in progress.")
                failure = self._train()
            if failure is None:
                self._transition("Uploading", "Uploading generated training model")
                self._upload()
                self._finish("Completed", "Completed", "Training job completed")
            else:
                self._finish("Failed", "Failed", "Training job failed", failure_reason=failure)
        except JobStopped:
            self._finish_stopped()
        except Exception as exc:  # the platform failed, not the algorithm: SageMaker says InternalServerError
            logger.exception("training job %s: local SageMaker error", self.job.name)
            self._finish("Failed", "Failed", "Training job failed", failure_reason=f"InternalServerError: {exc}")

    def request_stop(self, reason: str) -> None:
        """Ask the job to stop; the run thread kills the algorithm process and records the final status."""
        with self._lock:
            if self.job.stop_reason is not None or self.job.status != "InProgress":
                return
            self.job.stop_reason = reason
            if reason != "Shutdown":
                self.job.description["TrainingJobStatus"] = "Stopping"
                self._set_secondary("Stopping", "Stopping the training job")
        self._save()

    # Phases -------------------------------------------------------------------------------------
    def _prepare_image(self) -> str | None:
        """The "image pull": the framework image's environment (built on first use), and this job's overlay."""
        uri = str(self._request["AlgorithmSpecification"].get("TrainingImage", ""))
        try:
            env = images.ensure_environment(images.image_for_uri(uri), self._env_cache)
        except images.ImageError as exc:
            return f"ClientError: the training image {uri} could not be used: {exc}"
        # A container starts from the pristine image: whatever the job pip-installs goes into its overlay.
        self._python = images.overlay(env, self.dir / "python")
        return None

    def _layout(self) -> None:
        for sub in ("input/config", "input/data", "model", "output/data", "code"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        request = self._request
        channels = request.get("InputDataConfig") or []
        config_dir = self.dir / "input" / "config"
        _write_json(config_dir / "hyperparameters.json", request.get("HyperParameters") or {})
        _write_json(
            config_dir / "inputdataconfig.json",
            {
                channel["ChannelName"]: {
                    "ContentType": channel.get("ContentType", "application/octet-stream"),
                    "TrainingInputMode": channel.get("InputMode")
                    or request["AlgorithmSpecification"].get("TrainingInputMode", "File"),
                    "S3DistributionType": channel["DataSource"]["S3DataSource"].get(
                        "S3DataDistributionType", "FullyReplicated"
                    ),
                    "RecordWrapperType": channel.get("RecordWrapperType", "None"),
                }
                for channel in channels
            },
        )
        instance_type = request.get("ResourceConfig", {}).get("InstanceType", "ml.m5.large")
        _write_json(
            config_dir / "resourceconfig.json",
            {
                "current_host": HOST,
                "current_instance_type": instance_type,
                "current_group_name": INSTANCE_GROUP,
                "hosts": [HOST],
                "instance_groups": [
                    {"instance_group_name": INSTANCE_GROUP, "instance_type": instance_type, "hosts": [HOST]}
                ],
                "network_interface_name": "eth0",
            },
        )

    def _download(self) -> str | None:
        for channel in self._request.get("InputDataConfig") or []:
            self._check_stop()
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            destination = self.dir / "input" / "data" / channel["ChannelName"]
            try:
                count = s3io.download_prefix(self._s3, uri, destination)
            except self._s3.exceptions.NoSuchBucket:
                count = 0
            if count == 0:
                bucket = s3io.split_uri(uri)[0]
                return (
                    f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. Please '
                    f"ensure that the bucket exists in the selected region ({self._region}), that objects exist "
                    f"under that S3 prefix, and that the role {self._request.get('RoleArn')} has "
                    f'"s3:ListBucket" permissions on bucket "{bucket}".'
                )
        submit_dir = _hyperparameter(self._request, "sagemaker_submit_directory")
        if submit_dir and submit_dir.startswith("s3://"):
            # The toolkit could download it too, but then the algorithm process would need S3 credentials;
            # it finds code/ populated and skips the download (exactly its behaviour on a re-run).
            self._check_stop()
            try:
                s3io.download_and_extract(self._s3, submit_dir, self.dir / "code")
            except Exception as exc:
                return f"ClientError: could not download sagemaker_submit_directory {submit_dir}: {exc}"
        return None

    def _train(self) -> str | None:
        if self._injected_failure is not None:
            self._append_log(f"local SageMaker: injected training failure: {self._injected_failure}\n")
            return f"AlgorithmError: {self._injected_failure}"
        self._check_stop()
        max_runtime = float(
            (self._request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME)
        )
        deadline = self.job.started_at + max_runtime
        assert self._python is not None
        with (self.dir / "logs.txt").open("ab") as log:
            process = subprocess.Popen(  # noqa: S603  # the image's interpreter running the toolkit's entry point
                [str(self._python), "-m", "sagemaker_training.cli.train"],
                cwd=self.dir,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: StopTrainingJob must also kill the user script the toolkit spawns.
                start_new_session=True,
            )
        with self._lock:
            self.job.process = process
        try:
            while process.poll() is None:
                if time.time() > deadline:
                    self.request_stop("MaxRuntimeExceeded")
                if self.job.stop_reason is not None:
                    kill_group(process, STOP_GRACE_SECONDS)
                    raise JobStopped
                time.sleep(_POLL_SECONDS)
        finally:
            with self._lock:
                self.job.process = None
        if process.returncode == 0:
            return None
        return "AlgorithmError: " + self._failure_text(process.returncode)

    def _upload(self) -> None:
        output_path = self._request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        base = f"{output_path}/{self.job.name}/output"
        s3io.upload_tarball(self._s3, self.dir / "model", f"{base}/model.tar.gz")
        s3io.upload_tarball(self._s3, self.dir / "output" / "data", f"{base}/output.tar.gz")
        with self._lock:
            self.job.description["ModelArtifacts"] = {"S3ModelArtifacts": f"{base}/model.tar.gz"}

    # Helpers ------------------------------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in _INHERITED_ENV if name in os.environ}
        env.update(
            {
                "SAGEMAKER_BASE_DIR": str(self.dir),
                # The toolkit waits (up to 15 min) for every host name to resolve; "algo-1" never will here.
                "SM_STUDIO_LOCAL_MODE": "true",
                "TRAINING_JOB_NAME": self.job.name,
                "TRAINING_JOB_ARN": str(self._request["TrainingJobArn"]),
                "AWS_REGION": self._region,
                "AWS_DEFAULT_REGION": self._region,
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self._request.get("EnableNetworkIsolation"):
            # A network-isolated container reaches no package index: requirements.txt must already be met.
            env["PIP_NO_INDEX"] = "1"
        env.update({str(k): str(v) for k, v in (self._request.get("Environment") or {}).items()})
        return env

    def _failure_text(self, returncode: int) -> str:
        failure = self.dir / "output" / "failure"
        if failure.is_file():
            text = failure.read_text(encoding="utf-8", errors="replace").strip()
            if text:
                return text[:FAILURE_REASON_LIMIT]
        tail = self._log_tail()
        return (f"exit code {returncode}: {tail}" if tail else f"exit code {returncode}")[:FAILURE_REASON_LIMIT]

    def _log_tail(self) -> str:
        path = self.dir / "logs.txt"
        if not path.is_file():
            return ""
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return "\n".join(lines[-LOG_TAIL_LINES:])

    def _append_log(self, text: str) -> None:
        with (self.dir / "logs.txt").open("a", encoding="utf-8") as log:
            log.write(text)

    def _check_stop(self) -> None:
        if self.job.stop_reason is not None:
            raise JobStopped

    def _set_secondary(self, status: str, message: str) -> None:
        now = time.time()
        description = self.job.description
        transitions = description.setdefault("SecondaryStatusTransitions", [])
        if transitions and "EndTime" not in transitions[-1]:
            transitions[-1]["EndTime"] = now
        transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
        description["SecondaryStatus"] = status
        description["LastModifiedTime"] = now

    def _transition(self, status: str, message: str) -> None:
        with self._lock:
            self._check_stop()
            if status == "Training":
                self.job.description["TrainingStartTime"] = time.time()
            self._set_secondary(status, message)
        self._save()

    def _finish(self, status: str, secondary: str, message: str, failure_reason: str | None = None) -> None:
        with self._lock:
            now = time.time()
            description = self.job.description
            self._set_secondary(secondary, message)
            transitions = description["SecondaryStatusTransitions"]
            transitions[-1]["EndTime"] = now
            description["TrainingJobStatus"] = status
            description["TrainingEndTime"] = now
            start = description.get("TrainingStartTime", description["CreationTime"])
            description["TrainingTimeInSeconds"] = max(1, round(now - start))
            description["BillableTimeInSeconds"] = description["TrainingTimeInSeconds"]
            if failure_reason is not None:
                description["FailureReason"] = failure_reason
        self._save()
        logger.info("training job %s: %s%s", self.job.name, status, f" ({failure_reason})" if failure_reason else "")

    def _finish_stopped(self) -> None:
        reason = self.job.stop_reason
        if reason == "Shutdown":
            self._finish(
                "Failed",
                "Failed",
                "Training job failed",
                failure_reason="InternalServerError: the local SageMaker service stopped while the job was running",
            )
        elif reason == "MaxRuntimeExceeded":
            self._finish("Stopped", "MaxRuntimeExceeded", "Training job stopped: it exceeded MaxRuntimeInSeconds")
        else:
            self._finish("Stopped", "Stopped", "Training job stopped")


def _hyperparameter(request: dict[str, Any], name: str) -> str | None:
    value = (request.get("HyperParameters") or {}).get(name)
    if value is None:
        return None
    # The SageMaker Python SDK JSON-encodes every value ('"train.py"'); plain strings are fine too.
    try:
        decoded = json.loads(value)
    except (TypeError, ValueError):
        return str(value)
    return decoded if isinstance(decoded, str) else str(value)


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
