"""Both ASL files, substituted from template.yaml, executed by moto's Step Functions engine.

Every Lambda task runs the real handler in-process (challenger.local.lambda_runtime) with the
environment the template gives it; S3, DynamoDB, SNS, Secrets Manager and Step Functions are moto.
Only SageMaker is the test double (moto's cannot fail a job, update an endpoint or predict).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from challenger.local.lambda_runtime import MOTO_CONFIG
from challenger.local.provision import local_functions, provision
from challenger.local.template import LocalTemplate
from challenger_core.registry import Registry
from tests.support.emails import Email, sent
from tests.support.events import load_event
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.inprocess_lambda import LocalLambdaRuntime, scaled_retry_intervals

SERVICES = ("s3", "dynamodb", "sns", "sqs", "secretsmanager", "stepfunctions")
COMMON_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
DEFAULT_PARAMETERS = {
    "NotificationEmail": "ml-team@example.com",
    "PollSeconds": "0",
    "MaxPolls": "6",
}


@dataclass
class Cloud:
    template: LocalTemplate
    runtime: LocalLambdaRuntime
    sagemaker: FakeSageMaker
    s3: Any
    sfn: Any
    sqs: Any
    queue_url: str

    @property
    def registry(self) -> Registry:
        return Registry(boto3.client("dynamodb"), self.template.ref("ModelsTable"))

    @property
    def data_bucket(self) -> str:
        return self.template.ref("DataBucket")

    def arn(self, logical_id: str) -> str:
        return self.template.arn(logical_id)

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        result = self.runtime.invoke(self.template.name(logical_id), event)
        assert result.function_error is None, result.payload
        return result.json()

    def upload(self, dataset: str, train: bytes, test: bytes | None = None) -> dict[str, Any]:
        """Drop a dataset and deliver the EventBridge event to the trigger, as the UploadRule would."""
        if test is not None:
            self.s3.put_object(Bucket=self.data_bucket, Key=f"incoming/{dataset}/test.csv", Body=test)
        key = f"incoming/{dataset}/train.csv"
        etag = self.s3.put_object(Bucket=self.data_bucket, Key=key, Body=train)["ETag"].strip('"')
        event = load_event("trigger", "upload")
        event["id"] = f"evt-{etag}"
        event["resources"] = [f"arn:aws:s3:::{self.data_bucket}"]
        event["detail"]["bucket"]["name"] = self.data_bucket
        event["detail"]["object"].update(key=key, etag=etag, size=len(train))
        result: dict[str, Any] = self.invoke("TriggerFunction", event)
        return result

    def executions(self, logical_id: str = "TrainingPipeline") -> list[dict[str, Any]]:
        return list(self.sfn.list_executions(stateMachineArn=self.arn(logical_id))["executions"])

    def wait(self, execution_arn: str, timeout: float = 30.0, until: str | None = None) -> dict[str, Any]:
        """Poll until the execution leaves RUNNING (or reaches state `until`); bounded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return dict(described)
            if until is not None and until in self.states_entered(execution_arn):
                return dict(described)
            time.sleep(0.05)
        pytest.fail(f"{execution_arn} still RUNNING after {timeout}s: {self.states_entered(execution_arn)}")

    def run(self, dataset: str, train: bytes, test: bytes | None = None) -> dict[str, Any]:
        """Upload, then wait for the run's execution to end."""
        started = self.upload(dataset, train, test)
        assert started["started"], started
        arn = f"{self.arn('TrainingPipeline').replace(':stateMachine:', ':execution:')}:{started['run_id']}"
        return self.wait(arn)

    def states_entered(self, execution_arn: str) -> list[str]:
        events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]

    def wait_for_emails(self, count: int, timeout: float = 10.0) -> list[Email]:
        """The next `count` emails; a task may still be sending when its state is entered."""
        found: list[Email] = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            found += sent(self)
            time.sleep(0.05)
        assert len(found) == count, found
        return found


@pytest.fixture
def cloud_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Cloud]]:
    """Build the stack from template.yaml with the given parameter overrides."""
    with mock_aws(config=MOTO_CONFIG), scaled_retry_intervals(0.0):
        runtimes: list[LocalLambdaRuntime] = []

        def build(**parameters: str) -> Cloud:
            template = LocalTemplate(parameters={**DEFAULT_PARAMETERS, **parameters})
            clients = {name: boto3.client(name) for name in SERVICES}
            provisioned = provision(template, clients, approval_key="k" * 64)
            runtime = LocalLambdaRuntime(local_functions(template), common_environment=COMMON_ENV)
            runtime.install()
            runtimes.append(runtime)
            fake = FakeSageMaker(s3=clients["s3"])
            for name in runtime.function_names:
                module = runtime.module(name)
                if hasattr(module, "sagemaker"):
                    monkeypatch.setattr(module, "sagemaker", fake)
            return Cloud(
                template,
                runtime,
                fake,
                clients["s3"],
                clients["stepfunctions"],
                clients["sqs"],
                provisioned.outbox_queue_url,
            )

        yield build
        for runtime in runtimes:
            runtime.uninstall()


@pytest.fixture
def cloud(cloud_factory: Callable[..., Cloud]) -> Cloud:
    return cloud_factory()
