"""IAM per role on the local cloud: the template's roles in moto's IAM, enforced (issue 16 §2).

The roles come from the SAM translation (the SAM CLI's virtualenv, `make tools`); moto runs as a server in this
process, as in the local cloud.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from challenger.cli import CliError, batch_score, data_push, latest_run_id, local_target, runs_wait
from challenger.demo import write_batch_file
from challenger.local.cloud import LocalCloud
from challenger.local.iam import LocalIam, as_role, enforced, function_roles, template_roles
from challenger.local.template import LocalTemplate

DATA = Path(__file__).resolve().parents[2] / "recipes" / "sentiment" / "data"
ADMIN_KEY = "local"  # the local cloud's control identity (challenger.local.iam.CONTROL_KEY)


def _admin(service: str, url: str, key: str = ADMIN_KEY) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key="local"
    )


@pytest.fixture(scope="module")
def stack() -> LocalTemplate:
    return LocalTemplate()


@pytest.fixture
def enforced_moto(stack: LocalTemplate) -> Iterator[tuple[str, LocalIam]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    requests.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()  # moto's backends are process-wide
    local_iam = LocalIam(stack)
    local_iam.create()
    try:
        with enforced(url, local_iam):
            yield url, local_iam
    finally:
        server.stop()


def test_sam_policy_templates_are_expanded_into_each_functions_role(stack: LocalTemplate) -> None:
    roles = template_roles(stack)
    assert function_roles(stack)["ValidateDataFunction"] == "ValidateDataFunctionRole"
    statements = [s for doc in roles["ValidateDataFunctionRole"].policies.values() for s in doc["Statement"]]
    resources = {r for s in statements for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])}
    data_bucket = f"arn:aws:s3:::{stack.ref('DataBucket')}"
    assert {data_bucket, f"{data_bucket}/*"} <= resources  # S3ReadPolicy, expanded by the SAM translator
    assert (
        roles["ValidateDataFunctionRole"].arn
        == f"arn:aws:iam::{stack.account}:role/challenger-ValidateDataFunctionRole"
    )


def test_a_role_can_do_what_its_policies_allow_and_nothing_else(
    stack: LocalTemplate, enforced_moto: tuple[str, LocalIam]
) -> None:
    url, local_iam = enforced_moto
    admin = _admin("s3", url)
    bucket = stack.ref("ArtifactBucket")
    admin.create_bucket(Bucket=bucket)
    admin.put_object(Bucket=bucket, Key="training/v1/model.tar.gz", Body=b"model")
    serving = as_role(admin, local_iam.roles["SageMakerServingRole"].arn, "model-v1")

    assert serving.get_object(Bucket=bucket, Key="training/v1/model.tar.gz")["Body"].read() == b"model"
    with pytest.raises(ClientError, match="AccessDenied"):
        serving.put_object(Bucket=bucket, Key="training/v1/model.tar.gz", Body=b"replaced")

    api = local_iam.credentials(local_iam.roles["ApiFunctionRole"].arn, "api")
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=api["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=api["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=api["AWS_SESSION_TOKEN"],
    )
    with pytest.raises(ClientError, match=r"not authorized to perform: dynamodb:DeleteTable"):
        dynamodb.delete_table(TableName=stack.ref("ModelsTable"))


def test_an_unknown_key_is_refused(enforced_moto: tuple[str, LocalIam]) -> None:
    url, _ = enforced_moto
    stranger = _admin("s3", url, "AKIASTRANGER0000000")
    with pytest.raises(ClientError, match="InvalidAccessKeyId"):
        stranger.list_buckets()


def _without_statement(cloud: LocalCloud, role: str, sid: str) -> None:
    """Remove one statement from a role's live policies, as an edit of template.yaml would on the next deploy."""
    iam = _admin("iam", cloud.moto_url)
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document: dict[str, Any] = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            document = json.loads(document)
        kept = [s for s in document["Statement"] if s.get("Sid") != sid]
        if len(kept) == len(document["Statement"]):
            continue
        if kept:
            iam.put_role_policy(
                RoleName=role, PolicyName=name, PolicyDocument=json.dumps({**document, "Statement": kept})
            )
        else:
            iam.delete_role_policy(RoleName=role, PolicyName=name)
        return
    raise AssertionError(f"{role} has no statement {sid}")


def test_the_pipeline_fails_with_access_denied_when_a_role_loses_a_statement(tmp_path: Path) -> None:
    with LocalCloud(state_dir=tmp_path / "challenger", progress=lambda _: None) as cloud:
        _without_statement(cloud, "challenger-ValidateDataFunctionRole", "ReadTheRecipe")
        target = local_target(cloud.state_dir)
        data_push(target, DATA / "train_v1.csv", "reviews", DATA / "test.csv")
        deadline = time.monotonic() + 60
        while not target.call("GET", "/runs") and time.monotonic() < deadline:
            time.sleep(0.2)
        run = runs_wait(target, latest_run_id(target, newer_than=""), timeout=120, echo=lambda _: None)
    assert run["status"] == "FAILED"
    assert "recipe.json: AccessDenied" in run["error"]


def test_a_transform_job_reads_its_input_as_the_models_role(tmp_path: Path) -> None:
    """Batch (a) of issue 16: SageMaker reads a transform job's input with the model's ExecutionRoleArn, so the
    serving role needs the batch input, not only the training artifacts."""
    batch_file = tmp_path / "sample.csv"
    write_batch_file(DATA / "test.csv", batch_file, rows=20)
    with LocalCloud(state_dir=tmp_path / "challenger", progress=lambda _: None) as cloud:
        target = local_target(cloud.state_dir)
        data_push(target, DATA / "train_v1.csv", "reviews", DATA / "test.csv")
        deadline = time.monotonic() + 60
        while not target.call("GET", "/runs") and time.monotonic() < deadline:
            time.sleep(0.2)
        run = runs_wait(target, latest_run_id(target, newer_than=""), timeout=300, echo=lambda _: None)
        assert run["outcome"] == "DEPLOYED", run
        scored = batch_score(target, batch_file, "allowed", tmp_path / "allowed.out.csv", timeout=300)
        assert len(scored.read_text().splitlines()) == 21

        _without_statement(cloud, "challenger-SageMakerServingRole", "ReadBatchJobInput")
        with pytest.raises(CliError, match=r"Forbidden|AccessDenied"):  # HeadObject: 403 without a body
            batch_score(target, batch_file, "denied", tmp_path / "denied.out.csv", timeout=300)
