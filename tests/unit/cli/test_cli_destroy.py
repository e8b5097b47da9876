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


class CloudFormationThatKeepsFullBuckets:
    """moto's CloudFormation deletes a bucket that still holds objects; AWS's does not ("You can only delete empty
    buckets", AWS::S3::Bucket DeletionPolicy docs): the stack ends DELETE_FAILED. This one checks it at the call."""

    def __init__(self, real: Any, s3: Any) -> None:
        self.real, self.s3 = real, s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def delete_stack(self, StackName: str) -> None:
        for resource in self.real.describe_stack_resources(StackName=StackName)["StackResources"]:
            if resource["ResourceType"] == "AWS::S3::Bucket":
                page = self.s3.list_object_versions(Bucket=resource["PhysicalResourceId"])
                held = len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
                assert held == 0, f"DELETE_FAILED: {resource['LogicalResourceId']} still holds {held} version(s)"
        self.real.delete_stack(StackName=StackName)


def test_destroy_empties_a_published_dashboard_bucket_before_deleting_the_stack(aws: tuple[Any, Any]) -> None:
    """FrontendBucket is deleted with the stack (no Retain); CloudFormation cannot delete a bucket that still holds
    objects, so destroy empties every bucket first, then deletes the stack (issue 17)."""
    real, s3 = aws
    cloudformation = CloudFormationThatKeepsFullBuckets(real, s3)
    cloudformation.create_stack(
        StackName="site",
        TemplateBody=json.dumps({"Resources": {"FrontendBucket": {"Type": "AWS::S3::Bucket"}}}),
    )
    [bucket] = [r["PhysicalResourceId"] for r in real.describe_stack_resources(StackName="site")["StackResources"]]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="index.html", Body=b"<html>v1</html>")
    s3.put_object(Bucket=bucket, Key="index.html", Body=b"<html>v2</html>")  # published twice
    s3.delete_object(Bucket=bucket, Key="app.js")  # a delete marker
    destroy("site", cloudformation, s3, confirmed=True, echo=lambda _: None)
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {s["StackName"]: s["StackStatus"] for s in real.list_stacks()["StackSummaries"]}["site"] == "DELETE_COMPLETE"
