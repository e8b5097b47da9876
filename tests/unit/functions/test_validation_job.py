"""ValidateData's Processing job (issue 24): a set of parts is pinned, validated by the job's own copy of the
validation code, and its result becomes the manifest (or the run's exact problems)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from challenger.local.template import LocalTemplate
from challenger_core.adapters.sagemaker import ProcessingSpec, ProcessingStatus
from challenger_core.errors import ConflictError, DataValidationError
from tests.support.events import load_event
from tests.support.lambda_context import context
from tests.support.recipes import RECIPES
from tests.support.stack import Stack

REVIEWS = (RECIPES / "sentiment" / "data" / "train_v1.csv").read_text().splitlines()


@dataclass
class ProcessingOnly:
    """SageMaker's Processing API over moto's S3: each input's S3Prefix copied under a local /opt/ml/processing,
    the entry point run (without site-packages: the image has no pydantic), the output uploaded."""

    s3: Any
    root: Path
    polls_to_complete: int = 1
    jobs: dict[str, ProcessingSpec] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    exit_codes: dict[str, int] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)

    def start_processing(self, spec: ProcessingSpec) -> None:
        if spec.job_name in self.jobs:
            raise ConflictError(f"processing job {spec.job_name} already exists")
        self.jobs[spec.job_name] = spec
        self.polls[spec.job_name] = 0

    def processing_status(self, job_name: str) -> ProcessingStatus:
        self.polls[job_name] += 1
        if self.polls[job_name] <= self.polls_to_complete:
            return ProcessingStatus("InProgress", None)
        if job_name not in self.exit_codes:
            self.exit_codes[job_name] = self._run(self.jobs[job_name])
        if self.exit_codes[job_name]:
            return ProcessingStatus("Failed", "AlgorithmError: see the job's logs", self.logs.get(job_name, "")[-300:])
        return ProcessingStatus("Completed", None)

    def stop_processing(self, job_name: str) -> None:
        self.stopped.append(job_name)

    def stop_training(self, job_name: str) -> None:
        raise AssertionError(f"no training job was started: {job_name}")

    def _local(self, path: str) -> Path:
        return self.root / path.removeprefix("/opt/ml/processing/")

    def _run(self, spec: ProcessingSpec) -> int:
        for item in spec.inputs:
            bucket, prefix = item.s3_uri.removeprefix("s3://").split("/", 1)
            for obj in self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
                target = self._local(item.local_path) / obj["Key"].removeprefix(prefix)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(self.s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        assert spec.entrypoint[:1] == ["python3"]
        command = [sys.executable, "-S", *spec.entrypoint[1:], *(str(self._local(a)) for a in spec.arguments)]
        env = {"PYTHONPATH": str(self._local(spec.environment["PYTHONPATH"]))}
        finished = subprocess.run(command, env=env, check=False, capture_output=True, text=True)
        self.logs[spec.job_name] = finished.stderr
        output = self._local(spec.output_path)
        bucket, prefix = spec.output_uri.removeprefix("s3://").split("/", 1)
        for path in output.rglob("*"):
            if path.is_file():
                self.s3.put_object(Bucket=bucket, Key=prefix + str(path.relative_to(output)), Body=path.read_bytes())
        return finished.returncode


@pytest.fixture
def processing(stack: Stack, tmp_path: Path) -> ProcessingOnly:
    fake = ProcessingOnly(stack.s3, tmp_path / "processing")
    stack.handler("validate_data").sagemaker = fake
    return fake


def set_event(stack: Stack, *, break_part: int | None = None) -> dict[str, Any]:
    """uploaded_set.json with its 8 parts uploaded (the sentiment recipe's 800 reviews), versions as S3 gave them."""
    event = load_event("validate_data", "uploaded_set")
    header, *rows = REVIEWS
    size = -(-len(rows) // 8)
    for index, part in enumerate(event["run"]["train_parts"]):
        chunk = rows[index * size : (index + 1) * size]
        if index == break_part:
            chunk[4] = chunk[4].rsplit(",", 1)[0] + ",positive"
        body = ("\n".join([header, *chunk]) + "\n").encode()
        response = stack.s3.put_object(Bucket=stack.data_bucket, Key=part["key"], Body=body)
        part.update(version_id=response["VersionId"], etag=response["ETag"].strip('"'), size=len(body))
    return event


def validate(stack: Stack, state: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = stack.handler("validate_data").lambda_handler(state, context("ValidateDataFunction"))
    return result


def test_a_set_is_validated_by_the_job_and_becomes_the_manifest(stack: Stack, processing: ProcessingOnly) -> None:
    event = set_event(stack)
    set_bytes = sum(part["size"] for part in event["run"]["train_parts"])
    state = validate(stack, event)
    assert "manifest" not in state
    job = state["validation"]
    assert job["snapshot_uri"] == f"s3://{stack.env['ARTIFACT_BUCKET']}/datasets/{state['run']['run_id']}/train/"
    state = validate(stack, state)  # InProgress
    assert state["validation"]["poll"]["attempts"] == 1
    assert "manifest" not in state
    state = validate(stack, state)  # Completed
    manifest = state["manifest"]
    assert manifest["train_rows"] == 800
    assert manifest["train_uri"] == job["snapshot_uri"]  # training reads the pinned copy
    assert sum(manifest["class_counts"].values()) == 800
    assert manifest["train_bytes"] == set_bytes  # StartTraining sizes the job by it (FastFile from 1 GiB)


def test_a_malformed_row_in_part_7_of_8_fails_the_run_naming_the_part_and_line(
    stack: Stack, processing: ProcessingOnly
) -> None:
    state = validate(stack, validate(stack, set_event(stack, break_part=6)))
    with pytest.raises(DataValidationError) as caught:
        validate(stack, state)
    assert "unknown labels 'positive' in column 'sentiment'" in str(caught.value)
    assert "at train/part-00006.csv line 6" in str(caught.value)


def test_the_job_reads_the_pinned_version_not_a_part_replaced_since(stack: Stack, processing: ProcessingOnly) -> None:
    event = set_event(stack)
    state = validate(stack, event)
    stack.put_data(event["run"]["train_parts"][3]["key"], b"review_text,sentiment\nbroken")
    state = validate(stack, validate(stack, state))
    assert state["manifest"]["train_rows"] == 800


def test_a_retried_start_reuses_the_job(stack: Stack, processing: ProcessingOnly) -> None:
    event = set_event(stack)
    first = validate(stack, event)
    second = validate(stack, event)
    assert first["validation"]["job_name"] == second["validation"]["job_name"]
    assert list(processing.jobs) == [first["validation"]["job_name"]]


def test_a_failed_job_fails_the_run_with_its_reason(stack: Stack, processing: ProcessingOnly) -> None:
    state = validate(stack, validate(stack, set_event(stack)))
    processing.exit_codes[state["validation"]["job_name"]] = 1
    processing.logs[state["validation"]["job_name"]] = "Traceback (most recent call last): MemoryError"
    with pytest.raises(DataValidationError, match=r"the validation job .* failed: Traceback .*MemoryError"):
        validate(stack, state)


def test_a_single_small_file_is_still_validated_in_the_function(stack: Stack, processing: ProcessingOnly) -> None:
    stack.put_data("incoming/reviews/train.csv", "\n".join(REVIEWS).encode())
    stack.put_data("incoming/reviews/test.csv", "\n".join(REVIEWS[:50]).encode())
    state = validate(stack, load_event("validate_data", "uploaded"))
    assert state["manifest"]["train_rows"] == 800
    assert processing.jobs == {}


def test_a_single_file_over_the_functions_limit_goes_to_the_job_unread(
    stack: Stack, processing: ProcessingOnly, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("challenger_core.validation.MAX_BYTES", 100)
    stack.put_data("incoming/reviews/train.csv", "\n".join([*REVIEWS[:30], "a review,7", *REVIEWS[30:]]).encode())
    event = load_event("validate_data", "uploaded")
    event["run"]["test_key"] = None
    state = validate(stack, event)
    assert list(processing.jobs) == [state["validation"]["job_name"]]
    with pytest.raises(
        DataValidationError,
        match=r"unknown labels '7' .* \(expected 0 for negative, 1 for positive; at train.csv line 31\)",
    ):
        validate(stack, validate(stack, state))


def test_the_job_role_reads_the_pinned_parts_and_code_and_writes_only_its_result() -> None:
    """The job cannot replace the parts training will read, its own code or its request (SageMakerExecutionRole)."""
    template = LocalTemplate()
    role = template.resolve(template.resources["SageMakerExecutionRole"]["Properties"]["Policies"])[0]
    policy = IAMPolicy(json.dumps(role["PolicyDocument"]))
    arn = template.get_att("ArtifactBucket", "Arn")

    def allowed(action: str, key: str) -> bool:
        return policy.is_action_permitted(action, f"{arn}/{key}") == PermissionResult.PERMITTED

    code, request = (
        f"validation/code/{'a' * 64}/challenger_core/validation.py",
        "validation/runs/r1/request/request.json",
    )
    for key in ("datasets/r1/train/part-00000.csv", code, request):
        assert allowed("s3:GetObject", key)
        assert not allowed("s3:PutObject", key)
    assert allowed("s3:PutObject", "validation/runs/r1/result/challenger-ab12-val-r1/result.json")


def test_a_run_that_fails_while_its_job_runs_stops_the_job(stack: Stack, processing: ProcessingOnly) -> None:
    """ValidationTimedOut → RecordFailure: nobody waits for the job any more, so it must not keep billing."""
    from challenger_core.models import Run, RunStatus, TriggerSource
    from challenger_core.registry import Registry

    state = validate(stack, set_event(stack))
    run = state["run"]
    Registry(stack.ddb, stack.env["MODELS_TABLE"]).put_run(
        Run(
            run_id=run["run_id"],
            status=RunStatus.RUNNING,
            dataset=run["dataset"],
            trigger=TriggerSource.UPLOAD,
            source_fingerprint=run["source_fingerprint"],
        )
    )
    state["error"] = {"Error": "PollingExhaustedError", "Cause": "the validation job did not finish"}
    module = stack.handler("record_outcome")
    module.sagemaker = processing
    module.lambda_handler({"outcome": "FAILED", "training": state}, context("RecordOutcomeFunction"))
    assert processing.stopped == [state["validation"]["job_name"]]
