"""Powertools Logger, Tracer and Metrics, configured once (service name and namespace from Globals)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from pydantic import BaseModel

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def to_state(model: BaseModel) -> dict[str, Any]:
    """A state document as the next state expects it: JSON types, ASL field names, no nulls."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
