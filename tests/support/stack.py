"""A Challenger stack inside moto: the template's tables, buckets, topic, secret, and handler loading."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import itertools
import sys
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

import boto3

from challenger.local.provision import provision as provision_template
from challenger.local.template import LocalTemplate
from challenger_core.models import ModelStatus, ModelVersion
from challenger_core.recipe import forget_recipes
from tests.support.events import ROOT
from tests.support.fake_sagemaker import FakeSageMaker

ACCOUNT = "123456789012"
REGION = "us-east-1"
_counter = itertools.count()
SERVICES = ("s3", "dynamodb", "sns", "sqs", "secretsmanager", "stepfunctions")

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
    "STACK_UID": "5f2b9c1e",
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
    "RECIPE": "sentiment",  # the template's default Recipe
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
        """Import functions/<function>/app.py fresh (as a new Lambda sandbox would: its code directory first on
        the path, its own modules imported anew), with the fake SageMaker injected."""
        if function in self.modules:
            return self.modules[function]
        code_dir = ROOT / "functions" / function
        packages = {entry.name for entry in code_dir.iterdir() if (entry / "__init__.py").is_file()}
        for name in [name for name in sys.modules if name.partition(".")[0] in packages]:
            del sys.modules[name]
        name = f"challenger_fn_{function}_{next(_counter)}"
        spec = importlib.util.spec_from_file_location(name, code_dir / "app.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        sys.path.insert(0, str(code_dir))  # Lambda's /var/task
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(code_dir))
        if hasattr(module, "sagemaker"):
            module.sagemaker = self.sagemaker
        if hasattr(module, "deps"):  # a resolver with Depends (the API): the fake through dependency_overrides
            module.app.dependency_overrides[module.deps.sagemaker] = lambda: self.sagemaker
        self.modules[function] = module
        return module

    def put_data(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=self.data_bucket, Key=key, Body=body)
        return key

    def trained_version(self, version: int, status: ModelStatus, archive: bytes, **fields: Any) -> ModelVersion:
        """A version whose model.tar.gz is in the artifact bucket, with the archive's digest as RegisterCandidate
        records it (StartDeployment checks it). Not registered: the caller puts it where its test needs it."""
        bucket = self.env["ARTIFACT_BUCKET"]
        key = f"training/job-{version}/output/model.tar.gz"
        self.s3.put_object(Bucket=bucket, Key=key, Body=archive)
        return ModelVersion(
            version=version,
            status=status,
            run_id=f"run-{version}",
            dataset="reviews",
            data_fingerprint="f",
            training_job_name=f"job-{version}",
            model_data_url=f"s3://{bucket}/{key}",
            artifact_sha256=hashlib.sha256(archive).hexdigest(),
            **fields,
        )


@cache
def _parsed_template() -> LocalTemplate:
    return LocalTemplate()


def provision(env: dict[str, str]) -> Stack:
    """Create the stack inside an active moto mock with the local cloud's own provisioner (template.yaml's
    buckets, tables, topic with its outbox queue, secret, recipe bundle, state machines) under BASE_ENV's
    names; returns the handles and the environment additions."""
    template = copy.copy(_parsed_template())  # parsed once; each stack gets its own physical names
    template.physical = {
        "DataBucket": env["DATA_BUCKET"],  # the bucket the sample events in events/ name
        "ArtifactBucket": env["ARTIFACT_BUCKET"],
        "ModelsTable": env["MODELS_TABLE"],
        "IdempotencyTable": env["IDEMPOTENCY_TABLE"],
    }
    session = boto3.session.Session(region_name=REGION)
    clients = {name: session.client(name) for name in SERVICES}  # type: ignore[call-overload]
    forget_recipes()  # the core caches the recipe per container (bucket and key); this is a new stack
    provisioned = provision_template(template, clients, approval_key="k" * 64)
    env.update(TOPIC_ARN=provisioned.topic_arn, APPROVAL_SECRET_ARN=provisioned.secret_arn)
    return Stack(
        env=env,
        s3=clients["s3"],
        ddb=clients["dynamodb"],
        sfn=clients["stepfunctions"],
        sqs=clients["sqs"],
        sagemaker=FakeSageMaker(s3=clients["s3"]),
        queue_url=provisioned.outbox_queue_url,
    )
