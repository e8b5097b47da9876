"""`date` and `datetime` feature values (issue 21): the one rule for what they may be written as and their canonical
form. Standard library only: ValidateData, the API's request check, drift and a job without pydantic all use it; the
recipe kit (recipes/kit/challenger_kit.py, `parse_temporal`) restates it for the containers, and
tests/unit/core/test_temporal_features.py holds both to the same answers.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

# Date and date-time features (issue 21): ISO 8601 as `date.isoformat()` / `datetime.isoformat()` write it, with `T`
# or a space, seconds and fractions optional, `Z` or an offset; a value without an offset is UTC. The pattern is
# checked first, so every Python the product runs (3.10 in old images, 3.12, 3.13) accepts the same texts; the kit
# holds the same rule.
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
DATETIME_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?")
TEMPORAL_FORMATS = {
    "date": "YYYY-MM-DD",
    "datetime": "YYYY-MM-DD[THH:MM[:SS[.ffffff]]][Z|±HH:MM]",
}


def parse_temporal(kind: str, text: str) -> str:
    """A `date` or `datetime` feature value in its canonical form; ValueError says why it is not one.

    Canonical: `YYYY-MM-DD` for a date, `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (UTC) for a date-time, so canonical values
    sort as text in time order (the time column's hold-out relies on it).
    """
    value = text.strip()
    if kind == "date":
        if not DATE_PATTERN.fullmatch(value):
            raise ValueError(f"not a date ({TEMPORAL_FORMATS['date']})")
        return date.fromisoformat(value).isoformat()
    if not DATETIME_PATTERN.fullmatch(value):
        raise ValueError(f"not a date-time ({TEMPORAL_FORMATS['datetime']})")
    # Python 3.10's fromisoformat takes neither `Z` nor a fraction of other than 3 or 6 digits.
    value = re.sub(r"\.(\d{1,6})", lambda m: "." + m.group(1).ljust(6, "0"), value)
    moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("outside the years 1-9999 in UTC") from None
    return moment.replace(tzinfo=None).isoformat() + "Z"
