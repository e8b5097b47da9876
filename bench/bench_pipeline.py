"""Local drop → LIVE, and our own share of it (``make bench``; not part of ``make test``).

Brings the local cloud up in a throw-away state directory, drops the bundled sample (``recipes/sentiment/data``:
``test.csv`` then ``train_v1.csv`` as ``incoming/reviews/train.csv``, exactly as ``challenger data push`` does) and
follows the run to LIVE: from the end of the ``train.csv`` upload to the return of ``Registry.promote``, the one
transaction (PromoteModel's) that moves the champion pointer and marks the version LIVE. (``live_since`` has second
precision; an observer's poll of the table would add its own lag and load.)

The verdict is on **our own share** (issue 20): drop → LIVE minus the waits that behave as AWS does, each taken
from the run's own records and reported apart:

* **cold start after the update**: the local SageMaker's log record of each serverless cold start it emulated
  (``endpoint …: cold start, N s``, then it sleeps N s; ``CHALLENGER_LOCAL_COLD_START_SECONDS``);
* **Wait state**: every ``Wait`` state of the executions' histories (entered → exited) except the training poll's;
* **training poll lag**: from the training job's ``Completed`` (``SecondaryStatusTransitions``) to the end of the
  ``WaitForTraining`` after which ``CheckTraining`` sees it (the poll ticks every ``PollSeconds``);
* **framework container start-up**: from the job's ``Training`` transition (the container starts) to the recipe
  kit's first log line in the job's log (the toolkit has started, run ``train.py``, which imported scikit-learn,
  SciPy and the kit, then read the recipe and its ~1,200 rows: ~35 ms of ours, measured alone, left in the wait).

Our own share is everything else on the critical path, attributed from the same records plus timing hooks the
benchmark installs in its own process (no product code changes): each local Lambda invocation's start and end (a
wrapper around ``LocalLambdaRuntime._run``, the part that runs under the runtime's one-at-a-time lock), the
cold-start log records (a ``logging`` handler on ``challenger.local.sagemaker.service``), the return of
``Registry.promote`` (LIVE) and the garbage collector's pauses (``gc.callbacks``). Each instant of drop → LIVE goes to
exactly one label, the first that covers it in this order: the waits; the training job's own phases between
StartTraining and the poll that sees it done (the CheckTraining calls meanwhile are off the critical path); this
process's garbage collection pauses (they stall whichever Lambda or state is running); our
Lambda invocations; the Step Functions state that was running (deployment states before the outer DeployModel);
between states. So the labels add up to the total.

``--runs N`` measures N fresh clouds, each in a fresh process (as ``challenger local up`` starts one: nothing
imported, loaded or parsed by an earlier run helps, and no earlier run's garbage is collected inside a later one),
and judges the median of our share (the machine is shared; one run under load says little). ``--ab N`` also runs
N interleaved pairs with vs without the comment-only requirements.txt.
Prints a table, writes JSON; exit status 1 if our share misses the target.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "layers" / "core"))

DATA = ROOT / "recipes" / "sentiment" / "data"
OUR_SHARE_TARGET_S = 1.5
POLL = 0.2  # the observer's poll of the registry; LIVE's time comes from the record, not from this poll
TRAINING_POLL_WAIT = "WaitForTraining"
KIT_LOG = "challenger_kit:"
TOOLKIT_SUCCESS = "Reporting training SUCCESS"
TRAINING_WORK = "training: kit's first log → toolkit's SUCCESS (the recipe's and kit's work, train.py's exit)"
GC_LABEL = "Python garbage collection in the local cloud's process"

WAIT_COLD_START = "wait: cold start after the update (emulated serverless start)"
WAIT_STATE = "wait: Wait state"
WAIT_POLL = "wait: training poll lag (job Completed → the poll that sees it)"
WAIT_CONTAINER = "wait: framework container start-up (toolkit, train.py's imports)"
WAITS = (WAIT_COLD_START, WAIT_STATE, WAIT_POLL, WAIT_CONTAINER)


def _epoch(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _machine() -> dict[str, Any]:
    return {
        "arch": os.uname().machine,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
    }


# --- the benchmark's own timing hooks -----------------------------------------------------------------------------


class _ColdStarts(logging.Handler):
    """Collects the local SageMaker's 'endpoint %s: cold start, %.1f s' records (logged just before it sleeps)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "endpoint %s: cold start, %.1f s" and isinstance(record.args, tuple):
            endpoint, seconds = record.args  # the delay it then sleeps, unrounded
            self.records.append({"endpoint": endpoint, "start": record.created, "seconds": float(str(seconds))})


@contextmanager
def hooks() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Record each local Lambda invocation (name, cold, start, end) and each emulated endpoint cold start."""
    from challenger.local import lambda_runtime  # noqa: PLC0415 — after the path setup above
    from challenger_core.registry import Registry  # noqa: PLC0415 — the module the functions share (core layer)

    recorded: dict[str, list[dict[str, Any]]] = {"lambdas": [], "cold_starts": [], "promoted": [], "collections": []}
    runtime = lambda_runtime.LocalLambdaRuntime
    original = runtime.__dict__["_run"]
    promote = Registry.__dict__["promote"]

    def promoted(self: Any, *args: Any, **kwargs: Any) -> Any:
        outcome = promote(self, *args, **kwargs)
        recorded["promoted"].append({"at": time.time()})  # the transaction that makes the version LIVE returned
        return outcome

    def timed(self: Any, state: Any, event: Any, context: Any, region: str) -> Any:
        cold = not state.private_modules  # the function's modules are not loaded yet: this invocation imports them
        start = time.time()
        try:
            return original(self, state, event, context, region)
        finally:
            recorded["lambdas"].append(
                {
                    "function": state.spec.name,
                    "cold": cold,
                    "start": start,
                    "end": time.time(),
                    "thread": threading.current_thread().name,
                }
            )

    collections: list[dict[str, Any]] = []
    collecting: dict[str, float] = {}

    def collected(phase: str, info: dict[str, Any]) -> None:
        # This process's garbage collections (the moto server, the Lambdas and this benchmark share it): a
        # full collection stalls every thread, whichever Lambda or state happens to be running.
        if phase == "start":
            collecting["at"] = time.time()
        elif "at" in collecting:
            start = collecting.pop("at")
            collections.append({"generation": info["generation"], "start": start, "end": time.time()})

    handler = _ColdStarts()
    service_logger = logging.getLogger("challenger.local.sagemaker.service")
    level = service_logger.level
    if service_logger.getEffectiveLevel() > logging.INFO:
        service_logger.setLevel(logging.INFO)
    service_logger.addHandler(handler)
    runtime._run = timed  # type: ignore[method-assign]
    Registry.promote = promoted  # type: ignore[method-assign]
    gc.callbacks.append(collected)
    try:
        yield recorded
    finally:
        runtime._run = original  # type: ignore[method-assign]
        Registry.promote = promote  # type: ignore[method-assign]
        gc.callbacks.remove(collected)
        recorded["collections"] = collections
        service_logger.removeHandler(handler)
        service_logger.setLevel(level)
        recorded["cold_starts"] = handler.records


# --- the run ------------------------------------------------------------------------------------------------------


def drop_to_live(cloud: Any, promoted: list[dict[str, Any]], *, timeout: float = 300.0) -> dict[str, Any]:
    """Drop the sample and wait for a LIVE model, watching the registry table directly.

    Not through the API: the local cloud runs one Lambda at a time, so an observer calling `GET /runs/{id}` every
    50 ms would hold the pipeline's own Lambdas back (it did: 9-18 s measured that way). LIVE's time is when
    `Registry.promote` (PromoteModel's one transaction: pointer moved, version LIVE) returned, recorded by the
    hook, so this poll only decides when to stop and can be slow (costing the pipeline little CPU).
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
    live = None
    while time.monotonic() < deadline:
        live = next((model for model in registry.list_models() if model.status == ModelStatus.LIVE), None)
        if live is not None:
            break
        failed = [run for run in registry.list_runs() if run.status == RunStatus.FAILED]
        if failed:
            raise RuntimeError(f"run {failed[0].run_id} failed without a LIVE model: {failed[0].error}")
        time.sleep(POLL)
    if live is None or not promoted:
        raise RuntimeError(f"no LIVE model within {timeout:.0f} s")
    observed = time.time()
    sfn = cloud.clients["stepfunctions"]
    # The training execution ends a moment after the model went LIVE (RecordDeployed); wait for it.
    while time.monotonic() < deadline:
        running = [
            execution
            for machine in sfn.list_state_machines()["stateMachines"]
            for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
            if execution["status"] == "RUNNING"
        ]
        if not running:
            break
        time.sleep(POLL)
    return {"dropped": dropped, "live": promoted[0]["at"], "live_observed": observed}


def executions(cloud: Any) -> list[dict[str, Any]]:
    """Every execution's states from its history (entered/exited), with each state's type from the definition."""
    sfn = cloud.clients["stepfunctions"]
    found = []
    for machine in sfn.list_state_machines()["stateMachines"]:
        arn = machine["stateMachineArn"]
        definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
        types = {name: state["Type"] for name, state in definition["States"].items()}
        for execution in sfn.list_executions(stateMachineArn=arn)["executions"]:
            events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
            steps: list[dict[str, Any]] = []
            for event in events:
                at = event["timestamp"].timestamp()
                if "stateEnteredEventDetails" in event:
                    name = event["stateEnteredEventDetails"]["name"]
                    steps.append({"name": name, "type": types.get(name, "?"), "entered": at, "exited": None})
                elif "stateExitedEventDetails" in event and steps and steps[-1]["exited"] is None:
                    steps[-1]["exited"] = at
            found.append(
                {
                    "machine": machine["name"],
                    "name": execution["name"],
                    "start": execution["startDate"].timestamp(),
                    "stop": execution["stopDate"].timestamp() if execution.get("stopDate") else None,
                    "steps": steps,
                }
            )
    found.sort(key=lambda e: e["start"])
    return found


def _log_lines(job_dir: Path) -> list[tuple[str, float]]:
    """(what, epoch) from the toolkit's and the kit's log lines that carry a timestamp (local time, ms)."""
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


def training_job(cloud: Any) -> dict[str, Any]:
    import boto3  # noqa: PLC0415

    client = boto3.client("sagemaker", endpoint_url=cloud.sagemaker.url, region_name=cloud.region)
    # ListTrainingJobs is not emulated: the job's directory (the one with a toolkit log) names it.
    job_dir = next((cloud.state_dir / "sagemaker" / "jobs").glob("*/logs.txt")).parent
    description = client.describe_training_job(TrainingJobName=job_dir.name)
    return {
        "name": job_dir.name,
        "created": description["CreationTime"].timestamp(),
        "transitions": [
            {
                "status": t["Status"],
                "start": t["StartTime"].timestamp(),
                "end": t["EndTime"].timestamp() if t.get("EndTime") else None,
            }
            for t in description.get("SecondaryStatusTransitions", [])
        ],
        "log": _log_lines(job_dir),
    }


def measure(*, with_empty_requirements: bool = False) -> dict[str, Any]:
    from challenger.local import provision  # noqa: PLC0415
    from challenger.local.cloud import LocalCloud  # noqa: PLC0415

    # The "before" of the A/B: the bundle as it was, with the sentiment recipe's comment-only requirements.txt. The
    # local cloud publishes through the recipe publisher (cached), which loads recipes/kit/bundle.py on each call.
    publisher: Any = provision._publisher()
    original = publisher._bundle_module
    if with_empty_requirements:

        def keeping_requirements(recipes: Path) -> Any:
            bundle = original(recipes)
            bundle.names_requirements = lambda _path: True
            return bundle

        publisher._bundle_module = keeping_requirements

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as state, hooks() as recorded:
        started = time.monotonic()
        cloud = LocalCloud(state_dir=Path(state) / ".challenger", fresh=True, progress=lambda _: None)
        cloud.start()
        up_seconds = time.monotonic() - started
        try:
            result = drop_to_live(cloud, recorded["promoted"])
            result["executions"] = executions(cloud)
            result["training_job"] = training_job(cloud)
            result["cold_start_setting_seconds"] = cloud.sagemaker.cold_start_seconds
            result["cloud_start_seconds"] = up_seconds
        finally:
            cloud.stop()
            publisher._bundle_module = original
    result["lambdas"] = recorded["lambdas"]
    result["cold_starts"] = recorded["cold_starts"]
    result["collections"] = [
        c for c in recorded["collections"] if c["end"] > result["dropped"] and c["start"] < result["live"]
    ]
    result["load_average_before"] = [round(x, 2) for x in load]
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["breakdown"] = breakdown(result)
    return result


# --- attribution --------------------------------------------------------------------------------------------------

Interval = tuple[float, float, str]


def _training_intervals(result: dict[str, Any]) -> tuple[list[Interval], list[Interval]]:
    """(waits, our own) from the training job, clipped to the stretch StartTraining exit → the poll that sees it."""
    main = _main_execution(result)["steps"]
    start_training = next((s for s in main if s["name"] == "StartTraining" and s["exited"]), None)
    polls = [s for s in main if s["name"] == TRAINING_POLL_WAIT and s["exited"]]
    if start_training is None or not polls:
        return [], []
    begin, end = start_training["exited"], polls[-1]["exited"]
    job = result["training_job"]
    phases = {t["status"]: t for t in job["transitions"]}
    kit = next((at for what, at in job["log"] if KIT_LOG in what), None)
    success = next((at for what, at in job["log"] if TOOLKIT_SUCCESS in what), None)
    waits: list[Interval] = []
    ours: list[Interval] = []
    training = phases.get("Training")
    completed = phases.get("Completed")
    if training and kit is not None:
        waits.append((training["start"], kit, WAIT_CONTAINER))
    if completed:
        waits.append((completed["start"], end, WAIT_POLL))
    if training and training["end"] and kit is not None:
        done = success if success is not None else training["end"]
        ours.append((kit, done, TRAINING_WORK))
        ours.append((done, training["end"], "training: toolkit exit, local SageMaker notices (polls every 0.1 s)"))
    for status in ("Starting", "Downloading", "Uploading"):
        phase = phases.get(status)
        if phase and phase["end"]:
            ours.append((phase["start"], phase["end"], f"local SageMaker: training job {status}"))
    ours.append((begin, end, "training: rest of the stretch (job created → Starting)"))
    clip = [(max(a, begin), min(b, end), label) for a, b, label in waits + ours]
    return [i for i in clip if i[2] in WAITS], [i for i in clip if i[2] not in WAITS]


def _main_execution(result: dict[str, Any]) -> dict[str, Any]:
    """The training pipeline's execution (the deployment's is named '<run>-deploy' by DeployModel)."""
    return next(e for e in result["executions"] if not e["name"].endswith("-deploy"))


def intervals(result: dict[str, Any]) -> list[Interval]:
    """Labelled intervals, earlier in the list = higher priority."""
    out: list[Interval] = []
    for record in result["cold_starts"]:
        out.append((record["start"], record["start"] + record["seconds"], WAIT_COLD_START))
    for execution in result["executions"]:
        for step in execution["steps"]:
            if step["type"] == "Wait" and step["name"] != TRAINING_POLL_WAIT and step["exited"]:
                out.append((step["entered"], step["exited"], WAIT_STATE))
    training_waits, training_ours = _training_intervals(result)
    out += training_waits + training_ours
    # A collection stalls this process's threads (not the training job's or the model server's processes).
    for pause in result.get("collections", []):
        out.append((pause["start"], pause["end"], f"{GC_LABEL} (generation {pause['generation']})"))
    for call in result["lambdas"]:
        out.append(
            (call["start"], call["end"], f"Lambda {_short(call['function'])}{' (cold)' if call['cold'] else ''}")
        )
    # Nested (deployment) states before the outer ones: the outer DeployModel spans the whole nested execution.
    for execution in reversed(result["executions"]):
        for step in execution["steps"]:
            end = step["exited"] if step["exited"] is not None else result["live"]
            out.append((step["entered"], end, f"Step Functions: {step['name']} (outside its Lambda)"))
        stop = execution["stop"] or result["live"]
        out.append((execution["start"], stop, f"Step Functions: between states ({execution['machine']})"))
    out.append((result["dropped"], _main_execution(result)["start"], "S3 event → EventBridge → StartExecution"))
    return out


def _short(function: str) -> str:
    """challenger-ValidateDataFunction-… → ValidateData (whatever the template names it, shorter)."""
    name = function.split("-")[1] if function.count("-") >= 1 else function
    return name.removesuffix("Function") or function


def attribute(start: float, end: float, labelled: list[Interval]) -> dict[str, float]:
    """Seconds per label over [start, end]; each instant to the first interval covering it; rest 'unattributed'."""
    cuts = sorted({start, end, *(t for a, b, _ in labelled for t in (a, b) if start < t < end)})
    seconds: dict[str, float] = {}
    for a, b in itertools.pairwise(cuts):
        middle = (a + b) / 2
        label = next((lab for lo, hi, lab in labelled if lo <= middle < hi), "unattributed")
        seconds[label] = seconds.get(label, 0.0) + (b - a)
    return seconds


def breakdown(result: dict[str, Any]) -> dict[str, Any]:
    total = result["live"] - result["dropped"]
    labels = attribute(result["dropped"], result["live"], intervals(result))
    waits = {w: labels.pop(w, 0.0) for w in WAITS}
    ours = dict(sorted(labels.items(), key=lambda kv: -kv[1]))
    lambdas = sum(v for k, v in ours.items() if k.startswith("Lambda "))
    sfn = sum(v for k, v in ours.items() if k.startswith("Step Functions"))
    return {
        "total_s": total,
        "waits_s": waits,
        "our_share_s": total - sum(waits.values()),
        "our_share_by_label_s": ours,
        "our_share_groups_s": {
            "our Lambdas (on the critical path, the cold start's wait taken out)": lambdas,
            "Step Functions (moto's interpreter: state entry/exit, Task dispatch, startExecution.sync)": sfn,
            "garbage collection pauses (this process: moto, the Lambdas, the benchmark)": sum(
                v for k, v in ours.items() if k.startswith(GC_LABEL)
            ),
            "training job, ours and the local SageMaker's": sum(
                v for k, v in ours.items() if k.startswith(("training", "local SageMaker"))
            ),
            "other (upload → first state outside a Lambda)": sum(
                v
                for k, v in ours.items()
                if not k.startswith(("Lambda ", "Step Functions", "training", "local SageMaker", GC_LABEL))
            ),
        },
    }


# --- report -------------------------------------------------------------------------------------------------------


def timeline(result: dict[str, Any]) -> str:
    t0 = result["dropped"]
    rows: list[tuple[float, str]] = []
    for execution in result["executions"]:
        indent = "  " if execution["name"].endswith("-deploy") else ""
        for step in execution["steps"]:
            duration = (step["exited"] - step["entered"]) if step["exited"] is not None else float("nan")
            rows.append(
                (step["entered"], f"{step['entered'] - t0:7.2f}  {duration:7.2f}  {indent}state {step['name']}")
            )
    for transition in result["training_job"]["transitions"]:
        end = transition["end"]
        duration = end - transition["start"] if end else float("nan")
        rows.append(
            (
                transition["start"],
                f"{transition['start'] - t0:7.2f}  {duration:7.2f}    training {transition['status']}",
            )
        )
    for what, at in result["training_job"]["log"]:
        rows.append((at, f"{at - t0:7.2f}  {'':>7}      log: {what}"))
    for call in result["lambdas"]:
        if t0 <= call["start"] <= result["live"]:
            rows.append(
                (
                    call["start"],
                    f"{call['start'] - t0:7.2f}  {call['end'] - call['start']:7.2f}      "
                    f"Lambda {_short(call['function'])}{' (cold)' if call['cold'] else ''}",
                )
            )
    for record in result["cold_starts"]:
        rows.append(
            (record["start"], f"{record['start'] - t0:7.2f}  {record['seconds']:7.2f}      endpoint cold start")
        )
    rows.sort(key=lambda r: r[0])
    return "\n".join(
        [f"{'t (s)':>7}  {'dur (s)':>7}  what", *(r for _, r in rows), f"{result['live'] - t0:7.2f}  {'':>7}  LIVE"]
    )


def report(result: dict[str, Any]) -> str:
    b = result["breakdown"]
    lines = [
        f"drop → LIVE {b['total_s']:.2f} s (information; load average {result['load_average_before'][0]} before)",
        *(f"  {seconds:5.2f} s  {label}" for label, seconds in b["waits_s"].items()),
        f"  our own share {b['our_share_s']:.2f} s (target ≤ {OUR_SHARE_TARGET_S} s):",
        *(f"    {seconds:5.2f} s  {label}" for label, seconds in b["our_share_groups_s"].items()),
        "  of which, by item:",
        *(f"    {seconds:5.2f} s  {label}" for label, seconds in b["our_share_by_label_s"].items() if seconds >= 0.005),
    ]
    return "\n".join(lines)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over the runs of the total, each wait and our share; the verdict on the median of our share."""
    breakdowns = [r["breakdown"] for r in runs]
    median_share = statistics.median(b["our_share_s"] for b in breakdowns)
    return {
        "runs": len(runs),
        "total_s": statistics.median(b["total_s"] for b in breakdowns),
        "waits_s": {w: statistics.median(b["waits_s"][w] for b in breakdowns) for w in WAITS},
        "our_share_s": median_share,
        "our_share_groups_s": {
            group: statistics.median(b["our_share_groups_s"][group] for b in breakdowns)
            for group in breakdowns[0]["our_share_groups_s"]
        },
        "our_share_each_s": [round(b["our_share_s"], 3) for b in breakdowns],
        "total_each_s": [round(b["total_s"], 3) for b in breakdowns],
        "target_s": OUR_SHARE_TARGET_S,
        "ok": median_share <= OUR_SHARE_TARGET_S,
    }


def in_fresh_process(*, with_empty_requirements: bool = False) -> dict[str, Any]:
    """One `measure()` in a new interpreter (this script with --one): every run starts as `local up` does."""
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-run-") as directory:
        out = Path(directory) / "run.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--one", str(out)]
        if with_empty_requirements:
            command.append("--with-requirements-txt")
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0 or not out.is_file():
            raise RuntimeError(f"a run failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "pipeline.json")
    parser.add_argument("--runs", type=int, default=3, help="fresh clouds measured; the verdict is on the median")
    parser.add_argument(
        "--ab",
        type=int,
        default=0,
        help="also run N interleaved pairs: the source bundle with vs without the comment-only requirements.txt",
    )
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # internal: one run, its JSON to this path
    parser.add_argument("--with-requirements-txt", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        one = measure(with_empty_requirements=args.with_requirements_txt)
        args.one.write_text(json.dumps(one, default=str) + "\n", encoding="utf-8")
        return 0
    load_before = os.getloadavg()
    pairs = []
    for _ in range(args.ab):
        pair = {}
        for variant, empty in (("with_requirements_txt", True), ("without", False)):
            run = in_fresh_process(with_empty_requirements=empty)
            training = {t["status"]: t for t in run["training_job"]["transitions"]}["Training"]
            pair[variant] = {
                "drop_to_live_s": run["breakdown"]["total_s"],
                "training_phase_s": training["end"] - training["start"],
                "load_1min": run["load_average_before"][0],
            }
        pairs.append(pair)
        print(json.dumps(pair))
    runs = []
    for number in range(1, args.runs + 1):
        run = in_fresh_process()
        runs.append(run)
        print(f"\n--- run {number}/{args.runs} ---\n{timeline(run)}\n\n{report(run)}", flush=True)
    summary = summarize(runs)
    result = {
        "summary": summary,
        "runs": runs,
        "ab_requirements_txt": pairs,
        "machine": {**_machine(), "load_average_before": [round(x, 2) for x in load_before]},
    }
    verdict = "PASS" if summary["ok"] else "FAIL"
    print(f"\nmedian of {summary['runs']} run(s): drop → LIVE {summary['total_s']:.2f} s")
    for label, seconds in summary["waits_s"].items():
        print(f"  {seconds:5.2f} s  {label}")
    print(
        f"  our own share {summary['our_share_s']:.2f} s (each run: {summary['our_share_each_s']}) "
        f"— target ≤ {OUR_SHARE_TARGET_S} s: {verdict}"
    )
    print(f"machine: {result['machine']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
