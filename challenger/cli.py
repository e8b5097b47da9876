"""`challenger`: the command line for the local cloud and for a deployed stack (`--stack NAME`).

challenger local up [--fresh] [--approval-mode auto|manual] [--fast-clock N] [--parameter Name=Value ...]
challenger local demo [--exit] [--fast-clock N] [--parameter Name=Value ...]
challenger local token [--rotate]           (the API key and the dashboard link; --rotate: a new dashboard token)
challenger data push FILE [--dataset NAME] [--test FILE] [--wait]  (--wait: the run it started, or why none did)
challenger runs list | runs start [--dataset NAME] [--force] | runs show ID | runs wait [ID]
challenger models list                      (the recipe's metrics, its primary metric first)
challenger approve RUN|vN|latest [--comment TEXT] | reject RUN|vN|latest [--comment TEXT]
challenger rollback [--to VERSION] --reason TEXT  (recorded in the audit log)
challenger data trust FILE [--dataset NAME] --comment TEXT  (the dataset's trusted evaluation set: audited, versioned)
challenger deploy vN --comment TEXT         (deploy a version the policy kept out, against the verdict; audited)
challenger policy show|set [--dataset NAME] [--primary-metric M ...] --comment TEXT  (per-dataset policy versions)
challenger audit [--limit N]
challenger predict INSTANCE [INSTANCE ...]  (a JSON record, or a value of the recipe's shorthand feature)
challenger outbox [ID]                      (local cloud only)
challenger recipe new NAME --kind binary|multiclass|regression [--root DIR]  (a working recipe, data and tests)
challenger drift check                      (the champion's recent captures against its training baseline)
challenger batch score FILE [--name NAME] [--out FILE]  (score a CSV with the champion; waits, downloads the result)
challenger --stack NAME destroy --yes       (delete the stack, then empty and delete the buckets it retains)
challenger doctor [--stack NAME | --region R [--config-env ENV]]  (read-only preflight; exit 1 on a failed check)

Exit status: 0 done (a followed run SUCCEEDED), 1 a followed run FAILED, 2 a problem to fix (printed),
3 the run waits for a human decision (`challenger approve RUN`), 4 no run started (the data did not change).
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from challenger.scaffold import KINDS, ScaffoldError, new_recipe
from challenger_core.adapters.storage import Storage
from challenger_core.cost import RunCost, summary, usd
from challenger_core.errors import DataValidationError
from challenger_core.triggering import (
    INCOMING,
    SUCCESS,
    TRAIN_FILE,
    dataset_of,
    set_etag,
    set_parts,
    source_fingerprint,
)

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = Path(os.environ.get("CHALLENGER_STATE_DIR", ROOT / ".challenger"))
TERMINAL = ("SUCCEEDED", "FAILED")
AWAITING_APPROVAL = "AWAITING_APPROVAL"  # what `runs wait` returns as a run's status when a person must decide
EXIT_FAILED, EXIT_AWAITING_APPROVAL, EXIT_NOT_STARTED = 1, 3, 4
USER_AGENT = "challenger-cli/1.0"  # recorded in the audit log next to each decision
# What a server's text (an audit comment, a run's cause, an email) could use to drive the terminal: C0 controls
# but tab and newline, DEL, C1 (8-bit CSI/OSC: an OSC 52 clipboard write fits in an audit comment, issue 18), and
# the bidirectional overrides that reorder what is shown ("Trojan Source", CVE-2021-42574).
TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    """``text`` with every terminal control character shown as its escape (``\\x1b``), so it prints as text."""
    return TERMINAL_CONTROLS.sub(lambda m: ascii(m.group())[1:-1], text.replace("\r\n", "\n"))


def print(*values: object, sep: str = " ", end: str = "\n", file: Any = None, flush: bool = False) -> None:
    """Every print of this module (and of the demo, which prints through these functions): remote text never
    reaches the terminal raw."""
    builtins.print(*(escape_controls(str(value)) for value in values), sep=sep, end=end, file=file, flush=flush)


OPERATOR_PREFIX = "/operator"  # decisions: IAM (SigV4) on a stack, the local operator token locally


class CliError(Exception):
    """A problem the user can fix; printed without a traceback, exit status 2."""


class BearerToken(requests.auth.AuthBase):
    """The local cloud's operator token (`.challenger/local-token`), which its gateway accepts as the identity."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class SigV4(requests.auth.AuthBase):
    """Sign a request for API Gateway's IAM authorization (service `execute-api`) with the caller's credentials."""

    def __init__(self, session: boto3.Session, region: str) -> None:
        self.session = session
        self.region = region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        credentials = self.session.get_credentials()
        if credentials is None:
            raise CliError("no AWS credentials: decisions on a stack are signed with your IAM identity (SigV4)")
        signed = AWSRequest(
            method=request.method,
            url=request.url,
            data=request.body,
            headers={k: v for k, v in request.headers.items() if k.lower() in ("content-type", "host")},
        )
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(signed)
        request.headers.update(dict(signed.headers))
        return request


@dataclass
class Target:
    """Where the commands go: the API (URL + key for reads, operator credential for decisions), the data bucket."""

    api_url: str
    api_key: str
    data_bucket: str
    s3: Any
    outbox_dir: Path | None = None
    operator_auth: requests.auth.AuthBase | None = None
    aws: Callable[[str], Any] | None = None  # a boto3 client for the stack's region and endpoints
    resource: Callable[[str], str] | None = None  # a template logical id → its physical name
    next_cursor: str | None = None  # the last call's `X-Next-Cursor`: a paginated list has more (see `every`)

    def call(
        self, method: str, path: str, body: Any = None, *, ok: Sequence[int] = (200, 202), operator: bool = False
    ) -> Any:
        """Call the API: reads and predictions with the API key; `operator=True` for decisions (/operator door)."""
        if operator and self.operator_auth is None:
            raise CliError("no operator credential for this target")
        url = f"{self.api_url}{OPERATOR_PREFIX if operator else ''}{path}"
        headers = {"User-Agent": USER_AGENT} | ({} if operator else {"x-api-key": self.api_key})
        try:
            response = requests.request(
                method,
                url,
                json=body,
                headers=headers,
                auth=self.operator_auth if operator else None,
                timeout=30,
            )
        except requests.ConnectionError as exc:
            raise CliError(f"cannot reach the API at {self.api_url}: is `challenger local up` running?") from exc
        payload = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
        if response.status_code not in ok:
            message = payload.get("message") or payload.get("detail") or response.text[:300]
            raise CliError(f"{method} {path}: HTTP {response.status_code}: {message}")
        self.next_cursor = response.headers.get("X-Next-Cursor")  # a paginated list's next page (functions/api)
        return payload

    def every(self, path: str, *, page: int = 500) -> list[Any]:
        """A whole paginated list (GET /models, /runs, /batch): every page, following `X-Next-Cursor`."""
        items: list[Any] = []
        cursor: str | None = None
        while True:
            query = f"limit={page}" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
            items.extend(self.call("GET", f"{path}{'&' if '?' in path else '?'}{query}"))
            cursor = self.next_cursor
            if not cursor:
                return items


def local_target(state_dir: Path = STATE_DIR) -> Target:
    path = state_dir / "local.json"
    if not path.exists():
        raise CliError(f"no local cloud is running ({path} not found): start one with `challenger local up`")
    info = json.loads(path.read_text())
    s3 = boto3.client(
        "s3",
        endpoint_url=info["endpoint_url"],
        region_name=info["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 — moto's dummy credentials
    )

    def aws(service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=info["endpoint_url"],
            region_name=info["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 — moto's dummy credentials
        )

    names = {"BatchPipeline": f"{info['stack_name']}-batch"}
    return Target(
        info["api_url"],
        info["api_key"],
        info["data_bucket"],
        s3,
        Path(info["outbox_dir"]),
        operator_auth=BearerToken(info["console_token"]),
        aws=aws,
        resource=lambda logical_id: names.get(logical_id, f"{info['stack_name']}-{logical_id}"),
    )


def stack_target(stack: str) -> Target:
    """Resolve a deployed stack's outputs (ApiUrl, ApiKeyId, DataBucketName) with the caller's AWS credentials."""
    described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    key = boto3.client("apigateway").get_api_key(apiKey=outputs["ApiKeyId"], includeValue=True)["value"]
    session = boto3.Session()
    api_url = outputs["ApiUrl"].rstrip("/")
    # https://<id>.execute-api.<region>.amazonaws.com/<stage>: sign for the API's own region.
    region = api_url.split(".execute-api.")[-1].split(".")[0] if ".execute-api." in api_url else session.region_name
    cloudformation = boto3.client("cloudformation")

    def resource(logical_id: str) -> str:
        found = cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)
        return str(found["StackResourceDetail"]["PhysicalResourceId"])

    return Target(
        api_url,
        key,
        outputs["DataBucketName"],
        boto3.client("s3"),
        operator_auth=SigV4(session, str(region)),
        aws=boto3.client,  # type: ignore[arg-type]
        resource=resource,
    )


# Commands ------------------------------------------------------------------------------------------


def data_push(target: Target, file: Path, dataset: str, test: Path | None) -> None:
    """Upload test.csv first (if any): the train.csv upload is what starts the run.

    A directory is a dataset of many parts (issue 24): its .csv or .parquet files replace what is under
    incoming/<dataset>/train/, then an empty _SUCCESS, whose upload starts one run for the whole set. The dataset
    name is checked first with the trigger's own rule: a name it refuses would upload fine and then start nothing.
    """
    try:
        dataset_of(f"{INCOMING}{dataset}/{TRAIN_FILE}")
    except DataValidationError as exc:
        raise CliError(str(exc)) from exc
    uploads: list[tuple[Path | None, str]] = [(test, "test.csv"), (file, "train.csv")]
    if file.is_dir():
        parts = sorted(p for p in file.iterdir() if p.is_file() and p.suffix in (".csv", ".parquet"))
        if not parts:
            raise CliError(f"{file} holds no .csv or .parquet part")
        uploads = [(test, "test.csv"), *((part, f"train/{part.name}") for part in parts)]
        # The set is exactly this directory (as Spark's overwrite mode leaves it): other parts would join the run.
        prefix = f"incoming/{dataset}/train/"
        listed = target.s3.list_objects_v2(Bucket=target.data_bucket, Prefix=prefix).get("Contents", [])
        for stale in sorted({o["Key"] for o in listed} - {prefix + part.name for part in parts}):
            target.s3.delete_object(Bucket=target.data_bucket, Key=stale)
            print(f"removed s3://{target.data_bucket}/{stale} (not in {file})")
    for source, name in uploads:
        if source is None:
            continue
        if not source.is_file():
            raise CliError(f"{source} is not a file")
        key = f"incoming/{dataset}/{name}"
        target.s3.upload_file(str(source), target.data_bucket, key)
        print(f"uploaded {source} → s3://{target.data_bucket}/{key}")
    if file.is_dir():
        key = f"incoming/{dataset}/train/_SUCCESS"
        target.s3.put_object(Bucket=target.data_bucket, Key=key, Body=b"")
        print(f"uploaded the set's marker → s3://{target.data_bucket}/{key}")


@dataclass(frozen=True)
class RecipeView:
    """What the CLI shows of the stack's recipe (GET /health): its metrics (the primary one first), the fields of
    its prediction record and its class names (value → name, the recipe's order; empty for regression)."""

    name: str
    metrics: tuple[str, ...]
    fields: tuple[str, ...]
    labels: dict[str, str]

    def class_name(self, value: Any) -> str:
        """A class value as shown: its name and value (``spam (1)``), or the value when the recipe has no name."""
        name = self.labels.get(str(value))
        return f"{name} ({value})" if name is not None and name != str(value) else str(value)


def recipe_view(target: Target) -> RecipeView:
    """The stack's recipe as its API describes it (the CLI hard-codes no metric, field or class of any recipe)."""
    health = target.call("GET", "/health")
    policy = health.get("policy") or {}
    prediction = health.get("prediction") or {}
    primary = policy.get("primary_metric")
    metrics = ([primary] if primary else []) + [m for m in policy.get("directions") or {} if m != primary]
    return RecipeView(
        name=str(policy.get("recipe") or ""),
        metrics=tuple(metrics),
        fields=tuple(prediction.get("fields") or ()),
        labels={str(k): str(v) for k, v in (prediction.get("labels") or {}).items()},
    )


def default_dataset(target: Target) -> str:
    """`--dataset` left out: the stack's recipe name (a dataset per recipe), never a name of one recipe's data."""
    name = recipe_view(target).name
    if not name:
        raise CliError("the API does not name its recipe: pass --dataset NAME")
    return name


def _etag(target: Target, key: str) -> str | None:
    try:
        return str(target.s3.head_object(Bucket=target.data_bucket, Key=key)["ETag"]).strip('"')
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None  # no test.csv: the usual case
        raise CliError(f"cannot read s3://{target.data_bucket}/{key}: {exc}") from exc


def push_and_follow(
    target: Target,
    file: Path,
    dataset: str,
    test: Path | None,
    *,
    timeout: float = 60,
    echo: Callable[[str], None] = print,
) -> str | None:
    """Upload a drop, then say which run it started (its id) or why none started (None).

    The trigger skips a drop whose train.csv and test.csv are the very bytes of a run that succeeded or is running
    (`triggering.already_trained`: same dataset, same S3 ETags): the CLI applies the same rule to the registry's
    runs, so it can say so at once instead of waiting for a run that never comes.
    """
    before = {r["run_id"] for r in target.call("GET", "/runs")}
    data_push(target, file, dataset, test)
    if file.is_dir():  # a set: the trigger's own fingerprint of its parts (names and ETags, issue 24)
        train_etag = set_etag(set_parts(Storage(target.s3), target.data_bucket, dataset, SUCCESS))
    else:
        train_etag = _etag(target, f"{INCOMING}{dataset}/{TRAIN_FILE}") or ""
    fingerprint = source_fingerprint(train_etag, _etag(target, f"{INCOMING}{dataset}/test.csv"))
    deadline = time.monotonic() + timeout
    while True:
        runs = target.call("GET", "/runs")
        mine = [r for r in runs if r["dataset"] == dataset and r.get("source_fingerprint") == fingerprint]
        started = next((r for r in mine if r["run_id"] not in before), None)
        if started is not None:
            echo(f"run {started['run_id']} started (`challenger runs wait {started['run_id']}` to follow it)")
            return str(started["run_id"])
        same = next((r for r in mine if r["status"] in ("SUCCEEDED", "RUNNING")), None)
        if same is not None:
            model = f"v{same['version']}'s" if same.get("version") else f"run {same['run_id']}'s"
            echo(
                f"no run started: same rows as {model} data (run {same['run_id']}, {same['status']}) — "
                f"`challenger runs start --dataset {dataset} --force` to retrain"
            )
            return None
        if time.monotonic() > deadline:
            raise CliError(
                f"no run started within {timeout:.0f}s of the upload: is the stack's trigger running? "
                "(`challenger runs list`; retrain by hand: `challenger runs start --dataset "
                f"{dataset} --force`)"
            )
        time.sleep(0.5)


def runs_list(target: Target) -> None:
    rows = [
        (
            r["run_id"],
            r["status"],
            r.get("outcome") or "",
            f"v{r['version']}" if r.get("version") else "",
            usd(r["cost"]["total_usd"]) if r.get("cost") else "",
            (r.get("error") or "")[:70],
        )
        for r in target.call("GET", "/runs")
    ]
    print_table(("run", "status", "outcome", "model", "cost", "error"), rows)


def runs_start(target: Target, dataset: str | None, force: bool) -> None:
    result = target.call("POST", "/runs", {"dataset": dataset, "force": force}, operator=True)
    print(f"run {result['run_id']} started" if result["started"] else f"not started: {result['reason']}")


def runs_show(target: Target, run_id: str) -> dict[str, Any]:
    detail: dict[str, Any] = target.call("GET", f"/runs/{run_id}", ok=(200, 410), operator=True)  # with decisions
    if "run" not in detail:  # 410: the execution history is gone (90 days on AWS; a local restart): the record stays
        recorded = next((r for r in target.call("GET", "/runs") if r["run_id"] == run_id), None)
        if recorded is None:
            raise CliError(detail.get("message") or f"run {run_id}: its history is gone")
        detail = {"run": recorded, "steps": [], "cost": recorded.get("cost"), "gone": detail.get("message")}
    run = detail["run"]
    print(f"run {run['run_id']}  {run['status']}  {run.get('outcome') or ''}  dataset={run['dataset']}")
    if detail.get("gone"):
        print(f"  steps: not available ({detail['gone']})")
    for step in detail["steps"]:
        print(
            f"  {'✔' if step['status'] == 'succeeded' else '✘' if step['status'] == 'failed' else '…'} {step['name']}"
        )
    if run.get("error"):
        print(f"  cause: {run['error']}")
    if detail.get("cost"):
        print(f"  cost: {summary(RunCost.model_validate(detail['cost']))}")
    for entry in detail.get("audit") or []:
        print(f"  {entry['at']}  {entry['action']} by {entry['actor']} via {entry['via']}: {entry['detail']}")
    if run.get("version"):
        view = recipe_view(target)
        model = target.call("GET", f"/models/{run['version']}")
        shown = view.metrics or tuple(sorted(model.get("metrics") or {}))
        print(f"  model v{run['version']}: " + "  ".join(f"{m}={_metric(model['metrics'].get(m))}" for m in shown))
        for line in confusion_lines(model.get("confusion_matrix") or [], view):
            print(f"  {line}")
    for line in shadow_lines(detail.get("verdict") or {}):
        print(f"  {line}")
    return detail


def shadow_lines(verdict: dict[str, Any]) -> list[str]:
    """The shadow stage (issue 23): its rules as the verdict states them, then what was measured."""
    lines = [f"shadow: {verdict['shadow_note']}"] if verdict.get("shadow_note") else []
    lines += [f"  {reason}" for reason in verdict.get("reasons") or [] if reason.startswith("shadow-")]
    measured = verdict.get("shadow")
    if not measured:
        return lines
    n = measured["requests"]
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(measured["shadow_errors_by_kind"].items()))
    lines.append(
        f"  requests {n}: shadow errors {measured['shadow_errors']}{f' ({kinds})' if kinds else ''}, "
        f"champion errors {measured['champion_errors']}"
    )
    if measured.get("latency_pairs"):
        lines.append(
            f"  latency on {measured['latency_pairs']} requests: p50 {measured['shadow_p50_ms']:.0f} ms vs "
            f"{measured['champion_p50_ms']:.0f}, p99 {measured['shadow_p99_ms']:.0f} ms vs "
            f"{measured['champion_p99_ms']:.0f} (shadow vs champion)"
        )
    if measured.get("compared"):
        share = measured["agreed"] / measured["compared"]
        lines.append(f"  agreement {measured['agreed']}/{measured['compared']} ({share:.1%})")
    worst = sorted((s for s in measured.get("disagreement") or [] if s["disagreed"]), key=lambda s: -s["disagreed"])
    lines += [f"    disagreed {s['disagreed']}/{s['requests']} where {s['slice']} = {s['value']}" for s in worst[:5]]
    return lines


def _metric(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def confusion_lines(matrix: Sequence[Sequence[int]], view: RecipeView) -> list[str]:
    """A confusion matrix (rows: true class, columns: predicted, in the recipe's label order) with class names."""
    if not matrix:
        return []
    names = list(view.labels.values())
    if len(names) != len(matrix):  # a recipe changed since: show positions rather than wrong names
        names = [str(i) for i in range(len(matrix))]
    corner = "true \\ predicted"
    rows = [[corner, *names], *[[name, *map(str, counts)] for name, counts in zip(names, matrix, strict=True)]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["confusion matrix (hold-out):"] + [
        "  " + "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)).rstrip()
        for row in rows
    ]


def latest_run_id(target: Target, *, newer_than: str = "", timeout: float = 30) -> str:
    """The newest run (optionally: one newer than a run id), waiting briefly for a just-pushed drop."""
    deadline = time.monotonic() + timeout
    while True:
        runs = target.call("GET", "/runs")
        if runs and runs[0]["run_id"] > newer_than:
            return str(runs[0]["run_id"])
        if time.monotonic() > deadline:
            raise CliError(
                f"no new run started within {timeout:.0f}s: either the upload is not incoming/<dataset>/train.csv, "
                "or the data is unchanged since an earlier run (retrain anyway: `challenger runs start --force`)"
            )
        time.sleep(0.5)


def runs_wait(
    target: Target,
    run_id: str | None,
    *,
    timeout: float = 900,
    echo: Callable[[str], None] = print,
    stop_at_approval: bool = False,
) -> dict[str, Any]:
    """Follow a run state by state until it ends; returns the run.

    When the run reaches the approval step it says so once, with the command that decides it; with
    ``stop_at_approval`` it returns there (status ``AWAITING_APPROVAL``) instead of waiting for the person.
    """
    run_id = run_id or latest_run_id(target)
    echo(f"following run {run_id}")
    seen = 0
    hinted = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = target.call("GET", f"/runs/{run_id}")
        for step in detail["steps"][seen:]:
            echo(f"  · {step['name']}")
        seen = len(detail["steps"])
        run: dict[str, Any] = detail["run"]
        pending = None if hinted or run["status"] in TERMINAL else _pending_approval(target, detail)
        if pending is not None:
            hinted = True
            echo(
                f"run {run_id}: v{pending['version']} waiting for approval: `challenger approve {run_id}` "
                f"(or `challenger reject {run_id}`; `approve v{pending['version']}` works too)"
            )
            if stop_at_approval:
                return {**run, "status": AWAITING_APPROVAL, "version": pending["version"]}
        if run["status"] in TERMINAL:
            verdict = run.get("outcome") or run["status"]
            echo(f"run {run_id}: {run['status']} ({verdict})" + (f": {run['error']}" if run.get("error") else ""))
            return run
        time.sleep(0.5)
    raise CliError(f"run {run_id} still running after {timeout:.0f}s")


def _pending_approval(target: Target, detail: dict[str, Any]) -> dict[str, Any] | None:
    """The run's pending approval while its pipeline is at the approval step (GET /approvals), else None."""
    steps = detail.get("steps") or []
    if not steps or steps[-1]["name"] != "RequestApproval" or steps[-1]["status"] != "entered":
        return None
    run_id = detail["run"]["run_id"]
    return next((a for a in target.call("GET", "/approvals?limit=500") if a["run_id"] == run_id), None)


def models_list(target: Target) -> None:
    """Every model version with the recipe's metrics as columns, its primary metric first."""
    models = target.every("/models")
    metrics = recipe_view(target).metrics or tuple(sorted({k for m in models for k in m.get("metrics") or {}}))
    rows = [
        (
            f"v{m['version']}",
            m["status"],
            *(_metric((m.get("metrics") or {}).get(k)) for k in metrics),
            m["dataset"],
            m["created_at"],
        )
        for m in models
    ]
    print_table(("model", "status", *metrics, "dataset", "created"), rows)


def resolve_run(target: Target, ref: str) -> str:
    """The run a decision is about: a run id as given, ``vN`` (the run whose challenger vN waits for a decision) or
    ``latest`` (the newest challenger waiting for one)."""
    if ref != "latest" and not re.fullmatch(r"v\d+", ref):
        return ref
    pending = target.call("GET", "/approvals?limit=500")
    if not pending:
        raise CliError("no challenger is waiting for a decision (`challenger runs list` shows the runs)")
    if ref == "latest":
        return str(max(pending, key=lambda a: a["version"])["run_id"])
    match = next((a for a in pending if a["version"] == int(ref[1:])), None)
    if match is None:
        waiting = ", ".join(f"v{a['version']} (run {a['run_id']})" for a in pending)
        raise CliError(f"{ref} is not waiting for a decision; these are: {waiting}")
    return str(match["run_id"])


def trusted_push(target: Target, file: Path, dataset: str, comment: str) -> dict[str, Any]:
    """Make `file` the dataset's next trusted evaluation set (issue 19): operators only, audited."""
    if not comment.strip():
        raise CliError("the trusted evaluation set changes only with a reason: add --comment")
    body = {"csv": file.read_text(encoding="utf-8-sig"), "comment": comment}
    trusted: dict[str, Any] = target.call("POST", f"/datasets/{dataset}/trusted-set", body, ok=(201,), operator=True)
    print(f"{dataset}: trusted evaluation set v{trusted['version']} ({trusted['rows']} rows)")
    return trusted


def deploy_against_verdict(target: Target, version: str, comment: str) -> None:
    """Deploy a version that never was live, overruling the policy's verdict (audited with the comment)."""
    digits = version.removeprefix("v")
    if not digits.isdigit():
        raise CliError(f"deploy takes a version like v4, not {version!r}")
    started = target.call("POST", "/deploy", {"version": int(digits), "comment": comment}, operator=True)
    print(f"v{started['version']}: deploying against the verdict ({started['verdict']})")


def policy_set(target: Target, args: argparse.Namespace) -> None:
    """A new promotion-policy version for a dataset; fields left out keep the stack's defaults."""
    names = (
        "primary_metric",
        "min_improvement",
        "confidence",
        "floor_metric",
        "metric_floor",
        "guardrail_tolerance",
        "label_shift_tolerance",
    )
    body: dict[str, Any] = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.guardrails is not None:
        body["guardrail_metrics"] = [] if args.guardrails == "none" else args.guardrails.split(",")
    chosen = target.call(
        "POST", f"/datasets/{args.dataset}/policy", {**body, "comment": args.comment}, ok=(201,), operator=True
    )
    print(f"{args.dataset}: promotion policy v{chosen['version']}")


def decide(target: Target, run_id: str, decision: str, comment: str) -> None:
    """Approve or reject the challenger a run waits on (``run_id``: a run id, ``vN`` or ``latest``)."""
    run_id = resolve_run(target, run_id)
    result = target.call("POST", f"/runs/{run_id}/approval", {"decision": decision, "comment": comment}, operator=True)
    print(f"v{result['version']} {result['decision'].lower()} (run {run_id})")


def rollback(target: Target, version: int | None, *, reason: str = "", wait: bool = True, timeout: float = 300) -> int:
    """Start a rollback (its reason goes to the audit log) and follow its deployment pipeline execution to the end
    (GET /deployments/{name})."""
    body: dict[str, Any] = {"version": version} if version else {}
    if reason:
        body["reason"] = reason
    started = target.call("POST", "/rollback", body, operator=True)
    version = int(started["version"])
    name = str(started["execution_arn"]).rsplit(":", 1)[-1]
    print(f"rolling back to v{version} (blue/green, smoke-tested)…")
    deadline = time.monotonic() + timeout
    while wait and time.monotonic() < deadline:
        deployment = target.call("GET", f"/deployments/{name}")
        if deployment["status"] == "SUCCEEDED":
            print(f"v{version} is live")
            return version
        if deployment["status"] != "RUNNING":
            reason = target.call("GET", f"/models/{version}").get("failure_reason") or deployment.get("cause")
            raise CliError(f"rollback to v{version} failed: {reason or deployment['status']}")
        time.sleep(0.5)
    if wait:
        raise CliError(f"rollback to v{version} still running after {timeout:.0f}s (deployment {name})")
    return version


def audit_list(target: Target, limit: int) -> None:
    """The newest decisions (approve, reject, rollback, retrain): who, when, from where, why."""
    entries: list[dict[str, Any]] = []
    after: str | None = None
    while len(entries) < limit:
        query = f"?limit={min(limit - len(entries), 500)}" + (f"&cursor={quote(after, safe='')}" if after else "")
        page = target.call("GET", f"/audit{query}", operator=True)
        entries.extend(page["entries"])
        after = page.get("next")
        if not after:
            break
    rows = [
        (
            e["at"],
            e["action"],
            e["actor"],
            e["via"],
            e.get("source_ip") or "",
            f"v{e['version']}" if e.get("version") else "",
            e.get("run_id") or "",
            (e.get("comment") or "")[:40],
            e.get("detail") or "",
        )
        for e in entries
    ]
    print_table(("when", "action", "who", "via", "from", "model", "run", "comment", "detail"), rows)


def predict(target: Target, arguments: Sequence[str]) -> dict[str, Any]:
    """Each argument is one instance: a JSON record, or a bare value of the recipe's shorthand feature.

    One row per instance with every field of the recipe's prediction record (class values with their names).
    """
    view = recipe_view(target)
    instances = [_instance(text) for text in arguments]
    answer: dict[str, Any] = target.call("POST", "/predict", {"instances": instances})
    fields = list(view.fields) or sorted({k for p in answer["predictions"] for k in p})
    rows = [
        (
            f"v{answer['model_version']}",
            *(_field(view, name, prediction.get(name)) for name in fields),
            text,
        )
        for text, prediction in zip(arguments, answer["predictions"], strict=True)
    ]
    print_table(("model", *fields, "instance"), rows)
    return answer


def _field(view: RecipeView, name: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return view.class_name(value) if name == "label" and view.labels else str(value)


def _instance(text: str) -> Any:
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def describe_prediction(prediction: dict[str, Any]) -> str:
    """A prediction in a few characters, whatever the recipe's fields: its label name and score if it has them."""
    shown = [str(prediction[name]) for name in ("label_name", "label", "value") if name in prediction][:1]
    if isinstance(prediction.get("score"), int | float):
        shown.append(f"{prediction['score']:.3f}")
    return " ".join(shown) or json.dumps(prediction)


def outbox(target: Target, message_id: str | None) -> None:
    if target.outbox_dir is None:
        raise CliError("the outbox exists in the local cloud only; on AWS the emails go to NotificationEmail")
    from challenger.local.outbox import read_messages  # noqa: PLC0415 — local-only module

    messages = read_messages(target.outbox_dir)
    if message_id:
        message = next((m for m in messages if m.id.startswith(message_id)), None)
        if message is None:
            raise CliError(f"no message {message_id} in {target.outbox_dir}")
        print(f"Subject: {message.subject}\nDate: {message.date}\n\n{message.body}")
        return
    print_table(("id", "date", "subject"), [(m.id[:12], str(m.date), m.subject) for m in messages])


def drift_check(target: Target) -> dict[str, Any]:
    """Run the drift check now (DriftCheckFunction, as its schedule would) and print its verdict."""
    assert target.aws is not None
    assert target.resource is not None
    response = target.aws("lambda").invoke(FunctionName=target.resource("DriftCheckFunction"), Payload=b"{}")
    result: dict[str, Any] = json.loads(response["Payload"].read())
    if response.get("FunctionError"):
        raise CliError(f"the drift check failed: {result.get('errorMessage', result)}")
    if not result.get("checked"):
        print(f"no drift check: {result.get('reason')}")
    elif result.get("skipped"):
        print(f"v{result['version']}: no verdict: {result['skipped']}")
    else:
        verdict = "DRIFT" if result["alert"] else "no drift"
        print(f"v{result['version']}: {verdict} (largest PSI {result['score']:.3f}); action: {result['action']}")
    return result


def batch_score(target: Target, file: Path, name: str, out: Path | None, *, timeout: float = 900) -> Path:
    """Upload a CSV to batch/<name>.csv, follow its BatchPipeline execution, download the scored file."""
    assert target.aws is not None
    assert target.resource is not None
    if not file.is_file():
        raise CliError(f"{file} is not a file")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}", name):
        raise CliError(f"batch name {name!r} must be 1-60 letters, digits, '-' or '_' (use --name)")
    sfn = target.aws("stepfunctions")
    pipeline = sfn.describe_state_machine(
        stateMachineArn=_state_machine_arn(target, sfn, target.resource("BatchPipeline"))
    )["stateMachineArn"]
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=pipeline)["executions"]}
    key = f"batch/{name}.csv"
    target.s3.upload_file(str(file), target.data_bucket, key)
    print(f"uploaded {file} → s3://{target.data_bucket}/{key}; scoring with the champion…")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for execution in sfn.list_executions(stateMachineArn=pipeline)["executions"]:
            if execution["executionArn"] in before or execution["status"] == "RUNNING":
                continue
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if key not in described.get("input", ""):
                continue
            if described["status"] != "SUCCEEDED":
                raise CliError(f"batch {name} {described['status']}: {described.get('cause', '')}")
            result = json.loads(described["output"])["result"]
            destination = out or file.with_name(f"{file.stem}.out.csv")
            bucket, result_key = result["output_uri"][len("s3://") :].split("/", 1)
            target.s3.download_file(bucket, result_key, str(destination))
            print(f"{result['rows']} row(s) scored by v{result['version']} → {destination}")
            return destination
        time.sleep(1)
    raise CliError(f"batch {name} not finished after {timeout:.0f}s")


def destroy(stack: str, cloudformation: Any, s3: Any, *, confirmed: bool, echo: Callable[[str], None] = print) -> None:
    """Delete a deployed stack and everything it leaves behind.

    `sam delete` removes the stack; its Custom::SageMakerCleanup removes the endpoint, configs and models first.
    CloudFormation deletes only empty buckets: a bucket it deletes with the stack (FrontendBucket, once the
    dashboard was published) would leave the stack DELETE_FAILED, so every bucket is emptied first, each object
    version and delete marker. The data and artifact buckets are `DeletionPolicy: Retain` (they must survive a
    mistaken stack update or delete, docs/decisions/0002-template.md): those are deleted after the stack is gone,
    emptied again of anything written while it was being deleted.
    """
    if not confirmed:
        raise CliError(f"destroy deletes stack {stack}, its data, models and artifacts for good: add --yes")
    resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    buckets = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::S3::Bucket"]
    for bucket in buckets:
        removed = _empty(s3, bucket)
        echo(f"emptied bucket {bucket}" + (f" ({removed} object versions)" if removed else ""))
    echo(f"deleting stack {stack} (its SageMaker endpoint, configs and models go first)…")
    cloudformation.delete_stack(StackName=stack)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=stack)
    for bucket in buckets:
        _empty_and_delete(s3, bucket)
        echo(f"deleted bucket {bucket}")
    echo(f"stack {stack} is gone")


def _empty(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker of a bucket; 0 when the bucket is already gone."""
    removed = 0
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            versions = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            for start in range(0, len(versions), 1000):  # DeleteObjects takes up to 1,000 keys
                chunk = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions[start : start + 1000]]
                s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
                removed += len(chunk)
    except s3.exceptions.NoSuchBucket:
        pass  # already gone (deleted with the stack, or by hand)
    return removed


def _empty_and_delete(s3: Any, bucket: str) -> int:
    removed = _empty(s3, bucket)
    with contextlib.suppress(s3.exceptions.NoSuchBucket):  # not retained (went with the stack), or deleted by hand
        s3.delete_bucket(Bucket=bucket)
    return removed


def run_doctor(stack: str | None, region: str | None, config_env: str | None, state_dir: Path = STATE_DIR) -> int:
    """`challenger doctor`: AWS with the caller's credentials (--stack, --region), else the local cloud."""
    from challenger import doctor  # noqa: PLC0415 — cfn-lint's decoder only for this command

    if stack or region:
        session = boto3.Session(region_name=region)
        if session.region_name is None:
            raise CliError("no region: pass --region or configure one (AWS_REGION, ~/.aws/config)")
        client: Callable[[str], Any] = session.client  # type: ignore[assignment]
        cloudformation = doctor.read_only(session.client("cloudformation"))
        plan = (
            doctor.stack_plan(cloudformation, stack, session.region_name)
            if stack
            else doctor.template_plan(session.region_name, config_env)
        )
    else:
        target = local_target(state_dir)
        assert target.aws is not None
        client = target.aws
        plan = doctor.template_plan(json.loads((state_dir / "local.json").read_text())["region"], config_env)
        topics = [t["TopicArn"] for t in doctor.read_only(client("sns")).list_topics()["Topics"]]
        name = target.resource("NotificationTopic") if target.resource else "NotificationTopic"
        topic = next((arn for arn in topics if arn.endswith(f":{name}")), None)
        plan = plan.model_copy(update={"topic_arn": topic, "stack": "the local cloud"})
    report = doctor.diagnose(plan, client)
    print(doctor.render(report))
    return 1 if report.failed else 0


def _state_machine_arn(target: Target, sfn: Any, name: str) -> str:
    if name.startswith("arn:"):
        return name
    machines = sfn.list_state_machines()["stateMachines"]
    match = next((m["stateMachineArn"] for m in machines if m["name"] == name), None)
    if match is None:
        raise CliError(f"no state machine {name} (is the stack up to date?)")
    return str(match)


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [list(map(str, header)), *[list(map(str, row)) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for index, row in enumerate(cells):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


# Local cloud ---------------------------------------------------------------------------------------


def local_up(fresh: bool, fast_clock: float | None, parameters: dict[str, str]) -> None:
    from challenger.local.cloud import LocalCloud, StateDirInUse  # noqa: PLC0415 — heavy imports only for this command

    cloud = LocalCloud(fresh=fresh, fast_clock=fast_clock, parameters=parameters, state_dir=STATE_DIR)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        cloud.start()
    except StateDirInUse as exc:
        raise CliError(str(exc)) from None
    try:
        # The key and the token stay off stdout (terminal logs, CI output, screen shares): say where they are.
        print(f"\n  API        {cloud.gateway.api_url}   (x-api-key: `challenger local token`)")
        print(f"  dashboard  {cloud.gateway.url}   (the link with its token: `challenger local token`)")
        print(f"  data       s3://{cloud.template.ref('DataBucket')}/incoming/<dataset>/train.csv")
        print(f"  outbox     {cloud.state_dir / 'outbox'}\n\nCtrl-C to stop.")
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping…")
        cloud.stop()
        print("stopped; state kept in", cloud.state_dir)


def local_token(rotate: bool, state_dir: Path = STATE_DIR) -> None:
    """Print the API key and the dashboard link (asked for, so on stdout); ``rotate``: a new dashboard token first,
    which a running local cloud takes at once (SIGHUP): the old one is refused from then on."""
    from challenger.local.cloud import CONSOLE_TOKEN_FILE  # noqa: PLC0415 — heavy imports only for this command
    from challenger.local.private import write_private  # noqa: PLC0415

    path = state_dir / "local.json"
    if rotate:
        write_private(state_dir / CONSOLE_TOKEN_FILE, secrets.token_urlsafe(32))
        if path.exists():
            os.kill(int(json.loads(path.read_text())["pid"]), signal.SIGHUP)
            deadline = time.monotonic() + 10
            token = (state_dir / CONSOLE_TOKEN_FILE).read_text().strip()
            while json.loads(path.read_text()).get("console_token") != token:
                if time.monotonic() > deadline:
                    raise CliError("the running local cloud did not take the new token: restart it")
                time.sleep(0.1)
        print("dashboard token rotated: open dashboards must be reopened with the link below", file=sys.stderr)
    if not path.exists():
        raise CliError(f"no local cloud is running ({path} not found): start one with `challenger local up`")
    info = json.loads(path.read_text())
    print(f"API key    {info['api_key']}")
    print(f"dashboard  {info['dashboard_url']}")


def parse_parameters(pairs: Sequence[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise CliError(f"--parameter takes Name=Value, got {pair!r}")
        parameters[name] = value
    return parameters


def recipe_new(name: str, root: Path, kind: str = "regression") -> None:
    for path in new_recipe(name, root, kind):
        print(f"created {path.relative_to(root)}")
    print(
        f"next: put your CSVs in recipes/{name}/data/ and describe them in recipes/{name}/recipe.json "
        f"(docs/recipe-json.md), run .venv/bin/pytest tests/unit/recipes/test_{name}_recipe.py, then "
        f"`challenger local up --parameter Recipe={name}` and `challenger data push FILE --wait`"
    )


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915 — one flat declaration per command
    parser = argparse.ArgumentParser(
        prog="challenger", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n")[-1].strip()
    )
    parser.add_argument("--stack", help="a deployed stack's name (default: the local cloud)")
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="the local cloud").add_subparsers(dest="local_command", required=True)
    up = local.add_parser("up", help="run the whole application on this machine (foreground)")
    demo = local.add_parser("demo", help="the scripted end-to-end scenario")
    token = local.add_parser("token", help="print the API key and the dashboard link (kept off `local up`'s output)")
    token.add_argument("--rotate", action="store_true", help="a new dashboard token; the old one is refused")
    for sub in (up, demo):
        sub.add_argument("--fast-clock", type=float, help="schedule clock speed-up (e.g. 604800: a week a second)")
        sub.add_argument(
            "--parameter",
            action="append",
            default=[],
            metavar="Name=Value",
            help="template parameter override (repeatable)",
        )
    up.add_argument("--fresh", action="store_true", help="start from an empty stack")
    up.add_argument("--approval-mode", choices=("auto", "manual"))
    demo.add_argument("--exit", action="store_true", help="end after the summary instead of serving until Ctrl-C")

    data = commands.add_parser("data", help="training data: push a CSV drop").add_subparsers(
        dest="data_command", required=True
    )
    push = data.add_parser(
        "push", help="upload a training CSV (the columns the stack's recipe declares) to incoming/<dataset>/"
    )
    push.add_argument(
        "file", type=Path, help="train.csv to upload (its upload starts a run), or a directory of CSV or Parquet parts"
    )
    push.add_argument("--dataset", help="dataset name: incoming/<dataset>/ (default: the stack's recipe name)")
    push.add_argument("--test", type=Path, help="a held-out test CSV to upload with it")
    push.add_argument(
        "--trusted",
        action="store_true",
        help="make the --test file the dataset's trusted evaluation set first (operators; needs --comment)",
    )
    push.add_argument("--comment", default="", help="why (with --trusted: mandatory, audited)")
    trust = data.add_parser("trust", help="replace the dataset's trusted evaluation set (operators; audited)")
    trust.add_argument("file", type=Path)
    trust.add_argument("--dataset", help="dataset name (default: the stack's recipe name)")
    trust.add_argument("--comment", required=True, help="why (audited)")
    push.add_argument(
        "--wait",
        action="store_true",
        help="say which run the upload started (or why none did: same data) and follow it like `runs wait`",
    )

    runs = commands.add_parser("runs", help="training pipeline runs").add_subparsers(dest="runs_command", required=True)
    runs.add_parser("list", help="runs, newest first: status, outcome, model, cost")
    start = runs.add_parser("start", help="retrain now on a dataset (default: the latest upload)")
    start.add_argument("--dataset", help="dataset name (default: the one uploaded last)")
    start.add_argument("--force", action="store_true", help="train even if the data did not change")
    runs.add_parser(
        "show", help="a run's steps, cause, cost, decisions and its model's metrics and confusion matrix"
    ).add_argument("run_id", help="run id")
    runs.add_parser(
        "wait",
        help="follow a run (default: the latest); exit 1 if it failed, 3 when it waits for your approval",
    ).add_argument("run_id", nargs="?", help="run id (default: the latest run)")

    commands.add_parser("models", help="model versions").add_subparsers(
        dest="models_command", required=True
    ).add_parser("list", help="every version with the recipe's metrics, the primary metric first")
    for verb in ("approve", "reject"):
        sub = commands.add_parser(verb, help=f"{verb} the challenger a run is waiting on")
        sub.add_argument(
            "run_id", metavar="RUN", help="a run id, vN (the challenger's version) or latest (the newest waiting)"
        )
        sub.add_argument("--comment", default="", help="why (kept in the audit log)")
    rollback_parser = commands.add_parser("rollback", help="redeploy a version that was live before")
    rollback_parser.add_argument(
        "--to", type=int, dest="version", help="the version (default: the one live before the champion)"
    )
    rollback_parser.add_argument("--reason", required=True, help="why (mandatory: recorded in the audit log)")
    overrule = commands.add_parser("deploy", help="deploy a version the policy kept out, against its verdict")
    overrule.add_argument("version", help="vN")
    overrule.add_argument("--comment", required=True, help="why (mandatory: audited and emailed)")
    policy = commands.add_parser("policy", help="a dataset's promotion policy").add_subparsers(
        dest="policy_command", required=True
    )
    policy.add_parser("show", help="the dataset's promotion policy in force, its version").add_argument(
        "--dataset", help="dataset name (default: the stack's recipe name)"
    )
    setting = policy.add_parser("set", help="a new policy version for the dataset (fields left out: the defaults)")
    setting.add_argument("--dataset", help="dataset name (default: the stack's recipe name)")
    setting.add_argument("--primary-metric")
    setting.add_argument("--min-improvement", type=float)
    setting.add_argument("--confidence", type=float)
    setting.add_argument("--floor-metric")
    setting.add_argument("--metric-floor", type=float)
    setting.add_argument("--guardrails", help="comma-separated metrics; 'none' for no guardrails")
    setting.add_argument("--guardrail-tolerance", type=float)
    setting.add_argument("--label-shift-tolerance", type=float)
    setting.add_argument("--comment", required=True, help="why (audited)")
    commands.add_parser("audit", help="the decisions taken, newest first").add_argument(
        "--limit", type=int, default=50, help="how many entries (pages through the API)"
    )
    commands.add_parser("predict", help="score instances with the live model").add_argument(
        "instances",
        nargs="+",
        metavar="INSTANCE",
        help="a JSON record of the recipe's features, or a value of its shorthand feature",
    )
    commands.add_parser("outbox", help="emails the local cloud sent").add_argument(
        "message_id", nargs="?", help="show this message (a prefix of its id)"
    )
    recipe = commands.add_parser("recipe", help="recipes: one task, its data and model").add_subparsers(
        dest="recipe_command", required=True
    )
    new = recipe.add_parser("new", help="scaffold recipes/NAME/ (a working recipe with sample data and tests)")
    new.add_argument("name", help="recipe name: lowercase letters, digits, underscores")
    new.add_argument(
        "--kind",
        choices=KINDS,
        required=True,
        help="the target: binary or multiclass (a classifier) or regression (a number)",
    )
    new.add_argument("--root", type=Path, default=ROOT, help="repository to scaffold into (default: this one)")
    destroy_command = commands.add_parser("destroy", help="delete a deployed stack (--stack) and the buckets it keeps")
    destroy_command.add_argument("--yes", action="store_true", help="confirm: data, models and artifacts are deleted")
    drift = commands.add_parser("drift", help="data drift of the live model").add_subparsers(
        dest="drift_command", required=True
    )
    drift.add_parser("check", help="compare the champion's recent captures with its training baseline now")
    doctor = commands.add_parser("doctor", help="read-only preflight of an account/region or of a stack (--stack)")
    doctor.add_argument("--stack", dest="doctor_stack", help="a deployed stack (the same as challenger --stack NAME)")
    doctor.add_argument("--region", help="the region to deploy to (default: your AWS configuration's)")
    doctor.add_argument("--config-env", help="samconfig.toml environment whose parameters to check (dev, prod)")
    batch = commands.add_parser("batch", help="batch scoring (Batch Transform)").add_subparsers(
        dest="batch_command", required=True
    )
    score = batch.add_parser("score", help="score a CSV with the champion (Batch Transform) and download the result")
    score.add_argument("file", type=Path)
    score.add_argument("--name", help="batch name (default: the file's name without .csv)")
    score.add_argument("--out", type=Path, help="where to write the result (default: FILE.out.csv)")
    _describe(parser)
    return parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[str | None, argparse.ArgumentParser]]:
    """Every subcommand ("runs wait", ...) with the help its parent lists and its own parser, depth first."""
    found: dict[str, tuple[str | None, argparse.ArgumentParser]] = {}
    for action in parser._actions:  # argparse offers no public walk of its subparsers
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                found[name] = (helps.get(name), sub)
                found.update({f"{name} {k}": v for k, v in subcommands(sub).items()})
    return found


def _describe(parser: argparse.ArgumentParser) -> None:
    """`challenger X --help` opens with the line `challenger --help` lists for X."""
    for help_text, sub in subcommands(parser).values():
        sub.description = sub.description or help_text


def main(argv: Sequence[str] | None = None) -> int:
    """The `challenger` command; a reader that stops early (`| head`) ends it quietly."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # Python's advice (signal docs, "Note on SIGPIPE"): point stdout at devnull so the interpreter's final flush
        # does not raise again, and end as a process killed by SIGPIPE would, without a traceback.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _main(argv: Sequence[str] | None) -> int:  # noqa: PLR0911 — one return per command family
    args = build_parser().parse_args(argv)
    try:
        if args.command == "local" and args.local_command == "token":
            local_token(args.rotate)
            return 0
        if args.command == "local":
            parameters = parse_parameters(args.parameter)
            if args.local_command == "up":
                if args.approval_mode:
                    parameters["ApprovalMode"] = args.approval_mode
                local_up(args.fresh, args.fast_clock, parameters)
                return 0
            from challenger.demo import run_demo  # noqa: PLC0415

            return run_demo(exit_after=args.exit, fast_clock=args.fast_clock, parameters=parameters)
        if args.command == "recipe":
            recipe_new(args.name, args.root, args.kind)
            return 0
        if args.command == "destroy":
            if not args.stack:
                raise CliError(
                    "destroy works on a deployed stack (--stack NAME); the local cloud starts over with --fresh"
                )
            destroy(args.stack, boto3.client("cloudformation"), boto3.client("s3"), confirmed=args.yes)
            return 0
        if args.command == "doctor":
            return run_doctor(args.doctor_stack or args.stack, args.region, args.config_env)
        target = stack_target(args.stack) if args.stack else local_target()
        return dispatch(args, target)
    except (CliError, ScaffoldError) as exc:
        print(f"challenger: {exc}", file=sys.stderr)
        return 2


def dispatch(args: argparse.Namespace, target: Target) -> int:  # noqa: PLR0912 — one flat case per command
    match args.command:
        case "data" if args.data_command == "trust":
            trusted_push(target, args.file, args.dataset or default_dataset(target), args.comment)
        case "data":
            dataset = args.dataset or default_dataset(target)
            if args.trusted:
                if args.test is None:
                    raise CliError("--trusted makes the --test file the trusted evaluation set: give --test FILE")
                trusted_push(target, args.test, dataset, args.comment)
                args.test = None  # scored as the trusted set, not uploaded as this upload's test.csv
            if not args.wait:
                data_push(target, args.file, dataset, args.test)
                return 0
            run_id = push_and_follow(target, args.file, dataset, args.test)
            return EXIT_NOT_STARTED if run_id is None else _exit_code(runs_wait(target, run_id, stop_at_approval=True))
        case "runs" if args.runs_command == "list":
            runs_list(target)
        case "runs" if args.runs_command == "start":
            runs_start(target, args.dataset, args.force)
        case "runs" if args.runs_command == "show":
            runs_show(target, args.run_id)
        case "runs":
            return _exit_code(runs_wait(target, args.run_id, stop_at_approval=True))
        case "models":
            models_list(target)
        case "deploy":
            deploy_against_verdict(target, args.version, args.comment)
        case "policy" if args.policy_command == "show":
            dataset = args.dataset or default_dataset(target)
            print(json.dumps(target.call("GET", f"/datasets/{dataset}"), indent=2))
        case "policy":
            args.dataset = args.dataset or default_dataset(target)
            policy_set(target, args)
        case "approve" | "reject":
            decide(target, args.run_id, args.command, args.comment)
        case "rollback":
            rollback(target, args.version, reason=args.reason)
        case "audit":
            audit_list(target, args.limit)
        case "predict":
            predict(target, args.instances)
        case "outbox":
            outbox(target, args.message_id)
        case "drift":
            drift_check(target)
        case "batch":
            batch_score(target, args.file, args.name or args.file.stem, args.out)
    return 0


def _exit_code(run: dict[str, Any]) -> int:
    """A followed run's exit status: 0 SUCCEEDED, 1 FAILED, 3 waiting for a person's decision."""
    return {"FAILED": EXIT_FAILED, AWAITING_APPROVAL: EXIT_AWAITING_APPROVAL}.get(run["status"], 0)


if __name__ == "__main__":
    sys.exit(main())
