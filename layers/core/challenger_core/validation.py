"""Validation of a dropped dataset: report exactly what is wrong, all problems at once.

Pure stdlib (csv), so the ValidateData function stays small and fast to start.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from dataclasses import dataclass

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


def validate_csv(data: bytes, *, source: str, min_rows: int = MIN_ROWS) -> DatasetSummary:
    """Check a `review_text,sentiment` CSV; raise DataValidationError listing every problem found."""
    if len(data) > MAX_BYTES:
        raise DataValidationError([f"file is {len(data)} bytes, over the {MAX_BYTES} byte limit"], source=source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataValidationError([f"not UTF-8 text (byte {exc.start} is invalid)"], source=source) from exc
    if "\x00" in text:
        raise DataValidationError(["unreadable CSV: the file contains NUL bytes (binary data?)"], source=source)

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DataValidationError([f"unreadable CSV header: {exc}"], source=source) from exc
    if not header:
        raise DataValidationError(["file is empty: expected a header row 'review_text,sentiment'"], source=source)

    columns = [column.strip().lower() for column in header]
    missing = [column for column in (TEXT_COLUMN, LABEL_COLUMN) if column not in columns]
    if missing:
        raise DataValidationError(
            [f"missing column(s) {', '.join(repr(m) for m in missing)}; found {', '.join(repr(c) for c in columns)}"],
            source=source,
        )
    text_at, label_at = columns.index(TEXT_COLUMN), columns.index(LABEL_COLUMN)

    problems: list[str] = []
    counts: Counter[str] = Counter()
    bad_labels: Counter[str] = Counter()
    bad_label_lines: list[int] = []
    empty_text_lines: list[int] = []
    short_lines: list[int] = []
    rows = 0
    try:
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            line = reader.line_num
            rows += 1
            if len(row) <= max(text_at, label_at):
                short_lines.append(line)
                continue
            label = row[label_at].strip()
            if label not in LABELS:
                bad_labels[label] += 1
                bad_label_lines.append(line)
            else:
                counts[label] += 1
            if not row[text_at].strip():
                empty_text_lines.append(line)
    except csv.Error as exc:
        raise DataValidationError([f"unreadable CSV at line {reader.line_num}: {exc}"], source=source) from exc

    if short_lines:
        problems.append(f"{len(short_lines)} row(s) have too few columns (lines {_lines(short_lines)})")
    if bad_labels:
        shown = ", ".join(repr(label) for label, _ in bad_labels.most_common(MAX_REPORTED_ROWS))
        problems.append(
            f"{sum(bad_labels.values())} row(s) have unknown labels {shown} in column '{LABEL_COLUMN}' "
            f"(expected 1 for positive, 0 for negative; lines {_lines(bad_label_lines)})"
        )
    if empty_text_lines:
        problems.append(f"{len(empty_text_lines)} row(s) have an empty review_text (lines {_lines(empty_text_lines)})")
    if rows < min_rows:
        problems.append(f"too few rows: {rows} data row(s), at least {min_rows} required")
    present = [label for label in LABELS if counts[label] > 0]
    if rows and len(present) == 1 and not bad_labels:
        only = LABELS[present[0]]
        problems.append(f"only one class present: every row is {only} ({present[0]}); both 0 and 1 are required")
    elif len(present) == 2:
        scarce = [LABELS[label] for label in LABELS if counts[label] < MIN_PER_CLASS]
        if scarce:
            problems.append(f"too few {', '.join(scarce)} examples: at least {MIN_PER_CLASS} per class required")
    if problems:
        raise DataValidationError(problems, source=source)
    return DatasetSummary(
        rows=rows,
        class_counts={LABELS[label]: counts[label] for label in LABELS},
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _lines(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:MAX_REPORTED_ROWS])
    return shown + (", …" if len(lines) > MAX_REPORTED_ROWS else "")
