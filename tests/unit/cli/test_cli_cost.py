"""`challenger runs show` prints what the run cost on AWS (issue 17)."""

from __future__ import annotations

from typing import Any

import pytest

from challenger.cli import Target, runs_list, runs_show
from challenger_core.cost import RunCost


class _Api(Target):
    def __init__(self, detail: dict[str, Any]) -> None:
        super().__init__("http://api", "key", "bucket", s3=None)
        self.detail = detail

    def call(self, method: str, path: str, body: Any = None, **_: Any) -> Any:
        return self.detail


def test_runs_show_prints_the_runs_cost(capsys: pytest.CaptureFixture[str]) -> None:
    spent = RunCost(total_usd=0.0215, training_usd=0.0192, instance_type="ml.m5.large", billable_seconds=600)
    run = {"run_id": "r1", "status": "SUCCEEDED", "outcome": "DEPLOYED", "dataset": "reviews"}
    runs_show(_Api({"run": run, "steps": [], "cost": spent.model_dump()}), "r1")
    assert "  cost: $0.0215: training $0.0192 (600 billable s on ml.m5.large)" in capsys.readouterr().out


def test_runs_list_has_a_cost_column(capsys: pytest.CaptureFixture[str]) -> None:
    spent = RunCost(total_usd=0.0215)
    run = {"run_id": "r1", "status": "SUCCEEDED", "outcome": "DEPLOYED", "version": 1, "cost": spent.model_dump()}
    runs_list(_Api([run]))  # type: ignore[arg-type]
    header, _, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["run", "status", "outcome", "model", "cost", "error"]
    assert row.split() == ["r1", "SUCCEEDED", "DEPLOYED", "v1", "$0.0215"]
