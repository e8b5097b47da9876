"""The CLI's side of "who may do what": decisions go to /operator with an operator credential (the local token,
or a SigV4 signature on a stack), reads keep the API key, and a dataset name the trigger would refuse is refused
before anything is uploaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import responses

from challenger.cli import BearerToken, CliError, SigV4, Target, data_push, decide, rollback

API = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"


class Uploads:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def upload_file(self, source: str, bucket: str, key: str) -> None:
        self.keys.append(key)


def target(auth: Any = None) -> Target:
    return Target(API, "the-key", "data-bucket", Uploads(), operator_auth=auth or BearerToken("op-token"))


@responses.activate
def test_decisions_go_to_the_operator_door_with_the_operator_credential() -> None:
    responses.post(f"{API}/operator/runs/r1/approval", json={"version": 4, "decision": "APPROVED"})
    decide(target(), "r1", "approve", "ok")
    [call] = responses.calls
    assert call.request.headers["Authorization"] == "Bearer op-token"
    assert "x-api-key" not in call.request.headers
    assert call.request.headers["User-Agent"] == "challenger-cli/1.0"


@responses.activate
def test_reads_keep_the_api_key() -> None:
    responses.get(f"{API}/models", json=[])
    target().call("GET", "/models")
    [call] = responses.calls
    assert call.request.headers["x-api-key"] == "the-key"
    assert "Authorization" not in call.request.headers


@responses.activate
def test_on_a_stack_decisions_are_signed_with_sigv4_for_execute_api() -> None:
    responses.post(f"{API}/operator/rollback", json={"version": 1, "execution_arn": "arn:x"}, status=202)
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1")
    rollback(target(SigV4(session, "eu-west-1")), 1, wait=False)
    [call] = responses.calls
    authorization = call.request.headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert "X-Amz-Date" in call.request.headers


@responses.activate
def test_a_refused_decision_shows_the_apis_reason() -> None:
    responses.post(f"{API}/operator/rollback", json={"message": "v5 has never been live (STAGED)"}, status=409)
    with pytest.raises(CliError, match="HTTP 409: v5 has never been live"):
        rollback(target(), 5, wait=False)


@pytest.mark.parametrize("dataset", ["bad name", "../etc", "a/b", "", "x" * 41, "reviews\n", "-lead"])
def test_dataset_names_the_trigger_refuses_are_not_uploaded(tmp_path: Path, dataset: str) -> None:
    train = tmp_path / "train.csv"
    train.write_text("review_text,sentiment\nok,1\n")
    destination = target()
    with pytest.raises(CliError, match=r"dataset name|not a training drop"):
        data_push(destination, train, dataset, None)
    assert destination.s3.keys == []


@responses.activate
def test_rollback_follows_its_deployment_and_reports_why_it_failed() -> None:
    arn = "arn:aws:states:eu-west-1:1:execution:challenger-deployment:rollback-v1-20261201T190000Z"
    responses.post(f"{API}/operator/rollback", json={"version": 1, "execution_arn": arn}, status=202)
    responses.get(f"{API}/deployments/rollback-v1-20261201T190000Z", json={"execution_arn": arn, "status": "FAILED"})
    responses.get(f"{API}/models/1", json={"version": 1, "failure_reason": "refusing to deploy v1: its archive ..."})
    with pytest.raises(CliError, match="rollback to v1 failed: refusing to deploy v1"):
        rollback(target(), 1, timeout=5)


@responses.activate
def test_a_rollback_sends_its_reason() -> None:
    # Issue 22: the reason reaches the API, which records it in the audit log.
    responses.post(f"{API}/operator/rollback", json={"version": 1, "execution_arn": "arn:x"}, status=202)
    rollback(target(), 1, reason="v3 answers 502", wait=False)
    [call] = responses.calls
    assert json.loads(call.request.body or b"{}") == {"version": 1, "reason": "v3 answers 502"}
