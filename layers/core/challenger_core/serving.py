"""Inference through the live endpoint, with the version that answered.

The request and prediction records come from the recipe: `instance_model(recipe)` is a pydantic model built from
its features (text with a maximum length, finite numbers within bounds, categories from their values, real ISO 8601
dates and date-times), so a record the model cannot read is refused with a 422 naming the field before any round trip
to the endpoint.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from challenger_core.errors import ChallengerError, NotFoundError, ServiceError, TransientServiceError
from challenger_core.models import Model
from challenger_core.temporal import DATE_PATTERN, DATETIME_PATTERN, parse_temporal

if TYPE_CHECKING:  # annotations only: the API imports this module at init for its request and response models
    from challenger_core.adapters.sagemaker import SageMaker
    from challenger_core.capture import CaptureBuffer
    from challenger_core.recipe import Feature, RecipeSpec
    from challenger_core.registry import Registry
    from challenger_core.settings import Settings

MAX_PAYLOAD_BYTES = 4 * 1024 * 1024  # the serverless endpoint's request limit
MAX_INSTANCES = 1000
DEFAULT_MAX_TEXT = 100_000  # a text feature without max_length: still bounded (the payload limit bounds it too)


class PredictRequest(Model):
    """`{"instances": [...]}`: records as the recipe defines them (see the document's `Instance` schema)."""

    instances: list[Any] = Field(min_length=1, max_length=MAX_INSTANCES)


class PredictResponse(Model):
    """The predictions (fields as the recipe declares them) and the version that served them."""

    predictions: list[dict[str, Any]]
    model_version: int


class NoModelLiveError(NotFoundError):
    """Nothing to predict with yet."""


class PayloadTooLargeError(ChallengerError):
    """The body InvokeEndpoint would send is over the serverless endpoint's request limit."""


def endpoint_body(instances: list[dict[str, Any]]) -> bytes:
    """The InvokeEndpoint body, measured as sent: compact UTF-8 JSON.

    The API checks the request's own size, but the body sent on is re-serialized: json.dumps' default
    `ensure_ascii` writes "é" as 6 bytes (`\\u00e9`) and an emoji as 12, and the shorthand `"text"` becomes
    `{"review_text": "text"}`, so a request under the limit could reach SageMaker over it (a 502 where the
    caller should get a 413).
    """
    body = json.dumps({"instances": instances}, ensure_ascii=False, separators=(",", ":")).encode()
    if len(body) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(f"the endpoint's body would be {len(body)} bytes, over {MAX_PAYLOAD_BYTES}")
    return body


_PYTHON_TYPES: dict[str, type] = {"int": int, "str": str, "float": float}
_models: dict[tuple[str, str], type[BaseModel]] = {}
_lock = threading.RLock()  # builders nest (a request model is built from the instance model)


def _feature_type(feature: Feature) -> Any:
    if feature.type == "text":
        # Some non-blank text: the model server would refuse a blank one after a round trip.
        return Annotated[str, Field(min_length=1, max_length=feature.max_length or DEFAULT_MAX_TEXT, pattern=r"\S")]
    if feature.type == "number":
        return Annotated[float, Field(allow_inf_nan=False, ge=feature.min, le=feature.max)]
    if feature.type in ("date", "datetime"):
        kind, pattern = feature.type, (DATE_PATTERN if feature.type == "date" else DATETIME_PATTERN).pattern

        def _checked(value: str) -> str:
            parse_temporal(kind, value)  # a real date: the pattern lets 2013-02-30 through
            return value

        return Annotated[str, Field(max_length=40, pattern=f"^{pattern}$"), AfterValidator(_checked)]
    if feature.values:
        return Literal[tuple(feature.values)]
    return Annotated[str, Field(min_length=1, max_length=1000)]


def _cached(recipe: RecipeSpec, kind: str, build: Any) -> type[BaseModel]:
    key = (recipe.model_dump_json(), kind)
    with _lock:
        model = _models.get(key)
        if model is None:
            model = _models[key] = build(recipe)
    return model


def instance_model(recipe: RecipeSpec) -> type[BaseModel]:
    """One request record of the recipe: `{<feature>: value, ...}`."""

    def build(spec: RecipeSpec) -> type[BaseModel]:
        fields: dict[str, Any] = {f.name: (_feature_type(f), ...) for f in spec.data_schema.features}
        return create_model(
            "Instance",
            __config__=ConfigDict(extra="forbid"),
            __doc__=f"One record for the {spec.name} recipe: {spec.description}",
            **fields,
        )

    return _cached(recipe, "instance", build)


def request_model(recipe: RecipeSpec) -> type[BaseModel]:
    """`{"instances": [...]}` for the recipe: records, or bare values of `request.shorthand` if it has one."""

    def build(spec: RecipeSpec) -> type[BaseModel]:
        record: Any = instance_model(spec)
        shorthand = spec.request.shorthand
        if shorthand is not None:
            feature = next(f for f in spec.data_schema.features if f.name == shorthand)
            record = record | _feature_type(feature)
        return create_model(
            "PredictRequest",
            __config__=ConfigDict(extra="forbid"),
            __doc__='`{"instances": [...]}`: records'
            + (f", or bare `{shorthand}` values" if shorthand else "")
            + f" ({spec.name} recipe)",
            instances=(list[record], Field(min_length=1, max_length=MAX_INSTANCES)),
        )

    return _cached(recipe, "request", build)


def prediction_model(recipe: RecipeSpec) -> type[BaseModel]:
    """One prediction as the recipe's `prediction.fields` declare it."""

    def build(spec: RecipeSpec) -> type[BaseModel]:
        fields: dict[str, Any] = {name: (_PYTHON_TYPES[kind], ...) for name, kind in spec.prediction.fields.items()}
        return create_model(
            "PredictionRecord",  # not "Prediction": a component of that name may exist in the API's document
            __config__=ConfigDict(extra="allow"),
            __doc__=f"A prediction of the {spec.name} recipe"
            + (f"; score: {spec.prediction.score}" if spec.prediction.score else ""),
            **fields,
        )

    return _cached(recipe, "prediction", build)


def response_model(recipe: RecipeSpec) -> type[BaseModel]:
    """`{"predictions": [...], "model_version": N}` for the recipe (the OpenAPI document shows it)."""

    def build(spec: RecipeSpec) -> type[BaseModel]:
        return create_model(
            "PredictResponse",
            __doc__="The predictions and the version that served them",
            predictions=(list[prediction_model(spec)], ...),  # type: ignore[arg-type, misc]
            model_version=(int, ...),
        )

    return _cached(recipe, "response", build)


def instances_of(request: PredictRequest, recipe: RecipeSpec) -> list[Any]:
    """The instances checked against the recipe (pydantic ValidationError names each bad field), as records:
    a bare value of the shorthand feature becomes `{<shorthand>: value}`."""
    validated = request_model(recipe).model_validate({"instances": request.instances})
    shorthand = recipe.request.shorthand
    return [
        item.model_dump() if isinstance(item, BaseModel) else {shorthand: item}
        for item in validated.instances  # type: ignore[attr-defined]
    ]


def predict(
    request: PredictRequest,
    recipe: RecipeSpec,
    registry: Registry,
    sagemaker: SageMaker,
    settings: Settings,
    *,
    capture: CaptureBuffer | None = None,
    request_id: str | None = None,
) -> PredictResponse:
    """Check the instances against the recipe, forward them to the endpoint, name the version that answered.

    With a `capture` buffer the request is counted (latency, error) and, if sampled, captured with its
    predictions (or the kind of error) under `request_id` for drift checks and shadow replay; the buffer never
    blocks on I/O (challenger_core.capture).
    """
    # The first predict imports these (deployment's names, validation's CSV reader), not the API's init.
    from challenger_core.deployment import version_of_variant  # noqa: PLC0415
    from challenger_core.validation import clip  # noqa: PLC0415

    instances = instances_of(request, recipe)
    body = endpoint_body(instances)
    # No strongly consistent read per request: the pointer only says whether anything is live yet and labels an
    # answer whose variant names no version; the variant that answered is the version (below).
    champion = registry.champion_cache.get()
    if champion is None:
        raise NoModelLiveError("no model is live yet: drop training data into the data bucket and wait for a run")
    started = time.perf_counter()
    served = champion.version
    error_kind = "model_error"
    try:
        raw, variant = sagemaker.invoke_with_variant(settings.endpoint_name, body)
        # The variant that answered names its version (deployment.variant_name): during a blue/green swap that
        # may be the outgoing or the incoming model, whatever the champion pointer says at this instant.
        served = version_of_variant(variant) or champion.version
        try:
            answer: dict[str, Any] = json.loads(raw)
            checked = [prediction_model(recipe).model_validate(p).model_dump() for p in answer["predictions"]]
        except (ValueError, KeyError, TypeError) as exc:
            error_kind = "invalid_output"
            raise ServiceError(
                f"the endpoint answered something that is not a prediction: {clip(repr(raw[:200]), 240)}"
            ) from exc
    except ChallengerError as exc:
        if capture is not None:
            kind = "throttled" if isinstance(exc, TransientServiceError) else error_kind
            capture.record(served, instances, [], _ms_since(started), error=kind, request_id=request_id)
        raise
    if capture is not None:
        capture.record(served, instances, checked, _ms_since(started), request_id=request_id)
    return PredictResponse(predictions=checked, model_version=served)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
