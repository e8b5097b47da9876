"""BatchScoringFunction: the steps of BatchPipeline (start, check, finish, fail) for one file under batch/.

One function for the four small steps of one pipeline: they share the same permissions and clients.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, TypeAdapter

from challenger_core import batch, notifications
from challenger_core.adapters.batch_transform import BatchTransform
from challenger_core.adapters.notifier import Notifier
from challenger_core.adapters.storage import Storage
from challenger_core.clients import client
from challenger_core.models import BatchStatus, Model, StepError
from challenger_core.observability import logger, metrics, to_state, tracer
from challenger_core.recipe import RecipeSpec, load_recipe
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

settings = get_settings()


class UploadEvent(S3EventNotificationEventBridgeModel):
    """The S3 "Object Created" event EventBridge started the execution with; FailBatch gets it back with the
    Catch's `error` beside it (ResultPath $.error)."""

    error: StepError | None = None


class Start(Model):
    step: Literal["start"]
    event: UploadEvent


class Step(Model):
    step: Literal["check", "finish"]
    state: batch.BatchState


class Fail(Model):
    step: Literal["fail"]
    document: batch.BatchState | UploadEvent


Request = TypeAdapter(Annotated[Start | Step | Fail, Field(discriminator="step")])


@cache
def _storage() -> Storage:
    return Storage(client("s3"))


@cache
def _transform() -> BatchTransform:
    return BatchTransform(client("sagemaker"))


def _recipe() -> RecipeSpec:
    return load_recipe(_storage(), settings.artifact_bucket, settings.recipe)


@cache
def _registry() -> Registry:
    return Registry(client("dynamodb"), settings.models_table)


def _send(message: notifications.Message) -> None:
    Notifier(client("sns"), settings.topic_arn).send(message)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = Request.validate_python(event)
    if isinstance(request, Start):
        upload = request.event
        state = batch.BatchState(
            request=batch.request_from_event(upload.detail.model_dump(by_alias=True), upload.id, upload.time)
        )
        state = batch.start_batch(
            state, storage=_storage(), registry=_registry(), transform=_transform(), recipe=_recipe(), settings=settings
        )
        _registry().put_batch(batch.job_record(state, BatchStatus.RUNNING))
        return to_state(state)
    if isinstance(request, Step) and request.step == "check":
        return to_state(batch.check_batch(request.state, _transform()))
    if isinstance(request, Step):
        state = batch.finish_batch(request.state, storage=_storage(), recipe=_recipe())
        assert state.result is not None
        result = state.result
        _registry().put_batch(batch.job_record(state, BatchStatus.SUCCEEDED))
        _send(
            notifications.batch_done(
                stack=settings.stack_name,
                name=state.request.name,
                rows=result.rows,
                output_uri=result.output_uri,
                version=result.version,
            )
        )
        return to_state(state)
    document = request.document
    if isinstance(document, batch.BatchState):
        cause, key = batch.fail_batch(document, _transform()), document.request.key
        record = batch.job_record(document, BatchStatus.FAILED, cause)
    else:
        cause = document.error.message if document.error else "unknown failure"
        key = document.detail.object.key
        detail = document.detail.model_dump(by_alias=True)
        record = batch.failed_upload_record(detail, document.id, document.time, cause)
    _registry().put_batch(record)
    _send(notifications.batch_failed(stack=settings.stack_name, key=key, cause=cause))
    return {"cause": cause[:4000]}
