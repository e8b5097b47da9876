"""Validation of a dropped dataset against the recipe's schema: every problem at once, with line numbers.

The file is streamed: it is read in chunks, decoded incrementally and checked row by row, so the peak memory
does not depend on the file's size (only on the longest line, which is bounded). Every message is bounded too
(values and line lists are shortened), so a file full of huge labels still fails with a short, precise reason.
Pure stdlib (csv, codecs), so the ValidateData function stays small and fast to start.

The same module is the validation Processing job's program (issue 24): a dataset of many parts, of Parquet, or
over the Lambda's limit is checked by `python -m challenger_core.validation` in the framework image (pyarrow for
Parquet, imported only there), with the same checks and messages naming the part and its line (or row and row
group). The job ships this file with `errors.py` (challenger_core.validation_job): neither may import pydantic.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from challenger_core.errors import DataValidationError
from challenger_core.temporal import TEMPORAL_FORMATS, parse_temporal

if TYPE_CHECKING:  # the Processing job has no pydantic: the schema there is `JobSchema`
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
PARQUET_BATCH_ROWS = 8192  # rows of one row group converted to Python at a time: memory is a batch, not a file


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
    lines: list[str] = field(default_factory=list)  # "12" in a single file, "train/part-7.csv line 12" in a set
    values: Counter[str] = field(default_factory=Counter)

    def add(self, line: str, value: str | None = None) -> None:
        self.count += 1
        if len(self.lines) < MAX_REPORTED:
            self.lines.append(line)
        if value is not None:
            shown = clip(value)
            # Bounded: beyond MAX_REPORTED distinct values only the ones already seen are counted.
            if shown in self.values or len(self.values) < MAX_REPORTED:
                self.values[shown] += 1

    def where(self) -> str:
        shown = ", ".join(self.lines) + (", …" if self.count > len(self.lines) else "")
        if all(line.isdigit() for line in self.lines):
            return f"line{'s' if self.count > 1 else ''} {shown}"
        return f"at {shown}"  # each location names its part

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
        self.part: str | None = None  # the part being scanned, in a dataset of many
        self.row_group: int | None = None  # the Parquet row group being scanned

    def problem(self, kind: str, column: str, line: int, value: str | None = None) -> None:
        if self.part is None:
            where = str(line)
        elif self.row_group is None:
            where = f"{clip(self.part, 80)} line {line}"
        else:
            where = f"{clip(self.part, 80)} row {line} (row group {self.row_group})"
        self.findings.setdefault((kind, column), _Finding()).add(where, value)


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
    scan = _Scan(schema)
    _scan_csv(stream, scan, _needed(schema, role), digest, source)
    return _summary(scan, role, digest, size, source)


def validate_parts(
    parts: Sequence[tuple[str, Path]], schema: DataSchema | JobSchema, *, source: str, role: str = "train"
) -> DatasetSummary:
    """Check a dataset of many parts (CSV, each with its header, or Parquet, by extension), in the given order.

    `parts`: (the name messages use, the local file). Every part is streamed (CSV in chunks, Parquet a batch of a
    row group at a time), so memory is bounded by a chunk, not by the set. Problems name the part and its line
    (CSV) or row and row group (Parquet); counts, class balance and the content fingerprint are of the whole set,
    and `sha256` is of the parts' bytes in the given order.
    """
    digest = hashlib.sha256()
    scan = _Scan(schema)  # type: ignore[arg-type]  # JobSchema has DataSchema's shape
    needed = _needed(schema, role)  # type: ignore[arg-type]
    problems: list[str] = []
    size = 0
    for name, path in parts:
        scan.part, scan.row_group = name, None
        size += path.stat().st_size
        try:
            if name.endswith(".parquet"):
                _scan_parquet(path, scan, needed, digest, name)
            else:
                with path.open("rb") as stream:
                    _scan_csv(stream, scan, needed, digest, name)
        except DataValidationError as exc:  # an unreadable part: say so and go on with the others
            problems.append(str(exc))
    if problems:
        raise DataValidationError(_bounded(problems + _problems(scan, role)), source=clip(source, 200))
    return _summary(scan, role, digest, size, source)


def _needed(schema: DataSchema, role: str) -> list[str]:
    return [f.name for f in schema.features] if role == "batch" else schema.columns


def _scan_csv(stream: BinaryStream, scan: _Scan, needed: list[str], digest: _Digest, source: str) -> None:
    reader = csv.reader(_lines(stream, digest, source), strict=True)
    at = _columns(reader, needed, source)
    try:
        _scan(reader, scan, at)
    except csv.Error as exc:
        raise DataValidationError(
            [f"unreadable CSV at line {reader.line_num}: {clip(str(exc), 120)}"], source=source
        ) from exc


def _scan_parquet(path: Path, scan: _Scan, needed: list[str], digest: _Digest, source: str) -> None:
    """One Parquet part, a batch of a row group at a time (pyarrow: the framework image has it, Lambda has not)."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415  # only in the Processing job

    with path.open("rb") as raw:
        while chunk := raw.read(CHUNK_BYTES):
            digest.update(chunk)
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid (an OSError/ValueError) for a file that is not Parquet
        raise DataValidationError([f"unreadable Parquet: {clip(str(exc), 120)}"], source=source) from exc
    names = [name.strip().lower() for name in parquet.schema_arrow.names]
    missing = [name for name in needed if name.lower() not in names]
    if missing:
        found = ", ".join(_quote(c) for c in names[:10]) + (", …" if len(names) > 10 else "")
        raise DataValidationError([f"missing column(s) {', '.join(map(repr, missing))}; found {found}"], source=source)
    columns = [parquet.schema_arrow.names[names.index(name.lower())] for name in needed]
    at = {name: index for index, name in enumerate(needed)}
    row = 0
    for group in range(parquet.num_row_groups):
        scan.row_group = group
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=[group], columns=columns):
            cells = [["" if value is None else str(value) for value in column.to_pylist()] for column in batch.columns]
            for values in zip(*cells, strict=True):
                row += 1
                _check_row(scan, list(values), at, len(needed), row)


def _summary(scan: _Scan, role: str, digest: Any, size: int, source: str) -> DatasetSummary:
    problems = _problems(scan, role)
    if problems:
        raise DataValidationError(_bounded(problems), source=clip(source, 200))
    labels = scan.schema.target.labels
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
    width = max(at.values()) + 1
    for row in reader:
        if not row or (not row[0].strip() and all(not cell.strip() for cell in row)):
            continue
        _check_row(scan, row, at, width, reader.line_num)


def _check_row(scan: _Scan, row: list[str], at: dict[str, int], width: int, line: int) -> None:
    schema = scan.schema
    target = schema.target
    scan.rows += 1
    if len(row) < width:
        scan.problem("short", "", line)
        return
    cells = json.dumps([row[i].strip() for i in at.values()], ensure_ascii=False).encode("utf-8")
    scan.content = (scan.content + int.from_bytes(hashlib.sha256(cells).digest(), "big")) % _CONTENT_MODULUS
    for feature in schema.features:
        _check_feature(scan, feature, row[at[feature.name]], line)
    if target.name not in at:  # a batch file: features only
        return
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
    elif feature.type in TEMPORAL_FORMATS:
        try:
            parse_temporal(feature.type, value)
        except ValueError:
            scan.problem("not-temporal", feature.name, line, value)
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
        elif kind == "not-temporal":
            kind_name = features[column].type
            wanted = "a date" if kind_name == "date" else "an ISO 8601 date-time"
            problems.append(
                f"{rows} have a {column!r} that is not {wanted} ({TEMPORAL_FORMATS[kind_name]}): "
                f"{found.examples()} ({found.where()})"
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


# The Processing job ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobFeature:
    """A recipe feature as the job reads it from its request (recipe.Feature's fields, without pydantic)."""

    name: str
    type: str
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    values: list[str] | None = None


@dataclass(frozen=True)
class JobTarget:
    name: str
    kind: str
    labels: dict[str, str]

    @property
    def is_classification(self) -> bool:
        return self.kind != "regression"


@dataclass(frozen=True)
class JobSchema:
    """recipe.DataSchema's shape from its JSON (`model_dump`), for the Processing job, which has no pydantic."""

    features: list[JobFeature]
    target: JobTarget
    min_rows: int
    min_test_rows: int
    min_per_class: int

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.features] + [self.target.name]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobSchema:
        """The schema the ValidateData function wrote (recipe.DataSchema.model_dump(mode="json"))."""
        fields = set(JobFeature.__dataclass_fields__)
        target = data["target"]
        return cls(
            features=[JobFeature(**{k: v for k, v in f.items() if k in fields}) for f in data["features"]],
            target=JobTarget(name=target["name"], kind=target["kind"], labels=dict(target.get("labels") or {})),
            min_rows=int(data["min_rows"]),
            min_test_rows=int(data["min_test_rows"]),
            min_per_class=int(data["min_per_class"]),
        )


def run_job(request_file: Path, data_dir: Path, output_dir: Path) -> int:
    """The Processing job: validate the parts under `data_dir` as `request_file` says; write `result.json`.

    The request (written by ValidateData) holds the schema and the parts in order, each as the file the job finds
    under `data_dir` (the snapshot's name) and the name messages use (the uploaded part's). Invalid data is a
    result (`problems`), not a failed job: the pipeline reports it as it reports the Lambda's findings.
    """
    request = json.loads(request_file.read_text(encoding="utf-8"))
    schema = JobSchema.from_json(request["schema"])
    parts = [(part["name"], data_dir / part["file"]) for part in request["parts"]]
    result: dict[str, Any]
    try:
        summary = validate_parts(parts, schema, source=request["source"], role=request.get("role", "train"))
        result = {"valid": True, **summary.__dict__}
    except DataValidationError as exc:
        result = {"valid": False, "problems": exc.problems, "source": exc.source}
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "result.json").write_text(json.dumps(result), encoding="utf-8")
    logged = {k: v for k, v in result.items() if k != "problems"} | {"problems": len(result.get("problems", []))}
    print(json.dumps(logged))  # the job's log (CloudWatch): what was found, not the data
    return 0


if __name__ == "__main__":  # python -m challenger_core.validation REQUEST DATA_DIR OUTPUT_DIR (the job's arguments)
    try:
        sys.exit(run_job(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
    except Exception as exc:
        # DescribeProcessingJob's ExitMessage is the first KB of this file: why the job failed, without the data.
        message = Path("/opt/ml/output/message")
        if message.parent.is_dir():
            message.write_text(f"{type(exc).__name__}: {exc}"[:1024], encoding="utf-8")
        raise
