"""What a run (and serving) cost on AWS, from the pinned price table (challenger_core.prices).

A run's cost: the training job's `BillableTimeInSeconds` × its instance's hourly price (spot included: SageMaker
bills spot as billable seconds at the on-demand rate), the pipeline's Lambda invocations and GB-seconds and its
Step Functions state transitions, both read from the execution history (nested deployment executions included
when their history is readable). Serving: per request (API Gateway, the API function) and per GB-second of the
serverless endpoint. No boto3 here: the caller passes the history events.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from challenger_core import prices
from challenger_core.errors import ChallengerError

# Lambda memory by template logical id (template.yaml; Globals: 256 MB). A test keeps it equal to the template.
DEFAULT_FUNCTION_MEMORY_MB = 256
FUNCTION_MEMORY_MB = {"ValidateDataFunction": 1024, "DriftCheckFunction": 512, "BatchScoringFunction": 512}
API_FUNCTION_MEMORY_MB = DEFAULT_FUNCTION_MEMORY_MB
_TASK_ENDS = ("TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskSubmitted")  # Submitted: a .waitForTaskToken


class RunCost(BaseModel):
    """What one pipeline run cost, part by part, in USD (us-east-1 list prices of `prices_as_of`)."""

    model_config = ConfigDict(extra="ignore")

    total_usd: float
    training_usd: float | None = None  # None: the instance type is not in the price table
    instance_type: str | None = None
    billable_seconds: int | None = None
    spot: bool = False
    lambda_invocations: int = 0
    lambda_gb_seconds: float = 0.0
    lambda_usd: float = 0.0
    state_transitions: int = 0
    step_functions_usd: float = 0.0
    prices_as_of: str = prices.AS_OF
    priced_region: str = prices.PRICED_REGION
    region: str | None = None  # the stack's region, when it is not the priced one


class PipelineUsage(BaseModel):
    """Lambda and Step Functions usage read from execution histories."""

    invocations: int = 0
    gb_seconds: float = 0.0
    transitions: int = 0
    nested_executions: list[str] = []


def training_usd(instance_type: str | None, billable_seconds: int | None) -> float | None:
    """The training job's charge (0 before a job ran); None when the instance type is not in the table."""
    if instance_type is None:
        return 0.0
    hourly = prices.TRAINING_PER_HOUR.get(instance_type or "")
    if hourly is None:
        return None
    return hourly * (billable_seconds or 0) / 3600


def function_memory_mb(function: str) -> int:
    """A function's memory from its name or ARN (SAM names functions `<stack>-<LogicalId>-<suffix>`)."""
    for logical_id, memory in FUNCTION_MEMORY_MB.items():
        if logical_id in function:
            return memory
    return DEFAULT_FUNCTION_MEMORY_MB


def pipeline_usage(history: Iterable[Mapping[str, Any]]) -> PipelineUsage:
    """Lambda invocations, their GB-seconds (task start → end, an upper bound of the billed duration) and the
    state transitions of one execution's history; the executions it started (`startExecution.sync`)."""
    usage = PipelineUsage()
    function: str | None = None
    started: datetime | None = None
    for event in history:
        kind = str(event.get("type", ""))
        if kind.endswith("StateEntered"):
            usage.transitions += 1
        scheduled = event.get("taskScheduledEventDetails")
        if scheduled is not None:
            function = _function_name(scheduled) if scheduled.get("resourceType") == "lambda" else None
        elif kind == "TaskStarted":
            started = event.get("timestamp")
        elif kind in _TASK_ENDS and function is not None and started is not None:
            seconds = max((event["timestamp"] - started).total_seconds(), 0.0)
            usage.invocations += 1
            usage.gb_seconds += seconds * function_memory_mb(function) / 1024
            function, started = None, None
        if kind == "TaskSucceeded":
            nested = _nested_execution(event.get("taskSucceededEventDetails", {}))
            if nested:
                usage.nested_executions.append(nested)
    return usage


def run_cost(
    *,
    instance_type: str | None,
    billable_seconds: int | None,
    spot: bool = False,
    history: Iterable[Mapping[str, Any]] = (),
    history_of: Callable[[str], Iterable[Mapping[str, Any]]] | None = None,
    region: str | None = None,
) -> RunCost:
    """The run's cost so far: training plus the pipeline's own usage (and that of the executions it started,
    when `history_of` can read them; one that cannot be read is left out)."""
    usage = pipeline_usage(history)
    for arn in usage.nested_executions if history_of is not None else []:
        nested = _readable_usage(arn, history_of)  # type: ignore[arg-type]
        if nested is None:
            continue
        usage.invocations += nested.invocations
        usage.gb_seconds += nested.gb_seconds
        usage.transitions += nested.transitions
    training = training_usd(instance_type, billable_seconds)
    lambda_usd = usage.gb_seconds * prices.LAMBDA_ARM_PER_GB_SECOND + usage.invocations * prices.LAMBDA_PER_REQUEST
    step_functions_usd = usage.transitions * prices.STEP_FUNCTIONS_PER_TRANSITION
    return RunCost(
        total_usd=(training or 0.0) + lambda_usd + step_functions_usd,
        training_usd=training,
        instance_type=instance_type,
        billable_seconds=billable_seconds,
        spot=spot,
        lambda_invocations=usage.invocations,
        lambda_gb_seconds=round(usage.gb_seconds, 3),
        lambda_usd=lambda_usd,
        state_transitions=usage.transitions,
        step_functions_usd=step_functions_usd,
        region=region if region and region not in prices.REGIONS_COVERED else None,
    )


def prediction_usd(*, model_seconds: float, memory_mb: int, payload_bytes: int, api_seconds: float = 0.05) -> float:
    """One /predict: API Gateway's request, the API function (request + GB-seconds) and the serverless endpoint's
    compute (memory × model time) and data processed."""
    return (
        prices.API_GATEWAY_REST_PER_REQUEST
        + prices.LAMBDA_PER_REQUEST
        + api_seconds * API_FUNCTION_MEMORY_MB / 1024 * prices.LAMBDA_ARM_PER_GB_SECOND
        + model_seconds * memory_mb / 1024 * prices.SERVERLESS_PER_GB_SECOND
        + payload_bytes / 1024**3 * prices.SERVERLESS_PER_GB_PROCESSED
    )


def serving_usd(*, predictions: int, mean_latency_ms: float, memory_mb: int, payload_bytes: int = 2048) -> float:
    """What `predictions` requests cost, from the monitoring counters (count and mean latency)."""
    one = prediction_usd(model_seconds=mean_latency_ms / 1000, memory_mb=memory_mb, payload_bytes=payload_bytes)
    return predictions * one


def idle_usd_per_month(resource_types: Iterable[str], *, free_dashboards: bool = True) -> float:
    """What a stack's resources cost a month with nothing running (the template's `Type`s, one per resource); a
    dashboard is free within an account's first three."""
    total = 0.0
    for kind in resource_types:
        if kind == "AWS::CloudWatch::Dashboard" and not free_dashboards:
            total += prices.CLOUDWATCH_DASHBOARD_PER_MONTH
        total += prices.IDLE_PER_MONTH.get(kind, 0.0)
    return total


def usd(amount: float | None) -> str:
    """A price for people: four decimals under a dollar (a run costs cents), two above."""
    if amount is None:
        return "unknown"
    if 0 < amount < 0.00005:  # what four decimals cannot show
        return "<$0.0001"
    return f"${amount:,.4f}" if amount < 1 else f"${amount:,.2f}"


def summary(cost: RunCost) -> str:
    """One line: the total and its parts, with the price table's date (email, CLI)."""
    if cost.training_usd is None:
        training = f"training on {cost.instance_type} (not in the price table)"
    elif cost.instance_type is None:
        training = "no training job"
    else:
        spot = " spot" if cost.spot else ""
        seconds = cost.billable_seconds or 0
        training = f"training {usd(cost.training_usd)} ({seconds} billable s on {cost.instance_type}{spot})"
    where = f"; {cost.region} priced as {cost.priced_region}" if cost.region else ""
    return (
        f"{usd(cost.total_usd)}: {training}, Lambda {usd(cost.lambda_usd)} ({cost.lambda_invocations} invocations, "
        f"{cost.lambda_gb_seconds:g} GB-s), Step Functions {usd(cost.step_functions_usd)} "
        f"({cost.state_transitions} transitions) — {cost.priced_region} list prices of {cost.prices_as_of}{where}"
    )


def _readable_usage(arn: str, history_of: Callable[[str], Iterable[Mapping[str, Any]]]) -> PipelineUsage | None:
    """A nested execution's usage; None when its history cannot be read (the cost is then a lower bound)."""
    try:
        return pipeline_usage(history_of(arn))
    except ChallengerError:
        return None


def _function_name(scheduled: Mapping[str, Any]) -> str | None:
    try:
        parameters = json.loads(scheduled.get("parameters") or "{}")
    except ValueError:
        return None
    name = parameters.get("FunctionName") if isinstance(parameters, dict) else None
    return str(name) if name else None


def _nested_execution(details: Mapping[str, Any]) -> str | None:
    try:
        output = json.loads(details.get("output") or "{}")
    except ValueError:
        return None
    arn = output.get("ExecutionArn") if isinstance(output, dict) else None
    return str(arn) if arn else None
