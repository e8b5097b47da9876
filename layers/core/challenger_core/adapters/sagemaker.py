"""SageMaker: training jobs, models, serverless endpoint configs, endpoints, invocations.

Called from Lambdas with plain boto3 (no `.sync` service integrations): the API we call is the API we test.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from challenger_core.adapters import translate_errors
from challenger_core.errors import NotFoundError

# Managed spot: MaxWaitTimeInSeconds (capacity wait + run) "must be equal to or greater than MaxRuntimeInSeconds"
# (CreateTrainingJob, StoppingCondition); twice it leaves the job as long again to find capacity, and
# training.training_polls keeps the pipeline's poll loop above it.
SPOT_WAIT_FACTOR = 2

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient
else:
    SageMakerClient = Any
    SageMakerRuntimeClient = Any


# The model container's environment (CreateModel PrimaryContainer.Environment). train.py packs the serving code into
# model.tar.gz under code/ (self-contained). The scikit-learn image's serving stack pip-installs that directory at
# every container start (sagemaker-containers 2.8.6 `_server.start` → `_modules.import_module`: `pip install .
# -r requirements.txt`), into the image's root-owned /opt/venv, which a serverless container may not write, and
# with pip's build isolation, which downloads setuptools from PyPI. So pip installs into a writable target, builds
# with the image's own setuptools (pip reads a `--no-*` option's variable as the option's value: "0" turns build
# isolation off, pip/_internal/cli/parser.py `_update_defaults`), and code/ is imported where it lies.
MODEL_ENVIRONMENT: dict[str, str] = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
    "PIP_TARGET": "/tmp/challenger-serving",  # noqa: S108  # the container's own /tmp, its only writable place
    "PIP_NO_BUILD_ISOLATION": "0",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    # code/ where it lies (the stack's own import runs in a process that started before the install: only a
    # directory that existed then is importable); the target serves the gunicorn workers, which start after it.
    "PYTHONPATH": "/opt/ml/model/code:/tmp/challenger-serving",
}


@dataclass(frozen=True)
class TrainingSpec:
    job_name: str
    image_uri: str
    role_arn: str
    instance_type: str
    source_uri: str
    train_uri: str
    test_uri: str | None
    output_uri: str
    hyperparameters: dict[str, str]
    max_seconds: int
    use_spot: bool
    tags: dict[str, str]
    champion_uri: str | None = None  # the live champion's model.tar.gz, scored by the job on the same rows
    trusted_uri: str | None = None  # the dataset's trusted evaluation set (issue 19): scored, never trained on
    train_input_mode: Literal["File", "FastFile"] = "File"  # the train channel's (sizing.train_input_mode)
    volume_gb: int = 10  # the ML storage volume (sizing.volume_gb)


@dataclass(frozen=True)
class ProcessingInput:
    name: str
    s3_uri: str  # an S3Prefix: every object under it lands under local_path
    local_path: str  # under /opt/ml/processing/


@dataclass(frozen=True)
class ProcessingSpec:
    """A Processing job running our own program in the framework image (issue 24: dataset validation)."""

    job_name: str
    image_uri: str
    role_arn: str
    instance_type: str
    volume_gb: int
    entrypoint: list[str]
    arguments: list[str]
    environment: dict[str, str]
    inputs: list[ProcessingInput]
    output_uri: str
    output_path: str
    max_seconds: int


@dataclass(frozen=True)
class ProcessingStatus:
    status: str  # InProgress | Completed | Failed | Stopping | Stopped
    failure_reason: str | None
    exit_message: str | None = None


@dataclass(frozen=True)
class TrainingStatus:
    status: str
    secondary_status: str | None
    model_data_url: str | None
    failure_reason: str | None
    training_seconds: int | None = None
    billable_seconds: int | None = None
    instance_type: str | None = None
    spot: bool = False


@dataclass(frozen=True)
class EndpointInfo:
    status: str
    config_name: str | None
    failure_reason: str | None
    pending_config: str | None = None  # the config a Creating/Updating endpoint is moving to


class SageMaker:
    def __init__(self, client: SageMakerClient, runtime: SageMakerRuntimeClient | None = None) -> None:
        self._sm = client
        self._runtime = runtime

    # Training -------------------------------------------------------------------------------------
    def start_training(self, spec: TrainingSpec) -> None:
        """CreateTrainingJob in script mode (the recipe's train.py inside the framework container)."""
        hyperparameters = {
            **spec.hyperparameters,
            # The framework container's script-mode contract: where the code is and what to run.
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": spec.source_uri,
        }
        channels = [_channel("train", spec.train_uri, input_mode=spec.train_input_mode)]
        if spec.test_uri:
            channels.append(_channel("test", spec.test_uri))
        if spec.champion_uri:
            # S3Prefix of the one object: the job finds it at SM_CHANNEL_CHAMPION/model.tar.gz.
            channels.append(_channel("champion", spec.champion_uri, content_type="application/x-tar"))
        if spec.trusted_uri:
            channels.append(_channel("trusted", spec.trusted_uri))
        request: dict[str, Any] = {
            "TrainingJobName": spec.job_name,
            "AlgorithmSpecification": {"TrainingImage": spec.image_uri, "TrainingInputMode": "File"},
            "RoleArn": spec.role_arn,
            "InputDataConfig": channels,
            "OutputDataConfig": {"S3OutputPath": spec.output_uri},
            "ResourceConfig": {
                "InstanceType": spec.instance_type,
                "InstanceCount": 1,
                "VolumeSizeInGB": spec.volume_gb,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_seconds},
            "HyperParameters": hyperparameters,
            "EnableNetworkIsolation": False,
            "Tags": [{"Key": k, "Value": v} for k, v in spec.tags.items()],
        }
        if spec.use_spot:
            request["EnableManagedSpotTraining"] = True
            request["StoppingCondition"]["MaxWaitTimeInSeconds"] = spec.max_seconds * SPOT_WAIT_FACTOR
        with translate_errors(f"sagemaker CreateTrainingJob {spec.job_name}"):
            self._sm.create_training_job(**request)

    def training_status(self, job_name: str) -> TrainingStatus:
        with translate_errors(f"sagemaker DescribeTrainingJob {job_name}"):
            job = self._sm.describe_training_job(TrainingJobName=job_name)
        return TrainingStatus(
            status=job["TrainingJobStatus"],
            secondary_status=job.get("SecondaryStatus"),
            model_data_url=job.get("ModelArtifacts", {}).get("S3ModelArtifacts"),
            failure_reason=job.get("FailureReason"),
            training_seconds=job.get("TrainingTimeInSeconds"),
            billable_seconds=job.get("BillableTimeInSeconds"),
            instance_type=job.get("ResourceConfig", {}).get("InstanceType"),
            spot=bool(job.get("EnableManagedSpotTraining")),
        )

    # Processing -----------------------------------------------------------------------------------
    def start_processing(self, spec: ProcessingSpec) -> None:
        """CreateProcessingJob (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateProcessingJob.html):
        each input's S3Prefix is copied to its LocalPath before the entry point runs, the output's LocalPath is
        uploaded when it ends (EndOfJob). No network: the program reads only its inputs."""
        request: dict[str, Any] = {
            "ProcessingJobName": spec.job_name,
            "RoleArn": spec.role_arn,
            "AppSpecification": {
                "ImageUri": spec.image_uri,
                "ContainerEntrypoint": spec.entrypoint,
                "ContainerArguments": spec.arguments,
            },
            "Environment": spec.environment,
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": spec.instance_type,
                    "VolumeSizeInGB": spec.volume_gb,
                }
            },
            "ProcessingInputs": [
                {
                    "InputName": item.name,
                    "S3Input": {
                        "S3Uri": item.s3_uri,
                        "LocalPath": item.local_path,
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                        "S3DataDistributionType": "FullyReplicated",
                    },
                }
                for item in spec.inputs
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "result",
                        "S3Output": {
                            "S3Uri": spec.output_uri,
                            "LocalPath": spec.output_path,
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_seconds},
            "NetworkConfig": {"EnableNetworkIsolation": True},
        }
        with translate_errors(f"sagemaker CreateProcessingJob {spec.job_name}"):
            self._sm.create_processing_job(**request)

    def processing_status(self, job_name: str) -> ProcessingStatus:
        with translate_errors(f"sagemaker DescribeProcessingJob {job_name}"):
            job = self._sm.describe_processing_job(ProcessingJobName=job_name)
        return ProcessingStatus(
            status=job["ProcessingJobStatus"],
            failure_reason=job.get("FailureReason"),
            exit_message=job.get("ExitMessage"),
        )

    def stop_processing(self, job_name: str) -> None:
        """Stop a processing job nobody waits for any more; a finished (or never created) job is fine."""
        with contextlib.suppress(NotFoundError), translate_errors(f"sagemaker StopProcessingJob {job_name}"):
            if self.processing_status(job_name).status == "InProgress":
                self._sm.stop_processing_job(ProcessingJobName=job_name)

    def stop_training(self, job_name: str) -> None:
        """Stop a job nobody is waiting for any more (a failed or timed-out run); a finished job is fine."""
        with contextlib.suppress(NotFoundError), translate_errors(f"sagemaker StopTrainingJob {job_name}"):
            if self.training_status(job_name).status == "InProgress":
                self._sm.stop_training_job(TrainingJobName=job_name)

    # Serving --------------------------------------------------------------------------------------
    def create_model(self, name: str, image_uri: str, model_data_url: str, role_arn: str) -> None:
        """Idempotent: an existing model of that name is reused (a retried task must not fail)."""
        try:
            with translate_errors(f"sagemaker DescribeModel {name}"):
                self._sm.describe_model(ModelName=name)
            return
        except NotFoundError:
            pass
        with translate_errors(f"sagemaker CreateModel {name}"):
            self._sm.create_model(
                ModelName=name,
                ExecutionRoleArn=role_arn,
                PrimaryContainer={
                    "Image": image_uri,
                    "ModelDataUrl": model_data_url,
                    "Environment": dict(MODEL_ENVIRONMENT),
                },
            )

    def create_serverless_config(
        self, name: str, model_name: str, memory_mb: int, max_concurrency: int, *, variant: str = "AllTraffic"
    ) -> None:
        """Idempotent CreateEndpointConfig with a ServerlessConfig (no instances, scales to zero).

        `variant` names the production variant; InvokeEndpoint reports it as InvokedProductionVariant, which is
        how an answer tells which config (hence which version) served it.
        """
        try:
            with translate_errors(f"sagemaker DescribeEndpointConfig {name}"):
                self._sm.describe_endpoint_config(EndpointConfigName=name)
            return
        except NotFoundError:
            pass
        with translate_errors(f"sagemaker CreateEndpointConfig {name}"):
            self._sm.create_endpoint_config(
                EndpointConfigName=name,
                ProductionVariants=[
                    {
                        "VariantName": variant,
                        "ModelName": model_name,
                        "ServerlessConfig": {"MemorySizeInMB": memory_mb, "MaxConcurrency": max_concurrency},
                    }
                ],
            )

    def endpoint(self, name: str) -> EndpointInfo | None:
        """DescribeEndpoint; None if there is no such endpoint."""
        try:
            with translate_errors(f"sagemaker DescribeEndpoint {name}"):
                described = self._sm.describe_endpoint(EndpointName=name)
        except NotFoundError:
            return None
        return EndpointInfo(
            status=described["EndpointStatus"],
            config_name=described.get("EndpointConfigName"),
            failure_reason=described.get("FailureReason"),
            pending_config=described.get("PendingDeploymentSummary", {}).get("EndpointConfigName"),
        )

    def create_endpoint(self, name: str, config_name: str) -> None:
        with translate_errors(f"sagemaker CreateEndpoint {name}"):
            self._sm.create_endpoint(EndpointName=name, EndpointConfigName=config_name)

    def update_endpoint(self, name: str, config_name: str) -> None:
        """Blue/green: SageMaker starts the new config, shifts traffic, and keeps the old one on failure."""
        with translate_errors(f"sagemaker UpdateEndpoint {name} → {config_name}"):
            self._sm.update_endpoint(EndpointName=name, EndpointConfigName=config_name)

    def delete_endpoint(self, name: str) -> None:
        with translate_errors(f"sagemaker DeleteEndpoint {name}"):
            self._sm.delete_endpoint(EndpointName=name)

    def delete_config_and_model(self, config_name: str, model_name: str) -> None:
        """Clean up a retired config and its model; already-gone resources are fine."""
        self.delete_config(config_name)
        self.delete_model(model_name)

    def delete_config(self, config_name: str) -> None:
        with contextlib.suppress(NotFoundError), translate_errors(f"sagemaker DeleteEndpointConfig {config_name}"):
            self._sm.delete_endpoint_config(EndpointConfigName=config_name)

    def delete_model(self, model_name: str) -> None:
        with contextlib.suppress(NotFoundError), translate_errors(f"sagemaker DeleteModel {model_name}"):
            self._sm.delete_model(ModelName=model_name)

    def names_containing(self, kind: Literal["model", "endpoint-config"], fragment: str) -> list[str]:
        """Every model or endpoint config whose name contains `fragment` (ListModels/ListEndpointConfigs)."""
        operation, key, field = (
            ("list_models", "Models", "ModelName")
            if kind == "model"
            else ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName")
        )
        names: list[str] = []
        with translate_errors(f"sagemaker {operation} {fragment}"):
            for page in self._sm.get_paginator(operation).paginate(NameContains=fragment):  # type: ignore[call-overload]
                names.extend(str(item[field]) for item in page[key])
        # Filtered here too: a deletion must never rest on a server-side filter alone (moto ignores NameContains).
        return [name for name in names if fragment.lower() in name.lower()]

    def invoke(self, endpoint_name: str, body: bytes, content_type: str = "application/json") -> bytes:
        """InvokeEndpoint through sagemaker-runtime."""
        return self.invoke_with_variant(endpoint_name, body, content_type)[0]

    def invoke_with_variant(
        self, endpoint_name: str, body: bytes, content_type: str = "application/json"
    ) -> tuple[bytes, str | None]:
        """InvokeEndpoint: the answer and the production variant that produced it (InvokedProductionVariant)."""
        if self._runtime is None:
            raise RuntimeError("SageMaker adapter built without a runtime client")
        with translate_errors(f"sagemaker-runtime InvokeEndpoint {endpoint_name}"):
            response = self._runtime.invoke_endpoint(
                EndpointName=endpoint_name, Body=body, ContentType=content_type, Accept="application/json"
            )
            payload = response["Body"].read()
        return payload, response.get("InvokedProductionVariant")


def _channel(name: str, uri: str, content_type: str = "text/csv", input_mode: str = "File") -> dict[str, Any]:
    channel: dict[str, Any] = {
        "ChannelName": name,
        "ContentType": content_type,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        },
    }
    if input_mode != "File":  # Channel.InputMode overrides AlgorithmSpecification.TrainingInputMode for this channel
        channel["InputMode"] = input_mode
    return channel
