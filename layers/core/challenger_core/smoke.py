"""The deployment smoke test: the model's own golden set, replayed against the endpoint that now serves it.

The training job writes `golden.json` into the model directory: held-out inputs and the predictions the trained
model made on them. A healthy deployment answers the same (labels equal, scores within the recorded tolerance),
whatever the data or the recipe; it also catches a container that serves differently from how the model was
trained (library versions, serialisation).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from pydantic import Field, ValidationError

from challenger_core import artifacts
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.adapters.storage import Storage, split_s3_uri
from challenger_core.errors import ChallengerError, NotFoundError, TransientServiceError
from challenger_core.models import DeploymentState, Model, SmokeTestResult
from challenger_core.registry import Registry
from challenger_core.validation import clip

GOLDEN_FILE = "golden.json"
MAX_GOLDEN_BYTES = 1024 * 1024
MAX_REPORTED = 3


class GoldenSet(Model):
    """`golden.json`: request records, the predictions the trained model made for them, and the tolerance."""

    instances: list[Any] = Field(min_length=1, max_length=1000)
    predictions: list[dict[str, Any]] = Field(min_length=1, max_length=1000)
    score_tolerance: float = Field(default=1e-6, ge=0, le=1)


def smoke_test(  # noqa: PLR0911  # one early return per way the test can fail, each with its reason
    state: DeploymentState, registry: Registry, storage: Storage, sagemaker: SageMaker
) -> DeploymentState:
    """Replay the deployed version's golden set; a wrong, malformed or failing answer fails the test.

    A transient invoke error (throttling, a cold start's 5xx, a timeout) is raised as TransientServiceError,
    so the state machine retries the test instead of rolling back a healthy model at once.
    """
    assert state.plan is not None
    model = registry.get_model(state.request.version)
    if not model.model_data_url:
        return _failed(state, f"v{model.version} has no artifact to read its golden set from")
    # The golden set of the archive the endpoint loads: the copy StartDeployment verified and pinned (issue 18), not
    # the training job's key, which someone may have replaced since.
    source = model.model_data_url
    if model.artifact_sha256:
        source = artifacts.pinned_model_url(split_s3_uri(source)[0], model)
    try:
        golden = GoldenSet.model_validate_json(storage.read_tar_member(source, GOLDEN_FILE, max_bytes=MAX_GOLDEN_BYTES))
    except NotFoundError as exc:
        return _failed(state, f"no golden set: {clip(str(exc), 300)}")
    except TransientServiceError:
        raise  # S3 throttled or failed: the state machine retries the test
    except ChallengerError as exc:  # e.g. access denied: the version cannot prove it serves as trained
        return _failed(state, f"cannot read the golden set: {clip(str(exc), 300)}")
    except ValidationError as exc:
        return _failed(state, f"{GOLDEN_FILE} of v{model.version} is not valid: {clip(str(exc), 300)}")
    if len(golden.instances) != len(golden.predictions):
        return _failed(
            state, f"{GOLDEN_FILE} has {len(golden.instances)} instances but {len(golden.predictions)} predictions"
        )

    started = time.perf_counter()
    try:
        raw = sagemaker.invoke(state.plan.endpoint_name, json.dumps({"instances": golden.instances}).encode())
    except TransientServiceError:
        raise
    except ChallengerError as exc:
        return _failed(state, f"invocation failed: {clip(str(exc), 500)}")
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    try:
        served = json.loads(raw)["predictions"]
        if not isinstance(served, list):
            raise TypeError("predictions is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        return _failed(state, f"malformed response: {clip(repr(exc), 300)}", latency_ms)

    mismatches = compare_predictions(golden.predictions, served, golden.score_tolerance)
    if mismatches:
        differing = len({index for index, _ in mismatches})
        return _failed(
            state,
            f"{differing} of {len(golden.predictions)} golden predictions differ: "
            + "; ".join(problem for _, problem in mismatches[:MAX_REPORTED])
            + ("; …" if len(mismatches) > MAX_REPORTED else ""),
            latency_ms,
        )
    state.smoke = SmokeTestResult(
        passed=True,
        detail=f"{len(golden.predictions)} golden predictions reproduced (score tolerance {golden.score_tolerance:g})",
        latency_ms=latency_ms,
    )
    return state


def compare_predictions(expected: list[dict[str, Any]], served: list[Any], tolerance: float) -> list[tuple[int, str]]:
    """Where `served` differs from `expected` (prediction index, what): every field equal, floats within
    `tolerance`. Fields the endpoint adds beyond the golden ones are not compared."""
    if len(served) != len(expected):
        return [(-1, f"expected {len(expected)} predictions, the endpoint answered {len(served)}")]
    problems = []
    for index, (want, got) in enumerate(zip(expected, served, strict=True)):
        if not isinstance(got, dict):
            problems.append((index, f"#{index}: not an object: {clip(repr(got), 80)}"))
            continue
        for name, value in want.items():
            answer = got.get(name)
            if not _same(value, answer, tolerance):
                problems.append(
                    (
                        index,
                        f"#{index} {clip(name, 40)}: expected {clip(repr(value), 60)}, got {clip(repr(answer), 60)}",
                    )
                )
    return problems


def _same(want: Any, got: Any, tolerance: float) -> bool:
    if _is_number(want) and _is_number(got):
        if isinstance(want, int) and isinstance(got, int):
            return bool(want == got)
        return math.isfinite(got) and abs(want - got) <= tolerance
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(_same(w, g, tolerance) for w, g in zip(want, got, strict=True))
    return bool(want == got) and type(want) is type(got)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _failed(state: DeploymentState, detail: str, latency_ms: float | None = None) -> DeploymentState:
    state.smoke = SmokeTestResult(passed=False, detail=clip(detail, 1500), latency_ms=latency_ms)
    return state
