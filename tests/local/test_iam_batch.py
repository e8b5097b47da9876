"""Issue 22's grants, as moto enforces them per role: BatchPipeline's steps record batches in ModelsTable (PutItem
only), and the API writes the dashboard's uploads under batch/ of the data bucket and nowhere else.

Each fails with its statement removed from the live role (RecordBatchJobs, ScoreAFile: AccessDenied). moto evaluates
no IAM Condition, so RecordBatchJobs' `dynamodb:LeadingKeys` = BATCH is AWS's to enforce, not checked here."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from challenger.local.iam import LocalIam
from challenger.local.provision import table_definition
from challenger.local.template import LocalTemplate
from tests.local.test_iam import _admin, enforced_moto, stack

__all__ = ["enforced_moto", "stack"]  # the fixtures, shared with test_iam.py


def as_function(url: str, local_iam: LocalIam, role: str, service: str) -> Any:
    credentials = local_iam.credentials(local_iam.roles[role].arn, role)
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )


def test_batch_scoring_may_record_a_batch_but_not_change_the_registry(
    stack: LocalTemplate, enforced_moto: tuple[str, LocalIam]
) -> None:
    url, local_iam = enforced_moto
    table = stack.ref("ModelsTable")
    _admin("dynamodb", url).create_table(**table_definition(stack, "ModelsTable"))
    batch = as_function(url, local_iam, "BatchScoringFunctionRole", "dynamodb")
    item = {"pk": {"S": "BATCH"}, "sk": {"S": "20261123T101500Z-0123456789"}, "status": {"S": "RUNNING"}}
    batch.put_item(TableName=table, Item=item)
    with pytest.raises(ClientError, match=r"not authorized to perform: dynamodb:UpdateItem"):
        batch.update_item(
            TableName=table,
            Key={"pk": {"S": "CHAMPION"}, "sk": {"S": "CHAMPION"}},
            UpdateExpression="SET version = :v",
            ExpressionAttributeValues={":v": {"N": "9"}},
        )
    with pytest.raises(ClientError, match=r"not authorized to perform: dynamodb:DeleteItem"):
        batch.delete_item(TableName=table, Key={"pk": {"S": "BATCH"}, "sk": item["sk"]})


def test_the_api_writes_uploads_under_batch_only(stack: LocalTemplate, enforced_moto: tuple[str, LocalIam]) -> None:
    url, local_iam = enforced_moto
    bucket = stack.ref("DataBucket")
    _admin("s3", url).create_bucket(Bucket=bucket)
    api = as_function(url, local_iam, "ApiFunctionRole", "s3")
    api.put_object(Bucket=bucket, Key="batch/reviews.csv", Body=b"review_text\nfine\n")
    for key in ("incoming/reviews/train.csv", "batch-results/reviews.out.csv"):
        with pytest.raises(ClientError, match="AccessDenied"):
            api.put_object(Bucket=bucket, Key=key, Body=b"x")
