"""Every step is safe to retry: a fault at EACH external call, then the step again, ends as one clean run does.

Lambda retries a failed asynchronous invocation (EventBridge → trigger), Step Functions retries a task on
transient errors, and a caller retries an API request. Each of those re-runs a step whose earlier attempt may
have stopped anywhere: before an AWS call (a timeout, a throttle) or right after it (the write happened, the
answer was lost). For each step below the test counts the external calls of a clean run, then for every call
N and both moments (before / after it took effect) starts from the same state, fails call N, re-invokes the
step as Lambda or Step Functions would, and asserts the end state equals the clean run's: complete, and
nothing done twice (one run, one execution, one champion, one task result, no stray SageMaker resources).

External calls are every botocore API call (DynamoDB, S3, Step Functions through moto) and every call into
the SageMaker adapter (the test double `FakeSageMaker`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.client
import pytest
from moto import mock_aws

from challenger_core import approvals
from challenger_core.errors import ConflictError, NotFoundError, TaskClosedError
from challenger_core.models import Approval, Champion, ModelStatus, ModelVersion
from challenger_core.registry import Registry
from tests.support.events import load_event
from tests.support.fake_sagemaker import FakeSageMaker, evaluation, model_artifact
from tests.support.lambda_context import LambdaContext, context
from tests.support.stack import BASE_ENV, Stack, provision


class InjectedFault(Exception):
    """The Lambda stopped here (timeout, crash, throttle): the caller sees an error and retries."""


@dataclass
class Faults:
    """Counts external calls; fails call number `fail_at` before or after it takes effect."""

    fail_at: int | None = None
    after: bool = False
    calls: list[str] = field(default_factory=list)
    hit: bool = False

    def call(self, name: str, perform: Callable[[], Any]) -> Any:
        self.calls.append(name)
        if len(self.calls) == self.fail_at and not self.after:
            self.hit = True
            raise InjectedFault(f"before call {self.fail_at}: {name}")
        number = len(self.calls)
        try:
            result = perform()
        except Exception as exc:
            if number == self.fail_at and self.after:  # whatever it answered (an error too) never arrived
                self.hit = True
                raise InjectedFault(f"after call {number}: {name}") from exc
            raise
        if number == self.fail_at and self.after:
            self.hit = True
            raise InjectedFault(f"after call {number}: {name}")
        return result


class FaultySageMaker:
    """The SageMaker test double with every adapter method routed through `Faults`."""

    def __init__(self, fake: FakeSageMaker, faults: Faults) -> None:
        self._fake = fake
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._fake, name)
        if not callable(attribute):
            return attribute
        return lambda *args, **kwargs: self._faults.call(f"sagemaker {name}", lambda: attribute(*args, **kwargs))


@dataclass
class FakeWorkflow:
    """Step Functions' task tokens: a token takes one result; another send is TaskTimedOut, as in AWS."""

    faults: Faults = field(default_factory=Faults)
    results: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def succeed_task(self, task_token: str, output: dict[str, Any]) -> None:
        def send() -> None:
            if any(token == task_token for token, _ in self.results):
                raise TaskClosedError(f"states SendTaskSuccess: TaskTimedOut: task {task_token} already closed")
            self.results.append((task_token, output))

        self.faults.call("states SendTaskSuccess", send)


@contextmanager
def faulty_botocore(faults: Faults) -> Iterator[None]:
    original = botocore.client.BaseClient._make_api_call

    def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        name = f"{client.meta.service_model.service_name} {operation}"
        return faults.call(name, lambda: original(client, operation, params))

    botocore.client.BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


# Scenarios: a starting state, the step, and what the end state is ----------------------------------
@dataclass
class World:
    stack: Stack
    fake: FakeSageMaker
    workflow: FakeWorkflow

    @property
    def registry(self) -> Registry:
        return Registry(self.stack.ddb, self.stack.env["MODELS_TABLE"])


def _model(world: World, version: int, status: ModelStatus) -> ModelVersion:
    """A trained version whose archive is in the artifact bucket with its registered digest (StartDeployment
    checks it)."""
    # With its golden set: the smoke test replays it.
    return world.stack.trained_version(version, status, model_artifact(evaluation(0.9)), metrics={"f1": 0.9})


def _invoke(world: World, function: str, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = world.stack.handler(function).lambda_handler(event, context(function))
    return result


def _deploy_request(version: int) -> dict[str, Any]:
    event = load_event("start_deployment", "new_version")
    event["request"].update(version=version, reason="training")
    return event


def _v1_live(world: World) -> None:
    """v1 LIVE and champion, serving on the endpoint; v2 trained and approved."""
    world.registry.put_model(_model(world, 1, ModelStatus.APPROVED))
    state = _invoke(world, "start_deployment", _deploy_request(1))
    while state["endpoint"]["outcome"] == "pending":
        state = _invoke(world, "check_endpoint", state)
    _invoke(world, "promote_model", _invoke(world, "smoke_test", state))
    world.registry.put_model(_model(world, 2, ModelStatus.APPROVED))


def _settled(world: World, version: int, *, wrong: bool = False) -> dict[str, Any]:
    if wrong:
        world.fake.wrong_answers_for = {f"v{version}"}
    state = _invoke(world, "start_deployment", _deploy_request(version))
    while state["endpoint"]["outcome"] == "pending":
        state = _invoke(world, "check_endpoint", state)
    return _invoke(world, "smoke_test", state)


@dataclass
class Scenario:
    name: str
    setup: Callable[[World], Any]  # returns the step's input
    step: Callable[[World, Any], Any]  # one invocation of the step
    # Endpoint changes under way stay busy this many describes (SageMaker takes minutes; a retry, seconds).
    settle_polls: int = 0
    # The step's last write is its answer's only trace: a retry after it may be told "already done" (a 409 for
    # an approval: the same answer a replayed link gets), as long as the end state is the complete one.
    retry_may_conflict: bool = False
    # Calls after the step's commit are best-effort (promote's clean-up of old configs, issue 17): a fault there is
    # logged and the step still answers; the retry (Step Functions does not make one then) must change nothing.
    absorbs_faults_after: str | None = None


def _trigger_setup(world: World) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    machines = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if "training" in m["name"]]
    arn = (
        machines[0]
        if machines
        else sfn.create_state_machine(
            name="challenger-training",
            definition=json.dumps(
                {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}
            ),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
    )
    world.stack.env["TRAINING_PIPELINE_ARN"] = arn
    world.stack.put_data("incoming/reviews/train.csv", b"review_text,sentiment\ngood,1\nbad,0\n")
    event = load_event("trigger", "upload")
    event["detail"]["object"]["key"] = "incoming/reviews/train.csv"
    return event


def _approval_setup(world: World) -> str:
    world.registry.put_model(_model(world, 2, ModelStatus.STAGED))
    world.registry.put_approval(
        Approval(
            approval_id="a1",
            run_id="run-2",
            version=2,
            task_token="token-1",
            expires_at=datetime(2099, 1, 1, tzinfo=UTC),
        )
    )
    return "a1"


def _decide(world: World, approval_id: str) -> Any:
    return approvals.decide(
        approval_id,
        approved=True,
        actor="ops@example.com",
        comment="",
        registry=world.registry,
        workflow=world.workflow,
    )


def _promote_setup(world: World) -> dict[str, Any]:
    _v1_live(world)
    return _settled(world, 2)


def _rollback_setup(world: World) -> dict[str, Any]:
    _v1_live(world)
    return _settled(world, 2, wrong=True)


def _first_rollback_setup(world: World) -> dict[str, Any]:
    world.registry.put_model(_model(world, 1, ModelStatus.APPROVED))
    return _settled(world, 1, wrong=True)


SCENARIOS = [
    Scenario("trigger: an upload starts one run", _trigger_setup, lambda w, e: _invoke(w, "trigger", e)),
    Scenario("approval: approve resumes the pipeline once", _approval_setup, _decide, retry_may_conflict=True),
    Scenario("start_deployment: blue/green update", lambda w: (_v1_live(w), _deploy_request(2))[1],
             lambda w, e: _invoke(w, "start_deployment", e), settle_polls=5),
    Scenario("promote_model: champion moves once", _promote_setup, lambda w, s: _invoke(w, "promote_model", s),
             absorbs_faults_after="TransactWriteItems"),
    Scenario("rollback_endpoint: back to blue", _rollback_setup, lambda w, s: _invoke(w, "rollback_endpoint", s),
             settle_polls=5),
    Scenario("rollback_endpoint: a broken first endpoint is deleted", _first_rollback_setup,
             lambda w, s: _invoke(w, "rollback_endpoint", s), settle_polls=5),
]  # fmt: skip


@contextmanager
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with mock_aws():
        stack = provision(dict(BASE_ENV))
        for name, value in stack.env.items():
            monkeypatch.setenv(name, value)
        yield World(stack, stack.sagemaker, FakeWorkflow())


def _run(scenario: Scenario, monkeypatch: pytest.MonkeyPatch, faults: Faults | None) -> tuple[Any, dict[str, Any]]:
    """Set up a fresh world, run the step (with `faults`, then again without, as a retry), return the end state."""
    with world(monkeypatch) as w:
        given = scenario.setup(w)
        for name, value in w.stack.env.items():
            monkeypatch.setenv(name, value)
        w.stack.modules.clear()  # the step's Lambda starts cold, with the environment above
        w.fake.endpoint_polls_to_settle = [scenario.settle_polls] * 4
        w.fake.endpoint_polls_to_delete = max(1, scenario.settle_polls)
        counting = faults or Faults()
        w.stack.sagemaker = FaultySageMaker(w.fake, counting)  # type: ignore[assignment]
        w.workflow.faults = counting
        # The failed attempt ran out of time: an idempotency record it left IN_PROGRESS has expired by the time
        # Lambda retries (Powertools sets its expiry from the remaining time).
        monkeypatch.setattr(LambdaContext, "get_remaining_time_in_millis", lambda self: 0 if faults else 30_000)
        with faulty_botocore(counting):
            try:
                output = scenario.step(w, given)
            except Exception:  # the fault, or what the code wrapped it in: the Lambda fails
                if faults is None or not faults.hit:
                    raise
                output = None
        if faults is not None:
            assert faults.hit, f"the fault at call {faults.fail_at} was not hit"
            assert output is None or _after_commit(scenario, counting.calls, faults), counting.calls
            w.stack.sagemaker = w.fake
            w.workflow.faults = Faults()
            for module in w.stack.modules.values():
                if hasattr(module, "sagemaker"):
                    module.sagemaker = w.fake
            try:
                output = scenario.step(w, given)  # the retry: same input, no fault
            except ConflictError:
                if not scenario.retry_may_conflict:
                    raise
                output = "conflict"
        return _comparable(output), _end_state(w, counting.calls if faults is None else None)


def _after_commit(scenario: Scenario, calls: list[str], faults: Faults) -> bool:
    """Whether the faulted call came after the scenario's commit call (then the step may absorb it)."""
    commit = scenario.absorbs_faults_after
    committed = [i for i, name in enumerate(calls, start=1) if commit is not None and commit in name]
    return bool(committed) and faults.fail_at > committed[0]


def _end_state(w: World, calls: list[str] | None) -> dict[str, Any]:
    registry = w.registry
    champion: Champion | None = registry.get_champion()
    sfn = boto3.client("stepfunctions")
    machines = sfn.list_state_machines()["stateMachines"]
    state: dict[str, Any] = {
        "models": {m.version: (m.status, m.model_name, m.endpoint_config_name) for m in registry.list_models()},
        "champion": champion.version if champion else None,
        "runs": [(r.run_id, r.status, r.execution_arn) for r in registry.list_runs()],
        "approvals": [
            (a.approval_id, a.status, a.decided_by)
            for a in (registry.get_approval(i) for i in ("a1",) if _exists(registry, i))
        ],
        "task_results": list(w.workflow.results),
        "executions": [
            e["name"] for m in machines for e in sfn.list_executions(stateMachineArn=m["stateMachineArn"])["executions"]
        ],
        "sagemaker": (
            sorted(w.fake.models),
            sorted(w.fake.configs),
            {name: (e["status"], e.get("config"), e.get("target")) for name, e in w.fake.endpoints.items()},
        ),
    }
    if calls is not None:
        state["calls"] = calls
    return state


def _exists(registry: Registry, approval_id: str) -> bool:
    try:
        registry.get_approval(approval_id)
    except NotFoundError:  # scenarios without approvals
        return False
    return True


def _comparable(output: Any) -> Any:
    """A step's output without the clock: timestamps differ between a run and its retry."""
    if isinstance(output, Approval):
        return output.model_dump(exclude={"decided_at"})
    if isinstance(output, dict) and "smoke" in output:  # measured while setting up, differs per world
        return {**output, "smoke": {**output["smoke"], "latency_ms": None}}
    return output


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name.split(":")[0])
def test_a_fault_at_any_call_then_a_retry_ends_as_one_clean_run(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_output, clean = _run(scenario, monkeypatch, None)
    calls = clean.pop("calls")
    assert calls, "the step made no external call"
    for number, name in enumerate(calls, start=1):
        for after in (False, True):
            output, end = _run(scenario, monkeypatch, Faults(fail_at=number, after=after))
            moment = "after" if after else "before"
            assert end == clean, f"{scenario.name}: fault {moment} call {number} ({name}) left {end}"
            if output != "conflict":
                assert output == clean_output, f"{scenario.name}: fault {moment} call {number} ({name})"
