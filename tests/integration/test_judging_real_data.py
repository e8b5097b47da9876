"""Issue 19 on real public data (UCI breast cancer, tests/integration/real_data.py) through the whole local cloud in
auto mode, under an accuracy-only policy with no floor and no guardrails (set per dataset through the operator
door): an upload whose labels are shuffled, or all flipped, is never promoted and names the label shift; a genuinely
better upload (all 569 biopsies, correct labels) still promotes; a person approves a KEEP verdict with a comment and
the audit log shows it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from challenger.cli import CliError, Target, data_push, latest_run_id, runs_wait
from challenger.local.cloud import LocalCloud
from tests.integration import real_data
from tests.integration.conftest import target_of

DATASET = "biopsies"
SHIFT = "the new labels disagree with the live model"


@pytest.fixture(scope="module")
def cloud(cloud_factory: Callable[..., LocalCloud]) -> LocalCloud:
    return cloud_factory()  # auto mode: the stack's default ApprovalMode


def push(target: Target, tmp: Path, name: str, data: list[tuple[str, int]]) -> str:
    """Upload `data` as the dataset's train.csv; the run it starts."""
    runs = target.call("GET", "/runs")
    before = str(runs[0]["run_id"]) if runs else ""
    data_push(target, real_data.write(tmp / name / "train.csv", data), DATASET, None)
    return latest_run_id(target, newer_than=before)


def finished(target: Target, run_id: str) -> dict[str, Any]:
    return runs_wait(target, run_id, timeout=600, echo=lambda _: None)


def waiting_for_a_person(target: Target, run_id: str, timeout: float = 600) -> dict[str, Any]:
    """The pending approval of `run_id` (the label-shift verdict parks the run even in auto mode)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = [a for a in target.call("GET", "/approvals") if a["run_id"] == run_id]
        if pending:
            return dict(pending[0])
        run = target.call("GET", f"/runs/{run_id}")["run"]
        assert run["status"] == "RUNNING", run  # ended without asking anyone
        time.sleep(1)
    pytest.fail(f"run {run_id} never asked a person")


def champion(target: Target) -> int:
    return int(target.call("GET", "/health")["champion_version"])


def test_label_shifted_uploads_never_promote_and_a_better_one_does(cloud: LocalCloud, tmp_path: Path) -> None:
    target = target_of(cloud)
    policy = target.call(
        "POST",
        f"/datasets/{DATASET}/policy",
        {
            "primary_metric": "accuracy",
            "floor_metric": "accuracy",
            "metric_floor": 0.0,
            "guardrail_metrics": [],
            "comment": "accuracy only, no floor, no guardrails: the judge must hold on its own",
        },
        operator=True,
        ok=(201,),
    )
    assert policy["version"] == 1

    first = finished(target, push(target, tmp_path, "first", real_data.first(150)))
    assert (first["outcome"], first["version"]) == ("DEPLOYED", 1)
    trusted = target.call("GET", f"/datasets/{DATASET}")["trusted_set"]
    assert trusted["version"] == 1
    assert trusted["rows"] >= 20  # v1's hold-out, seeded; no upload changes it

    everything = real_data.rows()
    for name, data in (
        ("shuffled", real_data.shuffled_labels(everything)),
        ("flipped", real_data.flipped_labels(everything)),
    ):
        run_id = push(target, tmp_path, name, data)
        approval = waiting_for_a_person(target, run_id)
        verdict = approval["verdict"]
        assert verdict["promote"] is False, (name, verdict["reasons"])
        assert verdict["decided_by"] == "label-shift accuracy", (name, verdict["reasons"])
        assert verdict["label_shift"].startswith(SHIFT), name
        assert (verdict["policy_version"], verdict["trusted_set_version"]) == (1, 1)
        assert verdict["trusted_rows"] == trusted["rows"]
        assert champion(target) == 1
        target.call(
            "POST",
            f"/runs/{run_id}/approval",
            {"decision": "reject", "comment": f"{name} labels: a broken export"},
            operator=True,
        )
        run = finished(target, run_id)
        assert (run["status"], run["outcome"], champion(target)) == ("SUCCEEDED", "REJECTED", 1)

    better = finished(target, push(target, tmp_path, "better", everything))
    model = target.call("GET", f"/models/{better['version']}")
    assert (better["outcome"], champion(target)) == ("DEPLOYED", better["version"]), model["verdict"]["reasons"]
    assert model["verdict"]["label_shift"] is None
    assert [r["rule"] for r in model["verdict"]["rules"]] == [
        "floor",
        "comparison",
        "label-shift",
        "primary",
        "trusted",
    ]


def test_a_person_approves_a_kept_verdict_only_with_a_comment_and_the_audit_shows_it(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    target = target_of(cloud)
    live = champion(target)
    # Not the earlier flipped file again (the same bytes start no run): the same mistake on another export.
    run_id = push(target, tmp_path, "flipped-again", real_data.flipped_labels(real_data.rows()[:-20]))
    approval = waiting_for_a_person(target, run_id)
    assert approval["verdict"]["label_shift"].startswith(SHIFT)

    with pytest.raises(CliError, match="needs a comment"):
        target.call("POST", f"/runs/{run_id}/approval", {"decision": "approve"}, operator=True)
    reason = "the lab recoded its diagnoses on purpose: the new labels are right"
    target.call("POST", f"/runs/{run_id}/approval", {"decision": "approve", "comment": reason}, operator=True)

    run = finished(target, run_id)
    assert (run["outcome"], champion(target)) == ("DEPLOYED", run["version"])
    assert run["version"] != live
    entries = target.call("GET", "/audit", operator=True)["entries"]
    approved = next(e for e in entries if e["run_id"] == run_id)
    assert (approved["action"], approved["comment"]) == ("approve", reason)
