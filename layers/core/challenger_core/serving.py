"""Inference through the live endpoint, with the version that answered."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.deployment import version_of_variant
from challenger_core.errors import NotFoundError, ServiceError
from challenger_core.models import Model
from challenger_core.registry import Registry
from challenger_core.settings import Settings

MAX_PAYLOAD_BYTES = 4 * 1024 * 1024  # the serverless endpoint's request limit
MAX_INSTANCES = 1000


# A review the recipe can score: some non-blank text (the model server refuses blank ones with a ModelError, which
# would reach the caller as a 400 after a round trip; checking here answers 422 at once and names the field).
ReviewText = Annotated[str, Field(min_length=1, max_length=20_000, pattern=r"\S")]


class Review(Model):
    review_text: ReviewText


class PredictRequest(Model):
    """`{"instances": [...]}`: each instance a review string or `{"review_text": ...}`."""

    instances: list[ReviewText | Review] = Field(min_length=1, max_length=MAX_INSTANCES)


class Prediction(Model):
    label: int
    sentiment: str
    score: float


class PredictResponse(Model):
    predictions: list[Prediction]
    model_version: int


class NoModelLiveError(NotFoundError):
    """Nothing to predict with yet."""


def predict(request: PredictRequest, registry: Registry, sagemaker: SageMaker, settings: Settings) -> PredictResponse:
    """Forward the instances to the endpoint and name the version that answered."""
    champion = registry.get_champion()
    if champion is None:
        raise NoModelLiveError("no model is live yet: drop training data into the data bucket and wait for a run")
    body = json.dumps({"instances": [i if isinstance(i, str) else i.model_dump() for i in request.instances]})
    raw, variant = sagemaker.invoke_with_variant(settings.endpoint_name, body.encode())
    # The variant that answered names its version (deployment.variant_name): during a blue/green swap that may
    # be the outgoing or the incoming model, whatever the champion pointer says at this instant.
    served = version_of_variant(variant) or champion.version
    try:
        answer: dict[str, Any] = json.loads(raw)
        return PredictResponse(predictions=answer["predictions"], model_version=served)
    except (ValueError, KeyError) as exc:
        raise ServiceError(f"the endpoint answered something that is not a prediction: {raw[:200]!r}") from exc
