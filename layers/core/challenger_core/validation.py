"""Validation of a dropped dataset: report exactly what is wrong, all problems at once.

Pure stdlib (csv), so the ValidateData function stays small and fast to start.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field

from challenger_core.errors import DataValidationError

TEXT_COLUMN = "review_text"
LABEL_COLUMN = "sentiment"
LABELS = {"0": "negative", "1": "positive"}
MIN_ROWS = 20
MIN_PER_CLASS = 5
MAX_BYTES = 512 * 1024 * 1024
MAX_REPORTED_ROWS = 5


@dataclass(frozen=True)
class DatasetSummary:
    rows: int
    class_counts: dict[str, int]
    sha256: str


@dataclass
class _Scan:
    """What one pass over the rows found."""

    rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    bad_labels: Counter[str] = field(default_factory=Counter)
    bad_label_lines: list[int] = field(default_factory=list)
    empty_text_lines: list[int] = field(default_factory=list)
    short_lines: list[int] = field(default_factory=list)


def validate_csv(data: bytes, *, source: str, min_rows: int = MIN_ROWS) -> DatasetSummary:
    """Check a `review_text,sentiment` CSV; raise DataValidationError listing every problem found."""
    reader = csv.reader(io.StringIO(_text(data, source), newline=""), strict=True)
    text_at, label_at = _columns(reader, source)
    try:
        scan = _scan(reader, text_at, label_at)
    except csv.Error as exc:
        raise DataValidationError([f"unreadable CSV at line {reader.line_num}: {exc}"], source=source) from exc
    problems = _problems(scan, min_rows)
    if problems:
        raise DataValidationError(problems, source=source)
    return DatasetSummary(
        rows=scan.rows,
        class_counts={name: scan.counts[label] for label, name in LABELS.items()},
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _text(data: bytes, source: str) -> str:
    if len(data) > MAX_BYTES:
        raise DataValidationError([f"file is {len(data)} bytes, over the {MAX_BYTES} byte limit"], source=source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataValidationError([f"not UTF-8 text (byte {exc.start} is invalid)"], source=source) from exc
    if "\x00" in text:
        raise DataValidationError(["unreadable CSV: the file contains NUL bytes (binary data?)"], source=source)
    return text


def _columns(reader: csv.Reader, source: str) -> tuple[int, int]:  # type: ignore[name-defined]
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DataValidationError([f"unreadable CSV header: {exc}"], source=source) from exc
    if not header:
        raise DataValidationError(["file is empty: expected a header row 'review_text,sentiment'"], source=source)
    columns = [column.strip().lower() for column in header]
    missing = [column for column in (TEXT_COLUMN, LABEL_COLUMN) if column not in columns]
    if missing:
        found = ", ".join(repr(c) for c in columns)
        raise DataValidationError(
            [f"missing column(s) {', '.join(repr(m) for m in missing)}; found {found}"], source=source
        )
    return columns.index(TEXT_COLUMN), columns.index(LABEL_COLUMN)


def _scan(reader: csv.Reader, text_at: int, label_at: int) -> _Scan:  # type: ignore[name-defined]
    scan = _Scan()
    for row in reader:
        if not row or all(not cell.strip() for cell in row):
            continue
        scan.rows += 1
        if len(row) <= max(text_at, label_at):
            scan.short_lines.append(reader.line_num)
            continue
        label = row[label_at].strip()
        if label in LABELS:
            scan.counts[label] += 1
        else:
            scan.bad_labels[label] += 1
            scan.bad_label_lines.append(reader.line_num)
        if not row[text_at].strip():
            scan.empty_text_lines.append(reader.line_num)
    return scan


def _problems(scan: _Scan, min_rows: int) -> list[str]:
    problems: list[str] = []
    if scan.short_lines:
        problems.append(f"{len(scan.short_lines)} row(s) have too few columns (lines {_lines(scan.short_lines)})")
    if scan.bad_labels:
        shown = ", ".join(repr(label) for label, _ in scan.bad_labels.most_common(MAX_REPORTED_ROWS))
        problems.append(
            f"{sum(scan.bad_labels.values())} row(s) have unknown labels {shown} in column '{LABEL_COLUMN}' "
            f"(expected 1 for positive, 0 for negative; lines {_lines(scan.bad_label_lines)})"
        )
    if scan.empty_text_lines:
        problems.append(
            f"{len(scan.empty_text_lines)} row(s) have an empty review_text (lines {_lines(scan.empty_text_lines)})"
        )
    if scan.rows < min_rows:
        problems.append(f"too few rows: {scan.rows} data row(s), at least {min_rows} required")
    present = [label for label in LABELS if scan.counts[label] > 0]
    if scan.rows and len(present) == 1 and not scan.bad_labels:
        problems.append(
            f"only one class present: every row is {LABELS[present[0]]} ({present[0]}); both 0 and 1 are required"
        )
    elif len(present) == 2:
        scarce = [name for label, name in LABELS.items() if scan.counts[label] < MIN_PER_CLASS]
        if scarce:
            problems.append(f"too few {', '.join(scarce)} examples: at least {MIN_PER_CLASS} per class required")
    return problems


def _lines(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:MAX_REPORTED_ROWS])
    return shown + (", …" if len(lines) > MAX_REPORTED_ROWS else "")
