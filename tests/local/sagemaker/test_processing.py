"""Local SageMaker Processing jobs (issue 24): ValidateData's job in the framework image's environment, through
boto3 and the core's own adapter (the request challenger_core sends)."""

from __future__ import annotations

import json
from typing import Any

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from challenger.local.sagemaker import LocalSageMaker
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.adapters.storage import Storage
from challenger_core.settings import Settings
from challenger_core.validation_job import processing_spec, publish_code
from tests.local.sagemaker.helpers import BUCKET, IMAGE, REPO, ROLE_ARN, clients_for, wait_until
from tests.support.recipes import bundled

pytestmark = pytest.mark.enable_socket

PENGUINS = REPO / "recipes" / "penguins" / "data" / "train_v1.csv"  # Palmer penguins: 170 real rows


def stage(s3: Any, run: str, tmp_path: Any, *, break_row: int | None = None) -> tuple[str, str, str]:
    """Four Parquet parts of the penguins data (row groups of 20), the job's code and its request, in S3."""
    table = pa_csv.read_csv(PENGUINS)
    if break_row is not None:
        sexes = table.column("sex").to_pylist()
        sexes[break_row] = "unknown"
        table = table.set_column(table.schema.get_field_index("sex"), "sex", [sexes])
    snapshot, runs = f"datasets/{run}/train/", f"validation/runs/{run}/"
    parts = []
    for index in range(4):
        path = tmp_path / f"part-{index:05d}.parquet"
        pq.write_table(table.slice(index * 43, 43), path, row_group_size=20)
        s3.upload_file(str(path), BUCKET, snapshot + path.name)
        parts.append({"file": path.name, "name": f"train/part-{index}.snappy.parquet"})
    schema = bundled("penguins").data_schema.model_dump(mode="json")
    request = {"schema": schema, "source": "dataset 'penguins'", "role": "train", "parts": parts}
    s3.put_object(Bucket=BUCKET, Key=runs + "request/request.json", Body=json.dumps(request).encode())
    return publish_code(Storage(s3), BUCKET), runs, snapshot


def run_job(
    trainer: LocalSageMaker, s3: Any, run: str, tmp_path: Any, *, lose_part: bool = False, **kwargs: Any
) -> tuple[dict[str, Any], Any]:
    code, runs, snapshot = stage(s3, run, tmp_path, **kwargs)
    if lose_part:
        s3.delete_object(Bucket=BUCKET, Key=snapshot + "part-00003.parquet")
    settings = Settings.model_construct(
        training_image_uri=IMAGE,
        sagemaker_role_arn=ROLE_ARN,
        training_instance_type="ml.m5.large",
        max_training_seconds=300,
    )
    spec = processing_spec(f"val-{run}", settings, bucket=BUCKET, code=code, runs=runs, snapshot=snapshot, size=10**6)
    sm = clients_for(trainer).sm
    SageMaker(sm).start_processing(spec)
    job = wait_until(
        lambda: (
            (d := sm.describe_processing_job(ProcessingJobName=spec.job_name))["ProcessingJobStatus"]
            not in ("InProgress", "Stopping")
            and d
        ),
        timeout=300,
    )
    if job["ProcessingJobStatus"] != "Completed":
        return job, None
    result = s3.get_object(Bucket=BUCKET, Key=f"{runs}result/{spec.job_name}/result.json")["Body"].read()
    return job, json.loads(result)


def test_a_parquet_set_validates_in_a_processing_job_in_the_image(
    trainer: LocalSageMaker, s3: Any, tmp_path: Any
) -> None:
    job, result = run_job(trainer, s3, "parquet-good", tmp_path)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert result["valid"] is True
    assert result["rows"] == 170


def test_a_bad_row_in_a_parquet_part_is_named_with_its_row_group(
    trainer: LocalSageMaker, s3: Any, tmp_path: Any
) -> None:
    job, result = run_job(trainer, s3, "parquet-bad", tmp_path, break_row=43 * 2 + 25)
    assert job["ProcessingJobStatus"] == "Completed"  # invalid data is a result, not a failed job
    assert result["valid"] is False
    assert any("at train/part-2.snappy.parquet row 26 (row group 1)" in p for p in result["problems"])


def test_a_crashing_job_fails_with_its_exit_message(trainer: LocalSageMaker, s3: Any, tmp_path: Any) -> None:
    job, result = run_job(trainer, s3, "parquet-lost", tmp_path, lose_part=True)
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: exit code 1")
    assert job["ExitMessage"].startswith("FileNotFoundError: ")  # /opt/ml/output/message, written by the job
    assert "part-00003.parquet" in job["ExitMessage"]
    assert result is None
