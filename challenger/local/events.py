"""EventBridge for the local cloud: the template's rules, pattern matching, S3 events and schedules.

moto neither fires schedules nor delivers S3 "Object Created" events to Lambda or Step Functions targets, so the
local cloud wires the template's rules itself: :func:`rules_from_template` (SAM event sources), :func:`matches`
(moto's own ``EventPattern``), :class:`EventBus` (asynchronous delivery, EventBridge's and Lambda's retries,
:meth:`EventBus.s3_hook`) and :class:`Scheduler` (``cron``/``rate`` on a fast clock). Where the S3 hook sits in
moto 5.2.5: docs/decisions/0008-local-cloud-strictness.md, "The S3 hook".
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import random
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from croniter import CroniterBadDateError, CroniterError, croniter
from moto.events.exceptions import InvalidEventPatternException
from moto.events.models import EventPattern, EventPatternParser

from challenger.local.background import BackgroundLoop
from challenger.local.lambda_runtime import check_moto_version

if TYPE_CHECKING:
    from moto.events.utils import EventMessageType

    from challenger.local.template import LocalTemplate

LOG = logging.getLogger(__name__)

Deliver = Callable[[str, dict[str, Any]], None]
"""``deliver(target_logical_id, event)``: hands one event to one target (invoke a function, start an execution)."""

_PATTERN_EVENTS = {"EventBridgeRule", "CloudWatchEvent"}
_SCHEDULE_EVENTS = {"Schedule", "ScheduleV2"}
_TARGET_TYPES = ("AWS::Serverless::Function", "AWS::Serverless::StateMachine")


# --------------------------------------------------------------------------------------------------
# Rules


@dataclass(frozen=True)
class Rule:
    """One EventBridge rule with one target, as SAM generates it from a function's (or state machine's) event;
    ``name``: ``RuleName``/``Name``, else ``<stack>-<Target><Event>`` (SAM's logical id for the generated rule)."""

    name: str
    target: str
    pattern: dict[str, Any] | None
    schedule: str | None
    enabled: bool

    def __post_init__(self) -> None:
        if (self.pattern is None) == (self.schedule is None):
            raise ValueError(f"rule {self.name}: exactly one of pattern and schedule must be set")
        if self.pattern is not None:
            validate_pattern(self.pattern)
        if self.schedule is not None:
            parse_schedule(self.schedule)  # fail at load time, as CloudFormation would, not at the first tick

    def arn(self, region: str, account: str) -> str:
        return f"arn:aws:events:{region}:{account}:rule/{self.name}"


def _enabled(template: LocalTemplate, properties: Mapping[str, Any]) -> bool:
    # SAM: `State: ENABLED|DISABLED` (any event source) or the older boolean `Enabled` (Schedule).
    if "State" in properties:
        return str(template.resolve(properties["State"])).upper() == "ENABLED"
    if "Enabled" in properties:
        value = template.resolve(properties["Enabled"])
        return value is True or str(value).lower() == "true"
    return True


def rules_from_template(template: LocalTemplate) -> list[Rule]:
    """The EventBridge rules SAM would generate from the template's event sources (intrinsics resolved)."""
    rules: list[Rule] = []
    for logical_id in template.of_type(*_TARGET_TYPES):
        events = template.resources[logical_id].get("Properties", {}).get("Events", {})
        for event_name, event in events.items():
            kind = event.get("Type")
            properties = event.get("Properties", {})
            if kind not in _PATTERN_EVENTS | _SCHEDULE_EVENTS:
                continue
            explicit = properties.get("RuleName", properties.get("Name"))
            name = str(template.resolve(explicit)) if explicit else f"{template.stack_name}-{logical_id}{event_name}"
            if kind in _PATTERN_EVENTS:
                pattern = template.resolve(properties["Pattern"])
                rules.append(Rule(name, logical_id, _plain(pattern), None, _enabled(template, properties)))
            else:
                expression = properties.get("Schedule", properties.get("ScheduleExpression"))
                schedule = str(template.resolve(expression))
                rules.append(Rule(name, logical_id, None, schedule, _enabled(template, properties)))
    return rules


def _plain(value: Any) -> Any:
    """cfn-lint's node classes → plain dicts and lists (so rules compare, copy and print as JSON)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


# --------------------------------------------------------------------------------------------------
# Content filtering: moto's EventBridge matcher (moto/events/models.py), the one its own PutEvents uses


def validate_pattern(pattern: Mapping[str, Any]) -> None:
    """Raise ValueError for a pattern moto's PutRule would refuse (a value that is not an object or a list)."""
    try:
        EventPatternParser(json.dumps(pattern)).parse()
    except InvalidEventPatternException as error:
        raise ValueError(f"invalid event pattern {pattern!r}: {error.message}") from error


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True when ``event`` matches the EventBridge ``pattern``."""
    return bool(EventPattern.load(json.dumps(pattern)).matches_event(cast("EventMessageType", dict(event))))


# --------------------------------------------------------------------------------------------------
# Event shapes


_S3_REASONS = {
    "Put": "PutObject",
    "Post": "POST Object",
    "Copy": "CopyObject",
    "CompleteMultipartUpload": "CompleteMultipartUpload",
}


def object_created_event(
    bucket: str,
    key: str,
    *,
    etag: str,
    size: int,
    version_id: str | None,
    region: str,
    account: str,
    reason: str = "PutObject",
    when: datetime | None = None,
) -> dict[str, Any]:
    """The "Object Created" event S3 sends to EventBridge; ``version-id`` only for a versioned bucket, as on AWS."""
    when = when or datetime.now(UTC)
    obj: dict[str, Any] = {"key": key, "size": size, "etag": etag.strip('"')}
    if version_id is not None:
        obj["version-id"] = version_id
    # S3's sequencer: a hex string that grows for later events on the same key.
    obj["sequencer"] = f"{time.time_ns():018X}"
    detail = {
        "version": "0",
        "bucket": {"name": bucket},
        "object": obj,
        "request-id": secrets.token_hex(8).upper(),
        "requester": account,
        "source-ip-address": "127.0.0.1",
        "reason": reason,
    }
    resources = [f"arn:aws:s3:::{bucket}"]
    return _envelope("Object Created", "aws.s3", resources, detail, when=when, region=region, account=account)


def scheduled_event(rule_arn: str, when: datetime, region: str, account: str) -> dict[str, Any]:
    """The "Scheduled Event" EventBridge sends to a schedule rule's targets (``time`` = the scheduled tick)."""
    return _envelope("Scheduled Event", "aws.events", [rule_arn], {}, when=when, region=region, account=account)


def _envelope(
    kind: str, source: str, resources: list[str], detail: dict[str, Any], *, when: datetime, region: str, account: str
) -> dict[str, Any]:
    """The EventBridge event envelope every service event shares (time: UTC, whole seconds, "Z")."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": kind,
        "source": source,
        "account": account,
        "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


# --------------------------------------------------------------------------------------------------
# The bus


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a failed delivery is tried again.

    EventBridge's default for every target (the rule target's ``RetryPolicy``): "By default, EventBridge retries
    sending the event for 24 hours and up to 185 times with an exponential back off and jitter, or randomized
    delay" (EventBridge User Guide, "Retrying events that fail to deliver", eb-rule-retry-policy.html). The
    base and cap of the back-off are not published: 1 s doubling up to 10 min, with full jitter, spreads 185
    attempts over about a day. ``scale`` multiplies every wait (and the event's age limit): the local cloud's
    fast clock, a test's 0.
    """

    maximum_attempts: int = 185
    maximum_event_age: float = 86_400.0
    base_delay: float = 1.0
    maximum_delay: float = 600.0
    jitter: bool = True
    scale: float = 1.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        ceiling = min(self.maximum_delay, self.base_delay * 2 ** (attempt - 1))
        return (random.uniform(0, ceiling) if self.jitter else ceiling) * self.scale  # noqa: S311 - not crypto


# Lambda's own retries of an asynchronous invocation (EventBridge invokes a Lambda target asynchronously: once
# Lambda has queued the event, EventBridge is done). "If the function returns an error, by default Lambda attempts
# to run it two more times, with a one-minute wait between the first two attempts, and two minutes between the
# second and third attempts" (Lambda Developer Guide, "Error handling and automatic retries for asynchronous
# invocation", invocation-async-error-handling.html; MaximumRetryAttempts 2, MaximumEventAgeInSeconds 6 h).
LAMBDA_ASYNC_RETRIES = RetryPolicy(maximum_attempts=3, maximum_event_age=21_600.0, base_delay=60.0, jitter=False)


class FunctionFailed(Exception):
    """A Lambda target ran and failed: retried under :data:`LAMBDA_ASYNC_RETRIES`, not EventBridge's policy."""


@dataclass
class _Delivery:
    rule: Rule
    event: dict[str, Any]
    first_attempt: float = field(default_factory=time.monotonic)
    attempt: int = 1


class EventBus:
    """The default event bus: :meth:`put` matches an event against the pattern rules, a thread pool delivers a copy
    to each target. An exception from ``deliver`` is retried on a timer under ``retry`` (or ``function_retry`` for
    :class:`FunctionFailed`); an event out of attempts or age is dropped, logged and counted in :attr:`failures`
    (EventBridge's default with no dead-letter queue).
    """

    def __init__(
        self,
        rules: list[Rule],
        deliver: Deliver,
        *,
        workers: int = 4,
        retry: RetryPolicy = RetryPolicy(),
        function_retry: RetryPolicy = LAMBDA_ASYNC_RETRIES,
    ) -> None:
        self.rules = list(rules)
        self._deliver = deliver
        self.retry = retry
        self.function_retry = function_retry
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eventbus")
        self._idle = threading.Condition()
        self._in_flight = 0  # deliveries queued, running or waiting for a retry
        self._timers: set[threading.Timer] = set()
        self.delivered = 0
        self.failures = 0
        self.retries = 0

    def matching_rules(self, event: Mapping[str, Any]) -> list[Rule]:
        return [
            rule for rule in self.rules if rule.enabled and rule.pattern is not None and matches(rule.pattern, event)
        ]

    def put(self, event: dict[str, Any]) -> int:
        """Queue ``event`` for every enabled rule whose pattern matches; return the number of targets."""
        targets = self.matching_rules(event)
        for rule in targets:
            self._queue(rule, copy.deepcopy(event))
        LOG.debug("event %s %s → %d target(s)", event.get("source"), event.get("detail-type"), len(targets))
        return len(targets)

    def send(self, target: str, event: dict[str, Any]) -> None:
        """Deliver ``event`` to the target of a rule (a schedule's), with the same retries: a Scheduler's deliver."""
        self._queue(next(rule for rule in self.rules if rule.target == target), event)

    def _queue(self, rule: Rule, event: dict[str, Any]) -> None:
        with self._idle:
            self._in_flight += 1
        try:
            self._pool.submit(self._deliver_one, _Delivery(rule, event))
        except RuntimeError:  # closed
            self._ended(1, "failures")
            raise

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every queued event was delivered or dropped, retries included; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def close(self) -> None:
        """Stop accepting events, let the workers finish what is queued, and join them; events waiting for a
        retry are dropped (and said so)."""
        with self._idle:
            timers, self._timers = set(self._timers), set()
        for timer in timers:
            timer.cancel()
        if timers:
            LOG.warning("%d event deliveries waiting for a retry are dropped: the bus stops", len(timers))
            self._ended(len(timers), "failures")
        self._pool.shutdown(wait=True)

    def _ended(self, count: int, outcome: str) -> None:
        with self._idle:
            setattr(self, outcome, getattr(self, outcome) + count)
            self._in_flight -= count
            self._idle.notify_all()

    def _deliver_one(self, delivery: _Delivery) -> None:
        rule, event = delivery.rule, delivery.event
        try:
            self._deliver(rule.target, event)
        except Exception as exc:
            policy = self.function_retry if isinstance(exc, FunctionFailed) else self.retry
            age = time.monotonic() - delivery.first_attempt
            young = policy.scale == 0 or age < policy.maximum_event_age * policy.scale
            if delivery.attempt < policy.maximum_attempts and young:
                self._retry_later(delivery, policy.delay(delivery.attempt), exc)
                return
            LOG.error(
                "rule %s: event %s to %s dropped after %d attempts: %s",
                *(rule.name, event.get("id"), rule.target, delivery.attempt, exc),
            )
            self._ended(1, "failures")
        else:
            self._ended(1, "delivered")

    def _retry_later(self, delivery: _Delivery, delay: float, exc: Exception) -> None:
        LOG.warning(
            "rule %s: delivery of event %s to %s failed (attempt %d: %s); retrying in %.1f s",
            *(delivery.rule.name, delivery.event.get("id"), delivery.rule.target, delivery.attempt, exc, delay),
        )

        def again() -> None:
            with self._idle:
                if timer not in self._timers:
                    return  # cancelled by close()
                self._timers.discard(timer)
            delivery.attempt += 1
            try:
                self._pool.submit(self._deliver_one, delivery)
            except RuntimeError:
                LOG.error("event %s to %s dropped: the bus stopped", delivery.event.get("id"), delivery.rule.target)
                self._ended(1, "failures")

        timer = threading.Timer(delay, again)
        timer.daemon = True
        with self._idle:
            self.retries += 1
            self._timers.add(timer)
        timer.start()

    @contextlib.contextmanager
    def s3_hook(self, bucket_names: set[str], region: str, account: str) -> Iterator[None]:
        """Within the block, moto's S3 puts an :func:`object_created_event` on this bus for every object created in
        ``bucket_names`` (those with EventBridge notifications on: only they send events on AWS). Hooks nest."""
        from moto.s3 import notifications  # noqa: PLC0415 — moto only where the local cloud runs

        check_moto_version()  # the hook wraps a moto internal, checked on the pinned version only

        names = frozenset(bucket_names)
        original = notifications.send_event

        def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
            original(account_id, event_name, bucket, key)
            # S3NotificationEvent is a str enum: str methods see its value ("s3:ObjectCreated:Put").
            if bucket.name not in names or not str.startswith(event_name, "s3:ObjectCreated:"):
                return
            if str.endswith(event_name, ":Put") and getattr(key, "multipart", None) is not None:
                # moto's complete_multipart_upload stores the object through put_object (which notifies
                # "Put") and then notifies "CompleteMultipartUpload"; S3 sends only the latter.
                return
            try:
                version = key.version_id if bucket.is_versioned else None
                event = object_created_event(
                    bucket.name,
                    key.name,
                    etag=key.etag,
                    size=key.size,
                    version_id=None if version in (None, "null") else str(version),
                    region=region,
                    account=account,
                    reason=_S3_REASONS.get(str.split(event_name, ":")[-1], "PutObject"),
                )
                self.put(event)
            except Exception:
                # Like S3 → EventBridge, a failed notification never fails the S3 call itself.
                LOG.exception("could not emit the Object Created event for s3://%s/%s", bucket.name, key.name)

        notifications.send_event = send_event
        try:
            yield
        finally:
            notifications.send_event = original


# --------------------------------------------------------------------------------------------------
# Schedules

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_AWS_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule expression. ``next_after(t)`` is the first tick strictly after ``t`` (UTC)."""

    expression: str
    period: timedelta | None = None  # rate(...)
    cron: str | None = None  # the croniter form of cron(...)

    def next_after(self, when: datetime, anchor: datetime | None = None) -> datetime | None:
        """The next tick after ``when``; rate ticks are ``anchor + k x period`` (anchor: rule creation).

        None when a cron expression has no tick left (a past year).
        """
        when = _utc(when)
        if self.period is not None:
            start = _utc(anchor) if anchor is not None else when
            steps = max(1, math.floor((when - start) / self.period) + 1)
            return start + steps * self.period
        assert self.cron is not None
        try:
            return _utc(croniter(self.cron, when, day_or=False).get_next(datetime))
        except CroniterBadDateError:
            return None


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_schedule(expression: str) -> Schedule:
    """Parse an EventBridge rule schedule: ``rate(N unit)`` or ``cron(min hour dom month dow year)``.

    AWS rules enforced: ``rate(1 minute)`` but ``rate(5 minutes)``; six cron fields; exactly one of
    day-of-month and day-of-week is ``?``; day-of-week numbers are 1-7 = SUN-SAT. Wildcards ``, - * /``,
    ``L`` (day-of-month; ``5L`` = last Thursday in day-of-week), ``W`` (``15W``) and ``#`` (``3#2`` = second
    Tuesday) are supported; times are UTC. Raises ValueError for anything else.
    """
    text = expression.strip()
    if rate := _RATE.match(text):
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            raise ValueError(f"{expression!r}: use rate(1 {unit.rstrip('s')}) or rate(N {unit.rstrip('s')}s), N > 1")
        return Schedule(text, period=timedelta(seconds=value * _UNIT_SECONDS[unit.rstrip("s")]))
    if cron := _CRON.match(text):
        return Schedule(text, cron=_aws_cron_to_croniter(cron.group(1), expression))
    raise ValueError(f"{expression!r} is not a schedule expression: cron(...) or rate(...)")


def _aws_cron_to_croniter(fields_text: str, expression: str) -> str:
    fields = fields_text.upper().split()
    if len(fields) != 6:
        raise ValueError(f"{expression!r}: AWS cron has six fields (minutes hours day-of-month month day-of-week year)")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ValueError(f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'")
    if "W" in dom and dom.rstrip("W") == "L":
        raise ValueError(f"{expression!r}: LW is not supported")
    # croniter's seven-field form is "min hour dom month dow second year"; '?' is '*' there, and with one
    # side '*' the day fields combine with AND (day_or=False), which is AWS's meaning.
    converted = [
        minute,
        hour,
        "*" if dom == "?" else dom,
        month,
        "*" if dow == "?" else _dow(dow, expression),
        "0",
        year,
    ]
    cron = " ".join(converted)
    try:
        croniter(cron, datetime(2000, 1, 1, tzinfo=UTC), day_or=False)
    except (CroniterError, ValueError) as error:
        raise ValueError(f"{expression!r} is not a valid cron expression: {error}") from error
    return cron


def _dow(field: str, expression: str) -> str:
    """AWS day-of-week (1-7 = SUN-SAT, ``nL``, ``n#k``) → croniter's (0-6 = SUN-SAT, ``Ln``, ``n#k``)."""

    def day(token: str) -> str:
        if token in _AWS_DAYS:
            return str(_AWS_DAYS.index(token))
        if not token.isdigit() or not 1 <= int(token) <= 7:
            raise ValueError(f"{expression!r}: day-of-week is 1-7 (SUN-SAT) or SUN..SAT, got {token!r}")
        return str(int(token) - 1)

    terms = []
    for full_term in field.split(","):
        term, slash, increment = full_term.partition("/")
        step = slash + increment
        if term == "*":
            terms.append(term + step)
        elif term == "L":
            terms.append("6" + step)  # a lone L in day-of-week is the last day of the week: Saturday
        elif term.endswith("L"):
            terms.append("L" + day(term[:-1]))
        elif "#" in term:
            weekday, nth = term.split("#", 1)
            terms.append(f"{day(weekday)}#{nth}")
        elif "-" in term:
            first, last = term.split("-", 1)
            terms.append(f"{day(first)}-{day(last)}{step}")
        else:
            terms.append(day(term) + step)
    return ",".join(terms)


@dataclass
class _Ticking:
    rule: Rule
    schedule: Schedule
    next_fire: datetime | None


class Scheduler(BackgroundLoop):
    """Fires the enabled schedule rules on a daemon thread, on a clock that runs ``fast_clock`` times real time from
    ``start_at``; each tick is delivered on its own thread, so a slow target never delays the clock. More than
    ``max_catch_up`` ticks overrun in one step are skipped with a warning.
    """

    thread_name = "scheduler"

    def __init__(
        self,
        rules: list[Rule],
        deliver: Deliver,
        *,
        region: str = "us-east-1",
        account: str = "123456789012",
        fast_clock: float = 1.0,
        start_at: datetime | None = None,
        max_catch_up: int = 10,
    ) -> None:
        if fast_clock <= 0:
            raise ValueError("fast_clock must be positive")
        self.rules = [rule for rule in rules if rule.schedule is not None]
        self._deliver = deliver
        self.region = region
        self.account = account
        self.fast_clock = fast_clock
        self.start_at = _utc(start_at) if start_at is not None else datetime.now(UTC)
        self.max_catch_up = max_catch_up
        self._started = time.monotonic()
        self._lock = threading.Lock()
        super().__init__()
        self._ticking: dict[str, _Ticking] = {}
        for rule in self.rules:
            if rule.enabled and rule.schedule is not None:
                schedule = parse_schedule(rule.schedule)
                self._ticking[rule.name] = _Ticking(rule, schedule, schedule.next_after(self.start_at, self.start_at))
        # (rule name, scheduled time) of the latest firings, for the CLI, the dashboard and tests.
        self.fired: deque[tuple[str, datetime]] = deque(maxlen=1000)

    def now(self) -> datetime:
        """The simulated current time (UTC)."""
        return self.start_at + timedelta(seconds=(time.monotonic() - self._started) * self.fast_clock)

    def next_fire(self, rule_name: str) -> datetime | None:
        """When the rule fires next on the simulated clock (None: disabled, or no tick left)."""
        with self._lock:
            ticking = self._ticking.get(rule_name)
            return ticking.next_fire if ticking else None

    def fire_now(self, rule_name: str, *, force: bool = False) -> dict[str, Any]:
        """Hand the rule's scheduled event to ``deliver`` now and return it; a disabled rule only with ``force``."""
        rule = next((rule for rule in self.rules if rule.name == rule_name), None)
        if rule is None:
            raise KeyError(f"no schedule rule {rule_name!r}; known: {[r.name for r in self.rules]}")
        if not rule.enabled and not force:
            raise ValueError(f"schedule rule {rule_name!r} is disabled")
        event = scheduled_event(rule.arn(self.region, self.account), self.now(), self.region, self.account)
        self._deliver(rule.target, event)
        with self._lock:
            self.fired.append((rule.name, self.now()))
        return event

    def _due(self, now: datetime) -> list[tuple[Rule, datetime]]:
        due: list[tuple[Rule, datetime]] = []
        with self._lock:
            for ticking in self._ticking.values():
                caught = 0
                while ticking.next_fire is not None and ticking.next_fire <= now:
                    if caught < self.max_catch_up:
                        due.append((ticking.rule, ticking.next_fire))
                    caught += 1
                    ticking.next_fire = ticking.schedule.next_after(ticking.next_fire, self.start_at)
                if caught > self.max_catch_up:
                    skipped = caught - self.max_catch_up
                    LOG.warning("rule %s: skipped %d ticks the fast clock ran past", ticking.rule.name, skipped)
        return due

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self.now()
            for rule, when in self._due(now):
                with self._lock:
                    self.fired.append((rule.name, when))
                event = scheduled_event(rule.arn(self.region, self.account), when, self.region, self.account)
                threading.Thread(
                    target=self._fire, args=(rule, event), name=f"schedule-{rule.name}", daemon=True
                ).start()
            with self._lock:
                upcoming = [t.next_fire for t in self._ticking.values() if t.next_fire is not None]
            # Sleep until the next tick in real seconds, but wake at least once a second (stop, clock drift).
            wait = min(((min(upcoming) - self.now()).total_seconds() / self.fast_clock) if upcoming else 1.0, 1.0)
            self._stop.wait(max(wait, 0.005))

    def _fire(self, rule: Rule, event: dict[str, Any]) -> None:
        try:
            self._deliver(rule.target, event)
        except Exception:
            LOG.exception("schedule rule %s: delivery to %s failed", rule.name, rule.target)
