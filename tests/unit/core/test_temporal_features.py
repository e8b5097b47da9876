"""`date` and `datetime` features (issue 21): one rule in the core and in the kit, precise ValidateData messages
with line numbers, the API's request check, and drift on the recurring parts (weekday, hour), never on instants."""

from __future__ import annotations

from typing import Any

import challenger_kit
import pytest
from pydantic import ValidationError

from challenger_core import drift, serving
from challenger_core.errors import DataValidationError
from challenger_core.recipe import RecipeSpec
from challenger_core.temporal import parse_temporal
from challenger_core.validation import validate_bytes

SPEC: dict[str, Any] = {
    "name": "flights_like",
    "framework": {"name": "sklearn", "version": "1.9-0"},
    "schema": {
        "features": [
            {"name": "carrier", "type": "category"},
            {"name": "time_hour", "type": "datetime"},
            {"name": "day", "type": "date"},
        ],
        "target": {"name": "late", "kind": "binary", "labels": {"0": "on time", "1": "late"}},
        "time_column": "time_hour",
        "min_rows": 2,
    },
    "prediction": {"fields": {"label": "int", "score": "float"}},
    "metrics": {"roc_auc": "higher"},
    "primary_metric": "roc_auc",
    "floor": {"metric": "roc_auc", "value": 0.5},
}

ACCEPTED = [
    ("datetime", "2013-01-01T10:00:00Z", "2013-01-01T10:00:00Z"),
    ("datetime", "2013-01-01 05:00-05:00", "2013-01-01T10:00:00Z"),
    ("datetime", "2013-01-01T10:00", "2013-01-01T10:00:00Z"),
    ("datetime", "2013-01-01", "2013-01-01T00:00:00Z"),
    ("datetime", "2013-01-01T10:00:00.5+01:00", "2013-01-01T09:00:00.500000Z"),
    ("datetime", " 2013-12-31T23:59:59+00:00 ", "2013-12-31T23:59:59Z"),
    ("date", "2013-02-28", "2013-02-28"),
    ("date", "2016-02-29", "2016-02-29"),
]
REFUSED = [
    ("datetime", "2013-13-01T10:00Z", "month must be in 1..12"),
    ("datetime", "1/1/2013 10:00", "not a date-time"),
    ("datetime", "20130101T1000", "not a date-time"),
    ("datetime", "2013-01-01T10:00:00ZZ", "not a date-time"),
    ("datetime", "9999-12-31T23:00-05:00", "outside the years 1-9999"),
    ("date", "2013-02-30", "day is out of range for month"),
    ("date", "2013-01-01T00:00", "not a date"),
    ("date", "", "not a date"),
]


@pytest.mark.parametrize(("kind", "text", "canonical"), ACCEPTED)
def test_core_and_kit_give_the_same_canonical_value(kind: str, text: str, canonical: str) -> None:
    assert parse_temporal(kind, text) == canonical
    assert challenger_kit.parse_temporal(kind, text) == canonical


@pytest.mark.parametrize(("kind", "text", "reason"), REFUSED)
def test_core_and_kit_refuse_the_same_values_for_the_same_reason(kind: str, text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_temporal(kind, text)
    with pytest.raises(ValueError, match=reason):
        challenger_kit.parse_temporal(kind, text)


def test_canonical_values_sort_in_time_order_whatever_the_offsets_written() -> None:
    written = ["2013-01-01T06:00:00+01:00", "2013-01-01T04:30:00Z", "2013-01-01T00:00-05:00"]
    canonical = [parse_temporal("datetime", t) for t in written]
    assert sorted(canonical) == ["2013-01-01T04:30:00Z", "2013-01-01T05:00:00Z", "2013-01-01T05:00:00Z"]


def test_validate_data_names_each_bad_date_with_its_line() -> None:
    recipe = RecipeSpec.model_validate(SPEC)
    data = (
        b"carrier,time_hour,day,late\n"
        b"UA,2013-01-01T10:00:00Z,2013-01-01,0\n"
        b"AA,1/1/2013 10:00,2013-01-01,1\n"
        b"B6,2013-01-01T11:00:00Z,2013-02-30,0\n"
        b"DL,2013-01-01T12:00:00Z,2013-01-01,1\n"
    )
    with pytest.raises(DataValidationError) as caught:
        validate_bytes(data, recipe.data_schema, source="train.csv")
    message = str(caught.value)
    assert "1 row(s) have a 'time_hour' that is not an ISO 8601 date-time" in message
    assert "'1/1/2013 10:00' (line 3)" in message
    assert "1 row(s) have a 'day' that is not a date (YYYY-MM-DD): '2013-02-30' (line 4)" in message


def test_validate_data_accepts_real_dates_in_any_iso_form() -> None:
    recipe = RecipeSpec.model_validate(SPEC)
    data = b"carrier,time_hour,day,late\nUA,2013-01-01T10:00:00Z,2013-01-01,0\nAA,2013-01-01 05:00-05:00,2013-01-02,1\n"
    assert validate_bytes(data, recipe.data_schema, source="train.csv").rows == 2


def test_the_kit_names_file_line_and_reason_for_a_bad_date(tmp_path: Any) -> None:
    recipe = challenger_kit.Recipe(SPEC)
    path = tmp_path / "train.csv"
    path.write_text("carrier,time_hour,day,late\nUA,2013-01-01T10:00:00Z,2013-01-01,0\nAA,2013-00-01,2013-01-01,1\n")
    with pytest.raises(challenger_kit.RecipeError, match=r"train.csv line 3: time_hour '2013-00-01': month must be"):
        challenger_kit.read_rows(path, recipe)


def test_the_kit_hands_the_model_canonical_values() -> None:
    recipe = challenger_kit.Recipe(SPEC)
    rows = challenger_kit.parse_instances(
        [{"carrier": "UA", "time_hour": "2013-01-01 05:00-05:00", "day": "2013-01-01"}], recipe
    )
    assert rows[0]["time_hour"] == "2013-01-01T10:00:00Z"
    assert challenger_kit.to_datetime(rows[0]["time_hour"]).hour == 10


def test_the_api_refuses_an_impossible_date_before_invoking() -> None:
    recipe = RecipeSpec.model_validate(SPEC)
    model = serving.instance_model(recipe)
    model.model_validate({"carrier": "UA", "time_hour": "2013-01-01T10:00:00Z", "day": "2013-01-01"})
    for bad in ({"time_hour": "2013-02-30T10:00:00Z"}, {"time_hour": "yesterday"}, {"day": "2013-1-1"}):
        with pytest.raises(ValidationError) as caught:
            model.model_validate({"carrier": "UA", "time_hour": "2013-01-01T10:00:00Z", "day": "2013-01-01", **bad})
        assert next(iter(bad)) in str(caught.value)


def _baseline(times: list[str]) -> dict[str, Any]:
    recipe = challenger_kit.Recipe(SPEC)
    rows = [{"carrier": "UA", "time_hour": t, "day": t[:10], "late": 0} for t in times]
    return challenger_kit.build_baseline(recipe, rows, [{"label": 0, "score": 0.1}] * len(rows))


def _captures(times: list[str]) -> list[dict[str, Any]]:
    return [
        {"instance": {"carrier": "UA", "time_hour": t, "day": t[:10]}, "prediction": {"label": 0, "score": 0.1}}
        for t in times
    ]


def _week(year: int, hours: range) -> list[str]:
    return [f"{year}-01-{day:02d}T{hour:02d}:00:00Z" for day in range(7, 14) for hour in hours]


def test_later_traffic_with_the_same_weekly_rhythm_is_no_drift() -> None:
    baseline = _baseline(_week(2013, range(6, 22)))
    report = drift.check(baseline, _captures(_week(2026, range(6, 22))), version=1, threshold=0.2, min_samples=10)
    temporal = {(d.feature, d.statistic): d.psi for d in report.drifts if d.feature in ("time_hour", "day")}
    # Seven consecutive days hold every weekday once, in 2013 as in 2026.
    assert set(temporal) == {("time_hour", "weekday"), ("time_hour", "hour"), ("day", "weekday")}
    assert max(temporal.values()) < 0.01
    assert baseline["features"]["time_hour"]["first"] == "2013-01-07T06:00:00Z"


def test_traffic_at_other_hours_is_drift_of_the_hour_named() -> None:
    baseline = _baseline(_week(2013, range(6, 22)))
    report = drift.check(baseline, _captures(_week(2013, range(0, 6))), version=1, threshold=0.2, min_samples=10)
    hour = next(d for d in report.drifts if (d.feature, d.statistic) == ("time_hour", "hour"))
    weekday = next(d for d in report.drifts if (d.feature, d.statistic) == ("time_hour", "weekday"))
    assert hour.psi > 1
    assert weekday.psi < 0.01
