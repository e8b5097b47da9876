"""Batch scoring: the batch files scored so far (GET /batch), one of them (GET /batch/{batch_id}), score a file.

A file is scored by BatchPipeline whether it was dropped under `batch/` or sent here: POST /batch writes it to
`batch/<name>.csv` in the data bucket, and S3's "Object Created" event starts the pipeline as for any drop
(challenger_core/batch.py). BatchPipeline's steps record each batch in the registry, which is what the lists read.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import Field

from challenger_core.adapters.storage import split_s3_uri
from challenger_core.errors import ConflictError, NotFoundError
from challenger_core.models import BATCH_ID_PATTERN, BatchJobRecord, Model
from challenger_core.naming import BATCH_PREFIX
from routers.conditional import conditional_get
from routers.deps import RegistryDep, SettingsDep, StorageDep
from routers.doors import DECISION, Operator
from routers.errors import BAD_BODY, FORBIDDEN, INVALID, NOT_FOUND, error, json_response
from routers.paging import BAD_CURSOR, Cursor, PageLimit, page_response, paged

router = Router()

BatchIdPath = Annotated[str, Path(pattern=BATCH_ID_PATTERN, description="batch id (GET /batch)")]
# The API's request limit is 4 MiB (serving.MAX_PAYLOAD_BYTES) and the CSV travels inside JSON: a larger file goes
# straight to S3 (`challenger batch score`, or any upload to batch/<name>.csv; up to batch.MAX_BATCH_BYTES in the core).
MAX_UPLOAD_CHARS = 3_500_000
# Lambda returns at most 6 MB to API Gateway (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_RESULT_BYTES = 5 * 1024 * 1024


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
    description="One batch: status, input, rows, model version, the scored file and why one failed.",
    responses={200: json_response("OK", BatchJobRecord), 404: NOT_FOUND, 422: INVALID},
)
def get_batch(batch_id: BatchIdPath, *, registry: RegistryDep) -> BatchJobRecord:
    return registry.get_batch(batch_id)


@router.get(
    "/batch/<batch_id>/result",
    summary="Download a scored file",
    description="The scored CSV of a batch that succeeded (`text/csv`, up to 5 MB through the API; a larger one is "
    "a 413 naming its S3 location). Operators only: it is the scored data, not a read of the registry.",
    security=DECISION,
    responses={
        200: {"description": "The scored CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
        403: FORBIDDEN,
        404: NOT_FOUND,
        409: json_response("The batch has no scored file (running or failed)"),
        413: json_response("Over the API's response limit: fetch it from S3"),
        422: INVALID,
    },
)
def get_batch_result(
    batch_id: BatchIdPath, *, _caller: Operator, registry: RegistryDep, storage: StorageDep
) -> Response[Any]:
    record = registry.get_batch(batch_id)
    if not record.output_uri:
        raise ConflictError(f"batch {batch_id} has no scored file: it is {record.status.value.lower()}")
    bucket, key = split_s3_uri(record.output_uri)
    info = storage.info(bucket, key)
    if info is None:
        raise NotFoundError(f"the scored file {record.output_uri} is gone")
    if info.size > MAX_RESULT_BYTES:
        return error(
            413,
            f"the scored file is {info.size} bytes, over the {MAX_RESULT_BYTES} bytes the API returns: fetch "
            f"{record.output_uri} from S3 (`aws s3 cp`, or `challenger batch score` downloads it)",
        )
    headers = {"Content-Disposition": f'attachment; filename="{record.name}.out.csv"'}
    body = storage.read(bucket, key).decode("utf-8")
    return Response(status_code=200, content_type="text/csv; charset=utf-8", body=body, headers=headers)


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
    key = f"{BATCH_PREFIX}{upload.name}.csv"
    uri = storage.write(settings.data_bucket, key, upload.csv.encode(), content_type="text/csv")
    answer = BatchUploaded(
        name=upload.name,
        input_uri=uri,
        message=f"uploaded to {uri}; BatchPipeline scores it with the champion (GET /batch shows it)",
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=answer)
