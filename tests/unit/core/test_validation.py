from __future__ import annotations

import pytest

from challenger_core.errors import DataValidationError
from challenger_core.validation import validate_csv


def csv_of(rows: list[tuple[str, str]], header: str = "review_text,sentiment") -> bytes:
    return ("\n".join([header, *(f'"{text}",{label}' for text, label in rows)]) + "\n").encode()


GOOD = [(f"review number {i} was {'great' if i % 2 else 'bad'}", str(i % 2)) for i in range(40)]


def problems(data: bytes) -> str:
    with pytest.raises(DataValidationError) as caught:
        validate_csv(data, source="train file incoming/x/train.csv")
    return str(caught.value)


def test_valid_file_is_summarised() -> None:
    summary = validate_csv(csv_of(GOOD), source="train")
    assert summary.rows == 40
    assert summary.class_counts == {"negative": 20, "positive": 20}
    assert len(summary.sha256) == 64


def test_missing_column_is_named() -> None:
    message = problems(csv_of(GOOD, header="review_text,label"))
    assert "missing column(s) 'sentiment'; found 'review_text', 'label'" in message
    assert message.startswith("train file incoming/x/train.csv: ")


def test_unknown_labels_are_listed_with_lines() -> None:
    rows = [*GOOD, ("fine", "pos"), ("meh", "2")]
    message = problems(csv_of(rows))
    assert "2 row(s) have unknown labels" in message
    assert "'pos'" in message
    assert "'2'" in message
    assert "lines 42, 43" in message


def test_too_few_rows() -> None:
    assert "too few rows: 4 data row(s), at least 20 required" in problems(csv_of(GOOD[:4]))


def test_one_class_only() -> None:
    rows = [(f"lovely {i}", "1") for i in range(30)]
    assert "only one class present: every row is positive (1)" in problems(csv_of(rows))


def test_unreadable_csv_is_reported() -> None:
    assert "unreadable CSV" in problems(b'review_text,sentiment\n"unterminated,1\x00\n')


def test_binary_file_is_not_utf8() -> None:
    assert "not UTF-8 text" in problems(b"\xff\xfe\x00\x81garbage")


def test_empty_file() -> None:
    assert "file is empty" in problems(b"")


def test_several_problems_reported_together() -> None:
    rows = [("", "1"), ("x", "yes")]
    message = problems(csv_of(rows))
    assert "unknown labels" in message
    assert "empty review_text" in message
    assert "too few rows" in message
