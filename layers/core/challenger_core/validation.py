"""Validation of a dropped dataset against the recipe's schema: every problem at once, with line numbers.

The file is streamed: it is read in chunks, decoded incrementally and checked row by row, so the peak memory
does not depend on the file's size (only on the longest line, which is bounded). Every message is bounded too
(values and line lists are shortened), so a file full of huge labels still fails with a short, precise reason.
Pure stdlib (csv, codecs), so the ValidateData function stays small and fast to start.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from challenger_core.errors import DataValidationError
from challenger_core.recipe import DataSchema, Feature

# ValidateData streams, so its memory does not limit the file size (peak: a few MB plus the longest line); time
# does. The scan checks >= 12 MB/s of short rows on one core, ~4 MB/s at the function's 1024 MB (0.58 vCPU), so
# 512 MiB take ~130 s of the function's 300 s timeout (template.yaml, ValidateDataFunction).
MAX_BYTES = 512 * 1024 * 1024
# The longest line (one record) we hold in memory; a file without line breaks fails here, not in MemoryError.
MAX_LINE_CHARS = 1024 * 1024
# The widest header accepted. A recipe reads a few dozen columns; 10,000 leaves room for wide exports while a
# 100,001-column header (issue 18) is refused with its width instead of being checked column by column.
MAX_COLUMNS = 10_000
CHUNK_BYTES = 256 * 1024
MAX_REPORTED = 5  # line numbers / distinct values quoted per problem
MAX_VALUE_CHARS = 40  # a quoted value is cut to this
MAX_MESSAGE_CHARS = 2000  # one file's whole report
_CONTENT_MODULUS = 2**256


@dataclass(frozen=True)
class DatasetSummary:
    rows: int
    class_counts: dict[str, int]
    sha256: str
    size: int
    # The rows as a multiset, whatever their order (issue 19): the sum mod 2^256 of each row's SHA-256 over its
    # trimmed cells in the schema's column order. The same rows reordered give the same value; other bytes
    # (quoting, line endings, column order) do not change it either.
    content: str = ""


class BinaryStream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


def clip(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """`text` cut to `limit` characters (with an ellipsis), for quoting user data in a message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote(value: str) -> str:
    return repr(clip(value))


@dataclass
class _Finding:
    """One kind of problem: how many rows, the first few line numbers and distinct values."""

    count: int = 0
    lines: list[int] = field(default_factory=list)
    values: Counter[str] = field(default_factory=Counter)

    def add(self, line: int, value: str | None = None) -> None:
        self.count += 1
        if len(self.lines) < MAX_REPORTED:
            self.lines.append(line)
        if value is not None:
            shown = clip(value)
            # Bounded: beyond MAX_REPORTED distinct values only the ones already seen are counted.
            if shown in self.values or len(self.values) < MAX_REPORTED:
                self.values[shown] += 1

    def where(self) -> str:
        shown = ", ".join(str(n) for n in self.lines)
        return f"line{'s' if self.count > 1 else ''} {shown}{', …' if self.count > len(self.lines) else ''}"

    def examples(self) -> str:
        return ", ".join(repr(v) for v, _ in self.values.most_common(MAX_REPORTED))


class _Scan:
    """What one pass over the rows found."""

    def __init__(self, schema: DataSchema) -> None:
        self.schema = schema
        self.rows = 0
        self.content = 0
        self.counts: Counter[str] = Counter()
        self.findings: dict[tuple[str, str], _Finding] = {}

    def problem(self, kind: str, column: str, line: int, value: str | None = None) -> None:
        self.findings.setdefault((kind, column), _Finding()).add(line, value)


def validate_stream(
    stream: BinaryStream, schema: DataSchema, *, source: str, size: int, role: str = "train"
) -> DatasetSummary:
    """Check a CSV streamed from `stream` against `schema`; raise DataValidationError listing every problem.

    `role` is `train`, `test` (fewer rows, no class balance) or `batch` (a file to score: the features only;
    a target column, if present, is ignored).
    """
    if size > MAX_BYTES:
        raise DataValidationError(
            [f"file is {size:,} bytes, over the {MAX_BYTES:,} byte limit of ValidateData; split it"], source=source
        )
    digest = hashlib.sha256()
    lines = _lines(stream, digest, source)
    reader = csv.reader(lines, strict=True)
    columns = [f.name for f in schema.features] if role == "batch" else schema.columns
    at = _columns(reader, columns, source)
    scan = _Scan(schema)
    try:
        _scan(reader, scan, at)
    except csv.Error as exc:
        raise DataValidationError(
            [f"unreadable CSV at line {reader.line_num}: {clip(str(exc), 120)}"], source=source
        ) from exc
    problems = _problems(scan, role)
    if problems:
        raise DataValidationError(_bounded(problems), source=clip(source, 200))
    labels = schema.target.labels
    return DatasetSummary(
        rows=scan.rows,
        class_counts={name: scan.counts[label] for label, name in labels.items()},
        sha256=digest.hexdigest(),
        size=size,
        content=f"{scan.content:064x}",
    )


def validate_bytes(data: bytes, schema: DataSchema, *, source: str, role: str = "train") -> DatasetSummary:
    """`validate_stream` over bytes already in memory (the tests use it)."""
    return validate_stream(io.BytesIO(data), schema, source=source, size=len(data), role=role)


def _lines(stream: BinaryStream, digest: _Digest, source: str) -> Iterator[str]:
    """The stream as text lines (line endings kept, as csv wants them), hashing the raw bytes on the way."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    pending = ""
    offset = 0
    line_no = 1
    while True:
        chunk = stream.read(CHUNK_BYTES)
        digest.update(chunk)
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise DataValidationError(
                [f"not UTF-8 text (byte {offset + exc.start:,}, on or after line {line_no}, is invalid)"],
                source=source,
            ) from exc
        offset += len(chunk)
        if "\x00" in text:
            raise DataValidationError(["unreadable CSV: the file contains NUL bytes (binary data?)"], source=source)
        pending += text
        *complete, pending = pending.split("\n")
        for line in complete:
            line_no += 1
            yield line + "\n"
        if len(pending) > MAX_LINE_CHARS:
            raise DataValidationError(
                [f"line {line_no} is longer than {MAX_LINE_CHARS:,} characters (not a CSV with one record a line?)"],
                source=source,
            )
        if not chunk:
            if pending:
                yield pending
            return


def _columns(reader: csv.Reader, needed: list[str], source: str) -> dict[str, int]:  # type: ignore[name-defined]
    """Column name → index for every column the file must have."""
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DataValidationError([f"unreadable CSV header: {clip(str(exc), 120)}"], source=source) from exc
    expected = ",".join(needed)
    if not header:
        raise DataValidationError([f"file is empty: expected a header row {clip(expected, 200)!r}"], source=source)
    if len(header) > MAX_COLUMNS:
        raise DataValidationError(
            [f"header has {len(header):,} columns, over the {MAX_COLUMNS:,} column limit of ValidateData"],
            source=source,
        )
    columns = [column.strip().lower() for column in header]
    problems = []
    # One pass with a Counter: `columns.count(c)` per column was quadratic (92 s for 100,001 columns, issue 18).
    duplicates = sorted(c for c, n in Counter(columns).items() if c and n > 1)
    if duplicates:
        problems.append(f"column(s) named twice in the header: {', '.join(_quote(d) for d in duplicates[:5])}")
    present = set(columns)
    missing = [name for name in needed if name.lower() not in present]
    if missing:
        found = ", ".join(_quote(c) for c in columns[:10]) + (", …" if len(columns) > 10 else "")
        problems.append(f"missing column(s) {', '.join(repr(m) for m in missing)}; found {found}")
    if problems:
        raise DataValidationError(problems, source=source)
    first: dict[str, int] = {}
    for index, column in enumerate(columns):
        first.setdefault(column, index)
    return {name: first[name.lower()] for name in needed}


def _scan(reader: csv.Reader, scan: _Scan, at: dict[str, int]) -> None:  # type: ignore[name-defined]
    schema = scan.schema
    width = max(at.values()) + 1
    target = schema.target
    for row in reader:
        if not row or (not row[0].strip() and all(not cell.strip() for cell in row)):
            continue
        line = reader.line_num
        scan.rows += 1
        if len(row) < width:
            scan.problem("short", "", line)
            continue
        cells = json.dumps([row[i].strip() for i in at.values()], ensure_ascii=False).encode("utf-8")
        scan.content = (scan.content + int.from_bytes(hashlib.sha256(cells).digest(), "big")) % _CONTENT_MODULUS
        for feature in schema.features:
            _check_feature(scan, feature, row[at[feature.name]], line)
        if target.name not in at:  # a batch file: features only
            continue
        label = row[at[target.name]].strip()
        if target.is_classification:
            if label in target.labels:
                scan.counts[label] += 1
            else:
                scan.problem("label", target.name, line, label)
        elif _number(label) is None:
            scan.problem("target-number", target.name, line, label)


def _check_feature(scan: _Scan, feature: Feature, raw: str, line: int) -> None:
    value = raw.strip()
    if not value:
        scan.problem("empty", feature.name, line)
    elif feature.type == "text":
        if feature.max_length is not None and len(raw) > feature.max_length:
            scan.problem("too-long", feature.name, line)
    elif feature.type == "number":
        number = _number(value)
        if number is None:
            scan.problem("not-number", feature.name, line, value)
        elif (feature.min is not None and number < feature.min) or (feature.max is not None and number > feature.max):
            scan.problem("out-of-range", feature.name, line, value)
    elif feature.values is not None and value not in feature.values:
        scan.problem("category", feature.name, line, value)


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _problems(scan: _Scan, role: str) -> list[str]:
    schema = scan.schema
    features = {f.name: f for f in schema.features}
    problems: list[str] = []
    for (kind, column), found in scan.findings.items():
        rows = f"{found.count:,} row(s)"
        if kind == "short":
            problems.append(f"{rows} have too few columns ({found.where()})")
        elif kind == "empty":
            problems.append(f"{rows} have an empty {column!r} ({found.where()})")
        elif kind == "too-long":
            limit = features[column].max_length
            problems.append(f"{rows} have a {column!r} longer than {limit:,} characters ({found.where()})")
        elif kind == "not-number":
            problems.append(
                f"{rows} have a {column!r} that is not a finite number: {found.examples()} ({found.where()})"
            )
        elif kind == "out-of-range":
            feature = features[column]
            problems.append(
                f"{rows} have a {column!r} outside [{feature.min}, {feature.max}]: {found.examples()} ({found.where()})"
            )
        elif kind == "category":
            allowed = ", ".join(repr(v) for v in (features[column].values or [])[:10])
            problems.append(
                f"{rows} have an unknown {column!r} {found.examples()} (expected one of {allowed}; {found.where()})"
            )
        elif kind == "label":
            expected = ", ".join(f"{key} for {clip(name, 20)}" for key, name in list(schema.target.labels.items())[:10])
            problems.append(
                f"{rows} have unknown labels {found.examples()} in column {column!r} (expected {expected}; "
                f"{found.where()})"
            )
        elif kind == "target-number":
            problems.append(
                f"{rows} have a target {column!r} that is not a finite number: {found.examples()} ({found.where()})"
            )
    minimum = {"test": schema.min_test_rows, "batch": 1}.get(role, schema.min_rows)
    if scan.rows < minimum:
        problems.append(f"too few rows: {scan.rows} data row(s), at least {minimum} required")
    if role == "train" and schema.target.is_classification and scan.rows and not scan.findings:
        problems.extend(_class_problems(scan))
    return problems


def _class_problems(scan: _Scan) -> list[str]:
    labels = scan.schema.target.labels
    present = [label for label in labels if scan.counts[label] > 0]
    if len(present) == 1:
        only = present[0]
        return [
            f"only one class present: every row is {clip(labels[only], 40)} ({clip(only, 20)}); "
            f"{len(labels)} classes are required"
        ]
    scarce = [
        f"{clip(name, 40)} ({scan.counts[label]})"
        for label, name in labels.items()
        if scan.counts[label] < scan.schema.min_per_class
    ]
    if scarce:
        return [
            f"too few examples of {', '.join(scarce[:10])}: at least {scan.schema.min_per_class} per class required"
        ]
    return []


def _bounded(problems: list[str]) -> list[str]:
    """At most MAX_MESSAGE_CHARS in all: the state document, the run record and the email stay small."""
    kept: list[str] = []
    used = 0
    for index, full in enumerate(problems):
        problem = clip(full, 600)
        if used + len(problem) > MAX_MESSAGE_CHARS:
            kept.append(f"and {len(problems) - index} more problem(s)")
            break
        kept.append(problem)
        used += len(problem) + 2
    return kept
