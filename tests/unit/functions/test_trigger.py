from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser import ValidationError
from moto.s3 import models as moto_s3_models

from challenger_core.errors import DataValidationError, NotFoundError
from challenger_core.registry import Registry
from tests.support.events import load_event
from tests.support.lambda_context import context
from tests.support.stack import Stack

TRAIN = b"review_text,sentiment\ngood,1\nbad,0\n"


@pytest.fixture
def pipeline(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Capture StartExecution calls (the state machine itself is exercised in test_state_machines)."""
    started: list[dict[str, Any]] = []
    module = stack.handler("trigger")
    monkeypatch.setattr(module.workflow, "start", lambda arn, name, payload: started.append(payload) or f"arn:{name}")
    return started


def upload_event(stack: Stack, key: str = "incoming/reviews/train.csv") -> dict[str, Any]:
    stack.put_data(key, TRAIN)
    event = load_event("trigger", "upload")
    event["detail"]["object"]["key"] = key
    return event


def test_upload_starts_one_run_for_the_dataset(stack: Stack, pipeline: list[dict[str, Any]]) -> None:
    result = stack.handler("trigger").lambda_handler(upload_event(stack), context("TriggerFunction"))
    assert result["started"] is True
    assert len(pipeline) == 1
    run = pipeline[0]["run"]
    assert (run["dataset"], run["trigger"], run["train_key"]) == ("reviews", "upload", "incoming/reviews/train.csv")
    assert run["test_key"] is None
    recorded = Registry(stack.ddb, stack.env["MODELS_TABLE"]).get_run(result["run_id"])
    assert recorded.status.value == "RUNNING"
    assert recorded.execution_arn == f"arn:{result['run_id']}"


def test_duplicate_event_never_starts_a_second_run(stack: Stack, pipeline: list[dict[str, Any]]) -> None:
    handler = stack.handler("trigger").lambda_handler
    event = upload_event(stack)
    first = handler(event, context("TriggerFunction"))
    second = handler(event, context("TriggerFunction"))
    assert len(pipeline) == 1
    assert second == first


def test_test_file_next_to_train_is_used(stack: Stack, pipeline: list[dict[str, Any]]) -> None:
    stack.put_data("incoming/reviews/test.csv", TRAIN)
    stack.handler("trigger").lambda_handler(upload_event(stack), context("TriggerFunction"))
    assert pipeline[0]["run"]["test_key"] == "incoming/reviews/test.csv"


def test_object_outside_the_drop_layout_is_refused(stack: Stack, pipeline: list[dict[str, Any]]) -> None:
    with pytest.raises(DataValidationError, match="not a training drop"):
        stack.handler("trigger").lambda_handler(load_event("trigger", "upload_wrong_key"), context("TriggerFunction"))
    assert pipeline == []


def put_data_at(stack: Stack, key: str, at: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Upload with S3's LastModified set to `at` (moto stamps objects from its own `utcnow`, to the second)."""
    with monkeypatch.context() as clock:
        clock.setattr(moto_s3_models, "utcnow", lambda: at)
        stack.put_data(key, TRAIN)


def test_schedule_retrains_the_latest_dataset(
    stack: Stack, pipeline: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The latest drop is neither the first nor the last key S3 lists, nor the first or last one uploaded: only
    # LastModified picks it.
    put_data_at(stack, "incoming/reviews/train.csv", datetime(2026, 11, 23, 12), monkeypatch)
    put_data_at(stack, "incoming/archive/train.csv", datetime(2026, 11, 23, 10), monkeypatch)
    put_data_at(stack, "incoming/zoo/train.csv", datetime(2026, 11, 23, 11), monkeypatch)
    result = stack.handler("trigger").lambda_handler(load_event("trigger", "schedule"), context("TriggerFunction"))
    assert result["started"] is True
    run = pipeline[0]["run"]
    assert (run["trigger"], run["dataset"], run["train_key"]) == ("schedule", "reviews", "incoming/reviews/train.csv")


def test_schedule_skips_unchanged_data(stack: Stack, pipeline: list[dict[str, Any]]) -> None:
    handler = stack.handler("trigger").lambda_handler
    handler(upload_event(stack), context("TriggerFunction"))
    result = handler(load_event("trigger", "schedule"), context("TriggerFunction"))
    assert result["started"] is False
    assert "unchanged since run" in result["reason"]
    assert len(pipeline) == 1


def test_schedule_with_no_data_says_what_to_upload(stack: Stack, pipeline: list[dict[str, Any]]) -> None:
    with pytest.raises(NotFoundError, match=r"upload incoming/<dataset>/train\.csv"):
        stack.handler("trigger").lambda_handler(load_event("trigger", "schedule"), context("TriggerFunction"))


def test_malformed_event_is_rejected_by_the_parser(stack: Stack, pipeline: list[dict[str, Any]]) -> None:
    event = load_event("trigger", "upload")
    del event["detail"]["bucket"]
    with pytest.raises(ValidationError):
        stack.handler("trigger").lambda_handler(event, context("TriggerFunction"))


def test_re_pushing_the_files_a_version_was_trained_on_says_which_version(
    stack: Stack, pipeline: list[dict[str, Any]]
) -> None:
    from challenger_core.models import RunStatus

    handler = stack.handler("trigger").lambda_handler
    first = handler(upload_event(stack), context("TriggerFunction"))
    Registry(stack.ddb, stack.env["MODELS_TABLE"]).update_run(
        first["run_id"], status=RunStatus.SUCCEEDED.value, version=3
    )

    result = handler(load_event("trigger", "schedule"), context("TriggerFunction"))

    assert result["started"] is False
    assert "the same files v3 was trained on; nothing started" in result["reason"]
