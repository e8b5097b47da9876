"""`challenger`: the command line for the local cloud and for a deployed stack (`--stack NAME`).

challenger local up [--fresh] [--approval-mode auto|manual] [--fast-clock N] [--parameter Name=Value ...]
challenger local demo [--exit] [--fast-clock N] [--parameter Name=Value ...]
challenger local token [--rotate]           (the API key and the dashboard link; --rotate: a new dashboard token)
challenger data push FILE [--dataset NAME] [--test FILE]
challenger runs list | runs start [--dataset NAME] [--force] | runs show ID | runs wait [ID]
challenger models list
challenger approve RUN [--comment TEXT] | reject RUN [--comment TEXT]
challenger rollback [--to VERSION]
challenger audit [--limit N]
challenger predict INSTANCE [INSTANCE ...]  (a JSON record, or a value of the recipe's shorthand feature)
challenger outbox [ID]                      (local cloud only)
challenger recipe new NAME [--root DIR]     (scaffold recipes/NAME/ with sample data and tests)
challenger drift check                      (the champion's recent captures against its training baseline)
challenger batch score FILE [--name NAME] [--out FILE]  (score a CSV with the champion; waits, downloads the result)
challenger --stack NAME destroy --yes       (delete the stack, then empty and delete the buckets it retains)
challenger doctor [--stack NAME | --region R [--config-env ENV]]  (read-only preflight; exit 1 on a failed check)
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

from challenger.scaffold import ScaffoldError, new_recipe
from challenger_core.cost import RunCost, summary, usd
from challenger_core.errors import DataValidationError
from challenger_core.triggering import INCOMING, TRAIN_FILE, dataset_of

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = Path(os.environ.get("CHALLENGER_STATE_DIR", ROOT / ".challenger"))
TERMINAL = ("SUCCEEDED", "FAILED")
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
        return payload


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

    The dataset name is checked first with the trigger's own rule: a name it refuses would upload fine and then
    start nothing.
    """
    try:
        dataset_of(f"{INCOMING}{dataset}/{TRAIN_FILE}")
    except DataValidationError as exc:
        raise CliError(str(exc)) from exc
    for source, name in ((test, "test.csv"), (file, "train.csv")):
        if source is None:
            continue
        if not source.is_file():
            raise CliError(f"{source} is not a file")
        key = f"incoming/{dataset}/{name}"
        target.s3.upload_file(str(source), target.data_bucket, key)
        print(f"uploaded {source} → s3://{target.data_bucket}/{key}")


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
    return detail


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
    target: Target, run_id: str | None, *, timeout: float = 900, echo: Callable[[str], None] = print
) -> dict[str, Any]:
    """Follow a run state by state until it ends; returns the run."""
    run_id = run_id or latest_run_id(target)
    seen = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = target.call("GET", f"/runs/{run_id}")
        for step in detail["steps"][seen:]:
            echo(f"  · {step['name']}")
        seen = len(detail["steps"])
        run: dict[str, Any] = detail["run"]
        if run["status"] in TERMINAL:
            verdict = run.get("outcome") or run["status"]
            echo(f"run {run_id}: {run['status']} ({verdict})" + (f": {run['error']}" if run.get("error") else ""))
            return run
        time.sleep(0.5)
    raise CliError(f"run {run_id} still running after {timeout:.0f}s")


def models_list(target: Target) -> None:
    rows = [
        (
            f"v{m['version']}",
            m["status"],
            *(f"{m['metrics'].get(k, float('nan')):.4f}" for k in ("f1", "accuracy", "roc_auc")),
            m["dataset"],
            m["created_at"],
        )
        for m in target.call("GET", "/models")
    ]
    print_table(("model", "status", "f1", "accuracy", "roc_auc", "dataset", "created"), rows)


def decide(target: Target, run_id: str, decision: str, comment: str) -> None:
    result = target.call("POST", f"/runs/{run_id}/approval", {"decision": decision, "comment": comment}, operator=True)
    print(f"v{result['version']} {result['decision'].lower()}")


def rollback(target: Target, version: int | None, *, wait: bool = True, timeout: float = 300) -> int:
    """Start a rollback and follow its deployment pipeline execution to the end (GET /deployments/{name})."""
    started = target.call("POST", "/rollback", {"version": version} if version else {}, operator=True)
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
        query = f"?limit={min(limit - len(entries), 500)}" + (f"&after={quote(after, safe='')}" if after else "")
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


def predict(target: Target, texts: Sequence[str]) -> dict[str, Any]:
    """Each argument is one instance: a JSON record, or a bare value of the recipe's shorthand feature."""
    instances = [_instance(text) for text in texts]
    answer: dict[str, Any] = target.call("POST", "/predict", {"instances": instances})
    for text, prediction in zip(texts, answer["predictions"], strict=True):
        print(f"v{answer['model_version']}  {describe_prediction(prediction)}  {text}")
    return answer


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


def recipe_new(name: str, root: Path) -> None:
    for path in new_recipe(name, root):
        print(f"created {path.relative_to(root)}")
    print(
        f"next: edit recipes/{name}/recipe.json and data/, run .venv/bin/pytest "
        f"tests/unit/recipes/test_{name}_recipe.py, then deploy with --parameter-overrides Recipe={name}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="challenger", description=__doc__.split("\n\n")[0])
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

    data = commands.add_parser("data").add_subparsers(dest="data_command", required=True)
    push = data.add_parser(
        "push", help="upload a training CSV (the columns the stack's recipe declares) to incoming/<dataset>/"
    )
    push.add_argument("file", type=Path)
    push.add_argument("--dataset", default="reviews")
    push.add_argument("--test", type=Path, help="a held-out test CSV to upload with it")

    runs = commands.add_parser("runs").add_subparsers(dest="runs_command", required=True)
    runs.add_parser("list")
    start = runs.add_parser("start", help="retrain now on a dataset (default: the latest upload)")
    start.add_argument("--dataset")
    start.add_argument("--force", action="store_true", help="train even if the data did not change")
    runs.add_parser("show").add_argument("run_id")
    runs.add_parser("wait", help="follow a run (default: the latest); exit 1 if it failed").add_argument(
        "run_id", nargs="?"
    )

    commands.add_parser("models").add_subparsers(dest="models_command", required=True).add_parser("list")
    for verb in ("approve", "reject"):
        sub = commands.add_parser(verb, help=f"{verb} the challenger a run is waiting on")
        sub.add_argument("run_id")
        sub.add_argument("--comment", default="")
    commands.add_parser("rollback", help="redeploy a version that was live before").add_argument(
        "--to", type=int, dest="version"
    )
    commands.add_parser("audit", help="the decisions taken, newest first").add_argument(
        "--limit", type=int, default=50, help="how many entries (pages through the API)"
    )
    commands.add_parser("predict").add_argument("texts", nargs="+")
    commands.add_parser("outbox", help="emails the local cloud sent").add_argument("message_id", nargs="?")
    recipe = commands.add_parser("recipe").add_subparsers(dest="recipe_command", required=True)
    new = recipe.add_parser("new", help="scaffold recipes/NAME/ (a working recipe with sample data and tests)")
    new.add_argument("name")
    new.add_argument("--root", type=Path, default=ROOT, help="repository to scaffold into (default: this one)")
    destroy_command = commands.add_parser("destroy", help="delete a deployed stack (--stack) and the buckets it keeps")
    destroy_command.add_argument("--yes", action="store_true", help="confirm: data, models and artifacts are deleted")
    drift = commands.add_parser("drift").add_subparsers(dest="drift_command", required=True)
    drift.add_parser("check", help="compare the champion's recent captures with its training baseline now")
    doctor = commands.add_parser("doctor", help="read-only preflight of an account/region or of a stack (--stack)")
    doctor.add_argument("--stack", dest="doctor_stack", help="a deployed stack (the same as challenger --stack NAME)")
    doctor.add_argument("--region", help="the region to deploy to (default: your AWS configuration's)")
    doctor.add_argument("--config-env", help="samconfig.toml environment whose parameters to check (dev, prod)")
    batch = commands.add_parser("batch").add_subparsers(dest="batch_command", required=True)
    score = batch.add_parser("score", help="score a CSV with the champion (Batch Transform) and download the result")
    score.add_argument("file", type=Path)
    score.add_argument("--name", help="batch name (default: the file's name without .csv)")
    score.add_argument("--out", type=Path, help="where to write the result (default: FILE.out.csv)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 — one return per command family
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
            recipe_new(args.name, args.root)
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
        case "data":
            data_push(target, args.file, args.dataset, args.test)
        case "runs" if args.runs_command == "list":
            runs_list(target)
        case "runs" if args.runs_command == "start":
            runs_start(target, args.dataset, args.force)
        case "runs" if args.runs_command == "show":
            runs_show(target, args.run_id)
        case "runs":
            return 1 if runs_wait(target, args.run_id)["status"] == "FAILED" else 0
        case "models":
            models_list(target)
        case "approve" | "reject":
            decide(target, args.run_id, args.command, args.comment)
        case "rollback":
            rollback(target, args.version)
        case "audit":
            audit_list(target, args.limit)
        case "predict":
            predict(target, args.texts)
        case "outbox":
            outbox(target, args.message_id)
        case "drift":
            drift_check(target)
        case "batch":
            batch_score(target, args.file, args.name or args.file.stem, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
