"""What the routes work with, built once per container on first use and handed to them by Powertools `Depends`.

Nothing here is built at import (a cold start pays only for what its first request needs); tests replace any of
these with `app.dependency_overrides[deps.<name>] = ...`.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends

from challenger_core import monitoring
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.adapters.storage import Storage
from challenger_core.adapters.workflow import Workflow
from challenger_core.capture import CAPTURE_MESSAGE, CaptureBuffer
from challenger_core.clients import API_RUNTIME, client
from challenger_core.observability import capture_logger, logger
from challenger_core.recipe import RecipeSpec, load_recipe
from challenger_core.registry import Registry
from challenger_core.settings import Settings, get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider


@cache
def settings() -> Settings:
    return get_settings()


@cache
def registry() -> Registry:
    return Registry(client("dynamodb"), settings().models_table)


@cache
def sagemaker() -> SageMaker:
    return SageMaker(client("sagemaker"), client("sagemaker-runtime", API_RUNTIME))


@cache
def workflow() -> Workflow:
    return Workflow(client("stepfunctions"))


@cache
def storage() -> Storage:
    return Storage(client("s3"))


def recipe() -> RecipeSpec:
    """The stack's recipe (read from S3 on first use and cached by the core, never at import)."""
    return load_recipe(storage(), settings().artifact_bucket, settings().recipe)


@cache
def monitoring_store() -> monitoring.MonitoringStore:
    return monitoring.MonitoringStore(client("dynamodb"), settings().models_table)


@cache
def capture() -> CaptureBuffer:
    """Inference capture (a log line per sampled request, delivered to S3 by CaptureFunction's subscription) and
    serving counters (written by a background thread, created on the first predict)."""
    # The client is built here, inside the invocation that first predicts: the writer thread must not resolve
    # endpoints or credentials itself.
    store = monitoring.MonitoringStore(client("dynamodb").build(), settings().models_table)
    config = settings()
    return CaptureBuffer(
        lambda line: capture_logger.info(CAPTURE_MESSAGE, capture=line),
        store.add_stats,
        sample_rate=config.capture_sample_rate,
        flush_seconds=config.capture_flush_seconds,
        on_error=lambda exc: logger.warning("inference capture dropped a request or counters", exc_info=exc),
    )


@cache
def _secrets() -> SecretsProvider:
    # Only the approval links need the key: Powertools' parameters utility is imported on that path, not at init.
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

    return parameters.SecretsProvider(boto3_client=client("secretsmanager"))


def approval_key() -> bytes:
    """The HMAC key of the approval links (Secrets Manager, cached 5 minutes)."""
    secret: Any = _secrets().get(settings().approval_secret_arn, max_age=300)
    return str(secret).encode()


SettingsDep = Annotated[Settings, Depends(settings)]
RegistryDep = Annotated[Registry, Depends(registry)]
SageMakerDep = Annotated[SageMaker, Depends(sagemaker)]
WorkflowDep = Annotated[Workflow, Depends(workflow)]
StorageDep = Annotated[Storage, Depends(storage)]
RecipeDep = Annotated[RecipeSpec, Depends(recipe)]
CaptureDep = Annotated[CaptureBuffer, Depends(capture)]
MonitoringDep = Annotated[monitoring.MonitoringStore, Depends(monitoring_store)]
ApprovalKeyDep = Annotated[bytes, Depends(approval_key)]
