"""The local cloud's SageMaker: the control-plane subset we call and InvokeEndpoint, on one loopback HTTP server.

One server, both protocols (told apart by path and headers: `sagemaker` awsJson1_1 `POST /` with `X-Amz-Target`,
`sagemaker-runtime` rest-json `POST /endpoints/<name>/invocations`, and `/_local/faults`, `/_local/health`), with
SageMaker's error codes and wording (README.md, "Protocols"). Resources are kept as their Describe documents in
`state_dir/state.json`, written after every change; `start()` restores them and restarts InService endpoints.
"""

from __future__ import annotations

import collections
import copy
import json
import logging
import os
import re
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from challenger.local import iam
from challenger.local.private import write_private
from challenger.local.sagemaker import s3io
from challenger.local.sagemaker.errors import (
    ApiError,
    already_exists,
    job_in_use,
    name_constraint,
    not_found,
    service_unavailable,
    validation,
)
from challenger.local.sagemaker.hosting import (
    INVOKE_TIMEOUT_SECONDS,
    PING_FAILURE,
    Backend,
    ContainerError,
    ContainerSpec,
)
from challenger.local.sagemaker.processing import ProcessingRun
from challenger.local.sagemaker.training import TrainingJob, TrainingRun
from challenger.local.sagemaker.transform import TransformRun
from challenger.local.serving import WsgiServer, refuse_browsers

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

FaultKind = Literal["green_unhealthy", "green_wrong_answers", "training_fails", "invoke_transient"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
STATE_VERSION = 1
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
VARIANT_NAME = "AllTraffic"
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
MAX_SERVERLESS_CONCURRENCY = 200
# Blue keeps serving its in-flight requests this long after the switch (they are bounded by the invoke timeout).
DRAIN_TIMEOUT_SECONDS = INVOKE_TIMEOUT_SECONDS + 5
DELETE_DRAIN_SECONDS = 5.0
WORKER_JOIN_SECONDS = 30.0
# A serverless endpoint's first invocation after a deploy, or after it scaled to zero when idle, waits for a
# compute instance to start and load the model ("cold start", seconds; AWS documents it without a number:
# https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html#serverless-endpoints-how-it-works).
# An update included: "when updating your endpoint, you can experience cold starts ... because SageMaker AI must
# re-initialize your container and model" (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-update.html).
COLD_START_ENV = "CHALLENGER_LOCAL_COLD_START_SECONDS"
DEFAULT_COLD_START_SECONDS = 2.0
# "For serverless endpoints: The model must download and the server must respond successfully to /ping within
# 3 minutes" (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-invoke.html). The image's stack
# takes seconds to start here (its pip install . of code/, gunicorn workers; 3-24 s on this shared machine,
# docs/performance.md): no stricter than AWS, so a container AWS would accept is not failed locally.
HEALTH_TIMEOUT_SECONDS = 180.0
IDLE_SECONDS = 600.0  # idle time after which the next invocation is cold again
# DeleteEndpoint is asynchronous: DescribeEndpoint answers "Deleting" until the endpoint is gone.
DELETE_SECONDS = 2.0

Document = dict[str, Any]
_CONFIG = ("endpoint configuration", "endpoint-config")  # (the name in error messages, the ARN's resource)


class BackendLike(Protocol):
    """What the service needs of an endpoint backend (`hosting.Backend`; unit tests use an in-process fake)."""

    spec: ContainerSpec

    def start(
        self,
        s3: S3Client,
        *,
        timeout: float,
        stopping: threading.Event,
        fail_health: str | None = None,
        wrong_answers: bool = False,
    ) -> None: ...
    def acquire(self) -> bool: ...
    def release(self) -> None: ...
    def drain(self, timeout: float) -> bool: ...
    def terminate(self) -> None: ...
    def invoke(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str | None]: ...


class BackendFactory(Protocol):
    def __call__(self, spec: ContainerSpec, directory: Path, env_cache: Path | None) -> BackendLike: ...


@dataclass
class Endpoint:
    """An endpoint: its DescribeEndpoint document, what its live backend runs, and the live backend."""

    description: Document
    deployed: ContainerSpec | None = None
    backend: BackendLike | None = None
    generation: int = 0
    deleted: bool = False
    pending: ContainerSpec | None = None

    @property
    def name(self) -> str:
        return str(self.description["EndpointName"])

    @property
    def status(self) -> str:
        return str(self.description["EndpointStatus"])


class JobRun(Protocol):
    """What runs one job to its final status on a worker thread (`TrainingRun`, `TransformRun`)."""

    def run(self) -> None: ...
    def request_stop(self, reason: str) -> None: ...


@dataclass(frozen=True)
class JobKind:
    """A SageMaker job type as its API names it: noun `Training` → TrainingJobName, TrainingJobArn, ...Status."""

    noun: str
    missing: Callable[[str], str]  # what Describe/Stop answer (a ValidationException) for a name that does not exist
    end_time: str  # the Describe member that holds the time a job ended

    def key(self, member: str) -> str:
        return f"{self.noun}Job{member}"


# DescribeTrainingJob/StopTrainingJob really answer ValidationException "Requested resource not found."
# (aws/aws-sdk#165), although the service model declares ResourceNotFound.
TRAINING = JobKind("Training", lambda _name: "Requested resource not found.", "TrainingEndTime")
TRANSFORM = JobKind("Transform", lambda name: f"Could not find requested job with name {name}", "TransformEndTime")
# DescribeProcessingJob's answer for an unknown name (issue 24: ValidateData's job).
PROCESSING = JobKind("Processing", lambda name: f"Could not find requested job with name {name}", "ProcessingEndTime")
JOB_KINDS = (TRAINING, TRANSFORM, PROCESSING)


class LocalSageMaker:
    """SageMaker training, hosting (blue/green) and runtime for the local cloud; see the module docstring."""

    def __init__(
        self,
        *,
        state_dir: Path,
        s3_endpoint_url: str,
        region: str = "us-east-1",
        account: str = "123456789012",
        host: str = "127.0.0.1",
        port: int = 0,
        health_timeout: float = HEALTH_TIMEOUT_SECONDS,
        cold_start_seconds: float | None = None,
        idle_seconds: float = IDLE_SECONDS,
        delete_seconds: float = DELETE_SECONDS,
        env_cache: Path | None = None,
        backend_factory: BackendFactory = Backend,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.s3_endpoint_url = s3_endpoint_url
        self.region = region
        self.account = account
        self.health_timeout = health_timeout
        if cold_start_seconds is None:
            cold_start_seconds = float(os.environ.get(COLD_START_ENV, DEFAULT_COLD_START_SECONDS))
        self.cold_start_seconds = cold_start_seconds
        self.idle_seconds = idle_seconds
        self.delete_seconds = delete_seconds
        self.env_cache = env_cache
        self._backend_factory = backend_factory
        # Per backend (one "instance"): (monotonic time it is warm from, monotonic time of its last invocation).
        self._warmth: weakref.WeakKeyDictionary[BackendLike, list[float]] = weakref.WeakKeyDictionary()
        self._address = (host, port)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        # Per job type, each job's Describe document by name; the runs of the jobs in progress by (noun, name).
        self._jobs: dict[str, dict[str, Document]] = {kind.noun: {} for kind in JOB_KINDS}
        self._runs: dict[tuple[str, str], JobRun] = {}
        self._models: dict[str, Document] = {}
        self._configs: dict[str, Document] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._workers: list[threading.Thread] = []
        self._faults: dict[str, collections.deque[str]] = {kind: collections.deque() for kind in FAULT_KINDS}
        self._server: WsgiServer | None = None
        self._s3: S3Client | None = None
        self.url = ""

    # Lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Restore persisted state (restarting InService endpoints, waiting until they are healthy), then serve."""
        if self._server is not None:
            raise RuntimeError("LocalSageMaker is already started")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._stopping.clear()
        try:
            self._restore()
            # Serving starts only now: nobody sees a restored endpoint before its container is back.
            # Behind the browser guard like the local S3: a DNS-rebound page made a REJECTED model serve through
            # CreateModel/UpdateEndpoint here (issue 18, #22). SDKs send no Origin/Sec-Fetch-* and a loopback Host.
            self._server = WsgiServer(
                refuse_browsers(self._wsgi),
                host=self._address[0],
                port=self._address[1],
                handler=_Handler,
                name="local-sagemaker",
            )
        except BaseException:
            self._stopping.set()
            self._stop_backends()
            raise
        self.url = self._server.url
        logger.info("local SageMaker serving on %s (state in %s)", self.url, self.state_dir)

    def stop(self) -> None:
        """Stop serving (finishing in-flight requests), stop training jobs and every model server, save state."""
        server = self._server
        self._stopping.set()
        if server is not None:
            server.stop()  # no new requests; in-flight invocations hold their backend, which is drained below
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.request_stop("Shutdown")
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.join(WORKER_JOIN_SECONDS)
        self._stop_backends()
        self._save()
        self._server = None
        logger.info("local SageMaker stopped")

    def _stop_backends(self) -> None:
        with self._lock:
            backends = [endpoint.backend for endpoint in self._endpoints.values() if endpoint.backend is not None]
            for endpoint in self._endpoints.values():
                endpoint.backend = None
        for backend in backends:
            backend.drain(DELETE_DRAIN_SECONDS)
            backend.terminate()

    def inject_fault(self, kind: FaultKind, message: str, count: int = 1) -> None:
        """Queue `count` one-shot faults of a kind, each used up by the next operation it applies to (README "Faults":
        green_unhealthy, green_wrong_answers, training_fails, invoke_transient)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults[kind].extend([message] * count)
        logger.info("fault injected: %s x%d (%s)", kind, count, message)

    def _take_fault(self, kind: FaultKind) -> str | None:
        with self._lock:
            queue = self._faults[kind]
            return queue.popleft() if queue else None

    def _spawn(self, target: Callable[..., None], *args: Any, name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._workers = [worker for worker in self._workers if worker.is_alive()]
            self._workers.append(thread)
        thread.start()

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return _route(self, Request(environ))(environ, start_response)

    @property
    def s3(self) -> S3Client:
        with self._lock:
            if self._s3 is None:
                self._s3 = s3io.make_client(self.s3_endpoint_url, self.region)
            return self._s3

    def _model_s3(self, model_name: str) -> S3Client:
        """S3 as the model's ExecutionRoleArn (challenger.local.iam): SageMaker reads the model's artifacts, and a
        transform job's input and output, with the role of the model it runs (CreateModel ExecutionRoleArn)."""
        role = self._models.get(model_name, {}).get("ExecutionRoleArn")
        client: S3Client = iam.as_role(self.s3, role, model_name)
        return client

    # ARNs ---------------------------------------------------------------------------------------
    def _arn(self, resource: str, name: str) -> str:
        # SageMaker lower-cases resource names in ARNs.
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{resource}/{name.lower()}"

    # Control plane: dispatch --------------------------------------------------------------------
    def handle_control(self, operation: str, request: Document) -> Document:
        """Run one awsJson operation; raises ApiError for an error response."""
        handler = self._operations().get(operation)
        if handler is None:
            raise ApiError("UnknownOperationException", f"Operation {operation} is not supported by local SageMaker")
        try:
            return handler(request)
        except KeyError as exc:  # botocore validates required members; other clients may not
            raise validation(f"Missing required parameter {exc.args[0]}") from exc

    def _operations(self) -> dict[str, Callable[[Document], Document]]:
        return {
            "CreateTrainingJob": self._create_training_job,
            "DescribeTrainingJob": lambda r: self._describe_job(TRAINING, r),
            "StopTrainingJob": lambda r: self._stop_job(TRAINING, r),
            "CreateModel": self._create_model,
            "DescribeModel": lambda r: self._describe(self._models, "model", "model", r["ModelName"]),
            "DeleteModel": lambda r: self._delete(self._models, "model", "model", r["ModelName"]),
            "ListModels": lambda r: self._list(self._models, "Models", "Model", r),
            "CreateEndpointConfig": self._create_endpoint_config,
            "DescribeEndpointConfig": lambda r: self._describe(self._configs, *_CONFIG, r["EndpointConfigName"]),
            "DeleteEndpointConfig": lambda r: self._delete(self._configs, *_CONFIG, r["EndpointConfigName"]),
            "ListEndpointConfigs": lambda r: self._list(self._configs, "EndpointConfigs", "EndpointConfig", r),
            "CreateEndpoint": self._create_endpoint,
            "DescribeEndpoint": self._describe_endpoint,
            "UpdateEndpoint": self._update_endpoint,
            "DeleteEndpoint": self._delete_endpoint,
            "CreateTransformJob": self._create_transform_job,
            "DescribeTransformJob": lambda r: self._describe_job(TRANSFORM, r),
            "CreateProcessingJob": self._create_processing_job,
            "DescribeProcessingJob": lambda r: self._describe_job(PROCESSING, r),
            "StopProcessingJob": lambda r: self._stop_job(PROCESSING, r),
        }

    # Jobs: one path for every job type ------------------------------------------------------------
    def _new_job(self, kind: JobKind, request: Document, **members: Any) -> Document:
        """A job's Describe document: the request (without Tags) plus its name, ARN, InProgress and `members`."""
        name = _check_name(request[kind.key("Name")], f"{kind.noun.lower()}JobName")
        with self._lock:
            if name in self._jobs[kind.noun]:
                raise job_in_use(kind.noun, self._arn(f"{kind.noun.lower()}-job", name))
        description = {key: copy.deepcopy(value) for key, value in request.items() if key != "Tags"}
        description.update(
            {
                kind.key("Name"): name,
                kind.key("Arn"): self._arn(f"{kind.noun.lower()}-job", name),
                kind.key("Status"): "InProgress",
                "CreationTime": time.time(),
                **members,
            }
        )
        return description

    def _launch(self, kind: JobKind, description: Document, run: JobRun) -> Document:
        """Record the job and run it on a worker thread; Create*Job's answer."""
        name, arn = description[kind.key("Name")], description[kind.key("Arn")]
        with self._lock:
            if name in self._jobs[kind.noun]:  # created meanwhile by a concurrent request
                raise job_in_use(kind.noun, arn)
            self._jobs[kind.noun][name] = description
            self._runs[kind.noun, name] = run
        self._save()
        self._spawn(self._run_job, kind.noun, name, run, name=f"{kind.noun.lower()}-{name}")
        return {kind.key("Arn"): arn}

    def _run_job(self, noun: str, name: str, run: JobRun) -> None:
        try:
            run.run()
        finally:
            with self._lock:
                self._runs.pop((noun, name), None)

    def _describe_job(self, kind: JobKind, request: Document) -> Document:
        with self._lock:
            description = self._jobs[kind.noun].get(request[kind.key("Name")])
            if description is None:
                raise validation(kind.missing(request[kind.key("Name")]))
            return copy.deepcopy(description)

    def _stop_job(self, kind: JobKind, request: Document) -> Document:
        name = request[kind.key("Name")]
        with self._lock:
            description = self._jobs[kind.noun].get(name)
            if description is None:
                raise validation(kind.missing(name))
            run, status = self._runs.get((kind.noun, name)), description[kind.key("Status")]
            if status != "InProgress" or run is None:
                raise validation(f"The request was rejected because the {kind.noun.lower()} job is in status {status}.")
        run.request_stop("Stopped")
        return {}

    # Training -----------------------------------------------------------------------------------
    def _create_training_job(self, request: Document) -> Document:
        description = self._new_job(
            TRAINING,
            request,
            SecondaryStatus="Starting",
            SecondaryStatusTransitions=[],
            LastModifiedTime=time.time(),
            EnableNetworkIsolation=bool(request.get("EnableNetworkIsolation", False)),
            EnableInterContainerTrafficEncryption=bool(request.get("EnableInterContainerTrafficEncryption")),
            EnableManagedSpotTraining=bool(request.get("EnableManagedSpotTraining", False)),
        )
        _validate_training_request(request)
        name = description["TrainingJobName"]
        run = TrainingRun(
            TrainingJob(description),
            self.state_dir / "jobs" / name,
            s3=self.s3,
            env_cache=self.env_cache,
            region=self.region,
            lock=self._lock,
            save=self._save,
            injected_failure=self._take_fault("training_fails"),
        )
        return self._launch(TRAINING, description, run)

    # Processing (processing.py) --------------------------------------------------------------------
    def _create_processing_job(self, request: Document) -> Document:
        description = self._new_job(PROCESSING, request, LastModifiedTime=time.time())
        for item in request.get("ProcessingInputs") or []:
            if "S3Input" not in item or not str(item["S3Input"].get("LocalPath", "")).startswith("/opt/ml/processing/"):
                raise validation(
                    "Local SageMaker supports S3Input ProcessingInputs with a LocalPath under /opt/ml/processing/."
                )
        name = description["ProcessingJobName"]
        run = ProcessingRun(
            description,
            self.state_dir / "processing" / name,
            s3=self.s3,
            env_cache=self.env_cache,
            lock=self._lock,
            save=self._save,
        )
        return self._launch(PROCESSING, description, run)

    # Batch transform ----------------------------------------------------------------------------
    def _create_transform_job(self, request: Document) -> Document:
        description = self._new_job(TRANSFORM, request)
        source = request["TransformInput"]["DataSource"].get("S3DataSource") or {}
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise validation("Local SageMaker supports TransformInput S3DataSource with S3DataType S3Prefix only.")
        for uri in (source["S3Uri"], request["TransformOutput"]["S3OutputPath"]):
            try:
                s3io.split_uri(uri)
            except ValueError:
                raise validation(f"Invalid S3 URI {uri!r}: expected an s3:// URI.") from None
        if request["TransformInput"].get("SplitType", "None") not in ("None", "Line"):
            raise validation("Local SageMaker supports SplitType None or Line.")
        name = description["TransformJobName"]
        with self._lock:
            model = self._models.get(request["ModelName"])
            if model is None:
                raise not_found("model", self._arn("model", request["ModelName"]))
            spec = _model_spec(model, name, request.get("Environment"))
        run = TransformRun(
            description,
            spec,
            self.state_dir / "transforms" / name,
            s3=self._model_s3(spec.model_name),
            backend_factory=self._backend_factory,
            env_cache=self.env_cache,
            health_timeout=self.health_timeout,
            stopping=self._stopping,
            lock=self._lock,
            save=self._save,
            fail_health=self._take_fault("green_unhealthy"),
        )
        return self._launch(TRANSFORM, description, run)

    # Models -------------------------------------------------------------------------------------
    def _create_model(self, request: Document) -> Document:
        name = _check_name(request["ModelName"], "modelName")
        if "PrimaryContainer" not in request:
            raise validation("Local SageMaker supports models with a PrimaryContainer only (no Containers list).")
        arn = self._arn("model", name)
        description = {
            "ModelName": name,
            "ModelArn": arn,
            "PrimaryContainer": copy.deepcopy(request["PrimaryContainer"]),
            "CreationTime": time.time(),
            "EnableNetworkIsolation": bool(request.get("EnableNetworkIsolation", False)),
        }
        if "ExecutionRoleArn" in request:
            description["ExecutionRoleArn"] = request["ExecutionRoleArn"]
        with self._lock:
            if name in self._models:
                raise already_exists("model", arn)
            self._models[name] = description
        self._save()
        return {"ModelArn": arn}

    def _describe(self, store: dict[str, Document], kind: str, resource: str, name: str) -> Document:
        with self._lock:
            if name not in store:
                raise not_found(kind, self._arn(resource, name))
            return copy.deepcopy(store[name])

    def _list(self, store: dict[str, Document], key: str, prefix: str, request: Document) -> Document:
        """ListModels / ListEndpointConfigs: summaries (name, ARN, CreationTime) filtered by NameContains and the
        CreationTime bounds, sorted (default CreationTime, Descending), in pages of MaxResults (1-100; 10 when
        absent, as SageMaker's List* APIs) with an opaque NextToken
        (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListModels.html, API_ListEndpointConfigs.html).
        """
        limit = int(request.get("MaxResults", 10))
        if not 1 <= limit <= 100:  # the documented range
            raise validation(f"Value {limit} at 'maxResults' failed to satisfy constraint: Member must be in 1-100")
        contains = str(request.get("NameContains", ""))
        after, before = request.get("CreationTimeAfter"), request.get("CreationTimeBefore")
        with self._lock:
            found = [
                {
                    f"{prefix}Name": d[f"{prefix}Name"],
                    f"{prefix}Arn": d[f"{prefix}Arn"],
                    "CreationTime": d["CreationTime"],
                }
                for d in store.values()
                if contains in d[f"{prefix}Name"]
                and (after is None or d["CreationTime"] >= float(after))
                and (before is None or d["CreationTime"] < float(before))
            ]
        by = f"{prefix}Name" if request.get("SortBy") == "Name" else "CreationTime"
        found.sort(key=lambda d: d[by], reverse=request.get("SortOrder", "Descending") == "Descending")
        try:
            start = int(request.get("NextToken") or 0)
        except ValueError as exc:
            raise validation("Invalid pagination token") from exc
        page: Document = {key: found[start : start + limit]}
        if start + limit < len(found):
            page["NextToken"] = str(start + limit)
        return page

    def _delete(self, store: dict[str, Document], kind: str, resource: str, name: str) -> Document:
        # SageMaker lets you delete a configuration (and its model) an endpoint still runs: the endpoint keeps
        # serving. So do we: a backend holds its own ContainerSpec.
        with self._lock:
            if store.pop(name, None) is None:
                raise not_found(kind, self._arn(resource, name))
        self._save()
        return {}

    # Endpoint configurations --------------------------------------------------------------------
    def _create_endpoint_config(self, request: Document) -> Document:
        name = _check_name(request["EndpointConfigName"], "endpointConfigName")
        variants = request["ProductionVariants"]
        if not isinstance(variants, list) or len(variants) != 1:
            raise validation("Local SageMaker supports exactly one production variant per endpoint configuration.")
        variant = variants[0]
        _validate_serverless(variant)
        arn = self._arn("endpoint-config", name)
        with self._lock:
            if name in self._configs:
                raise already_exists("endpoint configuration", arn)
            if variant["ModelName"] not in self._models:
                raise not_found("model", self._arn("model", variant["ModelName"]))
            self._configs[name] = {
                "EndpointConfigName": name,
                "EndpointConfigArn": arn,
                "ProductionVariants": copy.deepcopy(variants),
                "CreationTime": time.time(),
            }
        self._save()
        return {"EndpointConfigArn": arn}

    def _container_spec(self, config_name: str) -> ContainerSpec:
        """Resolve config → model → primary container now (later deletions do not affect the deployment)."""
        config = self._configs.get(config_name)
        if config is None:
            raise not_found("endpoint configuration", self._arn("endpoint-config", config_name))
        variant = config["ProductionVariants"][0]
        model = self._models.get(variant["ModelName"])
        if model is None:
            raise not_found("model", self._arn("model", variant["ModelName"]))
        return _model_spec(model, config_name, variant=variant)

    # Endpoints ----------------------------------------------------------------------------------
    def _create_endpoint(self, request: Document) -> Document:
        name = _check_name(request["EndpointName"], "endpointName")
        arn = self._arn("endpoint", name)
        with self._lock:
            if name in self._endpoints:
                raise already_exists("endpoint", arn)
            spec = self._container_spec(request["EndpointConfigName"])
            now = time.time()
            endpoint = Endpoint(
                {
                    "EndpointName": name,
                    "EndpointArn": arn,
                    "EndpointConfigName": spec.config_name,
                    "EndpointStatus": "Creating",
                    "CreationTime": now,
                    "LastModifiedTime": now,
                },
                pending=spec,
            )
            self._endpoints[name] = endpoint
        self._save()
        self._spawn(self._deploy, endpoint, spec, False, name=f"create-{name}")
        return {"EndpointArn": arn}

    def _update_endpoint(self, request: Document) -> Document:
        name = request["EndpointName"]
        arn = self._arn("endpoint", name)
        with self._lock:
            endpoint = self._endpoints.get(name)
            if endpoint is None:
                raise not_found("endpoint", arn)
            if endpoint.status in ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"):
                raise validation(f'Cannot update in-progress endpoint "{arn}".')
            if endpoint.status != "InService":
                raise validation(f'Cannot update endpoint "{arn}" in status {endpoint.status}.')
            spec = self._container_spec(request["EndpointConfigName"])
            endpoint.description["EndpointStatus"] = "Updating"
            endpoint.description["LastModifiedTime"] = time.time()
            endpoint.description.pop("FailureReason", None)
            endpoint.pending = spec
        self._save()
        self._spawn(self._deploy, endpoint, spec, True, name=f"update-{name}")
        return {"EndpointArn": arn}

    def _describe_endpoint(self, request: Document) -> Document:
        name = request["EndpointName"]
        with self._lock:
            endpoint = self._endpoints.get(name)
            if endpoint is None:
                raise not_found("endpoint", self._arn("endpoint", name))
            description = copy.deepcopy(endpoint.description)
            if endpoint.deployed is not None and endpoint.status in ("InService", "Updating"):
                description["ProductionVariants"] = [_variant_summary(endpoint.deployed)]
            if endpoint.status in ("Creating", "Updating") and endpoint.pending is not None:
                description["PendingDeploymentSummary"] = {
                    "EndpointConfigName": endpoint.pending.config_name,
                    "StartTime": endpoint.description["LastModifiedTime"],
                }
            return description

    def _delete_endpoint(self, request: Document) -> Document:
        # Asynchronous, as in SageMaker: Deleting, then gone; the name stays taken until then
        # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteEndpoint.html).
        name = request["EndpointName"]
        with self._lock:
            endpoint = self._endpoints.get(name)
            if endpoint is None:
                raise not_found("endpoint", self._arn("endpoint", name))
            if endpoint.deleted:
                return {}  # already on its way out
            endpoint.deleted = True
            endpoint.description.update(EndpointStatus="Deleting", LastModifiedTime=time.time())
            endpoint.description.pop("FailureReason", None)
            backend, endpoint.backend = endpoint.backend, None
        self._save()
        self._spawn(self._finish_delete, endpoint, backend, name=f"delete-{name}")
        return {}

    def _finish_delete(self, endpoint: Endpoint, backend: BackendLike | None) -> None:
        started = time.monotonic()
        if backend is not None:
            backend.drain(DELETE_DRAIN_SECONDS)
            backend.terminate()
        self._stopping.wait(max(0.0, self.delete_seconds - (time.monotonic() - started)))
        with self._lock:
            if self._endpoints.get(endpoint.name) is endpoint:
                del self._endpoints[endpoint.name]
        self._save()
        logger.info("endpoint %s: deleted", endpoint.name)

    def _new_backend(self, endpoint: Endpoint, spec: ContainerSpec) -> BackendLike:
        with self._lock:
            endpoint.generation += 1
            directory = self.state_dir / "endpoints" / endpoint.name / f"{endpoint.generation:04d}-{spec.config_name}"
        return self._backend_factory(spec, directory, self.env_cache)

    def _deploy(self, endpoint: Endpoint, spec: ContainerSpec, is_update: bool) -> None:
        """Worker: start a backend for spec; on health switch traffic to it (draining blue), else keep blue."""
        backend = self._new_backend(endpoint, spec)
        try:
            backend.start(
                self._model_s3(spec.model_name),
                timeout=self.health_timeout,
                stopping=self._stopping,
                fail_health=self._take_fault("green_unhealthy"),
                wrong_answers=self._take_fault("green_wrong_answers") is not None,
            )
        except Exception as exc:
            reason = str(exc) if isinstance(exc, ContainerError) else f"{PING_FAILURE} ({exc})"
            self._deploy_failed(endpoint, is_update, reason)
            return
        with self._lock:
            if endpoint.deleted or self._stopping.is_set():
                abandoned: BackendLike | None = backend
                blue = None
            else:
                # The switch: new requests route to green from here on; blue keeps what it already accepted.
                abandoned = None
                blue, endpoint.backend = endpoint.backend, backend
                endpoint.deployed = spec
        if abandoned is not None:
            abandoned.terminate()
            return
        if blue is not None:
            if not blue.drain(DRAIN_TIMEOUT_SECONDS):
                logger.warning("endpoint %s: blue still had requests in flight after the drain timeout", endpoint.name)
            blue.terminate()
        with self._lock:
            endpoint.description.update(
                EndpointStatus="InService", EndpointConfigName=spec.config_name, LastModifiedTime=time.time()
            )
            endpoint.description.pop("FailureReason", None)
            endpoint.pending = None
        self._save()
        logger.info("endpoint %s: InService on %s", endpoint.name, spec.config_name)

    def _deploy_failed(self, endpoint: Endpoint, is_update: bool, reason: str) -> None:
        with self._lock:
            if endpoint.deleted:
                return
            if self._stopping.is_set():
                # Not the container's fault: leave the endpoint as it was so start() can pick it up again.
                return
            endpoint.pending = None
            endpoint.description["LastModifiedTime"] = time.time()
            endpoint.description["FailureReason"] = reason
            if is_update and endpoint.backend is not None:
                # SageMaker's failed blue/green update: blue never stopped serving; back to InService on it.
                endpoint.description["EndpointStatus"] = "InService"
            else:
                endpoint.description["EndpointStatus"] = "Failed"
        self._save()
        logger.warning("endpoint %s: deployment failed: %s", endpoint.name, reason)

    # Runtime ------------------------------------------------------------------------------------
    def handle_invoke(self, endpoint_name: str, body: bytes, headers: dict[str, str]) -> tuple[bytes, str | None, str]:
        """InvokeEndpoint: (body, content type, the production variant of the config that answered).

        SageMaker names the variant that served each request in InvokedProductionVariant; during a blue/green
        swap that is blue's or green's, whichever backend took the request.
        """
        transient = self._take_fault("invoke_transient")
        if transient is not None:
            raise service_unavailable(transient)
        with self._lock:
            endpoint = self._endpoints.get(endpoint_name)
            backend = None
            if endpoint is not None and endpoint.status in ("InService", "Updating"):
                backend = endpoint.backend
            # Acquire under the endpoint lock: the switch happens under it too, so a backend handed out here
            # cannot have started draining yet.
            if backend is None or not backend.acquire():
                raise ApiError("ValidationError", f"Endpoint {endpoint_name} of account {self.account} not found.")
            delay = self._cold_start_delay(backend)
        try:
            if delay > 0:
                logger.info("endpoint %s: cold start, %.1f s", endpoint_name, delay)
                time.sleep(delay)
            status, payload, content_type = backend.invoke(body, headers)
        except OSError as exc:
            logger.warning("endpoint %s: backend unreachable: %s", endpoint_name, exc)
            raise ApiError(
                "ModelError",
                f"An exception occurred while sending request to model. Please contact customer support "
                f"regarding request {uuid.uuid4()}.",
                status=424,
            ) from exc
        finally:
            backend.release()
        if status >= 400:
            raise self._model_error(endpoint_name, status, payload)
        return payload, content_type, backend.spec.variant_name

    def _cold_start_delay(self, backend: BackendLike) -> float:
        """Seconds this invocation waits for the instance (called under the lock).

        The first invocation after a deploy or after `idle_seconds` without traffic starts a cold start; every
        invocation that arrives while it runs waits for the same instance, not for one of its own.
        """
        now = time.monotonic()
        warmth = self._warmth.get(backend)
        if warmth is None or now - warmth[1] > self.idle_seconds:
            warmth = [now + self.cold_start_seconds, now]
            self._warmth[backend] = warmth
        warmth[1] = max(now, warmth[0])
        return max(0.0, warmth[0] - now)

    def _model_error(self, endpoint_name: str, status: int, payload: bytes) -> ApiError:
        text = payload.decode("utf-8", errors="replace")
        kind = "client" if status < 500 else "server"
        log_group = f"/aws/sagemaker/Endpoints/{endpoint_name}"
        return ApiError(
            "ModelError",
            f'Received {kind} error ({status}) from primary with message "{text}". See '
            f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#logEventViewer:group={log_group} in account {self.account} for more information.",
            status=424,
            ErrorCode=f"{kind.upper()}_ERROR_FROM_MODEL",
            OriginalStatusCode=status,
            OriginalMessage=text,
            LogStreamArn=f"arn:aws:logs:{self.region}:{self.account}:log-group:{log_group}",
        )

    # Persistence --------------------------------------------------------------------------------
    def _save(self) -> None:
        with self._lock:
            state = {
                "version": STATE_VERSION,
                **{f"{noun.lower()}_jobs": jobs for noun, jobs in self._jobs.items()},
                "models": self._models,
                "endpoint_configs": self._configs,
                "endpoints": {
                    name: {
                        "description": endpoint.description,
                        "deployed": endpoint.deployed.to_json() if endpoint.deployed else None,
                        "pending": endpoint.pending.to_json() if endpoint.pending else None,
                        "generation": endpoint.generation,
                    }
                    for name, endpoint in self._endpoints.items()
                },
            }
            self.state_dir.mkdir(parents=True, exist_ok=True)
            # Write-then-rename: a crash mid-write must leave the previous state readable.
            write_private(self.state_dir / "state.json", json.dumps(state, indent=1, sort_keys=True))

    def _restore(self) -> None:
        path = self.state_dir / "state.json"
        if not path.is_file():
            return
        state = json.loads(path.read_text(encoding="utf-8"))
        if state.get("version") != STATE_VERSION:
            raise RuntimeError(f"{path}: unsupported state version {state.get('version')!r}")
        restarts: list[tuple[Endpoint, ContainerSpec]] = []
        with self._lock:
            for kind in JOB_KINDS:
                self._jobs[kind.noun] = _lost_jobs_failed(kind, state.get(f"{kind.noun.lower()}_jobs", {}))
            self._models = state["models"]
            self._configs = state["endpoint_configs"]
            for name, record in state["endpoints"].items():
                endpoint = Endpoint(
                    record["description"],
                    deployed=ContainerSpec.from_json(record["deployed"]) if record["deployed"] else None,
                    pending=ContainerSpec.from_json(record["pending"]) if record.get("pending") else None,
                    generation=int(record.get("generation", 0)),
                )
                status = endpoint.status
                if status == "Deleting":
                    continue
                self._endpoints[name] = endpoint
                if status == "Updating":
                    # The update died with the previous service: as a failed update, blue carries on.
                    endpoint.description.update(
                        EndpointStatus="InService",
                        FailureReason="The update was interrupted: the local SageMaker service stopped.",
                    )
                    endpoint.pending = None
                    status = "InService"
                if status == "InService" and endpoint.deployed is not None:
                    restarts.append((endpoint, endpoint.deployed))
                elif status == "Creating" and endpoint.pending is not None:
                    restarts.append((endpoint, endpoint.pending))
        threads = [
            threading.Thread(target=self._restart, args=(endpoint, spec), name=f"restore-{endpoint.name}", daemon=True)
            for endpoint, spec in restarts
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self._save()

    def _restart(self, endpoint: Endpoint, spec: ContainerSpec) -> None:
        """Bring a persisted endpoint's container back (a new process; the status does not change on success)."""
        if endpoint.status == "Creating":
            self._deploy(endpoint, spec, False)
            return
        backend = self._new_backend(endpoint, spec)
        try:
            backend.start(self._model_s3(spec.model_name), timeout=self.health_timeout, stopping=self._stopping)
        except Exception as exc:
            with self._lock:
                endpoint.description.update(
                    EndpointStatus="Failed", FailureReason=str(exc), LastModifiedTime=time.time()
                )
            logger.warning("endpoint %s: could not be restored: %s", endpoint.name, exc)
            return
        with self._lock:
            endpoint.backend = backend


def _model_spec(
    model: Document, config_name: str, environment: Document | None = None, variant: Document | None = None
) -> ContainerSpec:
    """What runs the model's primary container: its Environment (a transform job's on top), the variant's config."""
    container = model["PrimaryContainer"]
    merged = {**(container.get("Environment") or {}), **(environment or {})}
    return ContainerSpec(
        config_name=config_name,
        model_name=model["ModelName"],
        model_data_url=str(container.get("ModelDataUrl", "")),
        environment={str(k): str(v) for k, v in merged.items()},
        image=str(container.get("Image", "")),
        serverless_config=dict(variant["ServerlessConfig"]) if variant else {},
        variant_name=str(variant.get("VariantName", VARIANT_NAME)) if variant else VARIANT_NAME,
    )


def _lost_jobs_failed(kind: JobKind, jobs: dict[str, Document]) -> dict[str, Document]:
    """Jobs that were running when the previous service died: SageMaker would never lose them, but they are gone."""
    for description in jobs.values():
        if description[kind.key("Status")] in ("InProgress", "Stopping"):
            now = time.time()
            description.update(
                {kind.key("Status"): "Failed", kind.end_time: now},
                FailureReason="InternalServerError: the local SageMaker service stopped while the job was running",
            )
            for member, value in (("SecondaryStatus", "Failed"), ("LastModifiedTime", now)):
                if member in description:
                    description[member] = value
    return jobs


# Validation helpers -----------------------------------------------------------------------------
def _check_name(value: Any, member: str) -> str:
    """SageMaker's length and pattern constraints on a resource name, answered in its own words."""
    pattern, max_length = name_constraint(member)
    text = str(value)
    problems = []
    if len(text) > max_length:
        problems.append(f"Member must have length less than or equal to {max_length}")
    if not isinstance(value, str) or not re.fullmatch(pattern, text):
        problems.append(f"Member must satisfy regular expression pattern: ^{pattern}")
    if problems:
        count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected"
        details = "; ".join(f"Value '{text}' at '{member}' failed to satisfy constraint: {p}" for p in problems)
        raise validation(f"{count}: {details}")
    return text


def _validate_training_request(request: Document) -> None:
    algorithm = request["AlgorithmSpecification"]
    if not algorithm.get("TrainingImage") and not algorithm.get("AlgorithmName"):
        raise validation("AlgorithmSpecification must specify a TrainingImage or an AlgorithmName.")
    if algorithm.get("MetricDefinitions"):  # no product path scrapes metrics: refused, not silently left out
        raise validation("Local SageMaker does not support MetricDefinitions (no FinalMetricDataList).")
    output_path = request["OutputDataConfig"]["S3OutputPath"]
    try:
        s3io.split_uri(output_path)
    except ValueError:
        raise validation(f"Invalid S3OutputPath {output_path!r}: expected an s3:// URI.") from None
    names = set()
    for channel in request.get("InputDataConfig") or []:
        name = channel["ChannelName"]
        if name in names:
            raise validation(f"Channel names must be unique; {name!r} is repeated.")
        names.add(name)
        source = channel["DataSource"].get("S3DataSource")
        if source is None or source.get("S3DataType") != "S3Prefix":
            raise validation(f"Channel {name}: local SageMaker supports S3DataSource with S3DataType S3Prefix only.")
        try:
            s3io.split_uri(source["S3Uri"])
        except ValueError:
            raise validation(f"Channel {name}: invalid S3Uri {source['S3Uri']!r}.") from None
    stopping = request.get("StoppingCondition") or {}
    if request.get("EnableManagedSpotTraining"):
        max_wait = stopping.get("MaxWaitTimeInSeconds")
        if max_wait is None or max_wait < stopping.get("MaxRuntimeInSeconds", 86_400):
            raise validation(
                "Invalid MaxWaitTimeInSeconds. It must be present and be greater than or equal to MaxRuntimeInSeconds"
            )


def _validate_serverless(variant: Document) -> None:
    serverless = variant.get("ServerlessConfig")
    if serverless is None:
        raise validation(
            f"ProductionVariant {variant.get('VariantName')}: local SageMaker serves serverless variants only "
            "(ServerlessConfig is required)."
        )
    memory = serverless.get("MemorySizeInMB")
    if memory not in SERVERLESS_MEMORY_MB:
        raise validation(
            f"Value '{memory}' at 'productionVariants.1.member.serverlessConfig.memorySizeInMB' failed to satisfy "
            f"constraint: Member must be one of {list(SERVERLESS_MEMORY_MB)}"
        )
    concurrency = serverless.get("MaxConcurrency")
    if not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_SERVERLESS_CONCURRENCY:
        raise validation(
            f"Value '{concurrency}' at 'productionVariants.1.member.serverlessConfig.maxConcurrency' failed to "
            f"satisfy constraint: Member must have value between 1 and {MAX_SERVERLESS_CONCURRENCY}"
        )


def _variant_summary(spec: ContainerSpec) -> Document:
    return {
        "VariantName": spec.variant_name,
        "DeployedImages": [{"SpecifiedImage": spec.image, "ResolvedImage": spec.image}],
        "CurrentWeight": 1.0,
        "DesiredWeight": 1.0,
        "CurrentServerlessConfig": spec.serverless_config,
        "DesiredServerlessConfig": spec.serverless_config,
    }


# HTTP -------------------------------------------------------------------------------------------
class _Handler(WSGIRequestHandler):
    timeout = INVOKE_TIMEOUT_SECONDS + 5  # an idle keep-alive connection does not pin a thread forever

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug('"%s" %s', self.requestline, code)


_INVOCATIONS_PATH = re.compile(r"^/endpoints/([^/]+)/invocations$")
_FORWARDED_HEADERS = ("Content-Type", "Accept", "X-Amzn-SageMaker-Custom-Attributes")


def _route(service: LocalSageMaker, request: Request) -> Response:
    """One server, both protocols: awsJson `POST /` with X-Amz-Target, rest-json invocations, and _local."""
    target = request.headers.get("X-Amz-Target")
    invocation = _INVOCATIONS_PATH.match(request.path)
    if request.method == "POST" and request.path == "/" and target:
        return _control(service, target, request.get_data())
    if request.method == "POST" and invocation:
        return _invoke(service, invocation.group(1), request)
    if request.method == "POST" and request.path == "/_local/faults":
        return _fault(service, request.get_data())
    if request.method == "GET" and request.path == "/_local/health":
        return _json(200, {"status": "ok"})
    return _json(404, {"message": f"no route for {request.method} {request.path}"})


def _control(service: LocalSageMaker, target: str, body: bytes) -> Response:
    prefix, _, operation = target.partition(".")
    try:
        if prefix != "SageMaker":
            raise ApiError("UnknownOperationException", f"Unknown target {target}")
        try:
            request = json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            raise ApiError("SerializationException", f"Request body is not valid JSON: {exc}") from None
        if not isinstance(request, dict):
            raise ApiError("SerializationException", "Request body must be a JSON object")
        return _json(200, service.handle_control(operation, request), JSON_CONTENT_TYPE)
    except ApiError as exc:
        return _json(exc.status, {"__type": exc.code, "message": exc.message}, JSON_CONTENT_TYPE)
    except Exception as exc:
        logger.exception("SageMaker.%s failed", operation)
        return _json(500, {"__type": "InternalFailure", "message": str(exc)}, JSON_CONTENT_TYPE)


def _invoke(service: LocalSageMaker, endpoint_name: str, request: Request) -> Response:
    headers = {name: value for name in _FORWARDED_HEADERS if (value := request.headers.get(name)) is not None}
    try:
        payload, content_type, variant = service.handle_invoke(endpoint_name, request.get_data(), headers)
    except ApiError as exc:
        # rest-json: botocore takes the code from x-amzn-ErrorType and the modeled members from the body.
        document = {"Message" if exc.code == "ModelError" else "message": exc.message, **exc.fields}
        return _json(exc.status, document, "application/json", {"x-amzn-ErrorType": exc.code})
    except Exception as exc:
        logger.exception("InvokeEndpoint %s failed", endpoint_name)
        return _json(500, {"message": str(exc)}, "application/json", {"x-amzn-ErrorType": "InternalFailure"})
    return _response(200, payload, content_type or "application/json", {"x-Amzn-Invoked-Production-Variant": variant})


def _fault(service: LocalSageMaker, body: bytes) -> Response:
    try:
        request = json.loads(body or b"{}")
        service.inject_fault(
            request["kind"], str(request.get("message", "injected fault")), int(request.get("count", 1))
        )
    except (ValueError, KeyError, TypeError) as exc:
        return _json(400, {"message": f"bad fault request: {exc}"})
    return _json(200, {"injected": request["kind"]})


def _json(
    status: int, document: Document, content_type: str = "application/json", headers: Document | None = None
) -> Response:
    return _response(status, json.dumps(document).encode("utf-8"), content_type, headers)


def _response(status: int, body: bytes, content_type: str, headers: Document | None = None) -> Response:
    response = Response(body, status=status, content_type=content_type)
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    for name, value in (headers or {}).items():
        response.headers[name] = str(value)
    return response
