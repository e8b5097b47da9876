"""`challenger destroy`: the stack goes, then the buckets it retains, with every object version."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from challenger.cli import CliError, _empty_and_delete, destroy

TEMPLATE = {
    "Resources": {
        "DataBucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"},
        "ArtifactBucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"},
    }
}


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        cloudformation.create_stack(StackName="shop", TemplateBody=json.dumps(TEMPLATE))
        yield cloudformation, s3


def test_destroy_deletes_the_stack_then_empties_and_deletes_its_buckets(aws: tuple[Any, Any]) -> None:
    cloudformation, s3 = aws
    buckets = [
        r["PhysicalResourceId"] for r in cloudformation.describe_stack_resources(StackName="shop")["StackResources"]
    ]
    for bucket in buckets:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=bucket, Key="incoming/reviews/train.csv", Body=b"v1")
        s3.put_object(Bucket=bucket, Key="incoming/reviews/train.csv", Body=b"v2")
        s3.delete_object(Bucket=bucket, Key="incoming/reviews/train.csv")  # a delete marker too
    said: list[str] = []
    destroy("shop", cloudformation, s3, confirmed=True, echo=said.append)
    remaining = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert remaining.isdisjoint(buckets)
    assert said[-1] == "stack shop is gone"


def test_destroy_needs_confirmation(aws: tuple[Any, Any]) -> None:
    cloudformation, s3 = aws
    with pytest.raises(CliError, match="add --yes"):
        destroy("shop", cloudformation, s3, confirmed=False)
    assert cloudformation.describe_stacks(StackName="shop")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_a_retained_bucket_is_emptied_of_every_version_and_deleted(aws: tuple[Any, Any]) -> None:
    _, s3 = aws
    s3.create_bucket(Bucket="kept")
    s3.put_bucket_versioning(Bucket="kept", VersioningConfiguration={"Status": "Enabled"})
    for n in range(3):
        s3.put_object(Bucket="kept", Key=f"training/v{n}/model.tar.gz", Body=b"x")
        s3.put_object(Bucket="kept", Key=f"training/v{n}/model.tar.gz", Body=b"y")
    s3.delete_object(Bucket="kept", Key="training/v0/model.tar.gz")
    assert _empty_and_delete(s3, "kept") == 7  # six versions and one delete marker
    assert "kept" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert _empty_and_delete(s3, "kept") == 0  # a second run (a retried destroy) finds nothing to do
