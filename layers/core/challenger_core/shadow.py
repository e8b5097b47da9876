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
import math
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

# This module imports nothing of the core, so challenger_core.models can carry its types (TrainingState.shadow,
# Verdict.shadow) without an import cycle; `Model` here is models.Model's configuration, repeated.


class Model(BaseModel):
    """Base: unknown fields rejected (as challenger_core.models.Model)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


def utcnow() -> datetime:
    """Now, timezone-aware, second precision (as challenger_core.models.utcnow)."""
    return datetime.now(UTC).replace(microsecond=0)


SHADOW_PREFIX = "shadow"

ShadowMode = Literal["off", "replay", "mirror"]
ShadowSource = Literal["replay", "mirror"]
# Why one side did not answer: the model raised (HTTP 4xx/5xx ModelError), the call timed out, the endpoint
# throttled it, the answer did not parse as the recipe's prediction record, or the request never reached the model.
ErrorKind = Literal["model_error", "timeout", "throttled", "invalid_output", "client_error"]
ERROR_KINDS: tuple[ErrorKind, ...] = ("model_error", "timeout", "throttled", "invalid_output", "client_error")


StageOutcome = Literal["skipped", "pending", "ready", "failed", "measured", "passed", "rejected"]


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


# --------------------------------------------------------------------------------------------------
# Measurement: what the shadow did on the requests both models saw

SAMPLE_DISAGREEMENTS = 10
MISSING = "(missing)"


class SliceCount(Model):
    """Requests and disagreements in one slice (the champion's label, or one value of a recipe-named feature)."""

    slice: str  # "champion label" or the feature's name
    value: str
    requests: int
    disagreed: int


class ShadowMeasurement(Model):
    """Errors, latency and agreement of the shadow against the champion on the same requests."""

    requests: int = 0
    sources: dict[str, int] = Field(default_factory=dict)
    champion_errors: int = 0
    shadow_errors: int = 0
    champion_errors_by_kind: dict[str, int] = Field(default_factory=dict)
    shadow_errors_by_kind: dict[str, int] = Field(default_factory=dict)
    # Latency over the requests both answered and for which both latencies are known (old captures have none).
    latency_pairs: int = 0
    champion_p50_ms: float | None = None
    champion_p99_ms: float | None = None
    shadow_p50_ms: float | None = None
    shadow_p99_ms: float | None = None
    # Agreement over the requests both answered: classifiers the same label, regression within the tolerance.
    compared: int = 0
    agreed: int = 0
    tolerance: float = 0.0
    disagreement: list[SliceCount] = Field(default_factory=list)
    disagreeing_sample: list[ShadowObservation] = Field(default_factory=list)

    @property
    def agreement(self) -> float | None:
        """Share of the compared requests on which both models agreed."""
        return self.agreed / self.compared if self.compared else None


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (`q` in 0..1) of `values`: a value that was observed, never interpolated."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def answer_of(prediction: Any, kind: str) -> Any:
    """What agreement compares: a classifier's `label`, a regression's `value` (a bare value is itself)."""
    field_name = "value" if kind == "regression" else "label"
    if isinstance(prediction, dict):
        return prediction.get(field_name)
    return prediction


def agrees(champion: Any, shadow: Any, kind: str, tolerance: float) -> bool:
    """Same label (classification) or values within `tolerance` (regression, absolute)."""
    left, right = answer_of(champion, kind), answer_of(shadow, kind)
    if kind == "regression":
        numbers = (int, float)
        if isinstance(left, bool) or isinstance(right, bool):
            return False
        if not isinstance(left, numbers) or not isinstance(right, numbers):
            return False
        return math.isfinite(right) and abs(float(left) - float(right)) <= tolerance
    return left is not None and str(left) == str(right)


def measure(
    observations: Iterable[ShadowObservation],
    *,
    kind: str,
    tolerance: float = 0.0,
    slices: Sequence[str] = (),
    sample_size: int = SAMPLE_DISAGREEMENTS,
) -> ShadowMeasurement:
    """Count errors by kind, latency percentiles on paired requests, and agreement broken down by slice.

    A request is counted once, by `request_id` (a retried replay writes a second file; the first record wins).
    """
    result = ShadowMeasurement(tolerance=tolerance)
    champion_ms: list[float] = []
    shadow_ms: list[float] = []
    counts: dict[tuple[str, str], list[int]] = {}
    seen: set[str] = set()
    for obs in observations:
        if obs.request_id in seen:
            continue
        seen.add(obs.request_id)
        result.requests += 1
        result.sources[obs.source] = result.sources.get(obs.source, 0) + 1
        if obs.champion_error:
            result.champion_errors += 1
            result.champion_errors_by_kind[obs.champion_error] = (
                result.champion_errors_by_kind.get(obs.champion_error, 0) + 1
            )
        if obs.shadow_error:
            result.shadow_errors += 1
            result.shadow_errors_by_kind[obs.shadow_error] = result.shadow_errors_by_kind.get(obs.shadow_error, 0) + 1
        if obs.champion_error or obs.shadow_error:
            continue
        if obs.champion_latency_ms is not None and obs.shadow_latency_ms is not None:
            champion_ms.append(obs.champion_latency_ms)
            shadow_ms.append(obs.shadow_latency_ms)
        if obs.champion_prediction is None:
            continue  # a capture without the champion's answer: nothing to agree with
        result.compared += 1
        same = agrees(obs.champion_prediction, obs.shadow_prediction, kind, tolerance)
        result.agreed += same
        if not same and len(result.disagreeing_sample) < sample_size:
            result.disagreeing_sample.append(obs)
        keys = [] if kind == "regression" else [("champion label", _text(answer_of(obs.champion_prediction, kind)))]
        keys += [(name, _text(obs.instance.get(name))) for name in slices]
        for key in keys:
            tally = counts.setdefault(key, [0, 0])
            tally[0] += 1
            tally[1] += not same
    result.latency_pairs = len(champion_ms)
    result.champion_p50_ms, result.champion_p99_ms = percentile(champion_ms, 0.5), percentile(champion_ms, 0.99)
    result.shadow_p50_ms, result.shadow_p99_ms = percentile(shadow_ms, 0.5), percentile(shadow_ms, 0.99)
    result.disagreement = [
        SliceCount(slice=name, value=value, requests=n, disagreed=bad)
        for (name, value), (n, bad) in sorted(counts.items(), key=lambda item: (item[0][0], -item[1][1], item[0][1]))
    ]
    return result


def _text(value: Any) -> str:
    if value is None:
        return MISSING
    return str(value)[:60]


# --------------------------------------------------------------------------------------------------
# Intervals for the error-rate rule


def wilson(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (Wilson 1927); (0, 1) without trials."""
    if trials <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, confidence: float
) -> tuple[float, float, float]:
    """(difference, low, high) of p_a − p_b by Newcombe's hybrid score method (Newcombe 1998, method 10).

    It treats the two samples as independent; ours are paired (the same requests), for which the interval is
    conservative (wider) whenever the two models' errors are positively correlated.
    """
    p_a = successes_a / trials_a if trials_a else 0.0
    p_b = successes_b / trials_b if trials_b else 0.0
    low_a, high_a = wilson(successes_a, trials_a, confidence)
    low_b, high_b = wilson(successes_b, trials_b, confidence)
    difference = p_a - p_b
    low = difference - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = difference + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return difference, low, high


# --------------------------------------------------------------------------------------------------
# The stage's part of the training pipeline's state document


class ShadowStage(Model):
    """Where the shadow stage is (TrainingState.shadow); the ASL's Choices read `outcome` and `poll_exhausted`."""

    model_config = ConfigDict(extra="ignore")  # `poll_exhausted` comes back in the next state document

    mode: ShadowMode
    outcome: StageOutcome
    reason: str = ""  # why skipped or failed, in words
    champion_version: int | None = None
    endpoint_name: str | None = None
    model_name: str | None = None
    config_name: str | None = None
    sample_size: int = 0
    mirror_seconds: int = 0
    polls: int = 0
    max_polls: int = 0
    wait_seconds: int = 0
    replayed: int = 0
    deleted: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def poll_exhausted(self) -> bool:
        """The InService poll's budget is spent."""
        return self.polls >= self.max_polls

    @classmethod
    def skipped(cls, mode: ShadowMode, reason: str) -> ShadowStage:
        """No shadow stage for this run, and why (recorded in the verdict)."""
        return cls(mode=mode, outcome="skipped", reason=reason)
