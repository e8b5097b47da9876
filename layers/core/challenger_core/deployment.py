"""The deployment pipeline's steps: blue/green swap of the serverless endpoint config, smoke test,
promote (champion pointer) or roll back to the previous config."""

from __future__ import annotations

import json
import time

from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.errors import ChallengerError, ConflictError, DeploymentFailedError
from challenger_core.models import (
    Champion,
    DeploymentState,
    EndpointPlan,
    EndpointStatus,
    ModelStatus,
    PollState,
    SmokeTestResult,
    utcnow,
)
from challenger_core.registry import Registry
from challenger_core.settings import Settings

# Known answers for the sentiment recipe: a model that gets these wrong must not serve.
SMOKE_INSTANCES = [
    "Absolutely love it. Works perfectly, great quality and fast delivery. Highly recommend!",
    "Terrible. It broke after one day, awful quality and a complete waste of money.",
]
SMOKE_EXPECTED = [1, 0]


def resource_names(settings: Settings, version: int) -> tuple[str, str]:
    """(model name, endpoint config name) for a version; deterministic so retries and rollbacks reuse them."""
    base = f"{settings.endpoint_name}-v{version}"
    return base, f"{base}-config"


def start_deployment(
    state: DeploymentState, registry: Registry, sagemaker: SageMaker, settings: Settings
) -> DeploymentState:
    """Create the model and its serverless endpoint config, then create or update (blue/green) the endpoint."""
    version = state.request.version
    model = registry.get_model(version)
    if not model.model_data_url:
        raise DeploymentFailedError(f"model version {version} has no artifact to deploy (status {model.status})")
    if model.status in (ModelStatus.TRAINING, ModelStatus.FAILED) and state.request.reason != "training":
        raise ConflictError(f"model version {version} is {model.status.value}; only trained models can be deployed")
    model_name, config_name = resource_names(settings, version)
    sagemaker.create_model(model_name, settings.training_image_uri, model.model_data_url, settings.sagemaker_role_arn)
    sagemaker.create_serverless_config(config_name, model_name, settings.serverless_memory_mb, settings.max_concurrency)

    champion = registry.get_champion()
    endpoint = sagemaker.endpoint(settings.endpoint_name)
    if endpoint is None:
        sagemaker.create_endpoint(settings.endpoint_name, config_name)
    elif endpoint.config_name == config_name and endpoint.status == "InService":
        raise ConflictError(f"v{version} is already serving on {settings.endpoint_name}")
    elif endpoint.status not in ("InService", "Failed"):
        raise ConflictError(f"endpoint {settings.endpoint_name} is busy ({endpoint.status}); try again when InService")
    elif endpoint.status == "Failed":
        # A Failed endpoint cannot be updated; recreate it with the new config.
        sagemaker.delete_endpoint(settings.endpoint_name)
        sagemaker.create_endpoint(settings.endpoint_name, config_name)
    else:
        sagemaker.update_endpoint(settings.endpoint_name, config_name)

    registry.update_model(
        version, status=ModelStatus.DEPLOYING, model_name=model_name, endpoint_config_name=config_name
    )
    state.plan = EndpointPlan(
        endpoint_name=settings.endpoint_name,
        model_name=model_name,
        config_name=config_name,
        previous_config=endpoint.config_name if endpoint and endpoint.status == "InService" else None,
        previous_version=champion.version if champion else None,
        endpoint_existed=endpoint is not None,
    )
    state.endpoint = EndpointStatus(
        target_config=config_name,
        status="Creating" if endpoint is None else "Updating",
        poll=PollState(max_attempts=settings.max_polls, wait_seconds=settings.poll_seconds),
    )
    return state


def check_endpoint(state: DeploymentState, sagemaker: SageMaker) -> DeploymentState:
    """One poll of the endpoint, for the deployment or (when one started) the rollback."""
    assert state.plan is not None, "StartDeployment must run first"
    phase = "rollback" if state.rollback is not None else "endpoint"
    current: EndpointStatus | None = getattr(state, phase)
    assert current is not None
    info = sagemaker.endpoint(state.plan.endpoint_name)
    if info is None:
        status, config, reason = "Deleted", None, None
    else:
        status, config, reason = info.status, info.config_name, info.failure_reason
    if current.target_config is None:  # rollback of a first deployment: the endpoint is being deleted
        outcome = "healthy" if info is None else ("failed" if status == "Failed" else "pending")
    elif status == "InService":
        # An UpdateEndpoint that failed leaves the endpoint InService on the old config, with a FailureReason.
        outcome = "healthy" if config == current.target_config else "failed"
    elif status in ("Failed", "OutOfService", "Deleted"):
        outcome = "failed"
    else:
        outcome = "pending"
    updated = current.model_copy(
        update={
            "status": status,
            "current_config": config,
            "failure_reason": reason,
            "outcome": outcome,
            "poll": current.poll.next(),
        }
    )
    setattr(state, phase, updated)
    return state


def smoke_test(state: DeploymentState, sagemaker: SageMaker) -> DeploymentState:
    """Known-answer requests against the new config; a wrong, malformed or failing answer fails the test."""
    assert state.plan is not None
    started = time.perf_counter()
    try:
        raw = sagemaker.invoke(state.plan.endpoint_name, json.dumps({"instances": SMOKE_INSTANCES}).encode())
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        predictions = json.loads(raw)["predictions"]
        labels = [int(p["label"]) for p in predictions]
        scores = [float(p["score"]) for p in predictions]
    except ChallengerError as exc:
        state.smoke = SmokeTestResult(passed=False, detail=f"invocation failed: {exc}")
        return state
    except (ValueError, KeyError, TypeError) as exc:
        state.smoke = SmokeTestResult(passed=False, detail=f"malformed response: {exc!r}")
        return state
    if labels != SMOKE_EXPECTED or not all(0.0 <= s <= 1.0 for s in scores):
        state.smoke = SmokeTestResult(
            passed=False,
            detail=f"wrong answers: expected labels {SMOKE_EXPECTED}, got {labels} (scores {scores})",
            latency_ms=latency_ms,
        )
        return state
    state.smoke = SmokeTestResult(passed=True, detail="known-answer requests passed", latency_ms=latency_ms)
    return state


def promote(state: DeploymentState, registry: Registry, sagemaker: SageMaker, settings: Settings) -> DeploymentState:
    """Move the champion pointer (conditional write), retire the old champion, clean configs beyond N."""
    assert state.plan is not None
    version = state.request.version
    previous = registry.get_champion()
    registry.set_champion(
        Champion(version=version, model_name=state.plan.model_name, endpoint_config_name=state.plan.config_name),
        expected_version=previous.version if previous else None,
    )
    # was_live/live_since make the version a rollback target from now on (operations.rollback).
    registry.update_model(version, status=ModelStatus.LIVE, failure_reason=None, was_live=True, live_since=utcnow())
    if previous is not None and previous.version != version:
        registry.update_model(previous.version, status=ModelStatus.RETIRED)
    _clean_old_configs(registry, sagemaker, settings, keep_version=version)
    return state


def _clean_old_configs(registry: Registry, sagemaker: SageMaker, settings: Settings, *, keep_version: int) -> None:
    """Keep the newest `configs_to_keep` non-live configs for instant rollback; delete older ones.

    A version whose config was cleaned can still be rolled back to: StartDeployment recreates it.
    """
    with_configs = [
        m for m in registry.list_models() if m.endpoint_config_name and m.model_name and m.version != keep_version
    ]
    for model in with_configs[settings.configs_to_keep :]:
        assert model.endpoint_config_name and model.model_name
        sagemaker.delete_config_and_model(model.endpoint_config_name, model.model_name)
        registry.update_model(model.version, endpoint_config_name=None, model_name=None)


def start_rollback(
    state: DeploymentState, registry: Registry, sagemaker: SageMaker, settings: Settings
) -> DeploymentState:
    """Put the endpoint back on the previous config (or delete a first, broken endpoint); mark the version FAILED."""
    assert state.plan is not None and state.endpoint is not None
    cause = failure_cause(state)
    info = sagemaker.endpoint(state.plan.endpoint_name)
    target = state.plan.previous_config
    if target is None:
        if info is not None:
            sagemaker.delete_endpoint(state.plan.endpoint_name)
    elif info is not None and info.config_name != target:
        if info.status == "InService":
            sagemaker.update_endpoint(state.plan.endpoint_name, target)
        elif info.status == "Failed":
            sagemaker.delete_endpoint(state.plan.endpoint_name)
            sagemaker.create_endpoint(state.plan.endpoint_name, target)
    registry.update_model(state.request.version, status=ModelStatus.FAILED, failure_reason=cause)
    state.failure = cause
    state.rollback = EndpointStatus(
        target_config=target,
        status="Updating",
        failure_reason=cause,
        poll=PollState(max_attempts=settings.max_polls, wait_seconds=settings.poll_seconds),
    )
    return state


def failure_cause(state: DeploymentState) -> str:
    """Why the deployment did not go live, in one sentence."""
    if state.failure is not None:
        return state.failure
    if state.error is not None:
        return state.error.message
    if state.smoke is not None and not state.smoke.passed:
        return f"smoke test failed: {state.smoke.detail}"
    if state.endpoint is not None:
        if state.endpoint.outcome == "failed":
            return f"endpoint did not become healthy: {state.endpoint.failure_reason or state.endpoint.status}"
        if state.endpoint.poll.exhausted:
            return f"endpoint still {state.endpoint.status} after {state.endpoint.poll.attempts} polls"
    return "deployment failed"
