from __future__ import annotations

import json
from typing import Any

import pytest

from challenger_core.errors import DataValidationError, NotFoundError, TrainingFailedError
from challenger_core.models import Champion, ModelStatus, Run, RunStatus, TriggerSource
from challenger_core.registry import Registry
from tests.support.events import load_event
from tests.support.fake_sagemaker import evaluation, tar_gz
from tests.support.lambda_context import context
from tests.support.stack import Stack

GOOD_CSV = "review_text,sentiment\n" + "".join(
    f"review {i} {'great' if i % 2 else 'awful'},{i % 2}\n" for i in range(40)
)


def registry(stack: Stack) -> Registry:
    return Registry(stack.ddb, stack.env["MODELS_TABLE"])


def invoke(stack: Stack, function: str, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = stack.handler(function).lambda_handler(event, context(function))
    return result


def with_run(stack: Stack, event: dict[str, Any]) -> dict[str, Any]:
    """Record the run the sample state belongs to (the trigger does this in a real run)."""
    run = event["run"]
    registry(stack).put_run(
        Run(
            run_id=run["run_id"],
            status=RunStatus.RUNNING,
            dataset=run["dataset"],
            trigger=TriggerSource.UPLOAD,
            source_fingerprint=run["source_fingerprint"],
        )
    )
    return event


def test_validate_data_builds_the_manifest(stack: Stack) -> None:
    stack.put_data("incoming/reviews/train.csv", GOOD_CSV.encode())
    stack.put_data("incoming/reviews/test.csv", GOOD_CSV.encode())
    state = invoke(stack, "validate_data", load_event("validate_data", "uploaded"))
    manifest = state["manifest"]
    assert (manifest["train_rows"], manifest["test_rows"]) == (40, 40)
    assert manifest["class_counts"] == {"negative": 20, "positive": 20}
    assert manifest["train_uri"] == f"s3://{stack.data_bucket}/incoming/reviews/train.csv"


def test_validate_data_reports_every_bad_file(stack: Stack) -> None:
    stack.put_data("incoming/reviews/train.csv", b"review_text,label\nx,1\n")
    with pytest.raises(DataValidationError) as caught:
        invoke(stack, "validate_data", load_event("validate_data", "uploaded"))
    message = str(caught.value)
    assert "missing column(s) 'sentiment'" in message
    assert "test file s3://" in message
    assert "does not exist" in message


def test_start_training_allocates_a_version_and_starts_the_job(stack: Stack) -> None:
    event = with_run(stack, load_event("start_training", "validated"))
    state = invoke(stack, "start_training", event)
    assert state["training"]["version"] == 1
    assert state["training"]["poll"] == {"attempts": 0, "max_attempts": 6, "wait_seconds": 0, "exhausted": False}
    job = stack.sagemaker.jobs[state["training"]["job_name"]]
    assert job.spec.train_uri.endswith("incoming/reviews/train.csv")
    assert job.spec.source_uri == f"s3://{stack.env['ARTIFACT_BUCKET']}/recipes/sentiment/sourcedir.tar.gz"
    model = registry(stack).get_model(1)
    assert model.status is ModelStatus.TRAINING
    assert registry(stack).get_run(event["run"]["run_id"]).version == 1


def test_retried_start_training_reuses_version_and_job(stack: Stack) -> None:
    event = with_run(stack, load_event("start_training", "validated"))
    first = invoke(stack, "start_training", json.loads(json.dumps(event)))
    second = invoke(stack, "start_training", event)
    assert first["training"]["job_name"] == second["training"]["job_name"]
    assert len(stack.sagemaker.jobs) == 1
    assert len(registry(stack).list_models()) == 1


def test_check_training_counts_polls_until_complete(stack: Stack) -> None:
    state = with_run(stack, load_event("start_training", "validated"))
    stack.sagemaker.polls_to_complete = 1
    state = invoke(stack, "start_training", state)
    state = invoke(stack, "check_training", state)
    assert (state["training"]["status"], state["training"]["poll"]["attempts"]) == ("InProgress", 1)
    state = invoke(stack, "check_training", state)
    assert state["training"]["status"] == "Completed"
    assert state["training"]["model_data_url"].endswith("/output/model.tar.gz")


def test_check_training_raises_the_failure_reason(stack: Stack) -> None:
    stack.sagemaker.training_results = ["AlgorithmError: ValueError: only one class present"]
    stack.sagemaker.polls_to_complete = 0
    state = invoke(stack, "start_training", with_run(stack, load_event("start_training", "validated")))
    with pytest.raises(TrainingFailedError, match="failed: AlgorithmError: ValueError: only one class present"):
        invoke(stack, "check_training", state)


def test_polls_are_bounded(stack: Stack) -> None:
    stack.sagemaker.polls_to_complete = 100
    state = invoke(stack, "start_training", with_run(stack, load_event("start_training", "validated")))
    for _ in range(6):
        state = invoke(stack, "check_training", state)
    assert state["training"]["poll"]["exhausted"] is True


def trained_state(stack: Stack, f1: float = 0.9) -> dict[str, Any]:
    stack.sagemaker.training_results = [evaluation(f1)]
    stack.sagemaker.polls_to_complete = 0
    state = invoke(stack, "start_training", with_run(stack, load_event("start_training", "validated")))
    return invoke(stack, "check_training", state)


def test_evaluate_reads_the_recipe_report(stack: Stack) -> None:
    state = invoke(stack, "evaluate_model", trained_state(stack, f1=0.87))
    assert state["candidate"]["metrics"]["f1"] == 0.87
    assert state["candidate"]["confusion_matrix"] == [[90, 10], [10, 90]]


def test_evaluate_without_report_names_where_it_looked(stack: Stack) -> None:
    state = trained_state(stack)
    url = state["training"]["model_data_url"]
    bucket, key = url[5:].split("/", 1)
    stack.s3.put_object(Bucket=bucket, Key=key, Body=tar_gz({"model.skops": b"x"}))
    stack.s3.delete_object(Bucket=bucket, Key=key.replace("model.tar.gz", "output.tar.gz"))
    with pytest.raises(NotFoundError, match=r"wrote no evaluation\.json"):
        invoke(stack, "evaluate_model", state)


def test_register_then_compare_first_model_promotes(stack: Stack) -> None:
    state = invoke(stack, "register_candidate", invoke(stack, "evaluate_model", trained_state(stack, f1=0.9)))
    model = registry(stack).get_model(1)
    assert model.status is ModelStatus.STAGED
    assert model.metrics["f1"] == 0.9  # stored as a DynamoDB number, read back as float
    state = invoke(stack, "compare_models", state)
    assert state["verdict"]["promote"] is True
    assert state["verdict"]["requires_approval"] is False
    assert registry(stack).get_model(1).status is ModelStatus.APPROVED


def test_worse_challenger_is_rejected(stack: Stack) -> None:
    reg = registry(stack)
    champion_state = invoke(stack, "register_candidate", invoke(stack, "evaluate_model", trained_state(stack, 0.92)))
    reg.set_champion(Champion(version=1, model_name="m1", endpoint_config_name="c1"), expected_version=None)
    stack.sagemaker.jobs.clear()
    challenger = load_event("start_training", "validated")
    challenger["run"]["run_id"] = "20261123T120000Z-reviews-other"
    with_run(stack, challenger)
    stack.sagemaker.training_results = [evaluation(0.85)]
    state = invoke(stack, "check_training", invoke(stack, "start_training", challenger))
    state = invoke(stack, "compare_models", invoke(stack, "register_candidate", invoke(stack, "evaluate_model", state)))
    assert champion_state["candidate"]["version"] == 1
    assert state["verdict"]["promote"] is False
    assert reg.get_model(2).status is ModelStatus.REJECTED
    assert "not better enough" in (reg.get_model(2).failure_reason or "")


def test_manual_mode_requires_approval(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVAL_MODE", "manual")
    state = invoke(stack, "register_candidate", invoke(stack, "evaluate_model", trained_state(stack)))
    state = invoke(stack, "compare_models", state)
    assert state["verdict"]["requires_approval"] is True
    assert registry(stack).get_model(1).status is ModelStatus.STAGED


def test_record_failure_closes_run_with_the_precise_cause(stack: Stack) -> None:
    event = load_event("record_outcome", "failed")
    with_run(stack, event["training"])
    invoke(stack, "record_outcome", event)
    run = registry(stack).get_run(event["training"]["run"]["run_id"])
    assert run.status is RunStatus.FAILED
    assert run.error == (
        "dataset 'reviews': train file incoming/reviews/train.csv: missing column(s) 'sentiment'; "
        "found 'review_text', 'label'"
    )


def test_notify_failure_emails_the_cause(stack: Stack) -> None:
    invoke(stack, "notify", load_event("notify", "failed"))
    [email] = stack.emails()
    assert email["subject"] == "[Challenger challenger] run 20261123T101500Z-reviews-3f9a1c2e FAILED"
    assert "missing column(s) 'sentiment'" in email["body"]
    assert "no model is serving yet" in email["body"]


def test_notify_comparison_emails_the_metric_table(stack: Stack) -> None:
    invoke(stack, "notify", load_event("notify", "comparison"))
    [email] = stack.emails()
    assert "v1 beats the champion" in email["subject"]
    f1_row = next(line for line in email["body"].splitlines() if line.startswith("f1 "))
    assert f1_row.split()[:4] == ["f1", "0.8850", "0.9100", "+0.0250"]


def test_failed_run_stops_its_still_running_training_job(stack: Stack) -> None:
    stack.sagemaker.polls_to_complete = 100
    state = invoke(stack, "start_training", with_run(stack, load_event("start_training", "validated")))
    state["error"] = {"Error": "PollingExhaustedError", "Cause": "the training job did not finish in time"}
    invoke(stack, "record_outcome", {"outcome": "FAILED", "training": state})
    assert stack.sagemaker.calls[-1] == f"StopTrainingJob {state['training']['job_name']}"
    assert registry(stack).get_model(1).status is ModelStatus.FAILED
    assert registry(stack).get_run(state["run"]["run_id"]).error == "the training job did not finish in time"
