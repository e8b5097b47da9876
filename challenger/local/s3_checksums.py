"""CopyObject keeps the source's checksum as S3 keeps it: its value *and* its type (moto 5.2.5 copies the value only).

S3: "When you copy an object, if the source object has a checksum, that checksum value will be copied to the new
object by default" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html, `x-amz-checksum-algorithm`).
For an object written by a multipart upload (boto3's `upload_file` above 8 MB: `challenger data push`), that value
is COMPOSITE, a checksum of the parts' checksums, and GetObject serves it as `<value>-<parts>`
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html), which a client does not
compare with the bytes. moto's `S3Backend.copy_object` copies `checksum_value` and `checksum_algorithm` but not
`checksum_type` / `checksum_parts`, so the copy served the parts' checksum as if it were the whole object's and every
checksum-validating reader (botocore's default) failed with FlexibleChecksumError: a pinned copy of a 125 MB part
(ValidateData's `datasets/<run>/train/`) could not be read, and the snapshot of the cloud's state failed with it.

Not kinder than AWS: the copy's checksum is the source's, value and type, as S3 copies it, so a reader validates
exactly what it would validate on S3. (A copy that asks for another algorithm, `x-amz-checksum-algorithm`, gets
moto's full-object checksum of it afterwards but keeps the type set here; nothing in the product asks for one.)
"""

from __future__ import annotations

import functools
from typing import Any

from moto.s3.models import FakeKey, S3Backend

_INSTALLED = "_challenger_keeps_checksum_type"


def keep_checksum_type_on_copy() -> None:
    """Wrap moto's S3Backend.copy_object (process-wide, as moto's backends are); idempotent."""
    original = S3Backend.copy_object
    if getattr(original, _INSTALLED, False):
        return

    @functools.wraps(original)
    def copy_object(
        self: S3Backend, src_key: FakeKey, dest_bucket_name: str, dest_key_name: str, *a: Any, **k: Any
    ) -> None:
        original(self, src_key, dest_bucket_name, dest_key_name, *a, **k)
        if src_key.checksum_value and src_key.checksum_type:
            copied = self.get_object(dest_bucket_name, dest_key_name)
            if copied is not None and copied.checksum_value == src_key.checksum_value:
                copied.checksum_type = src_key.checksum_type
                copied.checksum_parts = src_key.checksum_parts

    setattr(copy_object, _INSTALLED, True)
    S3Backend.copy_object = copy_object  # type: ignore[method-assign]
