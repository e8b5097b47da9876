"""Issue 22: the API's lists are paginated (X-Next-Cursor); the CLI follows the cursors and shows every item."""

from __future__ import annotations

import pytest
import responses
from responses import matchers

from challenger.cli import models_list
from tests.unit.cli.test_cli_says_what_happens import API, WEATHER, target


def model(version: int) -> dict[str, object]:
    return {"version": version, "status": "REJECTED", "dataset": "weather", "created_at": "2026-12-07T20:00:00Z"}


@responses.activate
def test_models_list_follows_the_cursor_to_the_last_page(capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(f"{API}/health", json=WEATHER)
    responses.get(
        f"{API}/models",
        json=[model(3), model(2)],
        headers={"X-Next-Cursor": "TU9ERUwKViMwMDAwMDI"},
        match=[matchers.query_param_matcher({"limit": "500"})],
    )
    responses.get(
        f"{API}/models",
        json=[model(1)],
        match=[matchers.query_param_matcher({"limit": "500", "cursor": "TU9ERUwKViMwMDAwMDI"})],
    )
    models_list(target())
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [row.split()[0] for row in rows] == ["v3", "v2", "v1"]
