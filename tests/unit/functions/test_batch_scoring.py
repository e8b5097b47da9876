"""BatchScoringFunction, step by step, against moto with a fake transform job that really writes its output."""

from __future__ import annotations

import csv
import fnmatch
import io
import json
from typing import Any

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from challenger.local.template import LocalTemplate
from challenger_core.adapters.batch_transform import TransformSpec, TransformStatus
from challenger_core.adapters.storage import split_s3_uri
from challenger_core.batch import BatchScoringError
from challenger_core.errors import DataValidationError, NotFoundError
from challenger_core.models import NotificationKind
from challenger_core.registry import Registry
from tests.support.emails import email_of, sent
from tests.support.events import load_event
from tests.support.fake_sagemaker import fake_predict
from tests.support.lambda_context import context
from tests.support.stack import Stack
from tests.unit.functions.api_support import live_model

TEMPLATE = LocalTemplate()
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


def upload(stack: Stack, body: str = BATCH) -> dict[str, Any]:
    """Put a batch file into the (versioned) data bucket; the event S3 sends for it, with its version-id."""
    version = stack.s3.put_object(Bucket=stack.data_bucket, Key="batch/reviews.csv", Body=body.encode())["VersionId"]
    event = load_event("batch_scoring", "upload")
    event["detail"]["object"]["version-id"] = version
    return event


def start(stack: Stack, body: str = BATCH) -> dict[str, Any]:
    return step(stack, {"step": "start", "event": upload(stack, body)})


def result_rows(stack: Stack) -> list[dict[str, str]]:
    result = stack.s3.get_object(Bucket=stack.data_bucket, Key="batch-results/reviews.out.csv")["Body"].read()
    return list(csv.DictReader(io.StringIO(result.decode())))


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


def test_every_read_of_a_batch_file_uses_the_version_its_event_names(stack: Stack, transform: FakeTransform) -> None:
    """#81: the file replaced before StartBatch read it, and again before FinishBatch joined the results to it."""
    live_model(stack)
    event = upload(stack)
    stack.put_data("batch/reviews.csv", b"id,review_text\nX,Replaced before the job started\n")
    state = step(stack, {"step": "start", "event": event})
    [spec] = transform.jobs.values()
    bucket, key = split_s3_uri(spec.input_uri)
    assert stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"Great kettle\nBroke in a day\nWorks fine\n"
    stack.put_data("batch/reviews.csv", b"id,review_text\nA,Replaced mid-job\nB,x\nC,y\n")
    step(stack, {"step": "finish", "state": state})
    assert [(r["id"], r["review_text"]) for r in result_rows(stack)] == [
        ("1", "Great kettle"),
        ("2", "Broke in a day"),
        ("3", "Works fine"),
    ]


def test_an_event_without_a_version_pins_the_version_read_first(stack: Stack, transform: FakeTransform) -> None:
    live_model(stack)
    version = stack.s3.put_object(Bucket=stack.data_bucket, Key="batch/reviews.csv", Body=BATCH.encode())["VersionId"]
    event = load_event("batch_scoring", "upload")
    del event["detail"]["object"]["version-id"]  # S3 sends none for an unversioned bucket
    state = step(stack, {"step": "start", "event": event})
    assert state["request"]["version_id"] == version


def test_formula_cells_of_a_batch_file_are_neutralised_in_its_results(stack: Stack, transform: FakeTransform) -> None:
    """#78 (OWASP CSV injection): cells starting with = + - @ tab or CR get a leading quote; numbers stay numbers."""
    live_model(stack)
    body = (
        'id,review_text,"=HYPERLINK(""http://x"")"\n'
        "=cmd|' /C calc'!A0,Great kettle,-1.5\n"
        "@SUM(1+1),Broke in a day,+cmd|' /C calc'!A0\n"
        '"\t=1+1",-Works fine,-2\n'
    )
    state = start(stack, body)
    step(stack, {"step": "finish", "state": step(stack, {"step": "check", "state": state})})
    result = stack.s3.get_object(Bucket=stack.data_bucket, Key="batch-results/reviews.out.csv")["Body"].read()
    rows = list(csv.reader(io.StringIO(result.decode())))
    assert rows[0][:3] == ["id", "review_text", '\'=HYPERLINK("http://x")']
    assert [row[:3] for row in rows[1:]] == [
        ["'=cmd|' /C calc'!A0", "Great kettle", "-1.5"],
        ["'@SUM(1+1)", "Broke in a day", "'+cmd|' /C calc'!A0"],
        ["'\t=1+1", "'-Works fine", "-2"],
    ]


def test_a_feature_cell_with_a_line_break_is_refused_before_any_job(stack: Stack, transform: FakeTransform) -> None:
    """SplitType=Line cuts records at every line break, quoted or not: such a row would reach the model in two
    pieces (or make a mini-batch unreadable), so the file is refused with the rows to fix."""
    live_model(stack)
    body = 'id,review_text\n1,"Great\nkettle"\n2,Fine\n3,"Broke\r\nin a day"\n'
    with pytest.raises(DataValidationError, match=r"2 row\(s\) have a line break .*data row\(s\) 1, 3\)"):
        start(stack, body)
    assert transform.jobs == {}


def test_a_line_break_outside_the_features_is_kept(stack: Stack, transform: FakeTransform) -> None:
    live_model(stack)
    body = 'id,review_text\n"1\nfirst",Great kettle\n2,Fine\n'
    state = start(stack, body)
    step(stack, {"step": "finish", "state": step(stack, {"step": "check", "state": state})})
    assert [r["id"] for r in result_rows(stack)] == ["1\nfirst", "2"]


SERVING_ROLE = TEMPLATE.resolve(TEMPLATE.resources["SageMakerServingRole"]["Properties"]["Policies"])[0]
ARTIFACT_BUCKET_ARN = TEMPLATE.get_att("ArtifactBucket", "Arn")


def serving_role_allows(action: str, key: str) -> bool:
    """Whether the models' execution role (SageMakerServingRole) allows an S3 action on the artifact bucket (its
    object `key`, or the bucket for an empty key), evaluated with moto's IAM policy evaluator (which does not
    evaluate StringLike conditions: those are checked by value)."""
    resource = f"{ARTIFACT_BUCKET_ARN}/{key}" if key else ARTIFACT_BUCKET_ARN
    policy = IAMPolicy(json.dumps(SERVING_ROLE["PolicyDocument"]))
    return policy.is_action_permitted(action, resource) == PermissionResult.PERMITTED


def test_the_transform_job_reads_its_input_and_writes_its_output_with_the_models_role(
    stack: Stack, transform: FakeTransform
) -> None:
    """Batch (a), issue 16: SageMaker reads a transform job's input and writes its output with the model's
    ExecutionRoleArn (SageMakerServingRole), which could read only training/*: AccessDenied on AWS."""
    live_model(stack)
    start(stack)
    [spec] = transform.jobs.values()
    input_key = split_s3_uri(spec.input_uri)[1]
    output_key = split_s3_uri(spec.output_uri)[1] + input_key.rsplit("/", 1)[1] + ".out"
    assert serving_role_allows("s3:GetObject", input_key)
    assert serving_role_allows("s3:PutObject", output_key)
    assert serving_role_allows("s3:ListBucket", "")
    # Exactly the batch prefixes: not the other way round, nothing else of the bucket.
    assert not serving_role_allows("s3:PutObject", input_key)
    assert not serving_role_allows("s3:GetObject", output_key)
    assert not serving_role_allows("s3:PutObject", "training/job-1/output/model.tar.gz")
    assert not serving_role_allows("s3:GetObject", "captures/x.jsonl")
    [listing] = [s for s in SERVING_ROLE["PolicyDocument"]["Statement"] if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "batch-jobs/*/input/*"}}
    assert fnmatch.fnmatchcase(input_key, "batch-jobs/*/input/*")


def batch_records(stack: Stack) -> list[dict[str, Any]]:
    """What GET /batch would list: the BATCH partition of the models table, newest first."""
    records, _ = Registry(stack.ddb, stack.env["MODELS_TABLE"]).batches_page(50)
    return [record.model_dump(mode="json") for record in records]


def test_each_step_records_the_batch_for_the_list(stack: Stack, transform: FakeTransform) -> None:
    """Issue 22: the dashboard's batch list reads what the steps recorded: running with its rows and version once
    the job started, then succeeded with the scored file; a retried step writes the same record."""
    live_model(stack)
    state = start(stack)
    [running] = batch_records(stack)
    assert running["batch_id"].startswith("20261123T101500Z-")
    assert (running["status"], running["rows"], running["version"], running["output_uri"]) == ("RUNNING", 3, 3, None)
    assert running["input_uri"] == f"s3://{stack.data_bucket}/batch/reviews.csv"
    assert running["input_version"] == state["request"]["version_id"]
    done = step(stack, {"step": "finish", "state": step(stack, {"step": "check", "state": state})})
    step(stack, {"step": "finish", "state": step(stack, {"step": "check", "state": state})})  # a retry
    [record] = batch_records(stack)
    assert (record["batch_id"], record["status"]) == (running["batch_id"], "SUCCEEDED")
    assert record["output_uri"] == done["result"]["output_uri"]
    assert record["job_name"] == state["job"]["job_name"]


def test_a_batch_that_fails_before_its_job_is_recorded_with_the_rows_to_fix(
    stack: Stack, transform: FakeTransform
) -> None:
    live_model(stack)
    body = 'id,review_text\n1,"Great\nkettle"\n2,Fine\n3,"Broke\r\nin a day"\n'
    event = upload(stack, body)
    with pytest.raises(DataValidationError) as failure:
        step(stack, {"step": "start", "event": event})
    assert batch_records(stack) == []  # nothing started
    event["error"] = {"Error": "DataValidationError", "Cause": json.dumps({"errorMessage": str(failure.value)})}
    step(stack, {"step": "fail", "document": event})
    [record] = batch_records(stack)
    assert (record["status"], record["name"], record["rows"], record["version"]) == ("FAILED", "reviews", None, None)
    assert "data row(s) 1, 3" in record["failure_reason"]


def test_a_batch_whose_job_failed_is_recorded_with_sagemakers_reason(stack: Stack, transform: FakeTransform) -> None:
    live_model(stack)
    state = start(stack)
    state["error"] = {"Error": "BatchScoringError", "Cause": json.dumps({"errorMessage": "ClientError: row 7 bad"})}
    step(stack, {"step": "fail", "document": state})
    [record] = batch_records(stack)
    assert (record["status"], record["rows"], record["version"]) == ("FAILED", 3, 3)
    assert record["failure_reason"] == "ClientError: row 7 bad"
