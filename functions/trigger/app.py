"""TriggerFunction: an upload under incoming/ or the retrain schedule → one training pipeline run.

Idempotent on the EventBridge event id: a duplicate delivery never starts a second run, and a retried one
(after a fault at any call) names the same run from the event's time. Data that did not change since a
started or successful run is skipped by the registry check in `triggering.start_run`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from challenger_core import triggering
from challenger_core.adapters.storage import Storage
from challenger_core.adapters.workflow import Workflow
from challenger_core.clients import client
from challenger_core.models import RunRequest, TriggerSource
from challenger_core.observability import logger, metrics, tracer
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

settings = get_settings()
storage = Storage(client("s3"))
registry = Registry(client("dynamodb"), settings.models_table)
workflow = Workflow(client("stepfunctions"))


class ObjectCreatedEvent(S3EventNotificationEventBridgeModel):
    """An upload under incoming/ (UploadRule): S3's "Object Created" event as EventBridge delivers it."""

    detail_type: Literal["Object Created"] = Field(alias="detail-type")


class ScheduledEvent(EventBridgeModel):
    """The retrain schedule's tick (ScheduleRule); Powertools has no model of its own for it."""

    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    detail: dict[str, Any]


TriggerEvent = ObjectCreatedEvent | ScheduledEvent  # the Literal detail-types make the union unambiguous


class TriggerCommand(BaseModel):
    event_id: str
    request: RunRequest


def _start(command: TriggerCommand) -> dict[str, Any]:
    result = triggering.start_run(command.request, registry, workflow, settings)
    return {"started": result.started, "run_id": result.run_id, "reason": result.reason}


@functools.cache
def idempotent() -> tuple[IdempotencyConfig, Callable[..., dict[str, Any]]]:
    """`_start`, idempotent on the event id, and its config. Built on the first event, not at init: Powertools'
    idempotency package imports boto3, and its DynamoDB persistence layer builds a client in its constructor."""
    from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = IdempotencyConfig(event_key_jmespath="event_id", expires_after_seconds=86400)
    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=client("dynamodb"))
    decorate = idempotent_function(data_keyword_argument="command", config=config, persistence_store=persistence)
    return config, decorate(_start)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=TriggerEvent)
def lambda_handler(event: ObjectCreatedEvent | ScheduledEvent, context: LambdaContext) -> dict[str, Any]:
    idempotency, start_once = idempotent()
    idempotency.register_lambda_context(context)
    source = event
    if isinstance(source, ObjectCreatedEvent):
        dataset = triggering.dataset_of(source.detail.object.key)
        request = triggering.prepare_run(
            storage, source.detail.bucket.name, dataset, TriggerSource.UPLOAD, at=source.time
        )
    else:
        dataset = triggering.latest_dataset(storage, settings.data_bucket)
        request = triggering.prepare_run(storage, settings.data_bucket, dataset, TriggerSource.SCHEDULE, at=source.time)
    result: dict[str, Any] = start_once(command=TriggerCommand(event_id=source.id, request=request))
    logger.info("trigger handled", extra=result)
    metrics.add_metric(name="RunsStarted" if result["started"] else "RunsSkipped", unit="Count", value=1)
    return result
