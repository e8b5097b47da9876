"""SageMaker Batch Transform: score a file with a model; compute exists only while the job runs."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from challenger_core.adapters import translate_errors
from challenger_core.errors import ConflictError, NotFoundError, ServiceError

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient
else:
    SageMakerClient = Any

# Each request of a job holds every line that fits in this many MB (BatchStrategy=MultiRecord); the recipe kit's
# model accepts any record count up to that size (challenger_kit.MAX_PAYLOAD_BYTES; issue 16).
MAX_PAYLOAD_MB = 6


@dataclass(frozen=True)
class TransformSpec:
    job_name: str
    model_name: str
    input_uri: str  # one CSV object, feature columns in the recipe's order, no header
    output_uri: str  # S3 prefix; SageMaker writes <input file name>.out there
    instance_type: str
    max_seconds: int
    tags: dict[str, str]


@dataclass(frozen=True)
class TransformStatus:
    status: str  # InProgress | Completed | Failed | Stopping | Stopped
    failure_reason: str | None


class BatchTransform:
    def __init__(self, client: SageMakerClient) -> None:
        self._sm = client

    def start(self, spec: TransformSpec) -> None:
        """CreateTransformJob: text/csv split by line, several records per request, one output line per request.

        With SplitType=Line and AssembleWith=Line, SageMaker keeps the output in input order, one line per
        mini-batch request (https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html, "Associate
        prediction results with input records"); our serving code answers each request with one JSON document.
        A retry after the job was created finds it already there, which is fine.
        """
        with contextlib.suppress(ConflictError), translate_errors(f"sagemaker CreateTransformJob {spec.job_name}"):
            self._sm.create_transform_job(
                TransformJobName=spec.job_name,
                ModelName=spec.model_name,
                BatchStrategy="MultiRecord",
                MaxPayloadInMB=MAX_PAYLOAD_MB,
                TransformInput={
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": spec.input_uri}},
                    "ContentType": "text/csv",
                    "SplitType": "Line",
                },
                TransformOutput={"S3OutputPath": spec.output_uri, "Accept": "application/json", "AssembleWith": "Line"},
                TransformResources={"InstanceType": spec.instance_type, "InstanceCount": 1},  # type: ignore[typeddict-item]
                ModelClientConfig={"InvocationsTimeoutInSeconds": 600, "InvocationsMaxRetries": 1},
                Tags=[{"Key": k, "Value": v} for k, v in spec.tags.items()],
            )

    def status(self, job_name: str) -> TransformStatus:
        with translate_errors(f"sagemaker DescribeTransformJob {job_name}"):
            job = self._sm.describe_transform_job(TransformJobName=job_name)
        return TransformStatus(status=job["TransformJobStatus"], failure_reason=job.get("FailureReason"))

    def stop(self, job_name: str) -> None:
        """Stop a job nobody waits for any more (idempotent: a finished or missing job is left alone)."""
        stopped_already = (NotFoundError, ConflictError, ServiceError)  # ValidationException: not InProgress
        with contextlib.suppress(*stopped_already), translate_errors(f"sagemaker StopTransformJob {job_name}"):
            self._sm.stop_transform_job(TransformJobName=job_name)
