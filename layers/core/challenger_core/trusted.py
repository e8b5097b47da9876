"""A dataset's trusted evaluation set (issue 19): rows whose labels the operators vouch for.

Every comparison scores champion and challenger on it as well as on the new upload's hold-out, so an upload cannot
vouch for its own labels. It is seeded once, from the first champion-to-be's hold-out (the kit's `holdout.csv`:
the run's test.csv rows plus the hash-side rows of its upload), and replaced only by an operator through the
operator door or the dashboard (`challenger data push --test FILE --trusted`), each version audited and kept:
`s3://<ArtifactBucket>/trusted/<dataset>/v<N>.csv` is never overwritten, so the key names the rows a job used.
"""

from __future__ import annotations

import hashlib
import io

from challenger_core.adapters.storage import Storage
from challenger_core.errors import ConflictError, DataValidationError
from challenger_core.models import TrustedSet
from challenger_core.recipe import RecipeSpec
from challenger_core.registry import Registry
from challenger_core.validation import validate_stream

HOLDOUT_FILE = "holdout.csv"  # what the kit writes to output.tar.gz: the model's hold-out rows, typed per recipe
PREFIX = "trusted"


def trusted_key(dataset: str, version: int) -> str:
    """Where version `version` of a dataset's trusted set lives in the artifact bucket (never overwritten)."""
    return f"{PREFIX}/{dataset}/v{version:06d}.csv"


def store(
    body: bytes,
    *,
    dataset: str,
    bucket: str,
    storage: Storage,
    registry: Registry,
    recipe: RecipeSpec,
    source: str,
    set_by: str,
    comment: str = "",
) -> TrustedSet:
    """Validate the CSV against the recipe's schema and record it as the dataset's next trusted-set version.

    Raises DataValidationError (bad rows, fewer than the recipe's `min_test_rows`) or ConflictError (someone else
    set a version concurrently: try again)."""
    summary = validate_stream(io.BytesIO(body), recipe.data_schema, source="trusted set", size=len(body), role="test")
    if summary.rows < recipe.data_schema.min_test_rows:
        raise DataValidationError(
            [f"the trusted set has {summary.rows} rows; the recipe needs at least {recipe.data_schema.min_test_rows}"],
            source=f"dataset '{dataset}'",
        )
    current = registry.get_trusted_set(dataset)
    version = (current.version if current else 0) + 1
    key = trusted_key(dataset, version)
    if storage.info(bucket, key) is not None:
        raise ConflictError(f"trusted set v{version} of '{dataset}' is being written by someone else: try again")
    storage.write(bucket, key, body, "text/csv")
    trusted = TrustedSet(
        dataset=dataset,
        version=version,
        uri=f"s3://{bucket}/{key}",
        sha256=hashlib.sha256(body).hexdigest(),
        rows=summary.rows,
        source=source[:300],
        set_by=set_by,
        comment=comment,
    )
    registry.put_trusted_set(trusted)
    return trusted
