"""A dataset of many parts (issue 24): its marker starts one run for the whole set, a part starts none."""

from __future__ import annotations

import json
from typing import Any

import pytest

from challenger_core.errors import DataValidationError
from challenger_core.registry import Registry
from tests.support.events import load_event
from tests.support.lambda_context import context
from tests.support.recipes import RECIPES
from tests.support.stack import Stack

PENGUINS = (RECIPES / "penguins" / "data" / "train_v1.csv").read_text().splitlines()
SET = "incoming/penguins/train/"


@pytest.fixture
def pipeline(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    started: list[dict[str, Any]] = []
    module = stack.handler("trigger")
    monkeypatch.setattr(module.workflow, "start", lambda arn, name, payload: started.append(payload) or f"arn:{name}")
    return started


def put_parts(stack: Stack, count: int = 8, *, names: str = "part-{:05d}.csv") -> list[str]:
    header, *rows = PENGUINS
    size = -(-len(rows) // count)
    keys = []
    for index in range(count):
        body = "\n".join([header, *rows[index * size : (index + 1) * size]]) + "\n"
        keys.append(stack.put_data(SET + names.format(index), body.encode()))
    return keys


def marker_event(key: str = SET + "_SUCCESS") -> dict[str, Any]:
    event = load_event("trigger", "upload_set_marker")
    event["detail"]["object"]["key"] = key
    return event


def handle(stack: Stack, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = stack.handler("trigger").lambda_handler(event, context("TriggerFunction"))
    return result


def test_a_success_marker_starts_one_run_for_the_whole_set(stack: Stack, pipeline: list[dict[str, Any]]) -> None:
    keys = put_parts(stack)
    stack.put_data(SET + "_SUCCESS", b"")
    result = handle(stack, marker_event())
    assert result["started"] is True
    assert len(pipeline) == 1
    run = pipeline[0]["run"]
    assert run["train_key"] == SET
    assert [part["key"] for part in run["train_parts"]] == keys  # every part, by name
    versions = {v["Key"]: v["VersionId"] for v in stack.s3.list_object_versions(Bucket=stack.data_bucket)["Versions"]}
    assert all(part["version_id"] == versions[part["key"]] for part in run["train_parts"])  # pinned


def test_a_part_alone_is_not_a_training_drop(stack: Stack, pipeline: list[dict[str, Any]]) -> None:
    put_parts(stack)
    with pytest.raises(DataValidationError, match="not a training drop"):
        handle(stack, load_event("trigger", "upload_set_part"))
    assert pipeline == []


def test_the_same_content_re_dropped_is_unchanged(stack: Stack, pipeline: list[dict[str, Any]]) -> None:
    put_parts(stack)
    stack.put_data(SET + "_SUCCESS", b"")
    first = handle(stack, marker_event())
    put_parts(stack)  # the job ran again and wrote the same rows
    stack.put_data(SET + "_SUCCESS", b"2026-11-24T10:00:00Z")  # a marker's own bytes do not count
    again = marker_event()
    again["id"], again["time"] = "second-drop", "2026-11-24T10:00:00Z"
    second = handle(stack, again)
    assert second["started"] is False
    assert f"unchanged since run {first['run_id']}" in second["reason"]
    assert len(pipeline) == 1


def test_changed_content_in_one_part_starts_a_new_run(stack: Stack, pipeline: list[dict[str, Any]]) -> None:
    keys = put_parts(stack)
    stack.put_data(SET + "_SUCCESS", b"")
    handle(stack, marker_event())
    stack.put_data(keys[6], b"species,island\n")
    again = marker_event()
    again["id"], again["time"] = "second-drop", "2026-11-24T10:00:00Z"
    assert handle(stack, again)["started"] is True
    assert len(pipeline) == 2


def test_a_manifest_names_the_parts_and_their_order(stack: Stack, pipeline: list[dict[str, Any]]) -> None:
    keys = put_parts(stack, 3)
    stack.put_data(SET + "stray-notes.txt", b"not data")
    manifest = {"parts": ["part-00002.csv", "part-00000.csv"]}
    stack.put_data(SET + "_manifest.json", json.dumps(manifest).encode())
    handle(stack, marker_event(SET + "_manifest.json"))
    assert [part["key"] for part in pipeline[0]["run"]["train_parts"]] == [keys[2], keys[0]]


def test_a_manifest_naming_a_missing_part_is_refused(stack: Stack, pipeline: list[dict[str, Any]]) -> None:
    put_parts(stack, 2)
    stack.put_data(SET + "_manifest.json", json.dumps({"parts": ["part-00000.csv", "part-00009.csv"]}).encode())
    with pytest.raises(DataValidationError, match=r"1 part\(s\) of _manifest.json do not exist: 'part-00009.csv'"):
        handle(stack, marker_event(SET + "_manifest.json"))
    assert pipeline == []


def test_a_set_of_mixed_formats_is_refused(stack: Stack, pipeline: list[dict[str, Any]]) -> None:
    put_parts(stack, 2)
    stack.put_data(SET + "part-00002.parquet", b"PAR1")
    stack.put_data(SET + "_SUCCESS", b"")
    with pytest.raises(DataValidationError, match="must all be CSV or all Parquet"):
        handle(stack, marker_event())
    assert Registry(stack.ddb, stack.env["MODELS_TABLE"]).list_runs(limit=5) == []


def test_the_schedule_retrains_a_set_dropped_after_the_single_file(
    stack: Stack, pipeline: list[dict[str, Any]]
) -> None:
    stack.put_data("incoming/penguins/train.csv", "\n".join(PENGUINS).encode())
    put_parts(stack)
    stack.put_data(SET + "_SUCCESS", b"")
    assert handle(stack, load_event("trigger", "schedule"))["started"] is True
    assert pipeline[0]["run"]["train_key"] == SET


def test_the_largest_set_fits_in_a_step_functions_state_with_room_to_spare() -> None:
    """The parts travel in the run request through every state (256 KB each); Spark-length names at MAX_PARTS."""
    from challenger_core.models import DataPart, RunRequest, TriggerSource
    from challenger_core.triggering import MAX_PARTS

    parts = [
        DataPart(
            key=f"{SET}part-{i:05d}-3f0c1a5e-9b7d-4c2e-8a61-5d0f2b9e7c41-c000.snappy.parquet",
            version_id="Jq3LmZ8rT0yXv5WnB2kH7cD4fG9sA1eP",
            etag="9b2cf535f27731c974343645a3985328-12",
            size=5 * 1024**3,
        )
        for i in range(MAX_PARTS)
    ]
    request = RunRequest(
        run_id="20261123T101500Z-penguins-3f9a1c2e",
        dataset="penguins",
        trigger=TriggerSource.UPLOAD,
        data_bucket="challenger-data-123456789012",
        train_key=SET,
        source_fingerprint="3f9a1c2e" * 8,
        train_parts=parts,
    )
    assert len(request.model_dump_json()) < 128 * 1024
