"""A dataset of many parts (issue 24): the same checks as one file, messages naming the part and its line or row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from challenger_core.errors import DataValidationError
from challenger_core.validation import JobSchema, run_job, validate_bytes, validate_parts
from tests.support.recipes import RECIPES, bundled

PENGUINS = RECIPES / "penguins" / "data" / "train_v1.csv"  # Palmer penguins, 170 real rows


def write_parts(directory: Path, count: int = 8, *, break_part: int | None = None) -> list[tuple[str, Path]]:
    """train_v1.csv cut into `count` CSV parts, each with its header (as Spark writes them)."""
    header, *rows = PENGUINS.read_text().splitlines()
    size = -(-len(rows) // count)
    parts = []
    for index in range(count):
        chunk = rows[index * size : (index + 1) * size]
        if index == break_part:
            chunk[2] = chunk[2].replace(",male,", ",unknown,").replace(",female,", ",unknown,")
        path = directory / f"part-{index:05d}.csv"
        path.write_text("\n".join([header, *chunk]) + "\n")
        parts.append((f"train/part-{index:05d}.csv", path))
    return parts


def test_a_malformed_row_in_part_7_of_8_is_reported_with_its_part_and_line(tmp_path: Path) -> None:
    parts = write_parts(tmp_path, break_part=6)
    with pytest.raises(DataValidationError) as caught:
        validate_parts(parts, bundled("penguins").data_schema, source="dataset 'penguins'")
    message = str(caught.value)
    assert "1 row(s) have an unknown 'sex' 'unknown'" in message
    assert "at train/part-00006.csv line 4" in message  # the header is line 1: the third data row is line 4


def test_the_parts_of_a_set_sum_to_the_rows_and_content_of_the_whole_file(tmp_path: Path) -> None:
    schema = bundled("penguins").data_schema
    whole = validate_bytes(PENGUINS.read_bytes(), schema, source="train.csv")
    summary = validate_parts(write_parts(tmp_path), schema, source="dataset 'penguins'")
    assert summary.rows == whole.rows == 170
    assert summary.class_counts == whole.class_counts
    assert summary.content == whole.content  # the same rows, whatever the cut
    assert summary.sha256 != whole.sha256  # eight headers: other bytes


def test_the_part_order_is_part_of_the_byte_fingerprint_not_of_the_content(tmp_path: Path) -> None:
    schema = bundled("penguins").data_schema
    parts = write_parts(tmp_path)
    forward = validate_parts(parts, schema, source="d")
    backward = validate_parts(parts[::-1], schema, source="d")
    assert forward.content == backward.content
    assert forward.sha256 != backward.sha256


def test_an_unreadable_part_is_named_and_the_others_are_still_checked(tmp_path: Path) -> None:
    parts = write_parts(tmp_path, break_part=1)
    parts[4][1].write_bytes(b"species,island\n\xff\xfe\n")
    with pytest.raises(DataValidationError) as caught:
        validate_parts(parts, bundled("penguins").data_schema, source="d")
    message = str(caught.value)
    assert "train/part-00004.csv: not UTF-8 text (byte 15, on or after line 1" in message
    assert "at train/part-00001.csv line 4" in message


def test_a_parquet_set_is_checked_by_row_group_with_the_same_rules(tmp_path: Path) -> None:
    pa_csv = pytest.importorskip("pyarrow.csv")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa_csv.read_csv(PENGUINS)
    schema = bundled("penguins").data_schema
    good = tmp_path / "part-0.parquet"
    pq.write_table(table, good, row_group_size=50)
    summary = validate_parts([("train/part-0.parquet", good)], schema, source="d")
    assert summary.rows == 170
    assert summary.class_counts == validate_bytes(PENGUINS.read_bytes(), schema, source="f").class_counts
    bad = tmp_path / "part-1.parquet"
    sexes = table.column("sex").to_pylist()
    sexes[120] = "unknown"
    pq.write_table(table.set_column(table.schema.get_field_index("sex"), "sex", [sexes]), bad, row_group_size=50)
    with pytest.raises(DataValidationError) as caught:
        validate_parts([("train/part-0.parquet", good), ("train/part-1.parquet", bad)], schema, source="d")
    assert "at train/part-1.parquet row 121 (row group 2)" in str(caught.value)


def test_the_job_program_reads_its_request_and_writes_the_result(tmp_path: Path) -> None:
    schema = bundled("penguins").data_schema
    (tmp_path / "data").mkdir()
    parts = write_parts(tmp_path / "data", break_part=6)
    request = {
        "schema": schema.model_dump(mode="json"),
        "source": "dataset 'penguins'",
        "parts": [{"file": path.name, "name": name} for name, path in parts],
    }
    (tmp_path / "request.json").write_text(json.dumps(request))
    assert run_job(tmp_path / "request.json", tmp_path / "data", tmp_path / "out") == 0
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["valid"] is False
    assert any("train/part-00006.csv line 4" in problem for problem in result["problems"])
    assert JobSchema.from_json(request["schema"]).columns == schema.columns
