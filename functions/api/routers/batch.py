"""Batch scoring: the batch files scored so far (GET /batch), one of them (GET /batch/{batch_id}), score a file.

A file is scored by BatchPipeline whether it was dropped under `batch/` or sent here: POST /batch writes it to
`batch/<name>.csv` in the data bucket, and S3's "Object Created" event starts the pipeline as for any drop
(challenger_core/batch.py). BatchPipeline's steps record each batch in the registry, which is what the lists read.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import Field

from challenger_core import batch
from challenger_core.adapters.storage import split_s3_uri
from challenger_core.models import BATCH_ID_PATTERN, BatchJobRecord, Model
from routers.conditional import conditional_get
from routers.deps import DownloadsDep, RegistryDep, SettingsDep, StorageDep
from routers.doors import DECISION, Operator, RequestDoor
from routers.errors import BAD_BODY, FORBIDDEN, INVALID, NOT_FOUND, json_response
from routers.paging import BAD_CURSOR, Cursor, PageLimit, page_response, paged

router = Router()

BatchIdPath = Annotated[str, Path(pattern=BATCH_ID_PATTERN, description="batch id (GET /batch)")]
# The API's request limit is 4 MiB (serving.MAX_PAYLOAD_BYTES) and the CSV travels inside JSON: a larger file goes
# straight to S3 (`challenger batch score`, or any upload to batch/<name>.csv; up to batch.MAX_BATCH_BYTES).
MAX_UPLOAD_CHARS = 3_500_000
DOWNLOAD_SECONDS = 900  # a result link works for 15 minutes


class BatchUpload(Model):
    """A CSV to score with the champion: the recipe's feature columns with a header row, as under batch/."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$",
        description="the batch's name: batch/<name>.csv; results go to batch-results/<name>.out.csv",
    )
    csv: str = Field(min_length=1, max_length=MAX_UPLOAD_CHARS, description="the file's text (UTF-8)")


class BatchUploaded(Model):
    name: str
    input_uri: str
    message: str


class BatchDetail(BatchJobRecord):
    """A batch with a link to download its scored file (signed for `DOWNLOAD_SECONDS`; operators only)."""

    download_url: str | None = None


@router.get(
    "/batch",
    summary="List batch scorings",
    description="Batch files scored by the champion (BatchPipeline), newest upload first: status, input, rows, "
    "model version, the scored file and why one failed. Paginated: `limit`, and the `X-Next-Cursor` header of "
    "one page as `cursor` for the next.",
    responses={
        200: page_response("One page of batch scorings, newest upload first", BatchJobRecord),
        422: INVALID,
        **BAD_CURSOR,
    },
    middlewares=[conditional_get],  # ETag / If-None-Match → 304 (the dashboard polls it)
)
def list_batches(
    *, registry: RegistryDep, limit: PageLimit = 50, cursor: Cursor = None
) -> Response[list[BatchJobRecord]]:
    return paged(*registry.batches_page(limit, cursor))


@router.get(
    "/batch/<batch_id>",
    summary="Get a batch scoring",
    description="One batch; through an operator door with a link to download its scored file (15 minutes).",
    responses={200: json_response("OK", BatchDetail), 404: NOT_FOUND, 422: INVALID},
)
def get_batch(
    batch_id: BatchIdPath, *, registry: RegistryDep, downloads: DownloadsDep, door: RequestDoor
) -> BatchDetail:
    record = registry.get_batch(batch_id)
    link = None
    if record.output_uri and door != "api-key":  # the key is for inference and reads, not for the scored data
        bucket, key = split_s3_uri(record.output_uri)
        link = downloads.download_url(bucket, key, expires_seconds=DOWNLOAD_SECONDS)
    return BatchDetail(**record.model_dump(), download_url=link)


@router.post(
    "/batch",
    summary="Score a file",
    description="Upload a CSV (the recipe's feature columns, a header row) to `batch/<name>.csv`; BatchPipeline "
    "scores it with the champion and lists it under GET /batch. Up to 3.5 MB here; larger files go straight to "
    "S3 (`challenger batch score`). Operators only (it starts a SageMaker job).",
    security=DECISION,
    responses={
        202: json_response("Uploaded; BatchPipeline starts on S3's event", BatchUploaded),
        **BAD_BODY,
        403: FORBIDDEN,
    },
)
def score_file(
    upload: BatchUpload, *, _caller: Operator, storage: StorageDep, settings: SettingsDep
) -> Response[BatchUploaded]:
    key = f"{batch.BATCH_PREFIX}{upload.name}.csv"
    uri = storage.write(settings.data_bucket, key, upload.csv.encode(), content_type="text/csv")
    answer = BatchUploaded(
        name=upload.name,
        input_uri=uri,
        message=f"uploaded to {uri}; BatchPipeline scores it with the champion (GET /batch shows it)",
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=answer)
