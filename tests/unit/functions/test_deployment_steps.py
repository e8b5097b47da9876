from __future__ import annotations

import re
from typing import Any

import pytest

from challenger_core.deployment import resource_names
from challenger_core.errors import ConflictError, NotFoundError, RollbackFailedError, TransientServiceError
from challenger_core.models import Champion, ModelStatus, NotificationKind
from challenger_core.registry import Registry
from challenger_core.settings import Settings
from tests.support.emails import email_of, sent
from tests.support.events import load_event
from tests.support.fake_sagemaker import evaluation, model_artifact
from tests.support.lambda_context import context
from tests.support.stack import Stack


def registry(stack: Stack) -> Registry:
    return Registry(stack.ddb, stack.env["MODELS_TABLE"])


def model_name(stack: Stack, version: int) -> str:
    return resource_names(Settings.from_env(), registry(stack).get_model(version))[0]


def config_name(stack: Stack, version: int) -> str:
    return resource_names(Settings.from_env(), registry(stack).get_model(version))[1]


def invoke(stack: Stack, function: str, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = stack.handler(function).lambda_handler(event, context(function))
    return result


def staged(stack: Stack, version: int, status: ModelStatus = ModelStatus.APPROVED, *, golden: bool = True) -> None:
    """A trained version whose model.tar.gz (with its golden set) is in the artifact bucket.

    Registered without the archive's digest, as a version from before digests were recorded: the smoke-test tests
    replace the archive after staging it (test_artifact_integrity covers the digest)."""
    archive = model_artifact(evaluation(0.9), golden=golden)
    model = stack.trained_version(version, status, archive, metrics={"f1": 0.9})
    registry(stack).put_model(model.model_copy(update={"artifact_sha256": None}))


def request(version: int, reason: str = "training") -> dict[str, Any]:
    event = load_event("start_deployment", "new_version")
    event["request"].update(version=version, reason=reason)
    return event


def deploy_until_settled(stack: Stack, version: int) -> dict[str, Any]:
    state = invoke(stack, "start_deployment", request(version))
    while state["endpoint"]["outcome"] == "pending":
        state = invoke(stack, "check_endpoint", state)
    return state


def test_first_deployment_creates_the_endpoint(stack: Stack) -> None:
    staged(stack, 1)
    state = invoke(stack, "start_deployment", request(1))
    assert state["plan"] == {
        "endpoint_name": "challenger",
        "model_name": model_name(stack, 1),
        "config_name": config_name(stack, 1),
        "endpoint_existed": False,
    }
    assert stack.sagemaker.calls == [f"CreateEndpoint {config_name(stack, 1)}"]
    assert registry(stack).get_model(1).status is ModelStatus.DEPLOYING
    state = invoke(stack, "check_endpoint", state)
    assert (state["endpoint"]["status"], state["endpoint"]["outcome"]) == ("InService", "healthy")


def test_second_deployment_updates_blue_green_and_remembers_blue(stack: Stack) -> None:
    staged(stack, 1)
    deploy_until_settled(stack, 1)
    registry(stack).set_champion(
        Champion(version=1, model_name=model_name(stack, 1), endpoint_config_name=config_name(stack, 1)),
        expected_version=None,
    )
    staged(stack, 2)
    state = invoke(stack, "start_deployment", request(2))
    assert state["plan"]["previous_config"] == config_name(stack, 1)
    assert state["plan"]["previous_version"] == 1
    assert stack.sagemaker.calls[-1] == f"UpdateEndpoint {config_name(stack, 2)}"


def test_update_that_sagemaker_reverts_is_reported_failed(stack: Stack) -> None:
    staged(stack, 1)
    deploy_until_settled(stack, 1)
    staged(stack, 2)
    stack.sagemaker.update_failures = ["Model container failed to pass the ping health check"]
    state = deploy_until_settled(stack, 2)
    assert state["endpoint"]["outcome"] == "failed"
    assert state["endpoint"]["current_config"] == config_name(stack, 1)
    assert "ping health check" in state["endpoint"]["failure_reason"]


def test_deploying_the_serving_version_again_is_a_conflict(stack: Stack) -> None:
    staged(stack, 1)
    deploy_until_settled(stack, 1)
    with pytest.raises(ConflictError, match="already serving"):
        invoke(stack, "start_deployment", request(1, reason="rollback"))


def test_unknown_version_cannot_be_deployed(stack: Stack) -> None:
    with pytest.raises(NotFoundError, match="model version 9 does not exist"):
        invoke(stack, "start_deployment", request(9, reason="rollback"))


def test_promote_moves_champion_and_retires_the_old_one(stack: Stack) -> None:
    reg = registry(stack)
    staged(stack, 1)
    invoke(stack, "promote_model", invoke(stack, "smoke_test", deploy_until_settled(stack, 1)))
    staged(stack, 2)
    invoke(stack, "promote_model", invoke(stack, "smoke_test", deploy_until_settled(stack, 2)))
    champion = reg.get_champion()
    assert champion is not None
    assert (champion.version, champion.endpoint_config_name) == (2, config_name(stack, 2))
    assert reg.get_model(2).status is ModelStatus.LIVE
    assert reg.get_model(1).status is ModelStatus.RETIRED


def test_promote_loses_a_concurrent_race(stack: Stack) -> None:
    reg = registry(stack)
    staged(stack, 2)
    state = invoke(stack, "smoke_test", deploy_until_settled(stack, 2))
    original = reg.get_champion

    # Another deployment moves the pointer between our read and our conditional write.
    def racing_read() -> Champion | None:
        seen = original()
        reg.set_champion(Champion(version=5, model_name="m5", endpoint_config_name="c5"), expected_version=None)
        return seen

    module = stack.handler("promote_model")
    module.registry.get_champion = racing_read
    with pytest.raises(ConflictError, match="champion changed concurrently"):
        invoke(stack, "promote_model", state)
    assert original() == reg.get_champion()
    assert reg.get_champion().version == 5  # type: ignore[union-attr]


def test_old_configs_beyond_the_keep_depth_are_cleaned(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFIGS_TO_KEEP", "1")
    for version in (1, 2, 3):
        staged(stack, version)
        invoke(stack, "promote_model", invoke(stack, "smoke_test", deploy_until_settled(stack, version)))
    assert config_name(stack, 1) not in stack.sagemaker.configs
    assert config_name(stack, 2) in stack.sagemaker.configs
    assert registry(stack).get_model(1).endpoint_config_name is None


def test_rollback_after_failed_smoke_test_restores_blue(stack: Stack) -> None:
    staged(stack, 1)
    deploy_until_settled(stack, 1)
    staged(stack, 2)
    stack.sagemaker.wrong_answers_for = {config_name(stack, 2)}
    state = invoke(stack, "smoke_test", deploy_until_settled(stack, 2))
    assert stack.sagemaker.serving_config() == config_name(stack, 2)
    state = invoke(stack, "rollback_endpoint", state)
    assert stack.sagemaker.calls[-1] == f"UpdateEndpoint {config_name(stack, 1)}"
    state = invoke(stack, "check_endpoint", state)
    assert state["rollback"]["outcome"] == "healthy"
    assert stack.sagemaker.serving_config() == config_name(stack, 1)
    failed = registry(stack).get_model(2)
    assert failed.status is ModelStatus.FAILED
    assert failed.failure_reason is not None
    assert failed.failure_reason.startswith("smoke test failed: 4 of 4 golden predictions differ: #0 label")


def test_rollback_of_a_broken_first_deployment_deletes_the_endpoint(stack: Stack) -> None:
    staged(stack, 1)
    stack.sagemaker.update_failures = ["CannotStartContainerError"]
    state = deploy_until_settled(stack, 1)
    assert state["endpoint"]["outcome"] == "failed"
    state = invoke(stack, "check_endpoint", invoke(stack, "rollback_endpoint", state))
    assert (state["rollback"]["status"], state["rollback"]["outcome"]) == ("Deleting", "pending")  # asynchronous
    state = invoke(stack, "check_endpoint", state)
    assert state["rollback"]["outcome"] == "healthy"
    assert "challenger" not in stack.sagemaker.endpoints


def test_rolled_back_email_names_cause_and_survivor(stack: Stack) -> None:
    registry(stack).set_champion(Champion(version=1, model_name="m", endpoint_config_name="c"), expected_version=None)
    invoke(stack, "notify", load_event("notify", "rolled_back"))
    email = email_of(sent(stack), NotificationKind.ROLLED_BACK)
    assert "v2" in email.subject
    assert "smoke test failed: wrong answers" in email.body
    assert "v1 keeps serving" in email.body


def test_deployed_email(stack: Stack) -> None:
    invoke(stack, "notify", load_event("notify", "deployed"))
    email = email_of(sent(stack), NotificationKind.DEPLOYED)
    assert "v2" in email.subject
    assert "Replaced:  v1" in email.body


def test_a_deployment_against_the_verdict_emails_who_and_why(stack: Stack) -> None:
    """Issue 19: `POST /deploy` carries the operator's comment to the deployed email (and the audit log)."""
    event = load_event("notify", "deployed")
    event["deployment"]["request"].update(reason="promote", requested_by="ops-alice", comment="new labels are right")
    invoke(stack, "notify", event)
    email = email_of(sent(stack), NotificationKind.DEPLOYED)
    assert "Reason:    promote — against the verdict, by ops-alice: new labels are right" in email.body


# Runtime faults a real deployment meets (issue 7 §3) -------------------------------------------------


def test_a_cold_endpoint_in_the_smoke_test_is_left_to_the_state_machine_to_retry(stack: Stack) -> None:
    staged(stack, 1)
    state = deploy_until_settled(stack, 1)
    stack.sagemaker.invoke_failures = [
        TransientServiceError("sagemaker-runtime InvokeEndpoint challenger: ModelNotReadyException: cold start")
    ]
    with pytest.raises(TransientServiceError, match="ModelNotReadyException"):
        invoke(stack, "smoke_test", state)  # the ASL's Retry on TransientServiceError, not a rollback
    assert invoke(stack, "smoke_test", state)["smoke"]["passed"] is True


def test_a_failed_endpoint_is_deleted_polled_until_gone_and_only_then_recreated(stack: Stack) -> None:
    staged(stack, 1)
    stack.sagemaker.update_failures = ["CannotStartContainerError"]
    assert deploy_until_settled(stack, 1)["endpoint"]["outcome"] == "failed"
    assert stack.sagemaker.endpoints["challenger"]["status"] == "Failed"
    staged(stack, 2)
    stack.sagemaker.calls.clear()

    state = invoke(stack, "start_deployment", request(2))
    assert stack.sagemaker.calls == ["DeleteEndpoint challenger"]  # no CreateEndpoint while it is Deleting
    assert (state["endpoint"]["status"], state["endpoint"]["recreate"]) == ("Deleting", True)
    state = invoke(stack, "check_endpoint", state)
    assert (state["endpoint"]["status"], state["endpoint"]["outcome"]) == ("Deleting", "pending")
    state = invoke(stack, "check_endpoint", state)
    assert state["endpoint"]["outcome"] == "gone"
    state = invoke(stack, "start_deployment", state)  # the ASL's `gone` branch runs StartDeployment again
    assert stack.sagemaker.calls[-1] == f"CreateEndpoint {config_name(stack, 2)}"
    state = invoke(stack, "check_endpoint", state)
    assert (state["endpoint"]["status"], state["endpoint"]["outcome"]) == ("InService", "healthy")


def test_a_rollback_that_meets_a_running_update_is_reissued_when_the_update_settles(stack: Stack) -> None:
    staged(stack, 1)
    deploy_until_settled(stack, 1)
    staged(stack, 2)
    stack.sagemaker.endpoint_polls_to_settle = [3]
    state = invoke(stack, "start_deployment", request(2))
    state = invoke(stack, "check_endpoint", state)
    assert state["endpoint"]["status"] == "Updating"
    # The deployment's poll ran out while SageMaker was still updating: roll back.
    state = invoke(stack, "rollback_endpoint", state)
    assert stack.sagemaker.calls[-1] == f"UpdateEndpoint {config_name(stack, 2)}"  # nothing issued while busy
    outcomes = []
    while (outcome := (state := invoke(stack, "check_endpoint", state))["rollback"]["outcome"]) == "pending":
        outcomes.append(outcome)
    # The update settled on v2, unverified: the rollback is issued now instead of reporting "rolled back".
    assert (outcome, state["rollback"]["current_config"]) == ("reissue", config_name(stack, 2))
    state = invoke(stack, "rollback_endpoint", state)
    assert stack.sagemaker.calls[-1] == f"UpdateEndpoint {config_name(stack, 1)}"
    while (state := invoke(stack, "check_endpoint", state))["rollback"]["outcome"] == "pending":
        pass
    assert state["rollback"]["outcome"] == "healthy"
    assert stack.sagemaker.serving_config() == config_name(stack, 1)
    assert registry(stack).get_model(2).status is ModelStatus.FAILED


def test_update_rollback_failed_is_a_failure_and_the_registry_says_what_serves(stack: Stack) -> None:
    staged(stack, 1)
    deploy_until_settled(stack, 1)
    staged(stack, 2)
    state = deploy_until_settled(stack, 2)
    stack.sagemaker.wrong_answers_for = {"v2"}
    state = invoke(stack, "rollback_endpoint", invoke(stack, "smoke_test", state))
    stack.sagemaker.endpoints["challenger"].update(status="UpdateRollbackFailed", config=config_name(stack, 2))
    state = invoke(stack, "check_endpoint", state)
    assert state["rollback"]["outcome"] == "failed"
    with pytest.raises(RollbackFailedError, match="not confirmed: endpoint challenger is UpdateRollbackFailed"):
        invoke(stack, "rollback_endpoint", state)  # the ASL sends `failed` back here: it records and fails
    failed = registry(stack).get_model(2)
    assert failed.status is ModelStatus.FAILED
    assert f"UpdateRollbackFailed on {config_name(stack, 2)}" in (failed.failure_reason or "")


def test_names_are_unique_per_stack_incarnation_and_per_run(stack: Stack) -> None:
    staged(stack, 7)
    model = registry(stack).get_model(7)
    settings = Settings.from_env()
    name, config = resource_names(settings, model)
    assert (name, config) == (f"challenger-5f2b9c1e-v7-{name[-6:]}", f"{name}-config")
    redeployed = settings.model_copy(update={"stack_uid": "0a1b2c3d"})
    assert resource_names(redeployed, model)[0] != name
    retrained = model.model_copy(update={"run_id": "run-7-again"})
    assert resource_names(settings, retrained)[0] != name
    longest = settings.model_copy(update={"stack_name": "a-very-long-stack-name-" * 5})
    _, long_config = resource_names(longest, model.model_copy(update={"version": 999_999}))
    assert len(long_config) <= 63
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", long_config)


def test_each_config_names_its_variant_after_the_version(stack: Stack) -> None:
    staged(stack, 3)
    deploy_until_settled(stack, 3)
    assert stack.sagemaker.variants[config_name(stack, 3)] == "v3"
