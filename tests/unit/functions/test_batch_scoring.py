"""BatchScoringFunction, step by step, against moto with a fake transform job that really writes its output."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from challenger_core.adapters.batch_transform import TransformSpec, TransformStatus
from challenger_core.adapters.storage import split_s3_uri
from challenger_core.batch import BatchScoringError
from challenger_core.errors import DataValidationError, NotFoundError
from challenger_core.models import NotificationKind
from tests.support.emails import email_of, sent
from tests.support.events import load_event
from tests.support.fake_sagemaker import fake_predict
from tests.support.lambda_context import context
from tests.support.stack import Stack
from tests.unit.functions.api_support import live_model

BATCH = "id,review_text\n1,Great kettle\n2,Broke in a day\n3,Works fine\n"


class FakeTransform:
    """SageMaker Batch Transform as the batch pipeline uses it: MultiRecord mini-batches of 2 lines, one JSON
    document per mini-batch in `<input>.out`, in input order (SplitType=Line, AssembleWith=Line)."""

    def __init__(self, s3: Any, *, drop_one: bool = False) -> None:
        self.s3 = s3
        self.jobs: dict[str, TransformSpec] = {}
        self.stopped: list[str] = []
        self.drop_one = drop_one

    def start(self, spec: TransformSpec) -> None:
        self.jobs[spec.job_name] = spec
        bucket, key = split_s3_uri(spec.input_uri)
        rows = list(csv.reader(io.StringIO(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())))
        rows = rows[:-1] if self.drop_one else rows
        lines = [
            json.dumps({"predictions": [fake_predict({"review_text": r[0]}) for r in rows[i : i + 2]]})
            for i in range(0, len(rows), 2)
        ]
        out_bucket, prefix = split_s3_uri(spec.output_uri)
        self.s3.put_object(Bucket=out_bucket, Key=f"{prefix}{key.rsplit('/', 1)[1]}.out", Body="\n".join(lines))

    def status(self, job_name: str) -> TransformStatus:
        return TransformStatus(status="Completed", failure_reason=None)

    def stop(self, job_name: str) -> None:
        self.stopped.append(job_name)


@pytest.fixture
def transform(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> FakeTransform:
    fake = FakeTransform(stack.s3)
    monkeypatch.setattr(stack.handler("batch_scoring"), "_transform", lambda: fake)
    return fake


def step(stack: Stack, payload: dict[str, Any]) -> dict[str, Any]:
    return stack.handler("batch_scoring").lambda_handler(payload, context("BatchScoringFunction"))


def start(stack: Stack, body: str = BATCH) -> dict[str, Any]:
    stack.put_data("batch/reviews.csv", body.encode())
    return step(stack, {"step": "start", "event": load_event("batch_scoring", "upload")})


def test_a_batch_file_is_scored_by_the_champion_and_joined_to_its_rows(stack: Stack, transform: FakeTransform) -> None:
    live_model(stack)
    state = start(stack)
    [spec] = transform.jobs.values()
    assert spec.model_name == "challenger-v3"
    bucket, key = split_s3_uri(spec.input_uri)
    staged = stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert staged == "Great kettle\nBroke in a day\nWorks fine\n"  # features only, in the recipe's order
    assert (state["job"]["rows"], state["job"]["version"]) == (3, 3)

    state = step(stack, {"step": "check", "state": state})
    assert state["job"]["status"] == "Completed"
    state = step(stack, {"step": "finish", "state": state})
    assert state["result"]["output_uri"] == f"s3://{stack.data_bucket}/batch-results/reviews.out.csv"
    result = stack.s3.get_object(Bucket=stack.data_bucket, Key="batch-results/reviews.out.csv")["Body"].read()
    rows = list(csv.DictReader(io.StringIO(result.decode())))
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    for row in rows:
        expected = fake_predict({"review_text": row["review_text"]})
        assert (int(row["label"]), row["label_name"], row["model_version"]) == (
            expected["label"],
            expected["label_name"],
            "3",
        )
    email = email_of(sent(stack), NotificationKind.BATCH)
    assert "reviews" in email.subject
    assert "v3" in email.subject


def test_a_bad_batch_file_fails_with_its_rows_and_emails_the_cause(stack: Stack, transform: FakeTransform) -> None:
    live_model(stack)
    with pytest.raises(DataValidationError, match=r"missing column\(s\) 'review_text'") as failure:
        start(stack, "id,text\n1,hello\n")
    assert transform.jobs == {}
    event = load_event("batch_scoring", "upload")
    event["error"] = {"Error": "DataValidationError", "Cause": json.dumps({"errorMessage": str(failure.value)})}
    answer = step(stack, {"step": "fail", "document": event})
    assert "missing column(s) 'review_text'" in answer["cause"]
    email = email_of(sent(stack), NotificationKind.FAILED)
    assert "batch/reviews.csv" in email.subject
    assert "keeps serving" in email.body


def test_no_champion_no_batch(stack: Stack, transform: FakeTransform) -> None:
    with pytest.raises(NotFoundError, match="no model is live yet"):
        start(stack)


def test_a_transform_output_that_does_not_match_the_input_fails(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    live_model(stack)
    fake = FakeTransform(stack.s3, drop_one=True)
    monkeypatch.setattr(stack.handler("batch_scoring"), "_transform", lambda: fake)
    state = start(stack)
    with pytest.raises(BatchScoringError, match=r"returned 2 prediction\(s\) for 3 row\(s\)"):
        step(stack, {"step": "finish", "state": state})


def test_keys_outside_the_batch_layout_are_refused(stack: Stack, transform: FakeTransform) -> None:
    live_model(stack)
    event = load_event("batch_scoring", "upload")
    event["detail"]["object"]["key"] = "batch/nested/x.csv"
    with pytest.raises(DataValidationError, match="not a batch file"):
        step(stack, {"step": "start", "event": event})
