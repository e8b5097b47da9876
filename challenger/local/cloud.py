"""The whole application on one machine: `challenger local up`.

From the same template.yaml, ASL files, handlers and recipe that `sam deploy` ships: moto's server (S3, DynamoDB,
SNS, SQS, Secrets Manager, STS, Step Functions' ASL engine), worker processes behind moto's Lambda Invoke
(lambda_runtime), challenger.local.sagemaker, events, gateway and outbox; which AWS part each stands in for and how
faithfully: the table in README.md, "Local cloud". Everything binds to loopback; state is kept under
`.challenger/` across restarts unless `fresh=True`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import boto3
import moto.core.config as moto_config
import requests
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

from challenger.local import snapshot
from challenger.local.events import (
    LAMBDA_ASYNC_RETRIES,
    EventBus,
    FunctionFailed,
    RetryPolicy,
    Scheduler,
    rules_from_template,
)
from challenger.local.gateway import DASHBOARD_NOT_BUILT, LocalApiGateway
from challenger.local.iam import LocalIam, as_role, enforced
from challenger.local.lambda_runtime import ProcessLambdaRuntime, configure_moto_server
from challenger.local.limits import account_limits
from challenger.local.logs import LogDelivery, Subscription, subscriptions_from_template
from challenger.local.outbox import Outbox
from challenger.local.private import private_directory, read_or_create_secret, write_private
from challenger.local.provision import local_functions, provision
from challenger.local.s3_checksums import keep_checksum_type_on_copy
from challenger.local.sagemaker import LocalSageMaker
from challenger.local.serving import PortInUseError, WsgiServer, listen, refuse_browsers
from challenger.local.template import ROOT, LocalTemplate

SERVICES = ("s3", "dynamodb", "sns", "sqs", "secretsmanager", "stepfunctions")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}
LOCAL_PARAMETERS = {
    "NotificationEmail": "you@localhost",
    "PollSeconds": "1",
    "MaxPolls": "300",
    "ScheduleEnabled": "true",
    # Capture every prediction locally (DESIGN: 100% locally), so a drift check has data after a few requests.
    "CaptureSampleRate": "1",
}
# What the cloud sets in this process's environment (loopback endpoints, dummy credentials, moto's port): put back
# as it was on stop, so code that runs later in the same process (tests: mock_aws, socket-free unit tests) is not
# pointed at servers that are gone.
PROCESS_ENVIRONMENT = (
    *CREDENTIALS,
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "MOTO_PORT",
)
PORTS_FILE = "ports.json"
CONSOLE_TOKEN_FILE = "local-token"  # noqa: S105 — a file name, not the token
LOCK_FILE = "lock"
KEPT_WHEN_FRESH = frozenset({PORTS_FILE, CONSOLE_TOKEN_FILE, LOCK_FILE})  # how to reach the cloud, not its state
Progress = Callable[[str], None]


class StateDirInUse(RuntimeError):
    """Another local cloud runs on this state directory."""


def lock_state_dir(state_dir: Path) -> IO[str]:
    """An exclusive lock on ``state_dir`` for this process's life (flock: the kernel drops it when the process
    ends, kill -9 included); StateDirInUse, naming the holder, if another cloud has it."""
    handle = (state_dir / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StateDirInUse(
            f"a local cloud already runs on {state_dir} (pid {holder}): stop it first (Ctrl-C in its terminal), "
            "or start this one with another state directory"
        ) from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _free_port(wanted: int = 0) -> int:
    """``wanted`` if it can be bound now, else PortInUseError; 0: any free port."""
    with listen("127.0.0.1", wanted) as probe:
        return int(probe.getsockname()[1])


@dataclass
class LocalCloud:
    """Start with `start()` (or as a context manager); `stop()` shuts everything down and saves state."""

    state_dir: Path = ROOT / ".challenger"
    fresh: bool = False
    fast_clock: float | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    api_port: int = 0
    progress: Progress = print
    region: str = "us-east-1"

    def __post_init__(self) -> None:
        self.template = LocalTemplate(parameters={**LOCAL_PARAMETERS, **self.parameters}, region=self.region)
        self._stack = contextlib.ExitStack()
        self.clients: dict[str, Any] = {}
        self.api_key = ""
        self.console_token = ""
        self._lock: IO[str] | None = None
        self.recorder = snapshot.Recorder()  # journals moto's S3/DynamoDB writes once the state is restored

    # Lifecycle ------------------------------------------------------------------------------------
    def start(self) -> LocalCloud:
        private_directory(self.state_dir)
        self._lock = lock_state_dir(self.state_dir)  # before anything is touched: a second cloud changes nothing
        try:
            self._start()
            self._accept_token_rotation()
            self._write_connection_file()  # last: local.json announces a cloud that is ready
        except BaseException:
            self.stop(save=False)
            raise
        return self

    def _start(self) -> None:
        if self.fresh:
            self._empty_state_dir()
        saved = {name: os.environ.get(name) for name in PROCESS_ENVIRONMENT}
        self._stack.callback(_restore_environment, saved)  # registered first: runs last, once all is stopped
        self._environment()
        self.ports = self._choose_ports()

        self._start_moto()
        # The template's roles in moto's IAM, and moto enforcing them from here on (challenger.local.iam).
        self.iam = LocalIam(self.template)
        self.iam.create()
        self._stack.enter_context(enforced(self.moto_url, self.iam))
        config = Config(retries={"mode": "standard", "max_attempts": 3})
        self.clients = {
            name: boto3.client(name, endpoint_url=self.moto_url, region_name=self.region, config=config)  # type: ignore[call-overload]
            for name in SERVICES
        }

        self.progress("provisioning template.yaml: buckets, tables, topic, secret, state machines")
        approval_key = self._read_or_create("approval-key", lambda: secrets.token_urlsafe(48))
        provisioned = provision(self.template, self.clients, approval_key=approval_key)
        self._restore_state()

        self.progress("starting the local SageMaker service")
        self.sagemaker = LocalSageMaker(
            state_dir=self.state_dir / "sagemaker",
            s3_endpoint_url=self.moto_url,
            region=self.region,
            port=self.ports["sagemaker"],
        )
        self.sagemaker.start()
        self._stack.callback(self.sagemaker.stop)

        self.api_key = self._read_or_create("api-key", lambda: "local-" + secrets.token_urlsafe(24))
        # The dashboard's credential here (Cognito's ID token on AWS): kept across restarts so an open tab and
        # a bookmarked dashboard_url keep working.
        self.console_token = self._read_or_create(CONSOLE_TOKEN_FILE, lambda: secrets.token_urlsafe(32))
        api_port = self.ports["api"]  # fixed now: approval links need the URL before the gateway starts
        api_url = f"http://127.0.0.1:{api_port}/v1"
        self.gateway = LocalApiGateway(
            self.template,
            self._invoke_sync,
            api_key=self.api_key,
            static_dir=self._dashboard(),
            port=api_port,
            console_token=self.console_token,
            outbox_dir=self.state_dir / "outbox",
        )

        self.progress(f"registering {len(self.template.functions())} functions: worker processes start on first call")
        self.runtime = ProcessLambdaRuntime(
            # DASHBOARD_ORIGIN: the dashboard is served by the gateway itself (same origin), so no CORS here.
            local_functions(
                self.template,
                overrides={"API_URL": api_url, "DASHBOARD_ORIGIN": ""},
                credentials=self.iam.function_credentials(),
            ),
            common_environment=self._function_environment(),
        )
        self.runtime.install()
        self._stack.callback(self.runtime.stop)
        self._stack.callback(self.runtime.uninstall)

        self.progress("wiring EventBridge rules: uploads under incoming/ and the retrain schedule")
        rules = rules_from_template(self.template)
        # Retry waits (EventBridge's back-off, Lambda's 1 and 2 minutes) run on the demo's fast clock.
        scale = 1.0 / (self.fast_clock or 1.0)
        subscriptions = subscriptions_from_template(self.template)  # the log groups' subscription filters
        self.events = EventBus(
            rules + [subscription.rule() for subscription in subscriptions],
            self._deliver,
            retry=RetryPolicy(scale=scale),
            function_retry=dataclasses.replace(LAMBDA_ASYNC_RETRIES, scale=scale),
        )
        self._stack.callback(self.events.close)
        self._ship_logs(subscriptions)
        self._stack.enter_context(
            self.events.s3_hook({self.template.ref("DataBucket")}, region=self.region, account=self.template.account)
        )
        self.scheduler = Scheduler(  # through the bus: a failed scheduled delivery is retried like any other
            rules,
            self.events.send,
            region=self.region,
            account=self.template.account,
            fast_clock=self.fast_clock or 1.0,
        )
        self.scheduler.start()
        self._stack.callback(self.scheduler.stop)

        self.outbox = Outbox(
            sqs_client=self.clients["sqs"],
            queue_url=provisioned.outbox_queue_url,
            directory=self.state_dir / "outbox",
            to_address=self.template.values["NotificationEmail"],
        )
        self.outbox.start()
        self._stack.callback(self.outbox.stop)

        self.gateway.start()
        self._stack.callback(self.gateway.stop)
        self._save_ports()
        # The key and the token stay off the output (issue 18): `challenger local token` prints them when asked.
        self.progress(f"ready: API {self.gateway.api_url}  dashboard {self.gateway.url}  (`challenger local token`)")

    def _ship_logs(self, subscriptions: list[Subscription]) -> None:
        """The functions' log lines to the log groups' subscription filters (challenger.local.logs)."""
        self.logs = LogDelivery(subscriptions, self.events.send, account=self.template.account)
        self._stack.callback(self.logs.close)  # before the bus closes: what the last sandboxes wrote is delivered
        for function in {subscription.source for subscription in subscriptions}:
            sink = self.logs.sink(function)
            assert sink is not None
            self.runtime.ship_logs(self.template.name(function), sink, self.region)

    def _accept_token_rotation(self) -> None:
        """`challenger local token --rotate` writes a new token and sends SIGHUP (signals reach the main thread)."""
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGHUP, lambda *_: self.reload_console_token())
            self._stack.callback(signal.signal, signal.SIGHUP, previous)

    def reload_console_token(self) -> None:
        """Take the token `challenger local token --rotate` wrote: from now on the old one is refused."""
        self.console_token = self._read_or_create(CONSOLE_TOKEN_FILE, lambda: secrets.token_urlsafe(32))
        self.gateway.console_token = self.console_token
        self._write_connection_file()

    def _dashboard(self) -> Path | None:
        found = dashboard_dir()
        if found is None:
            self.progress(f"WARNING: {DASHBOARD_NOT_BUILT} (`make up` and `make demo` build it)")
        return found

    def _empty_state_dir(self) -> None:
        """An empty stack, but the same addresses and dashboard token: a tab open on the last run reconnects."""
        if not self.state_dir.is_dir():
            return
        for entry in self.state_dir.iterdir():
            if entry.name in KEPT_WHEN_FRESH:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def _start_moto(self) -> None:
        self.progress("starting moto (S3, DynamoDB, SNS, SQS, Secrets Manager, Step Functions, Lambda)")
        # moto's own server app (the one ThreadedMotoServer runs), behind a guard: no browser may reach it.
        # In front of it, the account limits moto does not serve (challenger.local.limits, for `challenger doctor`).
        keep_checksum_type_on_copy()  # CopyObject copies the checksum's type too, as S3 does (s3_checksums.py)
        moto = DomainDispatcherApplication(create_backend_app)
        moto_app = refuse_browsers(self.recorder(account_limits(moto, self.state_dir / "quotas.json", self.region)))
        server = WsgiServer(moto_app, port=self.ports["moto"], handler=MotoRequestHandler, name="moto")
        self._stack.callback(server.stop)
        os.environ["MOTO_PORT"] = str(server.port)  # moto's ASL engine calls Lambda and Step Functions there
        self.moto_url = server.url
        # moto's backends are process-wide: a cloud restarted in the same process (tests) must start as empty
        # as a new process does, and get its state from the snapshot like one.
        requests.post(f"{self.moto_url}/moto-api/reset", timeout=30).raise_for_status()
        # POST /moto-api/config changes moto's process-wide defaults: put them back on stop, so a later
        # mock_aws() in the same process (tests) starts from moto's own configuration.
        saved_config = copy.deepcopy(moto_config.default_user_config)
        self._stack.callback(lambda: _replace(moto_config.default_user_config, saved_config))
        configure_moto_server(self.moto_url)

    def stop(self, *, save: bool = True) -> None:
        """Stop every server and process in reverse order of start; the state is saved on the way."""
        self._saving = save
        self._stack.close()
        if self._lock is not None:  # only the cloud that holds the directory may say it is gone
            (self.state_dir / "local.json").unlink(missing_ok=True)
            self._lock.close()  # releases the lock
            self._lock = None

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # Wiring ---------------------------------------------------------------------------------------
    def _environment(self) -> None:
        """This process talks to loopback only, with dummy credentials, whatever the user's AWS setup is."""
        # moto's HTTP access log and its ASL engine's per-state error traces drown the progress output; a
        # failed state still shows, through the run's recorded cause and the execution history.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        # Metrics are disabled locally (no CloudWatch); Powertools still warns on every empty flush.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        for name, value in {**CREDENTIALS, "AWS_DEFAULT_REGION": self.region}.items():
            os.environ[name] = value
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            os.environ.pop(name, None)

    def _function_environment(self) -> dict[str, str]:
        return {
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ENDPOINT_URL_SAGEMAKER": self.sagemaker.url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.sagemaker.url,
            "POWERTOOLS_TRACE_DISABLED": "1",  # no X-Ray daemon here
            "POWERTOOLS_METRICS_DISABLED": "1",
            # ... and Powertools still warns on every empty flush: once per worker, in the middle of the demo.
            "PYTHONWARNINGS": "ignore:No application metrics to publish:UserWarning",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("CHALLENGER_LOG_LEVEL", "WARNING"),
            # The API's serving counters reach DynamoDB within a second here (30 s on AWS); captures go as log lines.
            "CAPTURE_FLUSH_SECONDS": "1",
        }

    def _invoke_sync(self, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """API Gateway's Lambda proxy integration: a synchronous invoke."""
        result = self.runtime.invoke(self.template.name(logical_id), event)
        if result.function_error:
            return {"statusCode": 502, "body": json.dumps({"message": "Internal server error"})}
        response: dict[str, Any] = result.json()
        return response

    def _deliver(self, logical_id: str, event: dict[str, Any]) -> None:
        """An EventBridge target: an asynchronous invoke, or a state machine execution with the event as its input
        (the bus calls this on its own thread). EventBridge names such executions itself; the event id does here.
        """
        if self.template.resources[logical_id]["Type"] == "AWS::Serverless::StateMachine":
            # As the rule target's role, as EventBridge does (challenger.local.iam).
            as_role(self.clients["stepfunctions"], self.iam.target_role(logical_id), "events").start_execution(
                stateMachineArn=self.template.arn(logical_id), name=str(event["id"]), input=json.dumps(event)
            )
            return
        result = self.runtime.invoke(self.template.name(logical_id), event)
        if result.function_error:
            self.progress(f"{logical_id} failed on {event.get('detail-type')}: {result.json().get('errorMessage')}")
            raise FunctionFailed(result.json().get("errorType"))  # Lambda retries an asynchronous invocation

    def _read_or_create(self, name: str, make: Callable[[], str]) -> str:
        return read_or_create_secret(self.state_dir / name, make)

    def _choose_ports(self) -> dict[str, int]:
        """The ports of the previous start when they are free, so an open dashboard tab (and the links in
        earlier emails) reconnect after a restart; a taken one is replaced, and said so."""
        path = self.state_dir / PORTS_FILE
        try:
            saved = {name: int(port) for name, port in json.loads(path.read_text()).items()}
        except (OSError, ValueError, TypeError, AttributeError):
            saved = {}
        ports: dict[str, int] = {}
        for service in ("moto", "api", "sagemaker"):
            wanted = self.api_port if service == "api" and self.api_port else saved.get(service, 0)
            try:
                ports[service] = _free_port(wanted)
            except PortInUseError:
                if service == "api" and self.api_port:
                    raise
                ports[service] = _free_port()
                self.progress(
                    f"port {wanted} ({service}, used by the last start) is taken by another program: "
                    f"{service} moves to port {ports[service]}"
                    + (" — reopen the dashboard at the new address below" if service == "api" else "")
                )
        return ports

    def _save_ports(self) -> None:
        sagemaker = int(self.sagemaker.url.rstrip("/").rpartition(":")[2])
        ports = {"moto": int(os.environ["MOTO_PORT"]), "api": self.ports["api"], "sagemaker": sagemaker}
        write_private(self.state_dir / PORTS_FILE, json.dumps(ports) + "\n")

    def _close_interrupted_runs(self) -> None:
        """Executions die with the process: their runs (and models in flight) are closed as RecordFailure would."""
        from challenger_core.models import RunStatus  # noqa: PLC0415
        from challenger_core.reconcile import close_run  # noqa: PLC0415
        from challenger_core.registry import Registry  # noqa: PLC0415

        registry = Registry(self.clients["dynamodb"], self.template.ref("ModelsTable"))
        for run in registry.list_runs(limit=200):
            if run.status is RunStatus.RUNNING:
                close_run(registry, run, "interrupted: the local cloud stopped while this run was in progress")

    def _restore_state(self) -> None:
        """The snapshot and its journal back into moto; from then on every write is journaled (snapshot.py), so
        even kill -9 loses nothing acknowledged; runs the stop interrupted are closed."""
        state = self.state_dir / "state"
        restored = None
        if not self.fresh and snapshot.recover(state):
            restored = snapshot.restore(self.template, self.clients, state)
            self.progress(f"restored {restored} objects and items from {state}")
        self.recorder.start(self.template, self.clients, state)
        self._stack.callback(self._save)
        if restored is not None:
            self._close_interrupted_runs()

    def _save(self) -> None:
        self.recorder.stop()
        if getattr(self, "_saving", True):
            snapshot.save(self.template, self.clients, self.state_dir / "state")

    def _write_connection_file(self) -> None:
        info = {
            "api_url": self.gateway.api_url,
            # The fragment never reaches a server (or a log): the dashboard reads the token from it, then drops it.
            "dashboard_url": f"{self.gateway.url}/#token={self.console_token}",
            "api_key": self.api_key,
            "console_token": self.console_token,
            "stack_name": self.template.stack_name,
            "region": self.region,
            "endpoint_url": self.moto_url,
            "sagemaker_url": self.sagemaker.url,
            "data_bucket": self.template.ref("DataBucket"),
            "outbox_dir": str(self.state_dir / "outbox"),
            "pid": os.getpid(),
        }
        write_private(self.state_dir / "local.json", json.dumps(info, indent=2) + "\n")


def _restore_environment(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _replace(target: moto_config.DefaultConfig, content: moto_config.DefaultConfig) -> None:
    mapping = cast("dict[str, Any]", target)  # a TypedDict has no clear()
    mapping.clear()
    mapping.update(content)


def dashboard_dir(root: Path = ROOT) -> Path | None:
    """The built dashboard (frontend/dist), else None: the sources need a build (TypeScript), served as they are
    they show a blank page."""
    built = root / "frontend" / "dist"
    return built if (built / "index.html").is_file() else None
