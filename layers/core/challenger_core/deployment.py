"""The deployment pipeline's steps: blue/green swap of the serverless endpoint config, smoke test,
promote (champion pointer) or roll back to the previous config."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable

from challenger_core import artifacts
from challenger_core.adapters.sagemaker import EndpointInfo, SageMaker
from challenger_core.errors import (
    ConflictError,
    DeploymentFailedError,
    NotFoundError,
    RollbackFailedError,
    bounded,
)
from challenger_core.models import (
    Champion,
    DeploymentState,
    EndpointPlan,
    EndpointStatus,
    ModelStatus,
    ModelVersion,
    Outcome,
    PollState,
)
from challenger_core.naming import sagemaker_name
from challenger_core.observability import logger, metrics
from challenger_core.registry import Registry
from challenger_core.settings import Settings

# SageMaker's EndpointStatus values while a change is under way
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html).
BUSY = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
MAX_ROLLBACK_ISSUES = 3


def resource_names(settings: Settings, model: ModelVersion) -> tuple[str, str]:
    """(model name, endpoint config name) of a trained version: `<stack[:20]>-<stack uid>-v<version>-<run>`
    (`naming.sagemaker_name`: lower-case, so the template's one IAM pattern matches whatever the stack is called).

    Unique per stack incarnation (the stack id's first 8 hex digits: a stack deleted and deployed again under
    the same name gets new ones) and per training run (a registry restored or recreated restarts the version
    counter), so no stack ever reuses or updates another's models or configs. Deterministic for a version, so
    retries, promotes and rollbacks name the same resources. ≤ 63 characters, `^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`.
    """
    run = hashlib.sha256(model.run_id.encode()).hexdigest()[:6]
    base = sagemaker_name(settings.stack_name, settings.stack_uid, f"v{model.version}", run)
    return base, f"{base}-config"


def variant_name(version: int) -> str:
    """The production variant of a version's config: InvokeEndpoint answers with it (InvokedProductionVariant)."""
    return f"v{version}"


def version_of_variant(variant: str | None) -> int | None:
    """The version a `v<N>` variant name encodes; None for any other name (a config made elsewhere)."""
    match = re.fullmatch(r"v(\d{1,9})", variant or "")
    return int(match.group(1)) if match else None


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
    model_name, config_name = resource_names(settings, model)
    # The content-addressed copy StartDeployment verified (artifacts.pin), never the training job's mutable key:
    # SageMaker downloads ModelDataUrl again at every container start.
    model_data_url = artifacts.pinned_model_url(settings.artifact_bucket, model)
    sagemaker.create_model(model_name, settings.training_image_uri, model_data_url, settings.sagemaker_role_arn)
    sagemaker.create_serverless_config(
        config_name,
        model_name,
        settings.serverless_memory_mb,
        settings.max_concurrency,
        variant=variant_name(version),
    )

    champion = registry.get_champion()
    endpoint = sagemaker.endpoint(settings.endpoint_name)
    recreate = False
    # A retry of this step (its Lambda failed after SageMaker accepted the change) finds its own change under way.
    ours = (
        endpoint is not None
        and endpoint.status in BUSY
        and config_name in (endpoint.pending_config, endpoint.config_name)
    )
    if endpoint is None:
        sagemaker.create_endpoint(settings.endpoint_name, config_name)
    elif ours:
        pass
    elif endpoint.status == "Deleting":
        recreate = True  # whoever deleted it: create it again once it is gone
    elif endpoint.config_name == config_name and endpoint.status == "InService":
        raise ConflictError(f"v{version} is already serving on {settings.endpoint_name}")
    elif endpoint.status == "Failed":
        # A Failed endpoint cannot be updated, and DeleteEndpoint is asynchronous (Deleting, then gone): delete
        # it now, let CheckEndpoint poll until it is gone, then this step runs again and creates it.
        sagemaker.delete_endpoint(settings.endpoint_name)
        recreate = True
    elif endpoint.status != "InService":
        raise ConflictError(f"endpoint {settings.endpoint_name} is busy ({endpoint.status}); try again when InService")
    else:
        sagemaker.update_endpoint(settings.endpoint_name, config_name)

    registry.update_model(
        version, status=ModelStatus.DEPLOYING, model_name=model_name, endpoint_config_name=config_name
    )
    state.plan = EndpointPlan(
        endpoint_name=settings.endpoint_name,
        model_name=model_name,
        config_name=config_name,
        # What a rollback restores: the config serving now, else (no endpoint, or a Failed one we recreate) the
        # champion's, so a failed recovery puts the champion back rather than leaving no endpoint at all.
        previous_config=endpoint.config_name
        if endpoint and (endpoint.status == "InService" or (ours and endpoint.status == "Updating"))
        else (champion.endpoint_config_name if champion else None),
        previous_version=champion.version if champion else None,
        endpoint_existed=endpoint is not None and not (ours and endpoint.status == "Creating"),
    )
    state.endpoint = EndpointStatus(
        target_config=config_name,
        status="Deleting" if recreate else "Creating" if endpoint is None else endpoint.status if ours else "Updating",
        recreate=recreate,
        poll=PollState(max_attempts=settings.max_polls, wait_seconds=settings.poll_seconds),
    )
    return state


def check_endpoint(state: DeploymentState, sagemaker: SageMaker) -> DeploymentState:
    """One poll of the endpoint, for the deployment or (when one started) the rollback."""
    assert state.plan is not None, "StartDeployment must run first"
    info = sagemaker.endpoint(state.plan.endpoint_name)
    if state.rollback is not None:
        current, outcome = state.rollback, _rollback_outcome(state.rollback, info)
    else:
        assert state.endpoint is not None
        current, outcome = state.endpoint, _deployment_outcome(state.endpoint, info)
    updated = current.model_copy(
        update={
            "status": info.status if info else "Deleted",
            "current_config": info.config_name if info else None,
            "failure_reason": (info.failure_reason if info else None) or current.failure_reason,
            "outcome": outcome,
            "poll": current.poll.next(),
        }
    )
    if state.rollback is not None:
        state.rollback = updated
    else:
        state.endpoint = updated
    return state


def _deployment_outcome(current: EndpointStatus, info: EndpointInfo | None) -> Outcome:
    if info is None:
        # Gone: what we waited for after deleting a Failed endpoint; otherwise someone deleted it under us.
        return "gone" if current.recreate else "failed"
    if info.status == "InService":
        # An UpdateEndpoint that failed leaves the endpoint InService on the old config, with a FailureReason.
        return "healthy" if info.config_name == current.target_config else "failed"
    if info.status in BUSY:
        return "pending"
    return "failed"  # Failed, OutOfService, UpdateRollbackFailed


def _rollback_outcome(current: EndpointStatus, info: EndpointInfo | None) -> Outcome:
    """Settled on the target → healthy; busy → pending; settled anywhere else → re-issue the rollback."""
    target = current.target_config
    if info is not None and info.status in BUSY:
        return "pending"
    if info is not None and info.status == "UpdateRollbackFailed":
        # Both the update and SageMaker's own rollback failed: a mix of configs serves; a person must look.
        return "failed"
    if target is None:
        settled = info is None  # rolling back a first deployment deletes the endpoint
    else:
        settled = info is not None and info.status == "InService" and info.config_name == target
    if settled:
        return "healthy"
    # E.g. the deployment's poll ran out while the endpoint was Updating: the rollback could not be issued
    # then, and the update has since settled on the new (unverified) config. Issue it again, boundedly.
    return "reissue" if current.issues < MAX_ROLLBACK_ISSUES else "failed"


def _unconfirmed(state: DeploymentState, rollback: EndpointStatus) -> str:
    assert state.plan is not None
    target = rollback.target_config or "no endpoint (deleted)"
    where = f"{rollback.status} on {rollback.current_config}" if rollback.current_config else rollback.status
    reason = f" ({rollback.failure_reason})" if rollback.failure_reason else ""
    return bounded(
        f"rollback to {target} not confirmed: endpoint {state.plan.endpoint_name} is {where}{reason} after "
        f"{rollback.issues} attempt(s) and {rollback.poll.attempts} poll(s); v{state.request.version} is marked "
        "FAILED — check which config the endpoint serves"
    )


def promote(state: DeploymentState, registry: Registry, sagemaker: SageMaker, settings: Settings) -> DeploymentState:
    """Move the champion pointer, mark the version LIVE and retire the old champion (one transaction), then
    clean configs beyond N. Every part is safe to run again after a fault at any call.

    The transaction is the commit: once it went through, nothing after it may fail the step (the ASL's Catch
    leads to Rollback, which would put the old config back while the pointer names this version), so the
    clean-up is best-effort: logged and counted (`ConfigCleanupFailed`), never raised.
    """
    assert state.plan is not None
    version = state.request.version
    previous = registry.get_champion()
    if previous is None or previous.version != version:
        registry.promote(
            Champion(version=version, model_name=state.plan.model_name, endpoint_config_name=state.plan.config_name),
            expected_version=previous.version if previous else None,
        )
    # else: a retry after the transaction went through (the Lambda failed later): nothing left to write there.
    try:
        _clean_old_configs(registry, sagemaker, settings, keep_version=version)
    except Exception:  # after the commit; e.g. AccessDenied on configs named by an older stack
        logger.exception("old endpoint configs not cleaned; the promotion stands", extra={"version": version})
        metrics.add_metric(name="ConfigCleanupFailed", unit="Count", value=1)
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


def promotion_committed(state: DeploymentState, registry: Registry) -> bool:
    """Whether this deployment's promotion went through: the champion pointer names its version and config.

    A version that was already the champion when the deployment started (a redeploy) does not count: its
    deployment can still fail and be rolled back to the config serving before it.
    """
    assert state.plan is not None
    if state.plan.previous_version == state.request.version:
        return False
    champion = registry.get_champion()
    return (
        champion is not None
        and champion.version == state.request.version
        and champion.endpoint_config_name == state.plan.config_name
    )


def start_rollback(
    state: DeploymentState, registry: Registry, sagemaker: SageMaker, settings: Settings
) -> DeploymentState:
    """Put the endpoint back on the previous config (or delete a first, broken endpoint); mark the version FAILED.

    Runs again (ASL `reissue`) until the endpoint settles where it should: a busy endpoint cannot be changed,
    so nothing is issued until it settles; a Failed one is deleted first and recreated once gone.
    """
    assert state.plan is not None and state.endpoint is not None
    if state.rollback is None and promotion_committed(state, registry):
        # PromoteModel failed after its transaction (a crash or timeout after the commit): the version is live
        # and the champion. Undoing the endpoint now would serve the old config under a pointer naming this one.
        logger.warning("promotion already committed; not rolling back", extra={"error": state.error})
        state.error = None
        return state  # no `rollback`: the ASL's RollbackNeeded? goes to NotifyDeployed
    if state.rollback is not None and (
        state.rollback.outcome == "failed" or (state.rollback.outcome == "pending" and state.rollback.poll.exhausted)
    ):
        # The registry must not claim more than we know: the version is FAILED with what the endpoint does.
        unconfirmed = _unconfirmed(state, state.rollback)
        registry.update_model(state.request.version, status=ModelStatus.FAILED, failure_reason=unconfirmed)
        raise RollbackFailedError(unconfirmed)
    cause = failure_cause(state)
    issues = state.rollback.issues + 1 if state.rollback is not None else 1
    name = state.plan.endpoint_name
    info = sagemaker.endpoint(name)
    target = state.plan.previous_config
    status = info.status if info else "Deleted"
    if info is None or info.status in BUSY:
        if info is None and target is not None:
            sagemaker.create_endpoint(name, target)
            status = "Creating"
    elif target is None or info.status in ("Failed", "UpdateRollbackFailed", "OutOfService"):
        sagemaker.delete_endpoint(name)  # recreated on target by the next issue, once gone
        status = "Deleting"
    elif info.config_name != target:
        sagemaker.update_endpoint(name, target)
        status = "Updating"
    registry.update_model(state.request.version, status=ModelStatus.FAILED, failure_reason=cause)
    state.failure = cause
    state.rollback = EndpointStatus(
        target_config=target,
        status=status,
        failure_reason=cause,
        issues=issues,
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


def remove_stack_resources(sagemaker: SageMaker, settings: Settings, *, wait: Callable[[], bool]) -> list[str]:
    """What `sam delete` must not leave running: this stack's endpoints, then its endpoint configs and models.

    Only names carrying this stack's uid (`resource_names`) are touched, so another stack's survive. The endpoint
    is deleted first and waited for (DeleteEndpoint is asynchronous) while `wait()` says there is time left;
    configs and models can go while it is Deleting. Safe to run again. Returns what was removed.
    """
    removed: list[str] = []
    # The serving endpoint and the shadow stage's (issue 23; its name is shadowing.shadow_endpoint_name's).
    endpoints = (settings.endpoint_name, sagemaker_name(settings.stack_name, settings.stack_uid, "shadow"))
    for name in endpoints:
        if sagemaker.endpoint(name) is not None:
            with contextlib.suppress(NotFoundError):
                sagemaker.delete_endpoint(name)
                removed.append(f"endpoint {name}")
    fragment = f"-{settings.stack_uid}-v" if settings.stack_uid else sagemaker_name(settings.stack_name, "", "v")
    configs = sagemaker.names_containing("endpoint-config", fragment)
    models = sagemaker.names_containing("model", fragment)
    for config in configs:
        sagemaker.delete_config(config)
        removed.append(f"endpoint config {config}")
    for model in models:
        sagemaker.delete_model(model)
        removed.append(f"model {model}")
    for name in endpoints:
        while sagemaker.endpoint(name) is not None:
            if not wait():
                raise DeploymentFailedError(f"endpoint {name} is still being deleted")
    return removed
