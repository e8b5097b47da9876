"""DeploymentPipeline under the faults a real AWS deployment meets (issue 7 §3), through moto's ASL engine."""

from __future__ import annotations

import json
from pathlib import Path

from challenger_core.errors import MAX_MESSAGE_CHARS, TransientServiceError
from challenger_core.models import ModelStatus, RunStatus
from tests.support.fake_sagemaker import evaluation
from tests.unit.statemachines.conftest import Cloud
from tests.unit.statemachines.test_training_pipeline import TEST, TRAIN_V1, TRAIN_V2, config_of, first_model_live

DATA = Path(__file__).resolve().parents[3] / "recipes" / "sentiment" / "data"


def deployment_states(cloud: Cloud) -> list[str]:
    [deployment, *_] = sorted(cloud.executions("DeploymentPipeline"), key=lambda e: e["startDate"], reverse=True)
    return cloud.states_entered(deployment["executionArn"])


def test_a_cold_endpoint_is_waited_for_and_the_version_goes_live(cloud: Cloud) -> None:
    cold = "sagemaker-runtime InvokeEndpoint challenger: ModelNotReadyException: the model is not ready"
    cloud.sagemaker.invoke_failures = [TransientServiceError(cold), TransientServiceError(cold)]
    cloud.sagemaker.training_results = [evaluation(0.88)]
    assert cloud.run("reviews", TRAIN_V1, TEST)["status"] == "SUCCEEDED"
    assert "Rollback" not in deployment_states(cloud)
    assert cloud.registry.get_champion().version == 1  # type: ignore[union-attr]


def test_a_failed_endpoint_is_deleted_waited_for_and_recreated(cloud: Cloud) -> None:
    first_model_live(cloud)
    cloud.sagemaker.endpoints["challenger"].update(status="Failed", failure="the instance was retired")
    cloud.sagemaker.training_results = [evaluation(0.91)]
    assert cloud.run("reviews", TRAIN_V2, TEST)["status"] == "SUCCEEDED"
    states = deployment_states(cloud)
    assert states.count("StartDeployment") == 2  # the second run of it follows the `gone` branch
    delete = cloud.sagemaker.calls.index("DeleteEndpoint challenger")
    assert cloud.sagemaker.calls[delete + 1 :] == [f"CreateEndpoint {config_of(cloud, 2)}"]
    assert cloud.sagemaker.serving_config() == config_of(cloud, 2)
    assert cloud.registry.get_model(2).status is ModelStatus.LIVE


def test_a_rollback_blocked_by_a_slow_update_is_reissued_when_it_settles(cloud: Cloud) -> None:
    first_model_live(cloud)
    cloud.sagemaker.training_results = [evaluation(0.91)]
    # v2's update outlasts the deployment's 6 polls; the rollback's own update settles at once.
    cloud.sagemaker.endpoint_polls_to_settle = [8, 0]
    execution = cloud.run("reviews", TRAIN_V2, TEST)

    assert execution["status"] == "FAILED"
    states = deployment_states(cloud)
    assert states.count("Rollback") == 2
    assert states[-2:] == ["NotifyRolledBack", "RolledBack"]
    assert cloud.sagemaker.calls[-1] == f"UpdateEndpoint {config_of(cloud, 1)}"
    assert cloud.sagemaker.serving_config() == config_of(cloud, 1)  # never left on the unverified v2
    assert cloud.registry.get_champion().version == 1  # type: ignore[union-attr]
    assert cloud.registry.get_model(2).status is ModelStatus.FAILED


def test_a_rollback_that_cannot_be_confirmed_fails_as_such(cloud: Cloud) -> None:
    first_model_live(cloud)
    cloud.sagemaker.training_results = [evaluation(0.91)]
    cloud.sagemaker.wrong_answers_for = {"v2"}
    cloud.sagemaker.endpoint_polls_to_settle = [0, 100]  # the rollback's update never settles
    execution = cloud.run("reviews", TRAIN_V2, TEST)

    assert execution["status"] == "FAILED"
    assert deployment_states(cloud)[-2:] == ["NotifyRollbackFailed", "RollbackFailed"]
    reason = cloud.registry.get_model(2).failure_reason or ""
    assert reason.startswith(f"rollback to {config_of(cloud, 1)} not confirmed: endpoint challenger is Updating")


def test_a_file_with_huge_labels_fails_validation_with_a_bounded_message(cloud: Cloud) -> None:
    first_model_live(cloud)
    # Labels just under the csv module's field limit, each different: a message quoting them would be ~3 MB.
    rows = [f'"{"great product " * 3}",{(str(i) * 100_000)[:100_000]}' for i in range(1, 31)]
    execution = cloud.run("reviews", ("review_text,sentiment\n" + "\n".join(rows) + "\n").encode())

    assert execution["status"] == "FAILED"
    run = next(r for r in cloud.registry.list_runs() if r.status is RunStatus.FAILED)
    assert run.error is not None
    assert len(run.error) <= MAX_MESSAGE_CHARS
    described = cloud.sfn.describe_execution(executionArn=execution["executionArn"])
    assert len(json.dumps(described, default=str)) < 16 * 1024
