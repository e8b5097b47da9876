"""Batch scoring's pure parts: batch file names and the neutralising of formula cells in results."""

from __future__ import annotations

import pytest

from challenger_core.batch import batch_name, neutralise
from challenger_core.errors import DataValidationError


@pytest.mark.parametrize("key", ["batch/reviews\n.csv", "batch/.csv", "batch/a/b.csv", "batch/-x.csv", "other/x.csv"])
def test_batch_name_refuses_keys_outside_the_layout_even_with_a_trailing_newline(key: str) -> None:
    # `re.match` with `$` let "reviews\n" through: `$` also matches before a final newline (issue 18).
    with pytest.raises(DataValidationError, match="not a batch file"):
        batch_name(key)


def test_batch_name_is_the_file_name_without_prefix_and_suffix() -> None:
    assert batch_name("batch/Reviews_2026-12.csv") == "Reviews_2026-12"


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),  # #78
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-", "'-"),
        ("-1.5", "-1.5"),  # numbers stay numbers
        ("+3", "+3"),
        ("-2e-3", "-2e-3"),
        ("-.5", "-.5"),
        ("a=b", "a=b"),
        ("Great kettle", "Great kettle"),
        ("", ""),
    ],
)  # fmt: skip
def test_result_cells_a_spreadsheet_would_run_as_formulas_are_neutralised(cell: str, shown: str) -> None:
    assert neutralise(cell) == shown
