"""S3: datasets in the data bucket, artifacts and reports in the artifact bucket."""

from __future__ import annotations

import base64
import hashlib
import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlparse

from challenger_core.adapters import translate_errors
from challenger_core.errors import NotFoundError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    etag: str
    size: int
    last_modified: str
    version_id: str | None = None  # S3's VersionId on a versioned bucket


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key)."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


class Storage:
    """The S3 operations the core needs."""

    def __init__(self, client: S3Client) -> None:
        self._s3 = client

    def read(self, bucket: str, key: str, *, max_bytes: int | None = None, version_id: str | None = None) -> bytes:
        with translate_errors(f"s3 GetObject s3://{bucket}/{key}"):
            kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, **_version(version_id)}
            if max_bytes is not None:
                kwargs["Range"] = f"bytes=0-{max_bytes}"
            return self._s3.get_object(**kwargs)["Body"].read()

    def write(self, bucket: str, key: str, body: bytes, content_type: str = "application/octet-stream") -> str:
        with translate_errors(f"s3 PutObject s3://{bucket}/{key}"):
            self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        return f"s3://{bucket}/{key}"

    def put_checked(self, bucket: str, key: str, body: IO[bytes], *, sha256: str) -> str | None:
        """Put a stream with its SHA-256 (hex): S3 refuses the upload if the bytes it receives hash otherwise
        (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html). The VersionId."""
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
        with translate_errors(f"s3 PutObject s3://{bucket}/{key}"):
            response = self._s3.put_object(Bucket=bucket, Key=key, Body=body, ChecksumSHA256=checksum)
        return response.get("VersionId")

    def info(self, bucket: str, key: str, *, version_id: str | None = None) -> ObjectInfo | None:
        """Head an object (that version of it, if given); None if it does not exist."""
        try:
            with translate_errors(f"s3 HeadObject s3://{bucket}/{key}"):
                head = self._s3.head_object(Bucket=bucket, Key=key, **_version(version_id))
        except NotFoundError:
            return None
        return ObjectInfo(
            key=key,
            etag=head["ETag"].strip('"'),
            size=head["ContentLength"],
            last_modified=head["LastModified"].isoformat(),
            version_id=head.get("VersionId"),
        )

    def latest_versions(self, bucket: str, prefix: str, *, limit: int) -> list[ObjectInfo]:
        """The current version of every object under `prefix` with its VersionId (ListObjectVersions; a deleted key,
        whose latest version is a delete marker, is not listed). At most `limit` objects; more raise ValueError."""
        objects: list[ObjectInfo] = []
        with translate_errors(f"s3 ListObjectVersions s3://{bucket}/{prefix}"):
            for page in self._s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Versions", []):
                    if not item.get("IsLatest"):
                        continue
                    if len(objects) == limit:
                        raise ValueError(f"more than {limit:,} objects under s3://{bucket}/{prefix}")
                    version = item.get("VersionId")
                    objects.append(
                        ObjectInfo(
                            key=item["Key"],
                            etag=item["ETag"].strip('"'),
                            size=item["Size"],
                            last_modified=item["LastModified"].isoformat(),
                            version_id=None if version in (None, "null") else version,
                        )
                    )
        return objects

    def copy_version(self, bucket: str, key: str, version_id: str | None, to_bucket: str, to_key: str) -> None:
        """Copy that version of an object, server-side (CopyObject: objects up to 5 GB,
        https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html)."""
        source: dict[str, str] = {"Bucket": bucket, "Key": key, **_version(version_id)}
        with translate_errors(f"s3 CopyObject s3://{bucket}/{key} → s3://{to_bucket}/{to_key}"):
            self._s3.copy_object(Bucket=to_bucket, Key=to_key, CopySource=source)  # type: ignore[arg-type]

    def list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        objects: list[ObjectInfo] = []
        with translate_errors(f"s3 ListObjectsV2 s3://{bucket}/{prefix}"):
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    objects.append(
                        ObjectInfo(
                            key=item["Key"],
                            etag=item["ETag"].strip('"'),
                            size=item["Size"],
                            last_modified=item["LastModified"].isoformat(),
                        )
                    )
        return objects

    @contextmanager
    def open(self, bucket: str, key: str, *, version_id: str | None = None) -> Iterator[io.RawIOBase]:
        """The object's body (that version of it, if given) as a stream (read in chunks: memory does not grow
        with the object)."""
        with translate_errors(f"s3 GetObject s3://{bucket}/{key}"):
            body = self._s3.get_object(Bucket=bucket, Key=key, **_version(version_id))["Body"]
        try:
            yield _Translated(body, f"s3 GetObject s3://{bucket}/{key}")
        finally:
            body.close()

    def sha256(self, uri: str, *, chunk_bytes: int = 1024 * 1024) -> str:
        """The SHA-256 of an object, computed by streaming it."""
        bucket, key = split_s3_uri(uri)
        digest = hashlib.sha256()
        with self.open(bucket, key) as body:
            while chunk := body.read(chunk_bytes):
                digest.update(chunk)
        return digest.hexdigest()

    def read_tar_member(self, uri: str, member: str, *, max_bytes: int = 50 * 1024 * 1024) -> bytes:
        """One file out of a `.tar.gz` artifact (SageMaker's output.tar.gz / model.tar.gz), read as a stream:
        the archive is never held in memory, only the member (at most `max_bytes`)."""
        import tarfile  # noqa: PLC0415  # only this reader needs it (the API's init does not)

        bucket, key = split_s3_uri(uri)
        try:
            with self.open(bucket, key) as body, tarfile.open(fileobj=body, mode="r|gz") as tar:
                for info in tar:
                    if info.isfile() and info.name.removeprefix("./") == member:
                        if info.size > max_bytes:
                            raise NotFoundError(f"{member} in {uri} is {info.size} bytes, over the {max_bytes} limit")
                        extracted = tar.extractfile(info)
                        if extracted is not None:
                            return extracted.read()
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise NotFoundError(f"{uri} is not a readable .tar.gz ({exc}), so it has no {member}") from exc
        raise NotFoundError(f"{member} not found in {uri}")


def _version(version_id: str | None) -> dict[str, Any]:
    """GetObject/HeadObject's VersionId argument: pinned when known, the latest version otherwise."""
    return {"VersionId": version_id} if version_id else {}


class _Translated(io.RawIOBase):
    """A response body whose read errors (a dropped connection mid-stream) become core errors."""

    def __init__(self, body: Any, operation: str) -> None:
        self._body = body
        self._operation = operation

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        with translate_errors(self._operation):
            data: bytes = self._body.read(None if size is None or size < 0 else size)
            return data
