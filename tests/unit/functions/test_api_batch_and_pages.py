"""Issue 22: GET /batch lists what BatchPipeline recorded, POST /batch scores a file from the dashboard, and the
lists page with `limit` and an opaque cursor (a cursor the list did not give out is a 400 with the reason)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from challenger_core.models import (
    AuditAction,
    AuditEntry,
    BatchJobRecord,
    BatchStatus,
    ModelStatus,
    Run,
    RunStatus,
    TriggerSource,
)
from challenger_core.registry import encode_cursor
from tests.support.events import load_event
from tests.support.lambda_context import context
from tests.support.stack import Stack
from tests.unit.functions.api_support import put_model, registry_of

T0 = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)


def raw(stack: Stack, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = stack.handler("api").lambda_handler(event, context("ApiFunction"))
    return response


def header(response: dict[str, Any], name: str) -> str | None:
    values = response["multiValueHeaders"].get(name)
    return values[0] if values else None


def listing(stack: Stack, path: str, query: dict[str, str] | None = None, *, case: str = "models") -> dict[str, Any]:
    event = load_event("api", case)
    event["path"] = event["resource"] = path
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    return raw(stack, event)


def all_pages(stack: Stack, path: str, limit: int) -> list[list[Any]]:
    pages: list[list[Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        response = listing(stack, path, query)
        assert response["statusCode"] == 200, response["body"]
        pages.append(json.loads(response["body"]))
        cursor = header(response, "X-Next-Cursor")
        if not cursor:
            return pages


def record(n: int, status: BatchStatus = BatchStatus.SUCCEEDED, **fields: Any) -> BatchJobRecord:
    at = T0 + timedelta(minutes=n)
    return BatchJobRecord(
        batch_id=f"{at:%Y%m%dT%H%M%SZ}-{n:010x}",
        name=f"file{n}",
        input_uri=f"s3://data/batch/file{n}.csv",
        status=status,
        received_at=at,
        **fields,
    )


def test_models_page_by_limit_and_cursor_newest_first(stack: Stack) -> None:
    for version in range(1, 8):
        put_model(stack, version, ModelStatus.REJECTED)
    pages = all_pages(stack, "/models", 3)
    assert [[m["version"] for m in page] for page in pages] == [[7, 6, 5], [4, 3, 2], [1]]
    # Without a limit: the first page as before (up to 100), no cursor.
    whole = listing(stack, "/models")
    assert ([m["version"] for m in json.loads(whole["body"])], header(whole, "X-Next-Cursor")) == (
        [7, 6, 5, 4, 3, 2, 1],
        None,
    )


def test_runs_page_by_limit_and_cursor(stack: Stack) -> None:
    for version in range(1, 6):
        put_model(stack, version, ModelStatus.REJECTED)
        registry_of(stack).put_run(
            Run(
                run_id=f"20261123T10{version:02d}00Z-r{version}",
                status=RunStatus.SUCCEEDED,
                dataset="reviews",
                trigger=TriggerSource.UPLOAD,
                source_fingerprint="f",
            )
        )
    pages = all_pages(stack, "/runs", 2)
    assert [[r["run_id"][-2:] for r in page] for page in pages] == [["r5", "r4"], ["r3", "r2"], ["r1"]]


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        ("not base64!", "not a cursor this list gave out"),
        (encode_cursor("RUN", "20261123T100100Z-r1"), "belongs to another list"),
        (encode_cursor("MODEL", "V#1 OR 1=1"), "not a cursor this list gave out"),
        ("QUJD", "belongs to another list"),  # base64 of "ABC"
        ("A" * 300, "not a cursor this list gave out"),
    ],
)
def test_a_cursor_the_list_did_not_give_out_is_a_400_with_the_reason(stack: Stack, cursor: str, reason: str) -> None:
    put_model(stack, 1, ModelStatus.LIVE)
    response = listing(stack, "/models", {"cursor": cursor})
    assert response["statusCode"] == 400
    assert reason in json.loads(response["body"])["message"]


def test_a_304_keeps_the_pages_next_cursor(stack: Stack) -> None:
    for version in range(1, 4):
        put_model(stack, version, ModelStatus.REJECTED)
    first = listing(stack, "/models", {"limit": "2"})
    tag, cursor = header(first, "ETag"), header(first, "X-Next-Cursor")
    assert tag
    assert cursor
    event = load_event("api", "models")
    event["queryStringParameters"] = {"limit": "2"}
    event["multiValueQueryStringParameters"] = {"limit": ["2"]}
    event["headers"]["If-None-Match"] = tag
    event["multiValueHeaders"]["If-None-Match"] = [tag]
    again = raw(stack, event)
    assert (again["statusCode"], header(again, "X-Next-Cursor")) == (304, cursor)


def test_audit_pages_with_an_opaque_cursor_and_still_takes_the_old_after(stack: Stack) -> None:
    registry = registry_of(stack)
    for n in range(5):
        entry = AuditEntry(
            audit_id=f"{n:032x}", at=T0 + timedelta(seconds=n), action=AuditAction.RETRAIN, actor="a", via="operator"
        )
        registry.put_audit(entry)
    event = load_event("api", "operator_audit")
    event["queryStringParameters"] = {"limit": "2"}
    first = json.loads(raw(stack, event)["body"])
    assert [e["audit_id"][-1] for e in first["entries"]] == ["4", "3"]
    event["queryStringParameters"] = {"limit": "2", "cursor": first["next"]}
    second = json.loads(raw(stack, event)["body"])
    assert [e["audit_id"][-1] for e in second["entries"]] == ["2", "1"]
    event["queryStringParameters"] = {"limit": "2", "after": "2026-11-23T10:15:03.000000Z#" + f"{3:032x}"}
    assert json.loads(raw(stack, event)["body"])["entries"] == second["entries"]
    event["queryStringParameters"] = {"cursor": encode_cursor("MODEL", "V#000001")}
    assert raw(stack, event)["statusCode"] == 400


def test_batch_list_pages_newest_upload_first_through_every_door(stack: Stack) -> None:
    registry = registry_of(stack)
    for n in range(1, 6):
        registry.put_batch(record(n, rows=10 * n, version=3, output_uri=f"s3://data/batch-results/file{n}.out.csv"))
    registry.put_batch(
        record(6, BatchStatus.FAILED, failure_reason="batch file batch/file6.csv: data row(s) 2, 9 have a line break")
    )
    pages = all_pages(stack, "/batch", 4)
    assert [[b["name"] for b in page] for page in pages] == [["file6", "file5", "file4", "file3"], ["file2", "file1"]]
    newest = pages[0][0]
    assert (newest["status"], newest["rows"], newest["failure_reason"][-27:]) == (
        "FAILED",
        None,
        "data row(s) 2, 9 have a line break"[-27:],
    )
    assert (pages[0][1]["rows"], pages[0][1]["version"]) == (50, 3)
    response = raw(stack, load_event("api", "batch_list"))
    assert (response["statusCode"], header(response, "ETag") is not None) == (200, True)


def batch_event(case: str, path: str, batch_id: str) -> dict[str, Any]:
    event = load_event("api", case)
    event["path"] = path
    event["pathParameters"] = {"batch_id": batch_id}
    return event


def test_one_batch_and_its_scored_file_for_operators(stack: Stack) -> None:
    key = "batch-results/reviews.out.csv"
    stack.s3.put_object(Bucket=stack.data_bucket, Key=key, Body=b"id,label,model_version\n1,1,3\n")
    batch = record(0, rows=1, version=3, output_uri=f"s3://{stack.data_bucket}/{key}")
    registry_of(stack).put_batch(batch)
    answer = raw(stack, batch_event("batch_list", f"/batch/{batch.batch_id}", batch.batch_id))
    assert (answer["statusCode"], json.loads(answer["body"])["rows"]) == (200, 1)
    result = raw(stack, batch_event("operator_batch", f"/operator/batch/{batch.batch_id}/result", batch.batch_id))
    assert (result["statusCode"], result["body"]) == (200, "id,label,model_version\n1,1,3\n")
    assert header(result, "Content-Type") == "text/csv; charset=utf-8"
    assert header(result, "Content-Disposition") == 'attachment; filename="file0.out.csv"'
    # Through the API key's door: the record, not the scored data.
    keyed = raw(stack, batch_event("batch_list", f"/batch/{batch.batch_id}/result", batch.batch_id))
    assert keyed["statusCode"] == 403
    unknown = "20261123T101500Z-ffffffffff"
    assert raw(stack, batch_event("operator_batch", f"/operator/batch/{unknown}", unknown))["statusCode"] == 404


def test_a_batch_without_a_scored_file_or_with_a_large_one_says_where_it_stands(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = registry_of(stack)
    failed = record(1, BatchStatus.FAILED, failure_reason="bad rows")
    registry.put_batch(failed)
    response = raw(stack, batch_event("operator_batch", f"/operator/batch/{failed.batch_id}/result", failed.batch_id))
    assert response["statusCode"] == 409
    assert "it is failed" in json.loads(response["body"])["message"]
    key = "batch-results/big.out.csv"
    stack.s3.put_object(Bucket=stack.data_bucket, Key=key, Body=b"x" * 2048)
    big = record(2, rows=1, output_uri=f"s3://{stack.data_bucket}/{key}")
    registry.put_batch(big)
    monkeypatch.setattr(stack.handler("api").batch, "MAX_RESULT_BYTES", 1024)
    response = raw(stack, batch_event("operator_batch", f"/operator/batch/{big.batch_id}/result", big.batch_id))
    assert response["statusCode"] == 413
    assert f"s3://{stack.data_bucket}/{key}" in json.loads(response["body"])["message"]


def test_a_file_scored_from_the_dashboard_lands_where_a_drop_starts_batch_pipeline(stack: Stack) -> None:
    response = raw(stack, load_event("api", "operator_score_file"))
    assert response["statusCode"] == 202
    assert json.loads(response["body"])["input_uri"] == f"s3://{stack.data_bucket}/batch/reviews.csv"
    stored = stack.s3.get_object(Bucket=stack.data_bucket, Key="batch/reviews.csv")
    assert stored["Body"].read().decode() == "id,review_text\n1,Great kettle\n2,Broke in a day\n"
    assert stored["ContentType"] == "text/csv"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"name": "../escape"}, 422),
        ({"name": "a" * 61}, 422),
        ({"csv": ""}, 422),
    ],
)
def test_a_bad_upload_is_refused_before_s3(stack: Stack, change: dict[str, str], status: int) -> None:
    event = load_event("api", "operator_score_file")
    event["body"] = json.dumps({**json.loads(event["body"]), **change})
    assert raw(stack, event)["statusCode"] == status
    assert "Contents" not in stack.s3.list_objects_v2(Bucket=stack.data_bucket, Prefix="batch/")


def test_scoring_a_file_needs_an_operator(stack: Stack) -> None:
    event = load_event("api", "operator_score_file")
    keyed = load_event("api", "batch_list")
    event["path"] = event["resource"] = "/batch"
    event["requestContext"] = keyed["requestContext"] | {"httpMethod": "POST"}
    event["headers"]["x-api-key"] = "local-dev-key"
    assert raw(stack, event)["statusCode"] == 403
