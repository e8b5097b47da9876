"""The local S3 copies a multipart object's checksum as S3 does (challenger.local.s3_checksums): a pinned copy of a
dataset part that `challenger data push` uploaded in parts reads back under botocore's checksum validation."""

from __future__ import annotations

import os

import boto3
from boto3.s3.transfer import TransferConfig
from moto import mock_aws

from challenger.local.s3_checksums import keep_checksum_type_on_copy

MIB = 1024 * 1024


def test_a_copy_of_a_part_uploaded_in_parts_reads_back_checksum_validated(tmp_path: os.PathLike[str]) -> None:
    keep_checksum_type_on_copy()
    data = os.urandom(11 * MIB)
    source = f"{tmp_path}/part-00000.csv"
    with open(source, "wb") as out:
        out.write(data)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in ("data-bucket", "artifact-bucket"):
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        parts = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
        s3.upload_file(source, "data-bucket", "incoming/d/train/part-00000.csv", Config=parts)
        version = s3.head_object(Bucket="data-bucket", Key="incoming/d/train/part-00000.csv")["VersionId"]
        pinned = {"Bucket": "data-bucket", "Key": "incoming/d/train/part-00000.csv", "VersionId": version}
        s3.copy_object(Bucket="artifact-bucket", Key="datasets/r/train/part-00000.csv", CopySource=pinned)  # type: ignore[arg-type]

        copied = s3.get_object(Bucket="artifact-bucket", Key="datasets/r/train/part-00000.csv", ChecksumMode="ENABLED")
        assert copied["Body"].read() == data  # botocore raised FlexibleChecksumError here before the fix
        assert copied["ChecksumType"] == "COMPOSITE"
        assert copied["ChecksumCRC32"].endswith("-3")  # the source's composite value of its 3 parts, as S3 copies it
