"""A Challenger stack inside moto: the template's tables, buckets, topic, secret, and handler loading."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3

from tests.support.events import ROOT
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.template import table_definition

ACCOUNT = "123456789012"
REGION = "us-east-1"
_counter = itertools.count()

BASE_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_SERVICE_NAME": "challenger",
    "POWERTOOLS_METRICS_NAMESPACE": "Challenger",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_DEV": "0",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "STACK_NAME": "challenger",
    "MODELS_TABLE": "challenger-models",
    "IDEMPOTENCY_TABLE": "challenger-idempotency",
    "DATA_BUCKET": f"challenger-data-{ACCOUNT}",
    "ARTIFACT_BUCKET": f"challenger-artifacts-{ACCOUNT}",
    "API_URL": "https://abc123.execute-api.us-east-1.amazonaws.com/v1",
    "TRAINING_IMAGE_URI": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3",
    "SAGEMAKER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/challenger-sagemaker",
    "ENDPOINT_NAME": "challenger",
    "POLL_SECONDS": "0",
    "MAX_POLLS": "6",
    "APPROVAL_MODE": "auto",
}


@dataclass
class Stack:
    """Handles on the provisioned resources plus the test double for SageMaker."""

    env: dict[str, str]
    s3: Any
    ddb: Any
    sfn: Any
    sqs: Any
    sagemaker: FakeSageMaker
    queue_url: str
    modules: dict[str, ModuleType] = field(default_factory=dict)

    @property
    def data_bucket(self) -> str:
        return self.env["DATA_BUCKET"]

    def handler(self, function: str) -> ModuleType:
        """Import functions/<function>/app.py fresh (as Lambda would), with the fake SageMaker injected."""
        if function in self.modules:
            return self.modules[function]
        path = ROOT / "functions" / function / "app.py"
        name = f"challenger_fn_{function}_{next(_counter)}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        if hasattr(module, "sagemaker"):
            module.sagemaker = self.sagemaker
        self.modules[function] = module
        return module

    def emails(self) -> list[dict[str, str]]:
        """Every message published to the notification topic so far (drained from its SQS subscriber)."""
        found: list[dict[str, str]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                envelope = json.loads(message["Body"])
                found.append({"subject": envelope.get("Subject", ""), "body": envelope["Message"]})
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def put_data(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=self.data_bucket, Key=key, Body=body)
        return key


def provision(env: dict[str, str]) -> Stack:
    """Create the stack's stateful resources inside an active moto mock; returns env additions too."""
    session = boto3.session.Session(region_name=REGION)
    s3, ddb, sns, sqs = (session.client(name) for name in ("s3", "dynamodb", "sns", "sqs"))
    for bucket in (env["DATA_BUCKET"], env["ARTIFACT_BUCKET"]):
        s3.create_bucket(Bucket=bucket)
    ddb.create_table(**table_definition("ModelsTable", env["MODELS_TABLE"]))
    ddb.create_table(**table_definition("IdempotencyTable", env["IDEMPOTENCY_TABLE"]))
    topic_arn = sns.create_topic(Name="challenger-notifications")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="challenger-outbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    secret_arn = session.client("secretsmanager").create_secret(Name="challenger-approval-key", SecretString="k" * 64)[
        "ARN"
    ]
    env.update(TOPIC_ARN=topic_arn, APPROVAL_SECRET_ARN=secret_arn)
    return Stack(
        env=env,
        s3=s3,
        ddb=ddb,
        sfn=session.client("stepfunctions"),
        sqs=sqs,
        sagemaker=FakeSageMaker(s3=s3),
        queue_url=queue_url,
    )
