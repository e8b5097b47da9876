"""Local Batch Transform: input split as SageMaker splits it, and a 100,000-row file scored like /predict."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from challenger.local.sagemaker import LocalSageMaker
from challenger.local.sagemaker.transform import _JobFailed, mini_batches
from challenger_core.adapters.batch_transform import BatchTransform, TransformSpec
from challenger_core.adapters.sagemaker import SageMaker
from tests.local.sagemaker.helpers import BUCKET, IMAGE, RECIPE, REGION, ROLE_ARN, Clients, clients_for, wait_until

pytestmark = pytest.mark.enable_socket

MB = 1024 * 1024


def batches(data: bytes, strategy: str = "MultiRecord", max_payload_mb: int = 1, split: str = "Line") -> list[bytes]:
    job = {"TransformInput": {"SplitType": split}, "BatchStrategy": strategy, "MaxPayloadInMB": max_payload_mb}
    return list(mini_batches(data, job))


def test_multi_record_mini_batches_hold_every_line_that_fits_in_max_payload() -> None:
    records = [f"review number {n} {'x' * (n % 97)}\n".encode() for n in range(40_000)]
    data = b"".join(records)
    sent = batches(data)
    assert b"".join(sent) == data  # in order, nothing lost or added
    assert all(len(batch) <= MB for batch in sent)
    # Full: the next record would not have fitted (SageMaker sends "the maximum number of records" per request).
    lengths = [batch.count(b"\n") for batch in sent]
    first_of_next = [sum(lengths[: i + 1]) for i in range(len(sent) - 1)]
    assert all(len(sent[i]) + len(records[first_of_next[i]]) > MB for i in range(len(sent) - 1))
    assert len(sent) == -(-len(data) // MB)
    assert max(lengths) > 1_000


def test_single_record_sends_one_line_per_request_and_none_skips_splitting() -> None:
    assert batches(b"a\nb\n\nc", strategy="SingleRecord") == [b"a\n", b"b\n", b"c"]
    assert batches(b"a\nb\n", split="None") == [b"a\nb\n"]
    assert batches(b"a\nb\n", max_payload_mb=0) == [b"a\nb\n"]  # 0: no limit (chunked encoding)


def test_a_quoted_field_with_a_line_break_is_cut_in_two_and_cr_is_no_boundary() -> None:
    """SplitType=Line splits "on a newline character boundary", inside CSV quotes too: what StartBatch refuses."""
    assert batches(b'"Great\nkettle"\n"Broke\rfast"\n', strategy="SingleRecord") == [
        b'"Great\n',
        b'kettle"\n',
        b'"Broke\rfast"\n',
    ]


def test_a_record_larger_than_max_payload_fails_the_job() -> None:
    with pytest.raises(_JobFailed, match=r"record 2 is 1,048,578 bytes, over MaxPayloadInMB=1"):
        batches(b"a\n" + b"x" * (MB + 1) + b"\n")


# A 100,000-row file through the product's own CreateTransformJob request ----------------------------------------


@pytest.fixture(scope="module")
def service(s3: Any, s3_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSageMaker]:
    instance = LocalSageMaker(
        state_dir=tmp_path_factory.mktemp("transform"), s3_endpoint_url=s3_url, region=REGION, health_timeout=60
    )
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def clients(service: LocalSageMaker, trained: dict[str, dict[str, Any]]) -> Clients:
    """Model A and a serverless endpoint serving it, created by the product's own adapter (its container Environment
    included), so the transform job and /predict's endpoint run the same model the way a deployment does."""
    result = clients_for(service)
    product = SageMaker(result.sm, result.runtime)
    product.create_model("model-a", IMAGE, trained["a"]["ModelArtifacts"]["S3ModelArtifacts"], ROLE_ARN)
    product.create_serverless_config("config-a", "model-a", memory_mb=2048, max_concurrency=5)
    result.sm.create_endpoint(EndpointName="ep-a", EndpointConfigName="config-a")
    described = wait_until(
        lambda: (d := result.sm.describe_endpoint(EndpointName="ep-a"))["EndpointStatus"] != "Creating" and d,
        timeout=120,
    )
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    return result


def reviews(rows: int) -> list[str]:
    """The recipe's bundled reviews, each made distinct, with commas, quotes and non-ASCII text among them."""
    bundled: list[str] = []
    for name in ("train_v2.csv", "test.csv"):
        with (RECIPE / "data" / name).open(encoding="utf-8", newline="") as file:
            bundled.extend(row["review_text"] for row in csv.DictReader(file))
    extra = ['She said "great", then "awful".', "Crème brûlée maker — très bien, 10/10 👍", "=1+1, works", "ok"]
    bundled.extend(extra)
    return [f"{bundled[n % len(bundled)]} (order {n})" for n in range(rows)]


def test_a_100000_row_file_scores_with_the_same_predictions_as_predict(
    s3: Any, clients: Clients, service: LocalSageMaker
) -> None:
    """Issue 16: the product's job (MultiRecord, MaxPayloadInMB=6, SplitType=Line, AssembleWith=Line) sends
    mini-batches of thousands of lines; the kit refused more than 1,000 records (413), so the job failed."""
    texts = reviews(100_000)
    body = io.StringIO()
    csv.writer(body, lineterminator="\n").writerows([text] for text in texts)  # as StartBatch stages it
    s3.put_object(Bucket=BUCKET, Key="batch-jobs/tj-100k/input/big.csv", Body=body.getvalue().encode())
    started = time.monotonic()
    BatchTransform(clients.sm).start(
        TransformSpec(
            job_name="tj-100k",
            model_name="model-a",
            input_uri=f"s3://{BUCKET}/batch-jobs/tj-100k/input/big.csv",
            output_uri=f"s3://{BUCKET}/batch-jobs/tj-100k/output/",
            instance_type="ml.m5.large",
            max_seconds=3600,
            tags={},
        )
    )
    described = wait_until(
        lambda: (
            (d := clients.sm.describe_transform_job(TransformJobName="tj-100k"))["TransformJobStatus"] != "InProgress"
            and d
        ),
        timeout=600,
    )
    elapsed = time.monotonic() - started
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    out = s3.get_object(Bucket=BUCKET, Key="batch-jobs/tj-100k/output/big.csv.out")["Body"].read().decode()
    lines = out.splitlines()
    scored = [p for line in lines for p in json.loads(line)["predictions"]]
    assert len(lines) > 1
    assert len(scored) == len(texts)
    # /predict: the API sends {"instances": [...]} of at most 1,000 records to the endpoint (serving.predict).
    live = []
    for start in range(0, len(texts), 1_000):
        answer = clients.runtime.invoke_endpoint(
            EndpointName="ep-a",
            Body=json.dumps({"instances": texts[start : start + 1_000]}).encode(),
            ContentType="application/json",
            Accept="application/json",
        )
        live.extend(json.loads(answer["Body"].read())["predictions"])
    assert scored == live
    print(f"100,000 rows: {len(lines)} mini-batches, transform job {elapsed:.1f} s")
