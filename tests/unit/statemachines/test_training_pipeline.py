"""TrainingPipeline (and the nested DeploymentPipeline) end to end under moto's ASL engine."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from challenger_core.deployment import resource_names
from challenger_core.models import ModelStatus, NotificationKind, RunOutcome, RunStatus
from challenger_core.settings import Settings
from tests.support.emails import email_of, sent
from tests.support.events import load_event
from tests.support.fake_sagemaker import evaluation
from tests.unit.statemachines.conftest import Cloud

DATA = Path(__file__).resolve().parents[3] / "recipes" / "sentiment" / "data"
TRAIN_V1 = (DATA / "train_v1.csv").read_bytes()
TRAIN_V2 = (DATA / "train_v2.csv").read_bytes()
TEST = (DATA / "test.csv").read_bytes()


def config_of(cloud: Cloud, version: int) -> str:
    """The endpoint config name a version gets (unique per stack and run: deployment.resource_names)."""
    environment = cloud.runtime.get(cloud.template.name("StartDeploymentFunction"))
    assert environment is not None
    return resource_names(Settings.from_env(dict(environment.environment)), cloud.registry.get_model(version))[1]


def first_model_live(cloud: Cloud) -> None:
    cloud.sagemaker.training_results = [evaluation(0.85)]
    assert cloud.run("reviews", TRAIN_V1, TEST)["status"] == "SUCCEEDED"
    sent(cloud)  # drained: a test reads the emails of what it does next


def test_first_drop_trains_evaluates_and_deploys(cloud: Cloud) -> None:
    cloud.sagemaker.training_results = [evaluation(0.88)]
    execution = cloud.run("reviews", TRAIN_V1, TEST)

    assert execution["status"] == "SUCCEEDED"
    assert cloud.states_entered(execution["executionArn"]) == [
        "ValidateData",
        "Validated?",  # validated in the function: no Processing job (issue 24)
        "StartTraining",
        "Unchanged?",
        "WaitForTraining",
        "CheckTraining",
        "TrainingDone?",
        "WaitForTraining",
        "CheckTraining",
        "TrainingDone?",
        "Evaluate",
        "RegisterCandidate",
        "CompareWithChampion",
        "Promote?",
        "NotifyComparison",
        "StartShadow",  # no champion yet: the shadow stage is skipped (issue 23)
        "ShadowSkipped?",
        "DeployModel",
        "RecordDeployed",
        "Deployed",
    ]
    [deployment] = cloud.executions("DeploymentPipeline")
    assert deployment["status"] == "SUCCEEDED"
    assert cloud.sagemaker.serving_config() == config_of(cloud, 1)
    champion = cloud.registry.get_champion()
    assert champion is not None
    assert champion.version == 1
    assert cloud.registry.get_model(1).status is ModelStatus.LIVE
    [run] = cloud.registry.list_runs()
    assert (run.status, run.outcome, run.version) == (RunStatus.SUCCEEDED, RunOutcome.DEPLOYED, 1)
    emails = sent(cloud)
    assert [email.kind for email in emails] == [NotificationKind.COMPARISON, NotificationKind.DEPLOYED]
    assert all("v1" in email.subject for email in emails)


def test_better_challenger_replaces_the_champion_blue_green(cloud: Cloud) -> None:
    first_model_live(cloud)
    cloud.sagemaker.training_results = [evaluation(0.91)]
    assert cloud.run("reviews", TRAIN_V2, TEST)["status"] == "SUCCEEDED"
    assert f"UpdateEndpoint {config_of(cloud, 2)}" in cloud.sagemaker.calls
    assert cloud.sagemaker.serving_config() == config_of(cloud, 2)
    assert cloud.registry.get_model(1).status is ModelStatus.RETIRED
    assert cloud.registry.get_model(2).status is ModelStatus.LIVE


def test_worse_challenger_is_rejected_and_the_champion_keeps_serving(cloud: Cloud) -> None:
    first_model_live(cloud)
    cloud.sagemaker.training_results = [evaluation(0.80, accuracy=0.86)]
    execution = cloud.run("reviews", TRAIN_V2, TEST)

    assert execution["status"] == "SUCCEEDED"
    assert cloud.states_entered(execution["executionArn"])[-3:] == ["NotifyRejected", "RecordRejected", "ChampionKept"]
    assert cloud.sagemaker.serving_config() == config_of(cloud, 1)
    assert cloud.registry.get_model(2).status is ModelStatus.REJECTED
    assert cloud.registry.get_champion().version == 1  # type: ignore[union-attr]
    email = email_of(sent(cloud), NotificationKind.REJECTED)
    assert "v2" in email.subject
    assert "KEEP CHAMPION" in email.body


def test_the_same_rows_in_another_order_train_nothing_and_the_run_names_the_version(cloud: Cloud) -> None:
    """Issue 19: identical content, not identical bytes — no job, no version, outcome UNCHANGED naming v1."""
    first_model_live(cloud)
    header, *rows = TRAIN_V1.decode().splitlines()
    reordered = "\n".join([header, *reversed(rows)]).encode() + b"\n"
    assert reordered != TRAIN_V1
    jobs = len(cloud.sagemaker.jobs)

    execution = cloud.run("reviews", reordered, TEST)

    assert execution["status"] == "SUCCEEDED"
    assert cloud.states_entered(execution["executionArn"]) == [
        "ValidateData",
        "Validated?",  # validated in the function: no Processing job (issue 24)
        "StartTraining",
        "Unchanged?",
        "RecordUnchanged",
        "ChampionKept",
    ]
    assert len(cloud.sagemaker.jobs) == jobs
    run = next(r for r in cloud.registry.list_runs() if r.outcome is RunOutcome.UNCHANGED)
    assert (run.status, run.same_as_version, run.version) == (RunStatus.SUCCEEDED, 1, None)


def test_bad_file_fails_the_run_with_the_exact_problem(cloud: Cloud) -> None:
    first_model_live(cloud)
    execution = cloud.run("reviews", (DATA / "bad_missing_column.csv").read_bytes())

    assert execution["status"] == "FAILED"
    assert cloud.states_entered(execution["executionArn"]) == [
        "ValidateData",
        "RecordFailure",
        "NotifyFailure",
        "PipelineFailed",
    ]
    cause = json.loads(execution["cause"])
    assert cause["errorType"] == "DataValidationError"
    assert "missing column(s) 'sentiment'" in cause["errorMessage"]
    run = next(r for r in cloud.registry.list_runs() if r.status is RunStatus.FAILED)
    assert run.error is not None
    assert "missing column(s) 'sentiment'" in run.error
    assert "v1 keeps serving" in email_of(sent(cloud), NotificationKind.FAILED).body
    assert cloud.sagemaker.serving_config() == config_of(cloud, 1)


def test_failed_training_job_fails_the_run_with_sagemakers_reason(cloud: Cloud) -> None:
    cloud.sagemaker.training_results = ["AlgorithmError: MemoryError while fitting"]
    execution = cloud.run("reviews", TRAIN_V1, TEST)
    assert execution["status"] == "FAILED"
    cause = json.loads(execution["cause"])
    assert cause["errorType"] == "TrainingFailedError"
    assert "AlgorithmError: MemoryError while fitting" in cause["errorMessage"]
    assert cloud.registry.get_model(1).status is ModelStatus.FAILED


def test_training_that_never_finishes_is_bounded_and_stopped(cloud: Cloud) -> None:
    cloud.sagemaker.polls_to_complete = 1000
    execution = cloud.run("reviews", TRAIN_V1, TEST)
    assert execution["status"] == "FAILED"
    entered = cloud.states_entered(execution["executionArn"])
    assert entered.count("CheckTraining") == 6
    assert "TrainingTimedOut" in entered
    assert execution["cause"].startswith("the training job did not finish within the polling bound")
    assert any(call.startswith("StopTrainingJob") for call in cloud.sagemaker.calls)


def test_smoke_test_failure_rolls_back_to_the_champion(cloud: Cloud) -> None:
    first_model_live(cloud)
    cloud.sagemaker.training_results = [evaluation(0.93)]
    cloud.sagemaker.wrong_answers_for = {"v2"}
    execution = cloud.run("reviews", TRAIN_V2, TEST)

    assert execution["status"] == "FAILED"
    deployment = next(e for e in cloud.executions("DeploymentPipeline") if e["status"] == "FAILED")
    assert cloud.states_entered(deployment["executionArn"])[-8:] == [
        "SmokePassed?",
        "Rollback",
        "RollbackNeeded?",  # the champion pointer does not name v2: the rollback goes on
        "WaitForRollback",
        "CheckRollback",
        "RollbackSettled?",
        "NotifyRolledBack",
        "RolledBack",
    ]
    nested = cloud.sfn.describe_execution(executionArn=deployment["executionArn"])
    assert nested["error"] == "DeploymentRolledBack"
    assert nested["cause"].startswith("smoke test failed: 4 of 4 golden predictions differ: #0 label")
    assert cloud.sagemaker.serving_config() == config_of(cloud, 1)
    assert cloud.registry.get_champion().version == 1  # type: ignore[union-attr]
    assert cloud.registry.get_model(2).status is ModelStatus.FAILED
    run = next(r for r in cloud.registry.list_runs() if r.version == 2)
    assert run.status is RunStatus.FAILED
    assert "smoke test failed" in (run.error or "")
    assert "v2" in email_of(sent(cloud), NotificationKind.ROLLED_BACK).subject


def test_green_that_never_gets_healthy_leaves_blue_serving(cloud: Cloud) -> None:
    first_model_live(cloud)
    cloud.sagemaker.training_results = [evaluation(0.93)]
    cloud.sagemaker.update_failures = [
        "The primary container for production variant AllTraffic did not pass the ping health check"
    ]
    execution = cloud.run("reviews", TRAIN_V2, TEST)

    assert execution["status"] == "FAILED"
    assert cloud.sagemaker.serving_config() == config_of(cloud, 1)
    assert "ping health check" in (cloud.registry.get_model(2).failure_reason or "")
    run = next(r for r in cloud.registry.list_runs() if r.version == 2)
    assert "ping health check" in (run.error or "")


def test_duplicate_upload_event_starts_one_execution(cloud: Cloud) -> None:
    first = cloud.upload("reviews", TRAIN_V1, TEST)
    event_again = cloud.upload("reviews", TRAIN_V1, TEST)  # same content: S3 gives the same ETag
    assert first["started"] is True
    assert event_again == first
    [execution] = cloud.executions()
    assert cloud.wait(execution["executionArn"])["status"] == "SUCCEEDED"


def _approval_link(cloud: Cloud, decision: str) -> dict[str, str]:
    [email] = cloud.wait_for_emails(1)
    assert email.kind == NotificationKind.APPROVAL_REQUEST
    url = next(
        line.split(": ", 1)[1].strip()
        for line in email.body.splitlines()
        if line.startswith("Approve:" if decision == "approve" else "Reject:")
    )
    parsed = urlparse(url)
    return {"approval_id": parsed.path.rsplit("/", 1)[1], **{k: v[0] for k, v in parse_qs(parsed.query).items()}}


def _confirm(cloud: Cloud, link: dict[str, str]) -> dict[str, object]:
    event = load_event("api", "approval_decide")
    event["pathParameters"] = {"approval_id": link["approval_id"]}
    event["path"] = f"/approvals/{link['approval_id']}"
    event["body"] = f"decision={link['decision']}&expires={link['expires']}&sig={link['sig']}"
    response: dict[str, object] = cloud.invoke("ApiFunction", event)
    return response


def test_manual_mode_waits_for_the_emailed_approval(cloud_factory) -> None:  # type: ignore[no-untyped-def]
    cloud = cloud_factory(ApprovalMode="manual")
    cloud.sagemaker.training_results = [evaluation(0.9)]
    started = cloud.upload("reviews", TRAIN_V1, TEST)
    arn = cloud.executions()[0]["executionArn"]
    assert cloud.wait(arn, until="RequestApproval")["status"] == "RUNNING"
    assert cloud.sagemaker.serving_config() is None

    response = _confirm(cloud, _approval_link(cloud, "approve"))
    assert response["statusCode"] == 200
    assert cloud.wait(arn)["status"] == "SUCCEEDED"
    assert cloud.sagemaker.serving_config() == config_of(cloud, 1)
    assert cloud.registry.get_run(started["run_id"]).outcome is RunOutcome.DEPLOYED


def test_manual_rejection_keeps_the_champion(cloud_factory) -> None:  # type: ignore[no-untyped-def]
    cloud = cloud_factory(ApprovalMode="manual")
    started = cloud.upload("reviews", TRAIN_V1, TEST)
    arn = cloud.executions()[0]["executionArn"]
    cloud.wait(arn, until="RequestApproval")
    assert _confirm(cloud, _approval_link(cloud, "reject"))["statusCode"] == 200
    assert cloud.wait(arn)["status"] == "SUCCEEDED"
    assert cloud.states_entered(arn)[-2:] == ["RecordRejected", "ChampionKept"]
    assert cloud.sagemaker.serving_config() is None
    assert cloud.registry.get_run(started["run_id"]).outcome is RunOutcome.REJECTED
    assert cloud.registry.get_model(1).status is ModelStatus.REJECTED


def test_unanswered_approval_times_out_and_fails_the_run(cloud_factory) -> None:  # type: ignore[no-untyped-def]
    cloud = cloud_factory(ApprovalMode="manual", ApprovalTtlSeconds="1")
    cloud.upload("reviews", TRAIN_V1, TEST)
    execution = cloud.wait(cloud.executions()[0]["executionArn"])
    assert execution["status"] == "FAILED"
    assert execution["cause"] == "nobody approved or rejected the challenger before the approval expired"
