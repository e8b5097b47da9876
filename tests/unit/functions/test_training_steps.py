from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from challenger_core import artifacts
from challenger_core.adapters.storage import Storage
from challenger_core.errors import DataValidationError, NotFoundError, TrainingFailedError
from challenger_core.models import Champion, ModelStatus, NotificationKind, Run, RunStatus, TriggerSource
from challenger_core.recipe import RecipeError
from challenger_core.registry import Registry
from tests.support.emails import email_of, sent
from tests.support.events import load_event
from tests.support.fake_sagemaker import evaluation, tar_gz
from tests.support.lambda_context import context
from tests.support.recipes import bundled, recipe_json, tabular
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


def test_validate_data_without_a_published_recipe_says_so(stack: Stack) -> None:
    stack.s3.delete_object(Bucket=stack.env["ARTIFACT_BUCKET"], Key="recipes/sentiment/recipe.json")
    stack.put_data("incoming/reviews/train.csv", GOOD_CSV.encode())
    with pytest.raises(RecipeError, match="recipe 'sentiment' is not published"):
        invoke(stack, "validate_data", load_event("validate_data", "uploaded"))


def test_start_training_allocates_a_version_and_starts_the_job(stack: Stack) -> None:
    event = with_run(stack, load_event("start_training", "validated"))
    state = invoke(stack, "start_training", event)
    assert state["training"]["version"] == 1
    assert state["training"]["poll"] == {"attempts": 0, "max_attempts": 6, "wait_seconds": 0, "exhausted": False}
    job = stack.sagemaker.jobs[state["training"]["job_name"]]
    assert job.spec.train_uri.endswith("incoming/reviews/train.csv")
    record = json.loads(
        stack.s3.get_object(Bucket=stack.env["ARTIFACT_BUCKET"], Key="recipes/sentiment/bundle.json")["Body"].read()
    )
    assert (
        job.spec.source_uri
        == f"s3://{stack.env['ARTIFACT_BUCKET']}/recipes/sentiment/sha256/{record['sha256']}/sourcedir.tar.gz"
    )
    assert job.spec.champion_uri is None  # no champion yet: nothing to compare with
    recipe = {name: str(value) for name, value in bundled("sentiment").hyperparameters.items()}
    assert job.spec.hyperparameters == {**recipe, "promotion-confidence": "0.95", "bootstrap-samples": "2000"}
    model = registry(stack).get_model(1)
    assert model.status is ModelStatus.TRAINING
    assert (model.train_rows, model.hyperparameters["promotion-confidence"]) == (1500, "0.95")
    assert registry(stack).get_run(event["run"]["run_id"]).version == 1


def test_start_training_hands_the_champion_artifact_to_the_job(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMOTION_CONFIDENCE", "0.99")
    monkeypatch.setenv("HYPERPARAMETERS", "C=2.0")
    live_champion(stack)
    state = invoke(stack, "start_training", second_run(stack))
    job = stack.sagemaker.jobs[state["training"]["job_name"]]
    champion = registry(stack).get_model(1)
    # The pinned copy StartDeployment verified, with the registered digest the kit checks before running any of it.
    assert job.spec.champion_uri == artifacts.pinned_model_url(stack.env["ARTIFACT_BUCKET"], champion)
    assert job.spec.hyperparameters["champion-sha256"] == champion.artifact_sha256
    assert {k: job.spec.hyperparameters[k] for k in ("C", "promotion-confidence", "bootstrap-samples")} == {
        "C": "2.0",  # the stack's Hyperparameters override the recipe's
        "promotion-confidence": "0.99",
        "bootstrap-samples": "2000",
    }
    assert state["training"]["champion_version"] == 1


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
    assert state["candidate"]["eval_set"] == {"fingerprint": "e" * 64, "rows": 200}
    assert "comparison" not in state["candidate"]


def test_evaluate_accepts_any_finite_metric_and_refuses_nan(stack: Stack) -> None:
    report = evaluation(0.9)
    report["metrics"]["rmse"] = 12.5
    stack.sagemaker.training_results = [report]
    stack.sagemaker.polls_to_complete = 0
    state = invoke(stack, "start_training", with_run(stack, load_event("start_training", "validated")))
    assert (
        invoke(stack, "evaluate_model", invoke(stack, "check_training", state))["candidate"]["metrics"]["rmse"] == 12.5
    )
    report["metrics"]["rmse"] = float("nan")
    stack.sagemaker.jobs.clear()
    stack.sagemaker.training_results = [report]
    state = invoke(stack, "check_training", invoke(stack, "start_training", state))
    with pytest.raises(DataValidationError, match="metrics must be finite numbers: rmse"):
        invoke(stack, "evaluate_model", state)


def test_register_records_the_comparison_and_what_explains_the_model(stack: Stack) -> None:
    live_champion(stack)
    stack.sagemaker.training_results = [evaluation(0.93)]
    state = invoke(stack, "check_training", invoke(stack, "start_training", second_run(stack)))
    state = invoke(stack, "register_candidate", invoke(stack, "evaluate_model", state))
    model = registry(stack).get_model(2)
    champion = registry(stack).get_model(1)
    artifact = stack.s3.get_object(Bucket=stack.env["ARTIFACT_BUCKET"], Key=model.model_data_url.split("/", 3)[3])
    assert model.artifact_sha256 == hashlib.sha256(artifact["Body"].read()).hexdigest()
    assert model.comparison is not None
    assert model.comparison.champion_version == 1
    assert model.comparison.champion_artifact_sha256 == champion.artifact_sha256
    assert (model.comparison.rows, model.comparison.confidence) == (180, 0.95)
    f1 = model.comparison.differences["f1"]
    assert (f1.delta, f1.low, f1.high) == (0.05, 0.04, 0.06)
    assert (model.train_rows, model.test_rows, model.n_train, model.n_test) == (1500, 400, 600, 200)
    assert model.training_seconds == 42
    assert model.eval_set is not None
    assert model.eval_set.rows == 200
    assert model.hyperparameters["bootstrap-samples"] == "2000"
    assert model.training_job_name == state["training"]["job_name"]


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


def live_champion(stack: Stack, f1: float = 0.88) -> None:
    """v1 trained, registered, deployed (its archive pinned, as StartDeployment does) and pointed to as the champion."""
    invoke(stack, "register_candidate", invoke(stack, "evaluate_model", trained_state(stack, f1)))
    artifacts.pin(registry(stack).get_model(1), Storage(stack.s3), stack.env["ARTIFACT_BUCKET"])
    registry(stack).set_champion(Champion(version=1, model_name="m1", endpoint_config_name="c1"), expected_version=None)
    registry(stack).update_model(1, status=ModelStatus.LIVE)
    stack.sagemaker.jobs.clear()


def second_run(stack: Stack) -> dict[str, Any]:
    challenger = load_event("start_training", "validated")
    challenger["run"]["run_id"] = "20261123T120000Z-reviews-other"
    return with_run(stack, challenger)


def challenger_verdict(stack: Stack, f1: float, **kwargs: float) -> dict[str, Any]:
    stack.sagemaker.training_results = [evaluation(f1, **kwargs)]
    state = invoke(stack, "check_training", invoke(stack, "start_training", second_run(stack)))
    state = invoke(stack, "register_candidate", invoke(stack, "evaluate_model", state))
    return invoke(stack, "compare_models", state)


def test_worse_challenger_is_rejected(stack: Stack) -> None:
    live_champion(stack, 0.92)
    state = challenger_verdict(stack, 0.85)
    assert state["verdict"]["promote"] is False
    assert state["verdict"]["decided_by"] == "primary f1"
    model = registry(stack).get_model(2)
    assert model.status is ModelStatus.REJECTED
    assert (model.failure_reason or "").startswith("primary f1: FAIL — -0.0700 [-0.0800, -0.0600] at 95%")
    assert model.verdict is not None
    assert model.verdict.decided_by == "primary f1"


def test_significantly_better_challenger_is_approved_with_its_interval(stack: Stack) -> None:
    live_champion(stack, 0.88)
    state = challenger_verdict(stack, 0.92)
    verdict = state["verdict"]
    assert (verdict["promote"], verdict["decided_by"], verdict["paired_rows"]) == (True, "primary f1", 180)
    f1 = next(c for c in verdict["comparisons"] if c["name"] == "f1")
    assert (f1["champion"], f1["challenger"], f1["delta"], f1["low"], f1["high"]) == (0.88, 0.92, 0.04, 0.03, 0.05)
    assert registry(stack).get_model(2).status is ModelStatus.APPROVED


def test_better_but_within_noise_is_rejected(stack: Stack) -> None:
    live_champion(stack, 0.88)
    stack.sagemaker.interval = 0.02
    state = challenger_verdict(stack, 0.89)
    assert state["verdict"]["promote"] is False
    assert "the interval includes zero" in registry(stack).get_model(2).failure_reason  # type: ignore[operator]


def test_without_a_paired_comparison_the_challenger_is_not_promoted(stack: Stack) -> None:
    live_champion(stack, 0.80)
    stack.sagemaker.training_results = [evaluation(0.99)]
    state = invoke(stack, "check_training", invoke(stack, "start_training", second_run(stack)))
    # While the job ran, the champion's registered artifact changed: the job scored a different artifact.
    registry(stack).update_model(1, artifact_sha256="0" * 64)
    state = invoke(stack, "compare_models", invoke(stack, "register_candidate", invoke(stack, "evaluate_model", state)))
    assert (state["verdict"]["promote"], state["verdict"]["decided_by"]) == (False, "comparison")
    assert "no paired comparison with champion v1" in registry(stack).get_model(2).failure_reason  # type: ignore[operator]


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
    email = email_of(sent(stack), NotificationKind.FAILED)
    assert "20261123T101500Z-reviews-3f9a1c2e" in email.subject
    assert "missing column(s) 'sentiment'" in email.body
    assert "no model is serving yet" in email.body


def test_notify_comparison_emails_the_metric_table(stack: Stack) -> None:
    invoke(stack, "notify", load_event("notify", "comparison"))
    email = email_of(sent(stack), NotificationKind.COMPARISON)
    assert "v1" in email.subject
    f1_row = next(line for line in email.body.splitlines() if line.startswith("f1 "))
    assert f1_row.split()[:4] == ["f1", "0.8850", "0.9100", "+0.0250"]


def test_failed_run_stops_its_still_running_training_job(stack: Stack) -> None:
    stack.sagemaker.polls_to_complete = 100
    state = invoke(stack, "start_training", with_run(stack, load_event("start_training", "validated")))
    state["error"] = {"Error": "PollingExhaustedError", "Cause": "the training job did not finish in time"}
    invoke(stack, "record_outcome", {"outcome": "FAILED", "training": state})
    assert stack.sagemaker.calls[-1] == f"StopTrainingJob {state['training']['job_name']}"
    assert registry(stack).get_model(1).status is ModelStatus.FAILED
    assert registry(stack).get_run(state["run"]["run_id"]).error == "the training job did not finish in time"


def test_validate_data_follows_the_stacks_recipe(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECIPE", "plants")
    stack.s3.put_object(
        Bucket=stack.env["ARTIFACT_BUCKET"], Key="recipes/plants/recipe.json", Body=recipe_json(tabular())
    )
    rows = "".join(f"{10 + i},{('clay', 'sand', 'loam')[i % 3]},row {i},{'abc'[i % 3]}\n" for i in range(9))
    stack.put_data("incoming/reviews/train.csv", ("height,soil,note,species\n" + rows).encode())
    stack.put_data(
        "incoming/reviews/test.csv",
        ("height,soil,note,species\n" + "".join(rows.splitlines(keepends=True)[:3])).encode(),
    )
    state = invoke(stack, "validate_data", load_event("validate_data", "uploaded"))
    assert state["manifest"]["class_counts"] == {"alpha": 3, "beta": 3, "gamma": 3}
    # The bundled recipe's columns are now the wrong ones.
    stack.put_data("incoming/reviews/train.csv", GOOD_CSV.encode())
    with pytest.raises(DataValidationError, match="missing column\\(s\\) 'height', 'soil', 'note', 'species'"):
        invoke(stack, "validate_data", load_event("validate_data", "uploaded"))


# Issue 19: the trusted evaluation set ------------------------------------------------------------------------------


def test_the_first_models_hold_out_seeds_the_trusted_set_and_the_next_job_gets_it_as_a_channel(stack: Stack) -> None:
    stack.sagemaker.holdout_csv = GOOD_CSV.encode()
    live_champion(stack, 0.88)

    trusted = registry(stack).get_trusted_set("reviews")
    assert trusted is not None
    assert (trusted.version, trusted.rows, trusted.source) == (1, 40, f"the hold-out of v1 (run {trusted_run()})")
    key = trusted.uri.split("/", 3)[3]
    assert stack.s3.get_object(Bucket=stack.env["ARTIFACT_BUCKET"], Key=key)["Body"].read() == GOOD_CSV.encode()

    state = invoke(stack, "start_training", second_run(stack))
    job = stack.sagemaker.jobs[state["training"]["job_name"]]
    assert job.spec.trusted_uri == trusted.uri
    assert state["training"]["trusted_set_version"] == 1


def test_a_later_upload_never_replaces_the_trusted_set(stack: Stack) -> None:
    stack.sagemaker.holdout_csv = GOOD_CSV.encode()
    live_champion(stack, 0.88)
    stack.sagemaker.holdout_csv = b"review_text,sentiment\npoisoned,1\n"

    challenger_verdict(stack, 0.92)

    trusted = registry(stack).get_trusted_set("reviews")
    assert trusted is not None
    assert trusted.version == 1


def test_a_label_shift_goes_to_a_person_in_auto_mode_and_is_not_rejected(stack: Stack) -> None:
    stack.sagemaker.holdout_csv = GOOD_CSV.encode()
    live_champion(stack, 0.88)
    # On the upload's rows the champion's f1 fell to 0.5 (fake: 0.88 - 0.38); on the trusted rows it keeps 0.88.
    stack.sagemaker.trusted_report = {
        "fingerprint": "t" * 64,
        "rows": 40,
        "metrics": {"f1": 0.86},
        "comparison": {
            "champion_artifact_sha256": "",
            "rows": 40,
            "fingerprint": "t" * 64,
            "champion_metrics": {"f1": 0.88},
            "challenger_metrics": {"f1": 0.78},
            "differences": {  # flipped-like: the challenger is surely worse on the trusted rows
                "f1": {"delta": -0.1, "low": -0.15, "high": -0.05, "champion_low": 0.8, "champion_high": 0.95}
            },
            "confidence": 0.95,
        },
    }
    stack.sagemaker.training_results = [evaluation(0.92)]
    state = invoke(stack, "check_training", invoke(stack, "start_training", second_run(stack)))
    state = invoke(stack, "register_candidate", invoke(stack, "evaluate_model", state))
    comparison = registry(stack).get_model(2).comparison
    assert comparison is not None
    # The champion's own interval on the upload's rows, far below its trusted interval.
    shifted = comparison.differences["f1"].model_copy(update={"champion_low": 0.45, "champion_high": 0.55})
    registry(stack).update_model(
        2,
        comparison=comparison.model_copy(
            update={"differences": {**comparison.differences, "f1": shifted}, "champion_metrics": {"f1": 0.5}}
        ),
    )
    state["candidate"] = registry(stack).get_model(2).model_dump(mode="json")

    state = invoke(stack, "compare_models", state)

    verdict = state["verdict"]
    assert (verdict["promote"], verdict["requires_approval"]) == (False, True)
    assert verdict["decided_by"] == "label-shift f1"
    assert verdict["label_shift"].startswith("the new labels disagree with the live model")
    assert verdict["trusted_set_version"] == 1
    assert registry(stack).get_model(2).status is ModelStatus.STAGED  # waiting for a person, not REJECTED


def trusted_run() -> str:
    return str(load_event("start_training", "validated")["run"]["run_id"])


def test_every_version_has_figures_on_the_trusted_set_so_the_history_is_one_comparable_series(stack: Stack) -> None:
    from challenger_core import judging

    stack.sagemaker.holdout_csv = GOOD_CSV.encode()
    live_champion(stack, 0.80)  # v1: its hold-out seeded the set, so its own figures are its trusted-set figures
    stack.sagemaker.trusted_report = {"fingerprint": "t" * 64, "rows": 40, "metrics": {"f1": 0.86, "accuracy": 0.87}}
    challenger_verdict(stack, 0.92)  # v2: its own hold-out says 0.92; on the trusted rows it scores 0.86

    history = judging.judging("reviews", registry=registry(stack)).history

    assert [(p.version, p.trusted_set_version, p.on_trusted_set["f1"]) for p in history] == [(1, 1, 0.8), (2, 1, 0.86)]
    assert history[1].own_holdout["f1"] == 0.92  # labelled as its own hold-out, never mixed into the series


def test_an_upload_of_the_rows_a_version_was_trained_on_trains_nothing_and_names_the_version(stack: Stack) -> None:
    stack.sagemaker.polls_to_complete = 0
    first = load_event("start_training", "validated")
    first["manifest"]["content_fingerprint"] = "c" * 64
    invoke(stack, "register_candidate", invoke(stack, "evaluate_model", invoke(stack, "check_training",
           invoke(stack, "start_training", with_run(stack, first)))))  # fmt: skip
    stack.sagemaker.jobs.clear()
    again = second_run(stack)
    again["manifest"]["content_fingerprint"] = "c" * 64  # the same rows, in another order or spelling

    state = invoke(stack, "start_training", again)

    assert state["manifest"]["same_as_version"] == 1
    assert "training" not in state
    assert stack.sagemaker.jobs == {}  # no job, no version allocated
    invoke(stack, "record_outcome", {"outcome": "UNCHANGED", "training": state})
    run = registry(stack).get_run(again["run"]["run_id"])
    assert (run.status, run.outcome, run.same_as_version, run.version) == (RunStatus.SUCCEEDED, "UNCHANGED", 1, None)
    assert registry(stack).next_version() == 2
