"""Create a template's resources in moto (in-process mock or server) under the names the template resolves to.

Used by the local cloud and by the state machine tests, so both provision the same thing the same way.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

from challenger.local.lambda_runtime import LocalFunction
from challenger.local.template import ROOT, LocalTemplate

LAYER = ROOT / "layers" / "core"
# What the RecipesLayer puts at /opt/recipes for the publisher on AWS: here, the repository's recipes/ itself.
RECIPES = ROOT / "recipes"
OUTBOX_QUEUE = "challenger-local-outbox"


@dataclass(frozen=True)
class Provisioned:
    topic_arn: str
    outbox_queue_url: str
    secret_arn: str


def table_definition(template: LocalTemplate, logical_id: str) -> dict[str, Any]:
    """CreateTable arguments from a table's template properties (keys cannot drift between template and moto)."""
    properties = template.resources[logical_id]["Properties"]
    definition: dict[str, Any] = {
        "TableName": template.ref(logical_id),
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "GlobalSecondaryIndexes" in properties:
        definition["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    return definition


@cache
def _publisher() -> ModuleType:
    """functions/publish_recipe/app.py: what Custom::RecipeBundle runs on `sam deploy`, run here at `local up`."""
    path = ROOT / "functions" / "publish_recipe" / "app.py"
    spec = importlib.util.spec_from_file_location("challenger_recipe_publisher", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def publish_recipe(s3: Any, bucket: str, recipe: str) -> None:
    """What the recipe publisher does on deploy, through the same code: ``recipes/<recipe>/sha256/<digest>/
    sourcedir.tar.gz`` (recipe + kit, built by the kit's bundle code), its record ``recipes/<recipe>/bundle.json``
    and ``recipes/<recipe>/recipe.json``."""
    _publisher().publish(s3, bucket, recipe, RECIPES)


def provision(template: LocalTemplate, clients: dict[str, Any], *, approval_key: str) -> Provisioned:
    """Buckets, tables, topic (+ an SQS subscriber standing in for the email address), secret, recipe bundle and
    both state machines. `clients` maps service name → boto3 client."""
    s3, ddb, sns, sqs = clients["s3"], clients["dynamodb"], clients["sns"], clients["sqs"]
    for bucket in template.of_type("AWS::S3::Bucket"):
        s3.create_bucket(Bucket=template.ref(bucket))
        s3.put_bucket_versioning(Bucket=template.ref(bucket), VersioningConfiguration={"Status": "Enabled"})
    for table in template.of_type("AWS::DynamoDB::Table"):
        ddb.create_table(**table_definition(template, table))
    topic_arn = sns.create_topic(Name=template.name("NotificationTopic"))["TopicArn"]
    template.physical["NotificationTopic"] = topic_arn
    queue_url = sqs.create_queue(QueueName=OUTBOX_QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    # The template's NotificationSubscription too (moto takes it as confirmed and sends nothing to it), so what
    # `challenger doctor` reads is what a stack has once its email is confirmed.
    sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint=template.values["NotificationEmail"])
    secret_arn = clients["secretsmanager"].create_secret(
        Name=template.name("ApprovalSecret"), SecretString=approval_key
    )["ARN"]
    template.physical["ApprovalSecret"] = secret_arn
    publish_recipe(s3, template.ref("ArtifactBucket"), template.values["Recipe"])
    # The deployment pipeline first: the training pipeline's definition names it.
    for machine in sorted(template.state_machines(), key=lambda m: m.logical_id != "DeploymentPipeline"):
        clients["stepfunctions"].create_state_machine(
            name=machine.name,
            definition=machine.definition,
            roleArn=f"arn:aws:iam::{template.account}:role/{template.stack_name}-{machine.logical_id}Role",
        )
    return Provisioned(topic_arn=topic_arn, outbox_queue_url=queue_url, secret_arn=secret_arn)


def local_functions(
    template: LocalTemplate,
    overrides: dict[str, str] | None = None,
    credentials: Mapping[str, Mapping[str, str]] | None = None,
) -> list[LocalFunction]:
    """The template's functions for the in-process Lambda runtime, with the core layer on their path.

    `overrides` replaces variables that name AWS-only endpoints (e.g. API_URL → the local gateway).
    `credentials` (function name → AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN): the function's
    role session, which Lambda puts in the sandbox's environment (challenger.local.iam).
    """
    functions = []
    for spec in template.functions():
        environment = dict(spec.environment)
        for name, value in (overrides or {}).items():
            if name in environment:
                environment[name] = value
        environment.update((credentials or {}).get(spec.name, {}))
        functions.append(
            LocalFunction(
                name=spec.name,
                code_dir=spec.code_dir,
                handler=spec.handler,
                environment=environment,
                extra_paths=[LAYER],
                timeout=spec.timeout,
                memory_size=spec.memory_size,
                concurrency=spec.reserved_concurrency,
            )
        )
    return functions
