"""The shadow stage's shared contract (issue 23): what a shadow observation is and where it is stored.

Before the blue/green swap the challenger answers real requests on its own serverless shadow endpoint; each
request it answered (replayed from the captures, or mirrored off `/predict`'s path) becomes one
`ShadowObservation`: the instance, what the champion answered and how fast, what the shadow answered and how
fast, or the kind of error either one hit. Observations are JSON Lines under
`s3://<ArtifactBucket>/shadow/<run_id>/observations/<source>-<uuid>.jsonl`; the measure step reads every file
under the run's prefix, whatever its source, so replay and mirror write the same records.

Captures (`challenger_core.capture`) are read tolerantly by `CapturedRequest`: lines written before issue 23
have only `ts`, `instance` and `prediction`; later ones add `request_id`, `latency_ms` and `error`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from challenger_core.models import Model, utcnow

SHADOW_PREFIX = "shadow"

ShadowMode = Literal["off", "replay", "mirror"]
ShadowSource = Literal["replay", "mirror"]
# Why one side did not answer: the model raised (HTTP 4xx/5xx ModelError), the call timed out, the endpoint
# throttled it, the answer did not parse as the recipe's prediction record, or the request never reached the model.
ErrorKind = Literal["model_error", "timeout", "throttled", "invalid_output", "client_error"]
ERROR_KINDS: tuple[ErrorKind, ...] = ("model_error", "timeout", "throttled", "invalid_output", "client_error")


def run_prefix(run_id: str) -> str:
    """Everything the shadow stage of one run wrote (observations, the measurement)."""
    return f"{SHADOW_PREFIX}/{run_id}/"


def observations_prefix(run_id: str) -> str:
    """Where one run's observation files live, from every source."""
    return f"{run_prefix(run_id)}observations/"


def observations_key(run_id: str, source: ShadowSource) -> str:
    """A new observation file's key; one writer, one file (no read-modify-write, safe to retry)."""
    return f"{observations_prefix(run_id)}{source}-{uuid.uuid4().hex}.jsonl"


class ShadowObservation(Model):
    """One request both models saw: the champion's recorded (or live) answer beside the shadow's."""

    request_id: str
    source: ShadowSource
    instance: dict[str, Any]
    champion_prediction: Any | None = None
    champion_latency_ms: float | None = None
    champion_error: str | None = None  # an ErrorKind
    shadow_prediction: Any | None = None
    shadow_latency_ms: float | None = None
    shadow_error: str | None = None  # an ErrorKind
    at: datetime = Field(default_factory=utcnow)


def dump_observations(observations: Iterable[ShadowObservation]) -> bytes:
    """JSON Lines, one observation per line."""
    return "".join(obs.model_dump_json() + "\n" for obs in observations).encode()


def load_observations(body: bytes) -> Iterator[ShadowObservation]:
    """Parse one observation file; a blank line is skipped, a malformed one raises (we wrote it)."""
    for line in body.decode().splitlines():
        if line.strip():
            yield ShadowObservation.model_validate_json(line)


class CapturedRequest(BaseModel):
    """One captured `/predict` record, old format or new (extra keys ignored, absent ones None)."""

    model_config = ConfigDict(extra="ignore")

    ts: str
    instance: Any
    prediction: Any | None = None
    request_id: str | None = None
    latency_ms: float | None = None
    error: str | None = None


def parse_capture_lines(body: bytes) -> Iterator[CapturedRequest]:
    """The capture records in one capture file; a line that does not parse is skipped (captures are a sample)."""
    for line in body.decode(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            yield CapturedRequest.model_validate(json.loads(line))
        except (ValueError, ValidationError):
            continue
