"""The local SageMaker's control plane and runtime rules, in-process: no sockets, no processes.

The service runs with an in-process backend (what `hosting.Backend` does with a real model-server process is
covered by tests/local/sagemaker). Each rule cites the AWS behaviour it reproduces.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from challenger.local.sagemaker import service as service_module
from challenger.local.sagemaker.errors import ApiError
from challenger.local.sagemaker.hosting import PING_FAILURE, ContainerError, ContainerSpec, perturb
from challenger.local.sagemaker.service import LocalSageMaker
from tests.support.clock import Clock

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
ARN = "arn:aws:sagemaker:us-east-1:123456789012"


class FakeBackend:
    """An endpoint "container" that is healthy at once (or when `gate` opens) and echoes what served."""

    gate: threading.Event | None = None

    def __init__(self, spec: ContainerSpec, directory: Path, env_cache: Path | None) -> None:
        self.spec = spec
        self.wrong_answers = False
        self.terminated = False

    def start(
        self,
        s3: Any,
        *,
        timeout: float,
        stopping: threading.Event,
        fail_health: str | None = None,
        wrong_answers: bool = False,
    ) -> None:
        if FakeBackend.gate is not None:
            FakeBackend.gate.wait(5)
        if fail_health is not None:
            raise ContainerError(f"{PING_FAILURE} ({fail_health})")
        self.wrong_answers = wrong_answers

    def acquire(self) -> bool:
        return not self.terminated

    def release(self) -> None:
        pass

    def drain(self, timeout: float) -> bool:
        return True

    def terminate(self) -> None:
        self.terminated = True

    def invoke(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
        answer = json.dumps({"config": self.spec.config_name, "label": 1, "score": 0.9}).encode()
        return 200, perturb(answer) if self.wrong_answers else answer, "application/json"


@pytest.fixture
def sm(tmp_path: Path) -> Iterator[LocalSageMaker]:
    FakeBackend.gate = None
    service = LocalSageMaker(
        state_dir=tmp_path,
        s3_endpoint_url="http://127.0.0.1:9",  # never contacted: FakeBackend downloads nothing
        cold_start_seconds=0.0,
        delete_seconds=0.3,
        backend_factory=FakeBackend,
    )
    yield service
    FakeBackend.gate = None
    service.stop()


def call(sm: LocalSageMaker, operation: str, **request: Any) -> dict[str, Any]:
    return sm.handle_control(operation, request)


def error_of(sm: LocalSageMaker, operation: str, **request: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        sm.handle_control(operation, request)
    return caught.value


def serverless(memory: Any = 2048, concurrency: Any = 5) -> dict[str, Any]:
    return {"MemorySizeInMB": memory, "MaxConcurrency": concurrency}


def create_config(sm: LocalSageMaker, name: str, model: str = "m1") -> None:
    if model not in sm._models:
        call(sm, "CreateModel", ModelName=model, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://b/m"})
    call(
        sm,
        "CreateEndpointConfig",
        EndpointConfigName=name,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": model, "ServerlessConfig": serverless()}],
    )


def status(sm: LocalSageMaker, name: str) -> str:
    return str(call(sm, "DescribeEndpoint", EndpointName=name)["EndpointStatus"])


def wait_status(sm: LocalSageMaker, name: str, wanted: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while status(sm, name) != wanted:
        assert time.monotonic() < deadline, f"{name} never became {wanted} (is {status(sm, name)})"
        time.sleep(0.01)


def live_endpoint(sm: LocalSageMaker, name: str = "ep", config: str = "cfg-1") -> None:
    create_config(sm, config)
    call(sm, "CreateEndpoint", EndpointName=name, EndpointConfigName=config)
    wait_status(sm, name, "InService")


def invoke(sm: LocalSageMaker, name: str = "ep") -> dict[str, Any]:
    body, _, _ = sm.handle_invoke(name, b"{}", {"Content-Type": "application/json"})
    return dict(json.loads(body))


# DeleteEndpoint: asynchronous ---------------------------------------------------------------------------------
def test_delete_endpoint_answers_deleting_then_the_endpoint_is_gone(sm: LocalSageMaker) -> None:
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html: EndpointStatus
    # "Deleting: Endpoint is being deleted"; the endpoint disappears only when that is done.
    live_endpoint(sm)
    assert call(sm, "DeleteEndpoint", EndpointName="ep") == {}
    assert status(sm, "ep") == "Deleting"
    with pytest.raises(ApiError, match="not found"):
        invoke(sm)  # a Deleting endpoint serves nothing
    deadline = time.monotonic() + 5
    while "ep" in sm._endpoints:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    gone = error_of(sm, "DescribeEndpoint", EndpointName="ep")
    assert gone.message == f'Could not find endpoint "{ARN}:endpoint/ep".'


def test_create_endpoint_with_the_name_of_a_deleting_one_is_refused_until_it_is_gone(sm: LocalSageMaker) -> None:
    live_endpoint(sm)
    call(sm, "DeleteEndpoint", EndpointName="ep")
    refused = error_of(sm, "CreateEndpoint", EndpointName="ep", EndpointConfigName="cfg-1")
    assert (refused.code, refused.message) == (
        "ValidationException",
        f'Cannot create already existing endpoint "{ARN}:endpoint/ep".',
    )
    deadline = time.monotonic() + 5
    while True:
        try:
            call(sm, "CreateEndpoint", EndpointName="ep", EndpointConfigName="cfg-1")
            break
        except ApiError:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    wait_status(sm, "ep", "InService")


def test_update_of_a_deleting_endpoint_is_refused(sm: LocalSageMaker) -> None:
    live_endpoint(sm)
    create_config(sm, "cfg-2")
    call(sm, "DeleteEndpoint", EndpointName="ep")
    refused = error_of(sm, "UpdateEndpoint", EndpointName="ep", EndpointConfigName="cfg-2")
    assert refused.message == f'Cannot update in-progress endpoint "{ARN}:endpoint/ep".'


# UpdateEndpoint while Creating/Updating -------------------------------------------------------------------------
@pytest.mark.parametrize("busy", ["Creating", "Updating"])
def test_update_endpoint_is_refused_while_the_endpoint_is_creating_or_updating(sm: LocalSageMaker, busy: str) -> None:
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html: "You must not delete
    # an EndpointConfig in use ... or update while it is Creating/Updating"; SageMaker answers ValidationException.
    create_config(sm, "cfg-1")
    create_config(sm, "cfg-2")
    create_config(sm, "cfg-3")
    if busy == "Updating":
        call(sm, "CreateEndpoint", EndpointName="ep", EndpointConfigName="cfg-1")
        wait_status(sm, "ep", "InService")
    FakeBackend.gate = threading.Event()
    if busy == "Creating":
        call(sm, "CreateEndpoint", EndpointName="ep", EndpointConfigName="cfg-1")
    else:
        call(sm, "UpdateEndpoint", EndpointName="ep", EndpointConfigName="cfg-2")
    assert status(sm, "ep") == busy
    refused = error_of(sm, "UpdateEndpoint", EndpointName="ep", EndpointConfigName="cfg-3")
    assert (refused.code, refused.message) == (
        "ValidationException",
        f'Cannot update in-progress endpoint "{ARN}:endpoint/ep".',
    )
    FakeBackend.gate.set()
    wait_status(sm, "ep", "InService")


# Serverless cold start ------------------------------------------------------------------------------------------
@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock.install(monkeypatch, service_module)


def test_first_invocation_after_a_deploy_waits_the_cold_start_and_the_next_does_not(
    sm: LocalSageMaker, clock: Clock
) -> None:
    # https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html: an endpoint that has not
    # received traffic (new, or idle) launches compute on demand; the first requests see a cold start.
    sm.cold_start_seconds = 3
    live_endpoint(sm)
    invoke(sm)
    assert clock.waits == [3]
    clock.now = 3
    invoke(sm)
    assert clock.waits == [3]


def test_an_invocation_during_the_cold_start_waits_for_the_same_instance(sm: LocalSageMaker, clock: Clock) -> None:
    sm.cold_start_seconds = 3
    live_endpoint(sm)
    invoke(sm)
    clock.now = 1
    invoke(sm)  # the instance the first one started is up at 3: two more seconds, not a cold start of its own
    clock.now = 3
    invoke(sm)
    assert clock.waits == [3, 2]


def test_concurrent_invocations_wait_out_the_cold_start_side_by_side(sm: LocalSageMaker, clock: Clock) -> None:
    # While the first invocation waits for the instance, the next is admitted and waits too (not behind it).
    sm.cold_start_seconds = 3
    live_endpoint(sm)
    wake = clock.hold_first_sleep()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(invoke, sm)
        assert clock.asleep.wait(5)
        clock.now = 1
        assert pool.submit(invoke, sm).result(timeout=5)["config"] == "cfg-1"
        assert not first.done()
        wake.set()
        assert first.result(timeout=5)["config"] == "cfg-1"
    assert clock.waits == [3, 2]


def test_an_idle_endpoint_is_cold_again(sm: LocalSageMaker, clock: Clock) -> None:
    sm.cold_start_seconds = 2
    sm.idle_seconds = 10
    live_endpoint(sm)
    invoke(sm)  # warm from 2
    clock.now = 11  # idle 9 s: still warm
    invoke(sm)
    assert clock.waits == [2]
    clock.now = 22  # idle 11 s: scaled to zero
    invoke(sm)
    assert clock.waits == [2, 2]


def test_a_new_config_deployed_by_update_starts_cold(sm: LocalSageMaker, clock: Clock) -> None:
    sm.cold_start_seconds = 2
    live_endpoint(sm)
    invoke(sm)
    clock.now = 5
    invoke(sm)
    assert clock.waits == [2]
    create_config(sm, "cfg-2")
    call(sm, "UpdateEndpoint", EndpointName="ep", EndpointConfigName="cfg-2")
    wait_status(sm, "ep", "InService")
    assert invoke(sm)["config"] == "cfg-2"
    assert clock.waits == [2, 2]


def test_the_cold_start_is_non_zero_by_default_and_set_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(service_module.COLD_START_ENV, raising=False)
    default = LocalSageMaker(state_dir=tmp_path / "a", s3_endpoint_url="http://127.0.0.1:9")
    monkeypatch.setenv(service_module.COLD_START_ENV, "0.25")
    configured = LocalSageMaker(state_dir=tmp_path / "b", s3_endpoint_url="http://127.0.0.1:9")
    assert default.cold_start_seconds == service_module.DEFAULT_COLD_START_SECONDS > 0
    assert configured.cold_start_seconds == 0.25


def test_a_container_has_serverless_three_minutes_to_answer_ping_by_default(tmp_path: Path) -> None:
    # AWS: "The model must download and the server must respond successfully to /ping within 3 minutes"
    # (serverless); the image's stack takes seconds to start, more on a busy machine (issue 16).
    default = LocalSageMaker(state_dir=tmp_path, s3_endpoint_url="http://127.0.0.1:9")
    assert default.health_timeout == service_module.HEALTH_TIMEOUT_SECONDS == 180


# Names ------------------------------------------------------------------------------------------------------------
LENGTH = "Member must have length less than or equal to 63"
PATTERN = "Member must satisfy regular expression pattern: ^{pattern}"
NAME_CASES = [
    ("bad_name", [PATTERN], [PATTERN]),
    ("-leading-hyphen", [PATTERN], [PATTERN]),
    # The model-name pattern has no length bound of its own: only the length constraint fails there.
    ("a" * 64, [LENGTH, PATTERN], [LENGTH]),
]
OPERATIONS = [
    ("CreateTrainingJob", "TrainingJobName", "trainingJobName", "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"),
    ("CreateModel", "ModelName", "modelName", r"[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?"),
    ("CreateEndpointConfig", "EndpointConfigName", "endpointConfigName", "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"),
    ("CreateEndpoint", "EndpointName", "endpointName", "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"),
]


@pytest.mark.parametrize(("operation", "field", "member", "pattern"), OPERATIONS)
@pytest.mark.parametrize(
    ("name", "problems", "model_problems"), NAME_CASES, ids=["underscore", "leading-hyphen", "64-chars"]
)
def test_resource_names_follow_sagemakers_rules_and_wording(
    sm: LocalSageMaker,
    operation: str,
    field: str,
    member: str,
    pattern: str,
    name: str,
    problems: list[str],
    model_problems: list[str],
) -> None:
    # Patterns and the 63-character limit from the SageMaker API model (botocore sagemaker service-2.json);
    # the wording is the AWS JSON protocol's "N validation error(s) detected: Value ... at ...".
    refused = error_of(sm, operation, **{field: name})
    problems = model_problems if member == "modelName" else problems
    details = "; ".join(
        f"Value '{name}' at '{member}' failed to satisfy constraint: {problem.format(pattern=pattern)}"
        for problem in problems
    )
    noun = "error" if len(problems) == 1 else "errors"
    assert (refused.code, refused.message) == (
        "ValidationException",
        f"{len(problems)} validation {noun} detected: {details}",
    )


def test_a_63_character_name_with_single_hyphens_is_accepted(sm: LocalSageMaker) -> None:
    name = "a-" * 31 + "b"
    assert len(name) == 63
    create_config(sm, name, model=name)
    assert call(sm, "DescribeEndpointConfig", EndpointConfigName=name)["EndpointConfigName"] == name


# ServerlessConfig -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "message"),
    [
        (serverless(memory=1000), "memorySizeInMB"),
        (serverless(memory=1536), "memorySizeInMB"),
        (serverless(memory=7168), "memorySizeInMB"),
        (serverless(concurrency=0), "maxConcurrency"),
        (serverless(concurrency=201), "maxConcurrency"),
    ],
)
def test_serverless_config_limits_are_enforced(sm: LocalSageMaker, config: dict[str, Any], message: str) -> None:
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html:
    # MemorySizeInMB 1024-6144 in 1 GB steps, MaxConcurrency 1-200.
    call(sm, "CreateModel", ModelName="m1", PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://b/m"})
    refused = error_of(
        sm,
        "CreateEndpointConfig",
        EndpointConfigName="cfg",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "m1", "ServerlessConfig": config}],
    )
    assert refused.code == "ValidationException"
    assert message in refused.message


# Faults -----------------------------------------------------------------------------------------------------------
def test_invoke_transient_answers_503_for_the_next_n_invocations_then_serves(sm: LocalSageMaker) -> None:
    live_endpoint(sm)
    sm.inject_fault("invoke_transient", "throttled (injected)", count=2)
    for _ in range(2):
        with pytest.raises(ApiError) as caught:
            invoke(sm)
        assert (caught.value.code, caught.value.status, caught.value.message) == (
            "ServiceUnavailable",
            503,
            "throttled (injected)",
        )
    assert invoke(sm)["label"] == 1


def test_green_wrong_answers_perturbs_only_the_next_deployed_backend(sm: LocalSageMaker) -> None:
    live_endpoint(sm)
    assert invoke(sm) == {"config": "cfg-1", "label": 1, "score": 0.9}
    sm.inject_fault("green_wrong_answers", "green answers wrongly (injected)")
    create_config(sm, "cfg-2")
    call(sm, "UpdateEndpoint", EndpointName="ep", EndpointConfigName="cfg-2")
    wait_status(sm, "ep", "InService")
    wrong = invoke(sm)
    assert wrong["label"] == 0
    assert wrong["score"] == pytest.approx(0.1)
    create_config(sm, "cfg-3")
    call(sm, "UpdateEndpoint", EndpointName="ep", EndpointConfigName="cfg-3")
    wait_status(sm, "ep", "InService")
    assert invoke(sm) == {"config": "cfg-3", "label": 1, "score": 0.9}


def test_green_unhealthy_keeps_blue_serving_with_a_failure_reason(sm: LocalSageMaker) -> None:
    live_endpoint(sm)
    sm.inject_fault("green_unhealthy", "model server crashed (injected)")
    create_config(sm, "cfg-2")
    call(sm, "UpdateEndpoint", EndpointName="ep", EndpointConfigName="cfg-2")
    deadline = time.monotonic() + 5
    while "FailureReason" not in (described := call(sm, "DescribeEndpoint", EndpointName="ep")):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "cfg-1"
    assert "model server crashed (injected)" in described["FailureReason"]
    assert invoke(sm)["config"] == "cfg-1"


def test_an_unknown_fault_kind_is_refused(sm: LocalSageMaker) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        sm.inject_fault("disk_full", "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answer", "perturbed"),
    [
        ({"label": 1, "label_name": "positive", "score": 0.75}, {"label": 0, "label_name": "positive", "score": 0.25}),
        (
            [{"label": 0, "score": 0.2}, {"label": 2, "score": 3.5}],
            [{"label": 1, "score": 0.8}, {"label": 3, "score": 4.5}],
        ),
        ({"predictions": [12.5, 0.5]}, {"predictions": [13.5, 0.0]}),
    ],
)
def test_perturbed_answers_differ_in_every_label_and_score(answer: Any, perturbed: Any) -> None:
    assert json.loads(perturb(json.dumps(answer).encode())) == perturbed


# Batch transform ------------------------------------------------------------------------------------------------
class CountingBackend(FakeBackend):
    """Answers each request with how many records (lines) it carried, or 400 for a line saying "bad"."""

    def invoke(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
        if b"bad" in body:
            return 400, b"line 1: not a review", "text/plain"
        lines = body.decode().splitlines()
        return 200, json.dumps({"records": len(lines), "first": lines[0][:5]}).encode(), "application/json"


@pytest.fixture
def transformer(tmp_path: Path) -> Iterator[tuple[LocalSageMaker, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="batch")
        service = LocalSageMaker(
            state_dir=tmp_path, s3_endpoint_url="http://127.0.0.1:9", backend_factory=CountingBackend
        )
        service._s3 = s3  # in-process moto: the service's own client would aim at a server
        call(service, "CreateModel", ModelName="m1", PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://b/m"})
        yield service, s3
        service.stop()


def transform(sm: LocalSageMaker, name: str, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": "m1",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://batch/in/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": "s3://batch/out/", "Accept": "application/json", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 1,
        **overrides,
    }
    call(sm, "CreateTransformJob", **request)
    deadline = time.monotonic() + 10
    while (described := call(sm, "DescribeTransformJob", TransformJobName=name))["TransformJobStatus"] == "InProgress":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return described


def test_a_transform_job_scores_every_object_in_mini_batches_and_writes_name_out(
    transformer: tuple[LocalSageMaker, Any],
) -> None:
    # https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html: SplitType=Line, MultiRecord batches up
    # to MaxPayloadInMB, one <input object name>.out per input object, AssembleWith=Line adds a newline per answer.
    sm, s3 = transformer
    line = b"x" * 999 + b"\n"  # 1000 bytes: 1048 records fit in 1 MB
    s3.put_object(Bucket="batch", Key="in/big.csv", Body=line * 2500)
    s3.put_object(Bucket="batch", Key="in/small.csv", Body=b"first\nsecond\n")
    described = transform(sm, "tj-1")
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    big = s3.get_object(Bucket="batch", Key="out/big.csv.out")["Body"].read().decode().splitlines()
    assert [json.loads(answer)["records"] for answer in big] == [1048, 1048, 404]
    small = s3.get_object(Bucket="batch", Key="out/small.csv.out")["Body"].read()
    assert small == b'{"records": 2, "first": "first"}\n'


def test_single_record_sends_one_line_per_request(transformer: tuple[LocalSageMaker, Any]) -> None:
    sm, s3 = transformer
    s3.put_object(Bucket="batch", Key="in/small.csv", Body=b"first\nsecond\n")
    assert transform(sm, "tj-single", BatchStrategy="SingleRecord")["TransformJobStatus"] == "Completed"
    out = s3.get_object(Bucket="batch", Key="out/small.csv.out")["Body"].read().decode().splitlines()
    assert [json.loads(answer)["first"] for answer in out] == ["first", "secon"]


def test_a_container_error_fails_the_job_with_its_message(transformer: tuple[LocalSageMaker, Any]) -> None:
    sm, s3 = transformer
    s3.put_object(Bucket="batch", Key="in/bad.csv", Body=b"bad\n")
    described = transform(sm, "tj-bad")
    assert described["TransformJobStatus"] == "Failed"
    assert described["FailureReason"] == "ClientError: bad.csv: the model container answered 400: line 1: not a review"


def test_a_transform_job_needs_an_existing_model_and_a_unique_name(transformer: tuple[LocalSageMaker, Any]) -> None:
    sm, s3 = transformer
    s3.put_object(Bucket="batch", Key="in/small.csv", Body=b"first\n")
    missing = error_of(
        sm,
        "CreateTransformJob",
        TransformJobName="tj-x",
        ModelName="nope",
        TransformInput={"DataSource": {"S3DataSource": {"S3Uri": "s3://batch/in/"}}},
        TransformOutput={"S3OutputPath": "s3://batch/out/"},
        TransformResources={},
    )
    assert missing.message == f'Could not find model "{ARN}:model/nope".'
    transform(sm, "tj-2")
    duplicate = error_of(
        sm,
        "CreateTransformJob",
        TransformJobName="tj-2",
        ModelName="m1",
        TransformInput={"DataSource": {"S3DataSource": {"S3Uri": "s3://batch/in/"}}},
        TransformOutput={"S3OutputPath": "s3://batch/out/"},
        TransformResources={},
    )
    assert duplicate.code == "ResourceInUse"
    unknown = error_of(sm, "DescribeTransformJob", TransformJobName="tj-none")
    assert unknown.code == "ValidationException"


class BlockingBackend(CountingBackend):
    """Holds its first request until the test releases it."""

    entered = threading.Event()
    proceed = threading.Event()

    def invoke(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
        BlockingBackend.entered.set()
        BlockingBackend.proceed.wait(5)
        return super().invoke(body, headers)


def test_a_transform_job_running_when_the_service_stops_ends_failed_before_its_next_mini_batch(
    tmp_path: Path,
) -> None:
    # Every job type stops on one path (service.JobKind): a transform job the service stops is not left InProgress
    # with its container running, as a training job is not.
    BlockingBackend.entered.clear()
    BlockingBackend.proceed.clear()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="batch")
        s3.put_object(Bucket="batch", Key="in/two.csv", Body=b"first\nsecond\n")
        sm = LocalSageMaker(state_dir=tmp_path, s3_endpoint_url="http://127.0.0.1:9", backend_factory=BlockingBackend)
        sm._s3 = s3
        call(sm, "CreateModel", ModelName="m1", PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://b/m"})
        request = {
            "TransformJobName": "tj-stop",
            "ModelName": "m1",
            "TransformInput": {"DataSource": {"S3DataSource": {"S3Uri": "s3://batch/in/"}}, "SplitType": "Line"},
            "TransformOutput": {"S3OutputPath": "s3://batch/out/"},
            "TransformResources": {},
            "BatchStrategy": "SingleRecord",
        }
        call(sm, "CreateTransformJob", **request)
        assert BlockingBackend.entered.wait(5)
        stopper = threading.Thread(target=sm.stop)
        stopper.start()
        while not sm._stopping.is_set():
            time.sleep(0.01)
        BlockingBackend.proceed.set()
        stopper.join(10)
        described = call(sm, "DescribeTransformJob", TransformJobName="tj-stop")
    assert described["TransformJobStatus"] == "Failed"
    assert described["FailureReason"].endswith("the local SageMaker service stopped while the job was running")
    assert "TransformEndTime" in described


def test_jobs_lost_with_the_previous_service_are_failed_on_restore(tmp_path: Path) -> None:
    running = {"TransformJobName": "tj", "TransformJobStatus": "InProgress", "CreationTime": 1.0}
    training = {"TrainingJobName": "job", "TrainingJobStatus": "Stopping", "SecondaryStatus": "Stopping"}
    state = {"training_jobs": {"job": training}, "transform_jobs": {"tj": running}}
    state |= {"version": 1, "models": {}, "endpoint_configs": {}, "endpoints": {}}
    (tmp_path / "state.json").write_text(json.dumps(state))
    sm = LocalSageMaker(state_dir=tmp_path, s3_endpoint_url="http://127.0.0.1:9", backend_factory=FakeBackend)

    sm._restore()

    transform_job = call(sm, "DescribeTransformJob", TransformJobName="tj")
    training_job = call(sm, "DescribeTrainingJob", TrainingJobName="job")
    assert (transform_job["TransformJobStatus"], training_job["TrainingJobStatus"]) == ("Failed", "Failed")
    assert training_job["SecondaryStatus"] == "Failed"
    assert "TransformEndTime" in transform_job
    assert "LastModifiedTime" not in transform_job  # not a DescribeTransformJob member


# InvokedProductionVariant: the variant of the config that answered ---------------------------------------------
def test_each_answer_names_the_variant_of_the_config_that_served_it(sm: LocalSageMaker) -> None:
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html:
    # InvokedProductionVariant, "Identifies the production variant that was invoked". Challenger names each
    # config's variant after its version, so /predict reports the version that answered, also mid-swap.
    call(sm, "CreateModel", ModelName="m7", PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://b/m"})
    call(
        sm,
        "CreateEndpointConfig",
        EndpointConfigName="cfg-v7",
        ProductionVariants=[{"VariantName": "v7", "ModelName": "m7", "ServerlessConfig": serverless()}],
    )
    call(sm, "CreateEndpoint", EndpointName="ep", EndpointConfigName="cfg-v7")
    wait_status(sm, "ep", "InService")
    assert sm.handle_invoke("ep", b"{}", {"Content-Type": "application/json"})[2] == "v7"
    assert call(sm, "DescribeEndpoint", EndpointName="ep")["ProductionVariants"][0]["VariantName"] == "v7"


def test_a_training_job_with_metric_definitions_is_refused_not_run_without_its_metrics(sm: LocalSageMaker) -> None:
    # The local SageMaker does not scrape FinalMetricDataList off the log: asking for it is an error, not a silent gap.
    algorithm = {"TrainingImage": IMAGE, "MetricDefinitions": [{"Name": "auc", "Regex": "auc=([0-9.]+)"}]}
    refused = error_of(sm, "CreateTrainingJob", TrainingJobName="metrics", AlgorithmSpecification=algorithm)
    assert (refused.code, refused.message) == (
        "ValidationException",
        "Local SageMaker does not support MetricDefinitions (no FinalMetricDataList).",
    )
    assert error_of(sm, "DescribeTrainingJob", TrainingJobName="metrics").code == "ValidationException"  # not created
