"""GET /health and POST /predict: what serves, and inference through the live endpoint."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from challenger_core import operations, serving
from challenger_core.errors import ServiceError, TransientServiceError
from challenger_core.observability import metrics
from routers.conditional import conditional_get
from routers.deps import CaptureDep, RecipeDep, RegistryDep, SageMakerDep, SettingsDep
from routers.errors import BAD_BODY, TooLargeError, json_response

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

    from challenger_core.adapters.sagemaker import SageMaker

router = Router()


class Prediction(BaseModel):
    """The recipe's prediction record: its fields and types, and the meaning of `score` (shown by the dashboard)."""

    model_config = ConfigDict(defer_build=True)  # built by the first GET /health, not at init (as the core's)

    fields: dict[str, str]
    score: str
    labels: dict[str, str] = Field(
        default_factory=dict, description="class value → class name, in the recipe's order (empty for regression)"
    )
    class_names: list[str] = Field(
        default_factory=list,
        description="the class names in the recipe's order: the confusion matrix's rows and columns (a JSON object's "
        "integer keys lose that order in a browser)",
    )
    example: list[Any] = Field(
        default_factory=list, description="instances the dashboard's inference form starts with (recipe.json)"
    )


class EndpointHealth(BaseModel):
    """The live endpoint as SageMaker describes it (DescribeEndpoint), not as the registry remembers it."""

    model_config = ConfigDict(defer_build=True)

    name: str
    status: str = Field(description="InService, Updating, Creating, Failed, ... or Missing (no such endpoint)")
    reason: str | None = Field(default=None, description="why it is not serving, when it is not")


class Health(BaseModel):
    """The API answers, which version serves, whether its endpoint serves, and the promotion policy in force."""

    model_config = ConfigDict(defer_build=True)

    status: str = Field(description="ok, or degraded when a champion is recorded but its endpoint cannot serve")
    champion_version: int | None
    endpoint: EndpointHealth | None = Field(default=None, description="null while no model is live")
    policy: operations.PromotionPolicy
    prediction: Prediction = Field(description="the prediction record and what its score means (the recipe's)")


# Endpoint states that still answer requests (an update keeps serving the old config until the swap).
SERVING_STATES = frozenset({"InService", "Updating", "SystemUpdating", "UpdateRollbackFailed"})


def endpoint_health(sagemaker: SageMaker, name: str) -> EndpointHealth:
    """DescribeEndpoint as the header shows it: a missing or failed endpoint is unhealthy, whatever the registry says"""
    try:
        info = sagemaker.endpoint(name)
    except (ServiceError, TransientServiceError) as exc:
        return EndpointHealth(name=name, status="Unknown", reason=f"DescribeEndpoint failed: {exc}")
    if info is None:
        return EndpointHealth(name=name, status="Missing", reason="the endpoint does not exist")
    reason = info.failure_reason if info.status not in SERVING_STATES else None
    if info.status not in SERVING_STATES and not reason:
        reason = f"the endpoint is {info.status}"
    return EndpointHealth(name=name, status=info.status, reason=reason)


@router.get(
    "/health",
    summary="Health",
    description="Whether the API answers, which version is live and whether its endpoint serves (DescribeEndpoint): "
    "`degraded` when a champion is recorded but its endpoint is missing, failed or out of service.",
    middlewares=[conditional_get],  # ETag / If-None-Match → 304 (the dashboard polls it)
)
def health(
    *,
    registry: RegistryDep,
    recipe: RecipeDep,
    settings: SettingsDep,
    sagemaker: SageMakerDep,
) -> Health:
    champion = registry.get_champion()
    endpoint = endpoint_health(sagemaker, settings.endpoint_name) if champion else None
    return Health(
        status="degraded" if endpoint and endpoint.status not in SERVING_STATES else "ok",
        champion_version=champion.version if champion else None,
        endpoint=endpoint,
        policy=operations.promotion_policy(settings, recipe),
        prediction=Prediction(
            fields=dict(recipe.prediction.fields),
            score=recipe.prediction.score,
            labels=dict(recipe.data_schema.target.labels),
            class_names=list(recipe.data_schema.target.labels.values()),
            example=list(recipe.request.example),
        ),
    )


@router.post(
    "/predict",
    summary="Predict",
    description=(
        "Forward `instances` (records as the stack's recipe defines them, see `Instance`) to the live endpoint; "
        "the answer names the version that served it."
    ),
    responses={
        200: json_response("The predictions and the version that served them", serving.PredictResponse),
        **BAD_BODY,
        400: json_response("The body is not readable JSON, or the model could not read the instances"),
        502: json_response("The endpoint failed to answer"),
        503: json_response("No model is live yet, or the endpoint is cold or busy (see Retry-After)"),
    },
)
def predict(
    request: serving.PredictRequest,
    *,
    recipe: RecipeDep,
    registry: RegistryDep,
    sagemaker: SageMakerDep,
    settings: SettingsDep,
    capture: CaptureDep,
) -> serving.PredictResponse:
    started = time.perf_counter()
    try:
        # API Gateway's request id, as its access log shows it (the REST proxy event: this API's only source).
        request_id = cast("APIGatewayProxyEvent", router.current_event).request_context.request_id
        response = serving.predict(
            request, recipe, registry, sagemaker, settings, capture=capture, request_id=request_id
        )
    except (ServiceError, TransientServiceError):  # the endpoint failed to answer (EndpointErrorsAlarm)
        metrics.add_metric(name="PredictErrors", unit=MetricUnit.Count, value=1)
        raise
    except serving.PayloadTooLargeError:  # the body as sent would be: SageMaker would refuse it (a 502)
        raise TooLargeError() from None
    except ValidationError as exc:  # the recipe's record model refused an instance: a 422 like any other
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=len(response.predictions))
    metrics.add_metric(
        name="PredictLatency", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000
    )
    metrics.add_metric(name="CapturedRows", unit=MetricUnit.Count, value=capture.take_captured())
    return response
