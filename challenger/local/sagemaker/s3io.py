"""The S3 transfers SageMaker does around a container: channels in, source bundles in, tarred artifacts out."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def make_client(endpoint_url: str, region: str) -> S3Client:
    """An S3 client for the local cloud's S3 (moto). Static dummy credentials: it never talks to AWS."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="local",  # moto accepts any key; never use ambient credentials
        aws_secret_access_key="local",  # noqa: S106
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key); ValueError for anything else."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def download_prefix(s3: S3Client, uri: str, destination: Path) -> int:
    """Download every object under an S3Prefix data source; returns how many (0 if none).

    Paths are kept relative to the prefix's last "/" as SageMaker does, so `s3://b/data/train.csv` lands as
    `train.csv` and `s3://b/data/train/` as the files inside it.
    """
    bucket, prefix = split_uri(uri)
    base = prefix[: prefix.rfind("/") + 1]
    destination.mkdir(parents=True, exist_ok=True)
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/"):
                continue  # a "folder" placeholder object
            relative = Path(key[len(base) :])
            target = (destination / relative).resolve()
            if not target.is_relative_to(destination.resolve()):
                raise ValueError(f"object key {key!r} escapes the channel directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target))
            count += 1
    return count


def download_and_extract(s3: S3Client, uri: str, destination: Path) -> None:
    """Download a .tar.gz (model data, source bundle) and unpack it into destination."""
    bucket, key = split_uri(uri)
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent) as tmp:
        archive = Path(tmp) / "archive.tar.gz"
        s3.download_file(bucket, key, str(archive))
        with tarfile.open(archive, mode="r:*") as tar:
            # The "data" filter refuses absolute paths, links out of the tree and device files.
            tar.extractall(destination, filter="data")


def upload_tarball(s3: S3Client, source: Path, uri: str) -> None:
    """Tar+gzip the *contents* of source (no leading directory, like /opt/ml/model) and upload to uri."""
    bucket, key = split_uri(uri)
    with tempfile.TemporaryDirectory(dir=source.parent) as tmp:
        archive = Path(tmp) / "archive.tar.gz"
        with tarfile.open(archive, mode="w:gz") as tar:
            for path in sorted(source.iterdir()):
                tar.add(path, arcname=path.name)
        s3.upload_file(str(archive), bucket, key)
