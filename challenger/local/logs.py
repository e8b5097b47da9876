"""CloudWatch Logs' subscription filters for the functions' log groups: the template's `AWS::Logs::SubscriptionFilter`.

On AWS the Lambda service, not the sandbox, ships what a function writes to stdout into its log group; a subscription
filter then sends the matching events to its destination as `{"awslogs": {"data": <base64 of gzip JSON>}}`, a
`DATA_MESSAGE` per log stream with the events in order, and a Lambda destination is invoked asynchronously
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html#LambdaFunctionExample).
Here the worker processes' stdout is read by the runtime (lambda_runtime: a line no subscription takes goes on to
the cloud's output, as before; the captures, one per request, do not flood it), matched with moto's filter-pattern
matcher (the quoted and plain terms the template uses; moto matches anything else, so
:func:`subscriptions_from_template` refuses other patterns) and delivered in batches through the event bus, with
Lambda's retries of an asynchronous invocation. A line written before a sandbox dies is read from the pipe all the
same, as the Lambda service keeps what the function wrote.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.logs.utils import EventMessageFilter

from challenger.local.events import Rule
from challenger.local.template import LocalTemplate

LOG = logging.getLogger(__name__)

# moto's EventMessageFilter knows a plain or a quoted term; a JSON or space-delimited pattern would match every line.
_SUPPORTED_PATTERN_START = ('"', *"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class Subscription:
    """One subscription filter: the function whose log group it reads, its pattern, the destination function."""

    name: str
    source: str  # the function's logical id
    log_group: str
    pattern: str
    destination: str  # logical id

    def rule(self) -> Rule:
        """The bus's route to the destination (a pattern no put event has: only :meth:`LogDelivery` sends on it)."""
        return Rule(self.name, self.destination, {"source": ["local.logs.subscription"]}, None, True)


def subscriptions_from_template(template: LocalTemplate) -> list[Subscription]:
    """Every subscription filter on a function's log group with a function destination."""
    groups = {}  # log group logical id -> function logical id (LoggingConfig.LogGroup: !Ref <group>)
    for logical_id in template.of_type("AWS::Serverless::Function"):
        group = template.resources[logical_id].get("Properties", {}).get("LoggingConfig", {}).get("LogGroup")
        if isinstance(group, dict) and "Ref" in group:
            groups[group["Ref"]] = logical_id
    found = []
    for logical_id in template.of_type("AWS::Logs::SubscriptionFilter"):
        properties = template.resources[logical_id]["Properties"]
        group, destination = properties["LogGroupName"], properties["DestinationArn"]
        if not (isinstance(group, dict) and group.get("Ref") in groups):
            raise ValueError(f"{logical_id}: the local cloud delivers subscriptions on a function's log group only")
        target = destination.get("Fn::GetAtt", [None])[0] if isinstance(destination, dict) else None
        if target not in template.of_type("AWS::Serverless::Function"):
            raise ValueError(f"{logical_id}: the local cloud delivers subscriptions to a function only")
        pattern = str(properties.get("FilterPattern", ""))
        if not pattern.startswith(_SUPPORTED_PATTERN_START):
            raise ValueError(f"{logical_id}: filter pattern {pattern!r} is not a term moto's matcher knows")
        group_name = str(template.resolve(template.resources[group["Ref"]]["Properties"]["LogGroupName"]))
        found.append(Subscription(template.name(logical_id), groups[group["Ref"]], group_name, pattern, target))
    return found


class LogDelivery:
    """Matching lines of each log stream, batched for up to `linger` seconds, sent as one delivery per stream."""

    def __init__(
        self,
        subscriptions: list[Subscription],
        send: Callable[[str, dict[str, Any]], None],
        *,
        account: str,
        linger: float = 0.25,
    ) -> None:
        self._subscriptions = subscriptions
        self._filters = {s.name: EventMessageFilter(s.pattern) for s in subscriptions}
        self._send = send
        self._account = account
        self._linger = linger
        self._pending: dict[tuple[Subscription, str], list[dict[str, Any]]] = defaultdict(list)
        self._lock = threading.Lock()
        self._sequence = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-delivery", daemon=True)
        self._thread.start()

    def sink(self, function: str) -> Callable[[str, str], bool] | None:
        """Where the function's (logical id) lines go — True when a subscription took the line — or None when no
        subscription reads its log group."""
        mine = [s for s in self._subscriptions if s.source == function]
        if not mine:
            return None

        def add(stream: str, line: str) -> bool:
            message = line.rstrip("\n")
            taken = False
            for subscription in mine:
                if message and self._filters[subscription.name].matches(message):
                    taken = True
                    with self._lock:
                        self._sequence += 1
                        event = {"id": f"{self._sequence:056d}", "timestamp": int(time.time() * 1000)}
                        self._pending[(subscription, stream)].append({**event, "message": message})
            return taken

        return add

    def flush(self) -> None:
        """Send what is pending now (one delivery per subscription and log stream)."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(list)
        for (subscription, stream), events in pending.items():
            data = {
                "messageType": "DATA_MESSAGE",
                "owner": self._account,
                "logGroup": subscription.log_group,
                "logStream": stream,
                "subscriptionFilters": [subscription.name],
                "logEvents": events,
            }
            payload = base64.b64encode(gzip.compress(json.dumps(data, separators=(",", ":")).encode())).decode()
            try:
                self._send(subscription.destination, {"awslogs": {"data": payload}})
            except RuntimeError:  # the bus is closed: the cloud stops
                LOG.warning("%d log event(s) of %s not delivered: the cloud stops", len(events), stream)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._linger):
            self.flush()
