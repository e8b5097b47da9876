"""The shadow stage's steps (issue 23): between the verdict (or a person's approval) and the blue/green swap, the
challenger answers real requests on its own serverless shadow endpoint, which never serves a caller.

start → (poll until InService, bounded) → replay the champion's last captured requests (or, `mirror`, wait while the
API copies live requests) → judge: measure and apply the shadow rules → delete the endpoint, also on every failure
path. A failing shadow rule rejects the challenger and the champion keeps serving.

One shadow endpoint per stack (`<stack>-<uid>-shadow`, `naming.sagemaker_name`), like the serving endpoint, so
`sam delete`'s clean-up finds it by name; a second run reaching the stage while it is in use gets ShadowBusyError,
which the pipeline retries with a bounded backoff. Its models and configs carry the version's name
(`<stack>-<uid>-v<N>-<run>-shadow`), so the clean-up's `-<uid>-v` pattern removes them too. Every step is safe to
run again: creation is idempotent, a replay writes a new file whose requests the measurement counts once, and a
deletion of what is gone is a no-op.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from challenger_core import artifacts
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.adapters.storage import Storage
from challenger_core.capture import CAPTURE_PREFIX
from challenger_core.deployment import BUSY, resource_names
from challenger_core.errors import ChallengerError, ConflictError, NotFoundError, TransientServiceError
from challenger_core.mirror import MirrorStore, MirrorWindow
from challenger_core.models import ModelStatus, ModelVersion, TrainingState, utcnow
from challenger_core.naming import sagemaker_name
from challenger_core.observability import logger
from challenger_core.policy import PromotionPolicy
from challenger_core.recipe import RecipeSpec
from challenger_core.registry import Registry
from challenger_core.serving import endpoint_body, prediction_model
from challenger_core.settings import Settings
from challenger_core.shadow import (
    ERROR_KINDS,
    CapturedRequest,
    ErrorKind,
    ShadowObservation,
    ShadowStage,
    dump_observations,
    load_observations,
    measure,
    observations_key,
    observations_prefix,
    parse_capture_lines,
    run_prefix,
)

MAX_CAPTURE_FILES = 2000  # newest first; bounds the listing's reads whatever the capture volume
MAX_OBSERVATION_FILES = 1000
SPARE_SECONDS = 20.0  # the replay stops this long before the Lambda's timeout and writes what it has


class ShadowBusyError(ConflictError):
    """The stack's shadow endpoint serves another run's shadow stage (retried by the pipeline, bounded)."""


class ShadowNotDeletableError(TransientServiceError):
    """The shadow endpoint is still being created; SageMaker deletes it once it settles (retried, bounded)."""


def shadow_endpoint_name(settings: Settings) -> str:
    """The stack's one shadow endpoint."""
    return sagemaker_name(settings.stack_name, settings.stack_uid, "shadow")


def shadow_resource_names(settings: Settings, model: ModelVersion) -> tuple[str, str]:
    """(model, endpoint config) of a version's shadow: the version's own names with `-shadow`."""
    base, _ = resource_names(settings, model)
    return f"{base}-shadow", f"{base}-shadow-config"


def latest_captures(storage: Storage, bucket: str, version: int, limit: int) -> list[tuple[str, CapturedRequest]]:
    """The newest `limit` captured requests of a version, oldest first, each with a stable id.

    The id is a digest of the capture file and the line, so a replay run again gives every request the same id.
    """
    files = sorted(
        storage.list(bucket, f"{CAPTURE_PREFIX}/model=v{version}/"),
        key=lambda info: (info.key.split("/date=")[-1].split("/")[0], info.last_modified, info.key),
        reverse=True,
    )[:MAX_CAPTURE_FILES]
    found: list[tuple[str, CapturedRequest]] = []
    for info in files:
        for line, capture in enumerate(parse_capture_lines(storage.read(bucket, info.key))):
            if isinstance(capture.instance, dict):
                found.append((hashlib.sha256(f"{info.key}#{line}".encode()).hexdigest()[:20], capture))
        if len(found) >= limit * 2:  # files are in time order only by day: read a little beyond the limit
            break
    found.sort(key=lambda item: item[1].ts, reverse=True)
    return list(reversed(found[:limit]))


def start_shadow(
    state: TrainingState, registry: Registry, sagemaker: SageMaker, storage: Storage, settings: Settings
) -> TrainingState:
    """Decide whether the run has a shadow stage; if so create the challenger's shadow endpoint."""
    mode = settings.shadow_mode
    assert state.candidate is not None, "RegisterCandidate must run first"
    champion = registry.get_champion()
    if mode == "off":
        return _skip(state, registry, ShadowStage.skipped(mode, "ShadowMode is off"))
    if champion is None:
        return _skip(state, registry, ShadowStage.skipped(mode, "no champion serves yet: no traffic to compare with"))
    if mode == "replay" and not latest_captures(storage, settings.artifact_bucket, champion.version, 1):
        reason = f"no captured requests of the champion v{champion.version} to replay (CaptureSampleRate)"
        return _skip(state, registry, ShadowStage.skipped(mode, reason))

    model = registry.get_model(state.candidate.version)
    model_name, config_name = shadow_resource_names(settings, model)
    endpoint_name = shadow_endpoint_name(settings)
    url = artifacts.pin(model, storage, settings.artifact_bucket)  # the verified bytes, as StartDeployment does
    sagemaker.create_model(model_name, settings.training_image_uri, url, settings.sagemaker_role_arn)
    sagemaker.create_serverless_config(
        config_name,
        model_name,
        settings.serverless_memory_mb,
        settings.max_concurrency,
        variant=f"shadow-v{model.version}",
    )
    endpoint = sagemaker.endpoint(endpoint_name)
    if endpoint is None:
        sagemaker.create_endpoint(endpoint_name, config_name)
    elif config_name not in (endpoint.config_name, endpoint.pending_config):
        if endpoint.status == "Failed":  # a shadow stage that failed before its clean-up: clear it, then retry
            with contextlib.suppress(NotFoundError):
                sagemaker.delete_endpoint(endpoint_name)
        raise ShadowBusyError(
            f"the shadow endpoint {endpoint_name} is {endpoint.status} with {endpoint.config_name}: "
            "another run's shadow stage; waiting for it to end"
        )
    state.shadow = ShadowStage(
        mode=mode,
        outcome="pending",
        champion_version=champion.version,
        endpoint_name=endpoint_name,
        model_name=model_name,
        config_name=config_name,
        sample_size=settings.shadow_sample_size,
        mirror_seconds=settings.shadow_minutes * 60,
        max_polls=settings.max_polls,
        wait_seconds=settings.poll_seconds,
    )
    logger.info("shadow endpoint requested", extra={"endpoint": endpoint_name, "config": config_name})
    return state


def _skip(state: TrainingState, registry: Registry, stage: ShadowStage) -> TrainingState:
    state.shadow = stage
    if state.verdict is not None and state.candidate is not None:
        state.verdict = state.verdict.model_copy(update={"shadow_note": f"no shadow stage: {stage.reason}"})
        registry.update_model(state.candidate.version, verdict=state.verdict)
    logger.info("shadow stage skipped", extra={"reason": stage.reason})
    return state


def check_shadow(state: TrainingState, sagemaker: SageMaker, mirrors: MirrorStore, settings: Settings) -> TrainingState:
    """One bounded poll of the shadow endpoint: ready (InService on our config), pending, or failed.

    In `mirror` mode, ready opens the mirror window (challenger_core.mirror) for ShadowMinutes: CaptureFunction then
    sends a ShadowShare of the live requests it captures to the shadow endpoint.
    """
    stage = _stage(state)
    assert stage.endpoint_name is not None
    info = sagemaker.endpoint(stage.endpoint_name)
    stage.polls += 1
    if info is None:
        stage.outcome, stage.reason = "failed", f"the shadow endpoint {stage.endpoint_name} disappeared"
    elif info.status == "InService" and info.config_name == stage.config_name:
        stage.outcome = "ready"
        if stage.mode == "mirror":
            until = utcnow() + timedelta(seconds=stage.mirror_seconds)
            window = MirrorWindow(
                run_id=state.run.run_id, endpoint_name=stage.endpoint_name, share=settings.shadow_share, until=until
            )
            mirrors.open(window)
    elif info.status in BUSY and not stage.poll_exhausted:
        stage.outcome = "pending"
    elif info.status in BUSY:
        stage.outcome = "failed"
        stage.reason = f"the shadow endpoint was not InService after {stage.polls} polls ({info.status})"
    else:
        why = f": {info.failure_reason}" if info.failure_reason else ""
        stage.outcome, stage.reason = "failed", f"the shadow endpoint is {info.status}{why}"
    return state


def replay(
    state: TrainingState,
    storage: Storage,
    sagemaker: SageMaker,
    settings: Settings,
    recipe: RecipeSpec,
    *,
    seconds_left: Callable[[], float],
    sleep: Callable[[float], None] = time.sleep,
) -> TrainingState:
    """Send the champion's last captured requests to the shadow endpoint, one per call, at a bounded rate.

    The first request is sent once more before the measured ones, unrecorded: a serverless endpoint's first call
    is a cold start, which the champion's captures (mostly warm) would not show.
    """
    stage = _stage(state)
    assert stage.endpoint_name is not None and stage.champion_version is not None
    captures = latest_captures(storage, settings.artifact_bucket, stage.champion_version, stage.sample_size)
    if captures:
        _call(sagemaker, stage.endpoint_name, captures[0][1].instance, recipe)
    interval = 1.0 / settings.shadow_rate_per_second
    observations: list[ShadowObservation] = []
    began = time.monotonic()
    for index, (request_id, capture) in enumerate(captures):
        if seconds_left() < SPARE_SECONDS:
            stage.reason = f"replayed {index} of {len(captures)} requests before the step's time ran out"
            break
        pause = began + index * interval - time.monotonic()
        if pause > 0:
            sleep(pause)
        prediction, latency, error = _call(sagemaker, stage.endpoint_name, capture.instance, recipe)
        observations.append(
            ShadowObservation(
                request_id=request_id,
                source="replay",
                instance=capture.instance,
                champion_prediction=capture.prediction,
                champion_latency_ms=capture.latency_ms,
                champion_error=_champion_error(capture),
                shadow_prediction=prediction,
                shadow_latency_ms=latency,
                shadow_error=error,
            )
        )
    run_id = state.run.run_id
    storage.write(
        settings.artifact_bucket,
        observations_key(run_id, "replay"),
        dump_observations(observations),
        "application/x-ndjson",
    )
    stage.replayed = len(observations)
    logger.info("replayed on the shadow", extra={"requests": len(observations), "captures": len(captures)})
    return state


def _champion_error(capture: CapturedRequest) -> str | None:
    if not capture.error:
        return None
    return capture.error if capture.error in ERROR_KINDS else "model_error"


def _call(
    sagemaker: SageMaker, endpoint_name: str, instance: dict[str, Any], recipe: RecipeSpec
) -> tuple[Any, float | None, ErrorKind | None]:
    """One InvokeEndpoint: (the prediction record, latency in ms, None) or (None, latency or None, error kind)."""
    started = time.perf_counter()
    try:
        raw = sagemaker.invoke(endpoint_name, endpoint_body([instance]))
    except ChallengerError as exc:
        return None, None, error_kind(exc)
    latency = (time.perf_counter() - started) * 1000
    try:
        answer = json.loads(raw)
        return prediction_model(recipe).model_validate(answer["predictions"][0]).model_dump(), latency, None
    except (ValueError, KeyError, IndexError, TypeError):
        return None, latency, "invalid_output"


def error_kind(exc: Exception) -> ErrorKind:
    """The kind of an InvokeEndpoint failure, from SageMaker Runtime's error codes
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html#API_runtime_InvokeEndpoint_Errors):
    ModelError (the container answered 4xx/5xx), ThrottlingException / ModelNotReadyException, a read timeout
    (ModelError with a timeout message on AWS, a socket timeout here); anything else is the request's own fault."""
    text = str(exc)
    if "ModelError" in text and "timed out" not in text.lower():
        return "model_error"
    if "timed out" in text.lower() or "timeout" in text.lower():
        return "timeout"
    if any(code in text for code in ("Throttl", "TooManyRequests", "ModelNotReady", "ServiceUnavailable")):
        return "throttled"
    if isinstance(exc, TransientServiceError):
        return "model_error"  # a 5xx without a code we know: the endpoint failed the request
    return "client_error"


def judge_shadow(
    state: TrainingState, storage: Storage, registry: Registry, settings: Settings, recipe: RecipeSpec
) -> TrainingState:
    """Measure every observation of the run (any source) and apply the shadow rules to the verdict."""
    stage = _stage(state)
    assert state.verdict is not None and state.candidate is not None
    bucket, run_id = settings.artifact_bucket, state.run.run_id
    files = storage.list(bucket, observations_prefix(run_id))[:MAX_OBSERVATION_FILES]
    observations = [obs for info in files for obs in load_observations(storage.read(bucket, info.key))]
    measured = measure(
        observations,
        kind=recipe.data_schema.target.kind,
        tolerance=recipe.shadow.tolerance,
        slices=recipe.shadow.slices,
    )
    storage.write(
        bucket, f"{run_prefix(run_id)}measurement.json", measured.model_dump_json().encode(), "application/json"
    )
    if measured.requests == 0:
        stage.outcome, stage.reason = "skipped", f"no request reached the shadow endpoint ({stage.mode})"
        state.verdict = state.verdict.model_copy(update={"shadow": measured, "shadow_note": stage.reason})
        registry.update_model(state.candidate.version, verdict=state.verdict)
        return state
    policy = PromotionPolicy.from_settings(settings, recipe).for_dataset(registry.get_dataset_policy(state.run.dataset))
    rules = policy.shadow_rules(measured)
    failed = next((rule for rule in rules if not rule.passed), None)
    note = f"shadow ({stage.mode}) on {measured.requests} requests: " + (
        f"rejected by {failed.rule}" if failed else "passed"
    )
    update: dict[str, Any] = {"rules": [*state.verdict.rules, *rules], "shadow": measured, "shadow_note": note}
    if failed is not None:
        update |= {"promote": False, "decided_by": failed.rule}
    state.verdict = state.verdict.model_copy(update=update)
    if failed is not None:  # the champion keeps serving; the version is rejected with the rule that stopped it
        registry.update_model(
            state.candidate.version,
            verdict=state.verdict,
            status=ModelStatus.REJECTED,
            failure_reason=f"rejected by the shadow stage: {failed.rule}: {failed.detail}",
        )
    else:
        registry.update_model(state.candidate.version, verdict=state.verdict)
    stage.outcome = "rejected" if failed else "passed"
    logger.info("shadow judged", extra={"outcome": stage.outcome, "requests": measured.requests})
    return state


def delete_shadow(
    state: TrainingState, sagemaker: SageMaker, settings: Settings, mirrors: MirrorStore | None = None
) -> TrainingState:
    """Delete the shadow endpoint (if it is this run's), its config and its model; what is gone is skipped.

    Also when StartShadow failed before it recorded the stage: the names follow from the candidate, and the endpoint
    is deleted only if it runs this run's config (another run's shadow stage is left alone).
    """
    if mirrors is not None and settings.shadow_mode == "mirror":
        mirrors.close(state.run.run_id)  # nothing more is mirrored to an endpoint about to go
    stage = state.shadow
    if stage is None or stage.config_name is None:
        if state.candidate is None or settings.shadow_mode == "off":
            return state
        model_name, config_name = shadow_resource_names(settings, state.candidate)
        stage = ShadowStage(
            mode=settings.shadow_mode,
            outcome="failed",
            endpoint_name=shadow_endpoint_name(settings),
            model_name=model_name,
            config_name=config_name,
        )
        if state.shadow is None:
            state.shadow = stage
    assert stage.endpoint_name is not None and stage.config_name is not None
    info = sagemaker.endpoint(stage.endpoint_name)
    if info is not None and stage.config_name in (info.config_name, info.pending_config):
        if info.status == "Creating":
            raise ShadowNotDeletableError(f"{stage.endpoint_name} is still Creating; deleting it once it settles")
        if info.status != "Deleting":
            with contextlib.suppress(NotFoundError):
                sagemaker.delete_endpoint(stage.endpoint_name)
    sagemaker.delete_config(stage.config_name)
    if stage.model_name:
        sagemaker.delete_model(stage.model_name)
    stage.deleted = True
    return state


def _stage(state: TrainingState) -> ShadowStage:
    if state.shadow is None:
        raise ChallengerError("the shadow stage has not started (StartShadow must run first)")
    return state.shadow
