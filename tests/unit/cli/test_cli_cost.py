"""`challenger runs show` prints what the run cost on AWS (issue 17)."""

from __future__ import annotations

from typing import Any

import pytest

from challenger.cli import Target, runs_list, runs_show
from challenger_core.cost import RunCost


class _Api(Target):
    def __init__(self, detail: Any, runs: list[dict[str, Any]] | None = None) -> None:
        super().__init__("http://api", "key", "bucket", s3=None)
        self.detail = detail
        self.runs = runs

    def call(self, method: str, path: str, body: Any = None, **_: Any) -> Any:
        return self.runs if path == "/runs" and self.runs is not None else self.detail


def test_runs_show_prints_the_runs_cost(capsys: pytest.CaptureFixture[str]) -> None:
    spent = RunCost(total_usd=0.0215, training_usd=0.0192, instance_type="ml.m5.large", billable_seconds=600)
    run = {"run_id": "r1", "status": "SUCCEEDED", "outcome": "DEPLOYED", "dataset": "reviews"}
    runs_show(_Api({"run": run, "steps": [], "cost": spent.model_dump()}), "r1")
    assert "  cost: $0.0215: training $0.0192 (600 billable s on ml.m5.large)" in capsys.readouterr().out


def test_runs_list_has_a_cost_column(capsys: pytest.CaptureFixture[str]) -> None:
    spent = RunCost(total_usd=0.0215)
    run = {"run_id": "r1", "status": "SUCCEEDED", "outcome": "DEPLOYED", "version": 1, "cost": spent.model_dump()}
    runs_list(_Api([run]))
    header, _, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["run", "status", "outcome", "model", "cost", "error"]
    assert row.split() == ["r1", "SUCCEEDED", "DEPLOYED", "v1", "$0.0215"]


def test_runs_show_of_a_run_whose_history_is_gone_prints_its_recorded_cost(capsys: pytest.CaptureFixture[str]) -> None:
    spent = RunCost(total_usd=0.0009, training_usd=0.0002, instance_type="ml.m5.large", billable_seconds=7)
    run = {
        "run_id": "r1",
        "status": "SUCCEEDED",
        "outcome": "DEPLOYED",
        "dataset": "reviews",
        "cost": spent.model_dump(),
    }
    gone = {"message": "run r1 is recorded (SUCCEEDED) but its execution history is no longer available"}
    runs_show(_Api(gone, runs=[run]), "r1")
    out = capsys.readouterr().out
    assert "  steps: not available (run r1 is recorded (SUCCEEDED) but" in out
    assert "  cost: $0.0009: training $0.0002 (7 billable s on ml.m5.large)" in out
