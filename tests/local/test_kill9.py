"""Issue 18 F3: kill -9 of `challenger local up` in the middle of the pipeline loses nothing, and nothing stays
RUNNING forever: the next start closes the interrupted run ("interrupted", as README promises) and keeps the
upload behind it. Two stages are killed (training, the wait for an approval) to keep the runtime reasonable."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import boto3

from challenger.cli import Target
from tests.support.local_process import local_up, wait_for

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "recipes" / "sentiment" / "data"
LONG_KEY = "incoming/notes/" + "k" * (1024 - len("incoming/notes/"))  # the 1,024-byte key of issue 18


def entered(target: Target, run_id: str, states: set[str]) -> bool:
    detail = target.call("GET", f"/runs/{run_id}")
    steps = detail["steps"]
    assert detail["run"]["status"] == "RUNNING", detail
    return bool(steps) and steps[-1]["name"] in states and steps[-1]["status"] == "entered"


def newest_run(target: Target, after: set[str]) -> str | None:
    runs = [r["run_id"] for r in target.call("GET", "/runs") if r["run_id"] not in after]
    return runs[0] if runs else None


def kill_9(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(30)


def runs_of(target: Target) -> dict[str, dict[str, Any]]:
    return {run["run_id"]: run for run in target.call("GET", "/runs")}


def test_kill_9_mid_pipeline_loses_nothing_and_leaves_nothing_running(tmp_path: Path) -> None:
    state = tmp_path / ".challenger"
    with local_up(state, "--fresh", "--approval-mode", "manual") as (process, target, info):
        data = boto3.client(
            "s3",
            endpoint_url=info["endpoint_url"],
            region_name=info["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        data.put_object(Bucket=info["data_bucket"], Key=LONG_KEY, Body=b"kept")
        data.upload_file(str(DATA / "train_v1.csv"), info["data_bucket"], "incoming/reviews/train.csv")
        first = wait_for(lambda: newest_run(target, set()), 60, "the first run")
        wait_for(lambda: entered(target, first, {"WaitForTraining", "CheckTraining"}), 120, "training")
        kill_9(process)  # stage 1: while the model trains

    with local_up(state, "--approval-mode", "manual") as (process, target, info):
        runs = runs_of(target)
        assert runs[first]["status"] == "FAILED"
        assert "interrupted" in runs[first]["error"]
        data.upload_file(str(DATA / "train_v2.csv"), info["data_bucket"], "incoming/reviews/train.csv")
        second = wait_for(lambda: newest_run(target, set(runs)), 60, "the second run")
        wait_for(lambda: entered(target, second, {"RequestApproval"}), 180, "the approval wait")
        models = target.call("GET", "/models")
        # An audited decision (issue 18: the audit log went 9 → 0): a retrain refused while a run is in flight.
        target.call("POST", "/runs", {"dataset": "reviews", "force": False}, operator=True)
        audit = target.call("GET", "/audit?limit=50", operator=True)["entries"]
        assert audit
        kill_9(process)  # stage 2: a challenger waits for a human

    with local_up(state, "--approval-mode", "manual") as (process, target, info):
        runs = runs_of(target)
        assert [run_id for run_id, run in runs.items() if run["status"] == "RUNNING"] == []
        assert (runs[first]["status"], runs[second]["status"]) == ("FAILED", "FAILED")
        assert "interrupted" in runs[second]["error"]
        after = {m["version"]: m for m in target.call("GET", "/models")}
        assert sorted(after) == sorted(m["version"] for m in models)  # every version registered before the kill
        assert {m["status"] for m in after.values() if m["run_id"] in (first, second)} == {"FAILED"}  # as RecordFailure
        assert target.call("GET", "/audit?limit=50", operator=True)["entries"] == audit
        kept = data.get_object(Bucket=info["data_bucket"], Key=LONG_KEY)["Body"].read()
        upload = data.get_object(Bucket=info["data_bucket"], Key="incoming/reviews/train.csv")["Body"].read()
        assert (kept, upload) == (b"kept", (DATA / "train_v2.csv").read_bytes())  # the upload is not reverted
