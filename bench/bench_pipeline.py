"""Local drop → LIVE, phase by phase (``make bench``; not part of ``make test``).

Brings the local cloud up in a throw-away state directory, drops the bundled sample (``recipes/sentiment/data``:
``test.csv`` then ``train_v1.csv`` as ``incoming/reviews/train.csv``, exactly as ``challenger data push`` does) and
follows the run to LIVE. The phases come from the run's own records, not from this script's polling:

* the state machine's steps (``GET /runs/{id}``: each state's entered/exited time, from the execution history);
* the training job's secondary status transitions (``DescribeTrainingJob``) and the toolkit's log of the job;
* the endpoint's cold start (the local SageMaker's emulated serverless start, ``CHALLENGER_LOCAL_COLD_START_SECONDS``).

"drop → LIVE" is the time from the end of the ``train.csv`` upload to the model's ``LIVE`` record (``GET
/models/1``), observed by polling every 50 ms. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "layers" / "core"))

DATA = ROOT / "recipes" / "sentiment" / "data"
TARGET_SECONDS = 5.0
POLL = 0.05


def _epoch(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _machine() -> dict[str, Any]:
    return {
        "arch": os.uname().machine,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
    }


def _toolkit_phases(job_dir: Path) -> list[tuple[str, float]]:
    """(what, epoch) from the toolkit's and the kit's log lines that carry a timestamp."""
    log = job_dir / "logs.txt"
    if not log.is_file():
        return []
    found: list[tuple[str, float]] = []
    stamp = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (.*)$")
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        match = stamp.match(line)
        if match:
            at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone().timestamp()
            found.append((match.group(2)[:100], at))
    return found


def drop_to_live(cloud: Any, *, timeout: float = 300.0) -> dict[str, Any]:
    """Drop the sample and wait for a LIVE model, watching the registry table directly.

    Not through the API: the local cloud runs one Lambda at a time, so an observer calling `GET /runs/{id}` every
    50 ms would hold the pipeline's own Lambdas back (it did: 9-18 s measured that way). The run's steps are read
    through the API once, at the end.
    """
    from challenger.cli import local_target  # noqa: PLC0415 — after the path setup above
    from challenger_core.models import ModelStatus, RunStatus  # noqa: PLC0415
    from challenger_core.registry import Registry  # noqa: PLC0415

    target = local_target(cloud.state_dir)
    registry = Registry(cloud.clients["dynamodb"], cloud.template.ref("ModelsTable"))
    bucket = target.data_bucket
    target.s3.upload_file(str(DATA / "test.csv"), bucket, "incoming/reviews/test.csv")
    target.s3.upload_file(str(DATA / "train_v1.csv"), bucket, "incoming/reviews/train.csv")
    dropped = time.time()
    deadline = time.monotonic() + timeout
    live_at = None
    while time.monotonic() < deadline:
        if any(model.status == ModelStatus.LIVE for model in registry.list_models()):
            live_at = time.time()
            break
        failed = [run for run in registry.list_runs() if run.status == RunStatus.FAILED]
        if failed:
            raise RuntimeError(f"run {failed[0].run_id} failed without a LIVE model: {failed[0].error}")
        time.sleep(POLL)
    if live_at is None:
        raise RuntimeError(f"no LIVE model within {timeout:.0f} s")
    run_id = registry.list_runs()[0].run_id
    detail = target.call("GET", f"/runs/{run_id}")
    # The run record ends a moment after the model went LIVE (RecordOutcome); wait for it.
    while detail["run"]["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(POLL)
        detail = target.call("GET", f"/runs/{run_id}")
    return {"dropped": dropped, "live": live_at, "run": detail["run"], "steps": detail["steps"]}


def training_job(cloud: Any) -> dict[str, Any]:
    import boto3  # noqa: PLC0415

    client = boto3.client("sagemaker", endpoint_url=cloud.sagemaker.url, region_name=cloud.region)
    # ListTrainingJobs is not emulated: the job's directory (the one with a toolkit log) names it.
    job_dir = next((cloud.state_dir / "sagemaker" / "jobs").glob("*/logs.txt")).parent
    name = job_dir.name
    description = client.describe_training_job(TrainingJobName=name)
    return {
        "name": name,
        "transitions": [
            {
                "status": t["Status"],
                "start": t["StartTime"].timestamp(),
                "end": t["EndTime"].timestamp() if t.get("EndTime") else None,
            }
            for t in description.get("SecondaryStatusTransitions", [])
        ],
        "log": _toolkit_phases(job_dir),
    }


def deployment_steps(cloud: Any) -> list[dict[str, Any]]:
    """The nested deployment execution's states (DeployModel runs it with startExecution.sync:2)."""
    sfn = cloud.clients["stepfunctions"]
    steps: list[dict[str, Any]] = []
    for machine in sfn.list_state_machines()["stateMachines"]:
        for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]:
            if not execution["name"].endswith("-deploy"):
                continue
            events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
            for event in events:
                at = event["timestamp"].timestamp()
                if "stateEnteredEventDetails" in event:
                    steps.append({"name": event["stateEnteredEventDetails"]["name"], "entered": at, "exited": None})
                elif "stateExitedEventDetails" in event and steps and steps[-1]["exited"] is None:
                    steps[-1]["exited"] = at
    return steps


def measure(*, with_empty_requirements: bool = False) -> dict[str, Any]:
    from challenger.local import provision  # noqa: PLC0415
    from challenger.local.cloud import LocalCloud  # noqa: PLC0415

    # The "before" of the A/B: the bundle as it was, with the sentiment recipe's comment-only requirements.txt. The
    # local cloud publishes through the recipe publisher's code, which loads recipes/kit/bundle.py once.
    bundle = provision._publisher()._bundle_module()
    original = bundle.names_requirements
    bundle.names_requirements = (lambda _path: True) if with_empty_requirements else original

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as state:
        started = time.monotonic()
        cloud = LocalCloud(state_dir=Path(state) / ".challenger", fresh=True, progress=lambda _: None)
        cloud.start()
        up_seconds = time.monotonic() - started
        try:
            result = drop_to_live(cloud)
            result["training_job"] = training_job(cloud)
            result["deployment_steps"] = deployment_steps(cloud)
            result["cold_start_seconds"] = cloud.sagemaker.cold_start_seconds
            result["cloud_start_seconds"] = up_seconds
        finally:
            cloud.stop()
            bundle.names_requirements = original
    return result


def phases(result: dict[str, Any]) -> list[tuple[str, float]]:
    """(phase, seconds) covering drop → LIVE without gaps, in order."""
    t0 = result["dropped"]
    rows: list[tuple[str, float]] = []
    steps = result["steps"]
    first = _epoch(steps[0]["entered_at"]) if steps else None
    if first is not None:
        rows.append(("upload → first state (S3 event, trigger, StartExecution)", first - t0))
    for step in steps:
        entered, exited = _epoch(step["entered_at"]), _epoch(step["exited_at"])
        if entered is None:
            continue
        end = exited if exited is not None else result["live"]
        rows.append((f"state {step['name']}", end - entered))
    return rows


def report(result: dict[str, Any]) -> str:
    t0 = result["dropped"]
    lines = [f"drop → LIVE: {result['live'] - t0:.2f} s (target ≤ {TARGET_SECONDS:.0f} s)"]
    lines.append(f"{'t (s)':>7}  {'dur (s)':>7}  what")
    for step in result["steps"]:
        entered, exited = _epoch(step["entered_at"]), _epoch(step["exited_at"])
        if entered is None:
            continue
        duration = (exited - entered) if exited is not None else float("nan")
        lines.append(f"{entered - t0:7.2f}  {duration:7.2f}  state {step['name']}")
    for transition in result["training_job"]["transitions"]:
        end = transition["end"]
        duration = end - transition["start"] if end else float("nan")
        lines.append(f"{transition['start'] - t0:7.2f}  {duration:7.2f}    training {transition['status']}")
    for step in result["deployment_steps"]:
        duration = step["exited"] - step["entered"] if step["exited"] else float("nan")
        lines.append(f"{step['entered'] - t0:7.2f}  {duration:7.2f}    deploy {step['name']}")
    for what, at in result["training_job"]["log"]:
        lines.append(f"{at - t0:7.2f}  {'':>7}      log: {what}")
    lines.append(f"{result['live'] - t0:7.2f}  {'':>7}  LIVE")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "pipeline.json")
    parser.add_argument(
        "--ab",
        type=int,
        default=0,
        help="also run N interleaved pairs: the source bundle with vs without the comment-only requirements.txt",
    )
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    pairs = []
    for _ in range(args.ab):
        pair = {}
        for variant, empty in (("with_requirements_txt", True), ("without", False)):
            load = os.getloadavg()[0]
            run = measure(with_empty_requirements=empty)
            training = {t["status"]: t for t in run["training_job"]["transitions"]}["Training"]
            pair[variant] = {
                "drop_to_live_s": run["live"] - run["dropped"],
                "training_phase_s": training["end"] - training["start"],
                "load_1min": round(load, 2),
            }
        pairs.append(pair)
        print(json.dumps(pair))
    result = measure()
    result["ab_requirements_txt"] = pairs
    result["machine"] = _machine()
    result["machine"]["load_average_before"] = [round(x, 2) for x in load_before]
    print(report(result))
    print(f"machine: {result['machine']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return 0 if result["live"] - result["dropped"] <= TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
