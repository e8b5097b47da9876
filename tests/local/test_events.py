"""EventBridge for the local cloud: template rules, content filtering, S3 events through moto, schedules."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.s3 import notifications
from moto.server import ThreadedMotoServer

from challenger.local.events import (
    LAMBDA_ASYNC_RETRIES,
    EventBus,
    FunctionFailed,
    RetryPolicy,
    Rule,
    Scheduler,
    matches,
    object_created_event,
    parse_schedule,
    rules_from_template,
    scheduled_event,
    validate_pattern,
)
from challenger.local.template import LocalTemplate
from tests.support.events import load_event

REGION = "us-east-1"
ACCOUNT = "123456789012"


class Inbox:
    """A deliver callback: collects (target, event, thread name); waits for a count."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any], str]] = []
        self._condition = threading.Condition()

    def __call__(self, target: str, event: dict[str, Any]) -> None:
        with self._condition:
            self.items.append((target, event, threading.current_thread().name))
            self._condition.notify_all()

    def wait_for(self, count: int, timeout: float = 3.0) -> list[tuple[str, dict[str, Any], str]]:
        with self._condition:
            self._condition.wait_for(lambda: len(self.items) >= count, timeout)
            return list(self.items)


# --------------------------------------------------------------------------------------------------
# Rules from the template


def test_rules_from_the_template(template: LocalTemplate) -> None:
    rules = {rule.name: rule for rule in rules_from_template(template)}

    upload = rules["challenger-TriggerFunctionUploadRule"]
    assert upload.target == "TriggerFunction"
    assert upload.enabled
    assert upload.schedule is None
    assert upload.pattern == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": ["challenger-data-123456789012"]},
            "object": {
                "key": [
                    {"wildcard": "incoming/*/train.csv"},
                    {"wildcard": "incoming/*/train/_manifest.json"},
                    {"wildcard": "incoming/*/train/_SUCCESS"},
                ]
            },
        },
    }
    # A set's marker matches, its parts do not (issue 24): one run for the whole set.
    keys = {"detail": {"object": {"key": upload.pattern["detail"]["object"]["key"]}}}
    for key, starts in (
        ("incoming/penguins/train/_SUCCESS", True),
        ("incoming/penguins/train/_manifest.json", True),
        ("incoming/penguins/train/part-00006-5f1e.c000.csv", False),
        ("incoming/penguins/train/part-00007.snappy.parquet", False),
    ):
        assert matches(keys, {"detail": {"object": {"key": key}}}) is starts, key
    schedule = rules["challenger-TriggerFunctionScheduleRule"]
    assert schedule.target == "TriggerFunction"
    assert schedule.schedule == "cron(0 3 ? * MON *)"
    assert schedule.pattern is None
    assert not schedule.enabled  # ScheduleEnabled defaults to "false"


def test_schedule_parameters_flow_into_the_rule() -> None:
    template = LocalTemplate(
        parameters={"NotificationEmail": "a@b.co", "ScheduleEnabled": "true", "RetrainSchedule": "rate(1 day)"}
    )
    (schedule,) = [rule for rule in rules_from_template(template) if rule.name.endswith("TriggerFunctionScheduleRule")]
    assert schedule.enabled
    assert schedule.schedule == "rate(1 day)"


def test_the_templates_upload_rule_against_the_sample_events(template: LocalTemplate) -> None:
    (upload,) = [r for r in rules_from_template(template) if r.pattern is not None and r.target == "TriggerFunction"]
    assert upload.pattern is not None
    assert matches(upload.pattern, load_event("trigger", "upload"))
    assert not matches(upload.pattern, load_event("trigger", "upload_wrong_key"))
    assert not matches(upload.pattern, load_event("trigger", "schedule"))
    other_bucket = load_event("trigger", "upload")
    other_bucket["detail"]["bucket"]["name"] = "someone-elses-bucket"
    assert not matches(upload.pattern, other_bucket)


def test_a_batch_drop_starts_the_batch_pipeline_and_never_a_training_run(template: LocalTemplate) -> None:
    rules = {r.target: r for r in rules_from_template(template) if r.pattern is not None}
    assert set(rules) == {"TriggerFunction", "BatchPipeline"}
    batch, upload = rules["BatchPipeline"].pattern, rules["TriggerFunction"].pattern
    assert batch is not None
    assert upload is not None
    assert matches(batch, load_event("batch_scoring", "upload"))
    assert not matches(upload, load_event("batch_scoring", "upload"))
    assert not matches(batch, load_event("trigger", "upload"))


# --------------------------------------------------------------------------------------------------
# Content filtering

EVENT: dict[str, Any] = {
    "source": "aws.s3",
    "detail-type": "Object Created",
    "detail": {
        "key": "incoming/reviews/train.csv",
        "size": 300,
        "ratio": 0.5,
        "flag": True,
        "nothing": None,
        "empty": "",
        "tags": ["red", "green"],
        "ip": "10.0.0.7",
        "nested": {"deep": {"value": "x"}},
        "records": [{"kind": "a", "n": 1}, {"kind": "b", "n": 2}],
    },
}

CASES = [
    # exact values: strings, numbers (300 == 300.0), booleans, null, empty string
    ({"source": ["aws.s3"]}, True),
    ({"source": ["aws.S3"]}, False),
    ({"source": ["aws.ec2", "aws.s3"]}, True),
    ({"detail": {"size": [300]}}, True),
    ({"detail": {"size": [300.0]}}, True),
    ({"detail": {"size": ["300"]}}, False),
    ({"detail": {"flag": [True]}}, True),
    ({"detail": {"nothing": [None]}}, True),
    ({"detail": {"empty": [""]}}, True),
    # arrays in the event: any element
    ({"detail": {"tags": ["green"]}}, True),
    ({"detail": {"tags": ["blue"]}}, False),
    ({"detail": {"records": {"kind": ["a"], "n": [2]}}}, False),  # one element must match as a whole
    # nesting and missing fields
    ({"detail": {"nested": {"deep": {"value": ["x"]}}}}, True),
    ({"detail": {"missing": ["x"]}}, False),
    ({"detail": {"nested": ["x"]}}, False),  # an object is not a leaf value
    # prefix / suffix / equals-ignore-case / wildcard
    ({"detail": {"key": [{"prefix": "incoming/"}]}}, True),
    ({"detail": {"key": [{"prefix": "INCOMING/"}]}}, False),
    ({"detail": {"key": [{"prefix": {"equals-ignore-case": "INCOMING/"}}]}}, True),
    ({"detail": {"key": [{"suffix": "/train.csv"}]}}, True),
    ({"detail": {"key": [{"suffix": {"equals-ignore-case": "TRAIN.CSV"}}]}}, True),
    ({"detail": {"key": [{"suffix": ".txt"}]}}, False),
    ({"detail": {"key": [{"equals-ignore-case": "INCOMING/Reviews/TRAIN.csv"}]}}, True),
    ({"detail": {"key": [{"wildcard": "incoming/*/train.csv"}]}}, True),
    ({"detail": {"key": [{"wildcard": "incoming/*.csv"}]}}, True),  # * spans slashes
    ({"detail": {"key": [{"wildcard": "incoming/*/test.csv"}]}}, False),
    ({"detail": {"key": [{"wildcard": "incoming/reviews/train.csv*"}]}}, True),
    ({"detail": {"key": [{"wildcard": "incoming/\\*/train.csv"}]}}, False),  # \* is a literal star
    ({"detail": {"size": [{"prefix": "3"}]}}, False),  # string operators on numbers never match
    # anything-but
    ({"detail": {"key": [{"anything-but": "x"}]}}, True),
    ({"detail": {"key": [{"anything-but": ["incoming/reviews/train.csv", "y"]}]}}, False),
    ({"detail": {"size": [{"anything-but": [100, 200]}]}}, True),
    ({"detail": {"size": [{"anything-but": 300}]}}, False),
    ({"detail": {"key": [{"anything-but": {"prefix": "incoming/"}}]}}, False),
    ({"detail": {"key": [{"anything-but": {"suffix": ".txt"}}]}}, True),
    ({"detail": {"key": [{"anything-but": {"wildcard": "*/train.csv"}}]}}, False),
    ({"detail": {"key": [{"anything-but": {"equals-ignore-case": ["X", "INCOMING/REVIEWS/TRAIN.CSV"]}}]}}, False),
    ({"detail": {"missing": [{"anything-but": "x"}]}}, False),
    ({"detail": {"tags": [{"anything-but": "red"}]}}, True),  # "green" is not red
    # numeric
    ({"detail": {"size": [{"numeric": [">", 0, "<=", 300]}]}}, True),
    ({"detail": {"size": [{"numeric": [">", 300]}]}}, False),
    ({"detail": {"ratio": [{"numeric": ["=", 0.5]}]}}, True),
    ({"detail": {"ratio": [{"numeric": [">=", 0.6]}]}}, False),
    ({"detail": {"key": [{"numeric": [">", 0]}]}}, False),
    # exists
    ({"detail": {"key": [{"exists": True}]}}, True),
    ({"detail": {"missing": [{"exists": True}]}}, False),
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"key": [{"exists": False}]}}, False),
    ({"detail": {"nothing": [{"exists": True}]}}, True),  # null is a value
    ({"absent": {"deeper": [{"exists": False}]}}, True),
    ({"absent": {"deeper": [{"exists": True}]}}, False),
    ({"detail": {"nested": [{"exists": True}]}}, False),  # exists looks at leaves only
    # cidr
    ({"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}, True),
    ({"detail": {"ip": [{"cidr": "10.0.1.0/24"}]}}, False),
    ({"detail": {"key": [{"cidr": "10.0.0.0/8"}]}}, False),
    # alternatives within a field, AND across fields, $or across fields
    ({"source": ["aws.s3"], "detail-type": ["Object Deleted"]}, False),
    ({"detail": {"key": [{"prefix": "nope"}, {"suffix": ".csv"}]}}, True),
    ({"$or": [{"source": ["aws.ec2"]}, {"detail": {"size": [300]}}]}, True),
    ({"$or": [{"source": ["aws.ec2"]}, {"detail": {"size": [1]}}]}, False),
    ({"source": ["aws.s3"], "$or": [{"detail": {"flag": [False]}}, {"detail": {"tags": ["red"]}}]}, True),
    ({}, True),
]


@pytest.mark.parametrize(("pattern", "expected"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_pattern_matching(pattern: dict[str, Any], expected: bool) -> None:
    validate_pattern(pattern)
    assert matches(pattern, EVENT) is expected


@pytest.mark.parametrize("pattern", [{"source": "aws.s3"}, {"source": []}, {"detail": {"key": 1}}])
def test_invalid_patterns_are_rejected(pattern: dict[str, Any]) -> None:
    # moto's PutRule validation: every value is an object or a non-empty list.
    with pytest.raises(ValueError, match="invalid event pattern"):
        validate_pattern(pattern)


def test_a_rule_validates_its_pattern_and_schedule() -> None:
    with pytest.raises(ValueError, match="must be an object or an array"):
        Rule("r", "Fn", {"source": "aws.s3"}, None, True)
    with pytest.raises(ValueError, match="exactly one"):
        Rule("r", "Fn", None, None, True)
    with pytest.raises(ValueError, match="six fields"):
        Rule("r", "Fn", None, "cron(0 3 * * ?)", True)


# --------------------------------------------------------------------------------------------------
# Event shapes


def test_object_created_event_has_the_shape_s3_sends() -> None:
    sample = load_event("trigger", "upload")
    event = object_created_event(
        "challenger-data-123456789012",
        "incoming/reviews/train.csv",
        etag='"d41d8cd98f00b204e9800998ecf8427e"',
        size=48213,
        version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
        region=REGION,
        account=ACCOUNT,
        when=datetime(2026, 11, 23, 10, 15, tzinfo=UTC),
    )

    assert set(event) == set(sample)
    assert set(event["detail"]) >= set(sample["detail"])
    assert set(event["detail"]["object"]) >= set(sample["detail"]["object"])
    for field in ("version", "detail-type", "source", "account", "time", "region", "resources"):
        assert event[field] == sample[field]
    assert event["detail"]["bucket"] == sample["detail"]["bucket"]
    assert event["detail"]["object"]["etag"] == "d41d8cd98f00b204e9800998ecf8427e"  # no quotes
    assert event["detail"]["object"]["version-id"] == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
    assert event["detail"]["reason"] == "PutObject"
    unversioned = object_created_event("b", "k", etag="e", size=1, version_id=None, region=REGION, account=ACCOUNT)
    assert "version-id" not in unversioned["detail"]["object"]
    assert unversioned["id"] != event["id"]


def test_scheduled_event_has_the_shape_eventbridge_sends() -> None:
    sample = load_event("trigger", "schedule")
    arn = sample["resources"][0]

    event = scheduled_event(arn, datetime(2026, 11, 23, 10, 15, tzinfo=UTC), REGION, ACCOUNT)

    assert {key: value for key, value in event.items() if key != "id"} == {
        key: value for key, value in sample.items() if key != "id"
    }


# --------------------------------------------------------------------------------------------------
# The bus

CATCH_ALL = Rule("spy", "Spy", {"source": ["aws.s3"]}, None, True)


def test_bus_delivers_matching_events_on_worker_threads(template: LocalTemplate) -> None:
    inbox = Inbox()
    disabled = Rule("off", "Off", {"source": ["aws.s3"]}, None, False)
    bus = EventBus([*rules_from_template(template), CATCH_ALL, disabled], inbox)
    try:
        assert bus.put(load_event("trigger", "upload")) == 2  # the UploadRule and the spy
        assert bus.put(load_event("trigger", "upload_wrong_key")) == 1  # the spy only
        assert bus.put(load_event("trigger", "schedule")) == 0  # schedule rules never match put events
        assert bus.wait_idle(3)
    finally:
        bus.close()

    delivered = inbox.wait_for(3)
    assert sorted(target for target, _, _ in delivered) == ["Spy", "Spy", "TriggerFunction"]
    assert all(thread.startswith("eventbus") for _, _, thread in delivered)
    assert bus.delivered == 3


def test_bus_drops_an_event_only_when_its_attempts_run_out_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[float] = []

    def broken(target: str, event: dict[str, Any]) -> None:
        calls.append(time.monotonic())
        raise RuntimeError("target is down")

    bus = EventBus([CATCH_ALL], broken, workers=1, retry=RetryPolicy(maximum_attempts=3, scale=0.0))
    with caplog.at_level(logging.WARNING, logger="challenger.local.events"):
        bus.put(load_event("trigger", "upload"))
        assert bus.wait_idle(3)
    bus.close()

    assert (len(calls), bus.retries, bus.failures, bus.delivered) == (3, 2, 1, 0)
    assert "dropped after 3 attempts" in caplog.text
    assert "target is down" in caplog.text


def test_a_failed_delivery_is_retried_until_the_target_takes_it() -> None:
    """#88: a delivery that failed once (the Lambda lock timed out) was dropped, and the upload never ran."""
    attempts: list[str] = []

    def down_twice(target: str, event: dict[str, Any]) -> None:
        attempts.append(target)
        if len(attempts) < 3:
            raise RuntimeError("Runtime.Unavailable")

    bus = EventBus([CATCH_ALL], down_twice, retry=RetryPolicy(scale=0.0))
    bus.put(load_event("trigger", "upload"))
    assert bus.wait_idle(3)
    bus.close()

    assert (len(attempts), bus.delivered, bus.failures) == (3, 1, 0)


def test_a_failing_function_target_runs_three_times_as_lambda_retries_an_async_invoke() -> None:
    attempts: list[str] = []

    def failing_function(target: str, event: dict[str, Any]) -> None:
        attempts.append(target)
        raise FunctionFailed("KeyError")

    lambda_retries = RetryPolicy(maximum_attempts=3, base_delay=60.0, jitter=False, scale=0.0)
    bus = EventBus([CATCH_ALL], failing_function, function_retry=lambda_retries)
    bus.put(load_event("trigger", "upload"))
    assert bus.wait_idle(3)
    bus.close()

    assert (len(attempts), bus.failures) == (3, 1)


def test_retry_waits_follow_eventbridge_and_lambda_policies() -> None:
    eventbridge = RetryPolicy()
    assert (eventbridge.maximum_attempts, eventbridge.maximum_event_age) == (185, 86_400.0)
    assert all(0 <= eventbridge.delay(n) <= min(600.0, 2.0 ** (n - 1)) for n in range(1, 30))
    assert [LAMBDA_ASYNC_RETRIES.delay(n) for n in (1, 2)] == [60.0, 120.0]
    assert LAMBDA_ASYNC_RETRIES.maximum_attempts == 3


# --------------------------------------------------------------------------------------------------
# S3 → EventBridge through moto


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_s3_hook_emits_object_created_for_the_given_buckets(template: LocalTemplate, moto_endpoint: str) -> None:
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    data, other = "challenger-data-123456789012", "challenger-artifacts-hook"
    for bucket in (data, other):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=data, VersioningConfiguration={"Status": "Enabled"})
    inbox = Inbox()
    bus = EventBus([*rules_from_template(template), CATCH_ALL], inbox)
    original = notifications.send_event
    try:
        with bus.s3_hook({data}, REGION, ACCOUNT):
            put = s3.put_object(Bucket=data, Key="incoming/reviews/train.csv", Body=b"review_text,sentiment\n")
            s3.put_object(Bucket=other, Key="incoming/reviews/train.csv", Body=b"x")  # not hooked: no event
            s3.put_object(Bucket=data, Key="incoming/reviews/notes.txt", Body=b"x")  # event, no UploadRule match
            s3.copy_object(
                Bucket=data,
                Key="incoming/copy/train.csv",
                CopySource={"Bucket": data, "Key": "incoming/reviews/train.csv"},
            )
            upload = s3.create_multipart_upload(Bucket=data, Key="incoming/big/train.csv")
            part = s3.upload_part(
                Bucket=data, Key="incoming/big/train.csv", UploadId=upload["UploadId"], PartNumber=1, Body=b"a,1\n"
            )
            s3.complete_multipart_upload(
                Bucket=data,
                Key="incoming/big/train.csv",
                UploadId=upload["UploadId"],
                MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
            )
            s3.delete_object(Bucket=data, Key="incoming/reviews/notes.txt")  # not a creation: no event
            assert bus.wait_idle(5)
        assert notifications.send_event is original  # restored on exit
        s3.put_object(Bucket=data, Key="incoming/after/train.csv", Body=b"x")  # hook gone: no event
        time.sleep(0.05)
    finally:
        bus.close()

    spy = [event for target, event, _ in inbox.items if target == "Spy"]
    triggers = [event for target, event, _ in inbox.items if target == "TriggerFunction"]
    # Workers deliver concurrently (as EventBridge does): compare without order.
    assert sorted((e["detail"]["object"]["key"], e["detail"]["reason"]) for e in spy) == [
        ("incoming/big/train.csv", "CompleteMultipartUpload"),
        ("incoming/copy/train.csv", "CopyObject"),
        ("incoming/reviews/notes.txt", "PutObject"),
        ("incoming/reviews/train.csv", "PutObject"),
    ]
    assert sorted(e["detail"]["object"]["key"] for e in triggers) == [
        "incoming/big/train.csv",
        "incoming/copy/train.csv",
        "incoming/reviews/train.csv",
    ]
    first = next(e for e in spy if e["detail"]["object"]["key"] == "incoming/reviews/train.csv")
    assert first["detail"]["bucket"]["name"] == data
    assert first["detail"]["object"]["etag"] == put["ETag"].strip('"')
    assert first["detail"]["object"]["size"] == len(b"review_text,sentiment\n")
    assert first["detail"]["object"]["version-id"] == put["VersionId"]
    assert first["resources"] == [f"arn:aws:s3:::{data}"]
    assert (first["account"], first["region"]) == (ACCOUNT, REGION)


def test_s3_hook_in_decorator_mode(template: LocalTemplate) -> None:
    inbox = Inbox()
    bus = EventBus(rules_from_template(template), inbox)
    try:
        with mock_aws(), bus.s3_hook({"challenger-data-123456789012"}, REGION, ACCOUNT):
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket="challenger-data-123456789012")
            s3.put_object(Bucket="challenger-data-123456789012", Key="incoming/d/train.csv", Body=b"x")
            assert bus.wait_idle(3)
    finally:
        bus.close()

    ((target, event, _),) = inbox.items
    assert target == "TriggerFunction"
    assert event["detail"]["object"]["key"] == "incoming/d/train.csv"
    assert "version-id" not in event["detail"]["object"]  # unversioned bucket


# --------------------------------------------------------------------------------------------------
# Schedules

MONDAY_MORNING = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 3 ? * MON *)", MONDAY_MORNING, datetime(2026, 11, 30, 3, 0, tzinfo=UTC)),
        ("cron(0 3 ? * MON *)", datetime(2026, 11, 23, 2, 59, tzinfo=UTC), datetime(2026, 11, 23, 3, 0, tzinfo=UTC)),
        ("cron(0 3 ? * MON *)", datetime(2026, 11, 23, 3, 0, tzinfo=UTC), datetime(2026, 11, 30, 3, 0, tzinfo=UTC)),
        ("cron(0 3 ? * 2 *)", MONDAY_MORNING, datetime(2026, 11, 30, 3, 0, tzinfo=UTC)),  # 2 = MON in AWS
        ("cron(0 10 ? * 1 *)", MONDAY_MORNING, datetime(2026, 11, 29, 10, 0, tzinfo=UTC)),  # 1 = SUN
        ("cron(0 10 ? * 2-6 *)", MONDAY_MORNING, datetime(2026, 11, 24, 10, 0, tzinfo=UTC)),
        ("cron(0/15 * * * ? *)", MONDAY_MORNING, datetime(2026, 11, 23, 10, 30, tzinfo=UTC)),
        ("cron(0 18 L * ? *)", MONDAY_MORNING, datetime(2026, 11, 30, 18, 0, tzinfo=UTC)),
        ("cron(0 9 15W * ? *)", MONDAY_MORNING, datetime(2026, 12, 15, 9, 0, tzinfo=UTC)),  # Tue 15 Dec
        ("cron(0 9 1W * ? *)", MONDAY_MORNING, datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),  # Tue 1 Dec
        ("cron(0 10 ? * 6L *)", MONDAY_MORNING, datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),  # last Friday
        ("cron(0 10 ? * 3#2 *)", MONDAY_MORNING, datetime(2026, 12, 8, 10, 0, tzinfo=UTC)),  # 2nd Tuesday
        ("cron(0 10 ? * MON#1 *)", MONDAY_MORNING, datetime(2026, 12, 7, 10, 0, tzinfo=UTC)),
        ("cron(0 0 1 1 ? 2028)", MONDAY_MORNING, datetime(2028, 1, 1, 0, 0, tzinfo=UTC)),
        ("cron(0 0 1 1 ? 2020)", MONDAY_MORNING, None),  # no tick left
        ("rate(5 minutes)", MONDAY_MORNING, datetime(2026, 11, 23, 10, 20, tzinfo=UTC)),
        ("rate(1 hour)", MONDAY_MORNING, datetime(2026, 11, 23, 11, 15, tzinfo=UTC)),
        ("rate(2 days)", MONDAY_MORNING, datetime(2026, 11, 25, 10, 15, tzinfo=UTC)),
    ],
)
def test_next_fire(expression: str, after: datetime, expected: datetime | None) -> None:
    assert parse_schedule(expression).next_after(after) == expected


def test_rate_ticks_count_from_the_anchor() -> None:
    schedule = parse_schedule("rate(10 minutes)")
    anchor = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert schedule.next_after(datetime(2026, 11, 23, 10, 25, tzinfo=UTC), anchor) == datetime(
        2026, 11, 23, 10, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 3 * * * *)",  # both day fields set
        "cron(0 3 ? * ? *)",  # neither
        "cron(0 3 ? * MON)",  # five fields
        "cron(61 3 ? * MON *)",
        "cron(0 3 ? * 8 *)",  # day-of-week is 1-7
        "cron(0 3 LW * ? *)",
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "rate(5 seconds)",
        "at(2026-11-23T10:15:00)",
        "every monday",
    ],
)
def test_invalid_schedules_are_rejected(expression: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 — the messages vary; the type is the contract
        parse_schedule(expression)


def test_scheduler_fires_a_rate_rule_on_the_fast_clock() -> None:
    inbox = Inbox()
    rules = [
        Rule("every-minute", "TriggerFunction", None, "rate(1 minute)", True),
        Rule("off", "Other", None, "rate(1 minute)", False),
        CATCH_ALL,
    ]
    start = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    scheduler = Scheduler(rules, inbox, region=REGION, account=ACCOUNT, fast_clock=120, start_at=start)
    assert scheduler.next_fire("every-minute") == datetime(2026, 11, 23, 10, 1, tzinfo=UTC)
    assert scheduler.next_fire("off") is None
    started = time.monotonic()
    with scheduler:
        delivered = inbox.wait_for(1, timeout=2.0)
    elapsed = time.monotonic() - started

    assert delivered, "the rate(1 minute) rule did not fire within 2 s at 120x"
    assert elapsed < 2.0
    assert {target for target, _, _ in delivered} == {"TriggerFunction"}  # never the disabled rule
    _, event, _ = delivered[0]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/every-minute"]
    assert event["time"] == "2026-11-23T10:01:00Z"  # the scheduled tick on the simulated clock
    assert scheduler.fired[0] == ("every-minute", datetime(2026, 11, 23, 10, 1, tzinfo=UTC))


def test_fire_now_and_disabled_rules() -> None:
    inbox = Inbox()
    rules = [Rule("weekly", "TriggerFunction", None, "cron(0 3 ? * MON *)", False)]
    scheduler = Scheduler(rules, inbox, fast_clock=3600, start_at=MONDAY_MORNING)

    with pytest.raises(ValueError, match="disabled"):
        scheduler.fire_now("weekly")
    with pytest.raises(KeyError):
        scheduler.fire_now("nope")
    event = scheduler.fire_now("weekly", force=True)

    assert inbox.items == [("TriggerFunction", event, threading.current_thread().name)]
    assert event["detail-type"] == "Scheduled Event"


def test_scheduler_stop_joins_promptly() -> None:
    rules = [Rule("weekly", "TriggerFunction", None, "cron(0 3 ? * MON *)", True)]
    scheduler = Scheduler(rules, Inbox(), start_at=MONDAY_MORNING)
    assert scheduler.next_fire("weekly") == datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    scheduler.start()
    started = time.monotonic()
    scheduler.stop()
    assert time.monotonic() - started < 1.5


def test_a_scheduled_event_that_fails_to_deliver_is_retried_through_the_bus() -> None:
    """The scheduler delivered itself and only logged a failure: the scheduled retrain was lost."""
    attempts: list[str] = []

    def down_once(target: str, event: dict[str, Any]) -> None:
        attempts.append(event["detail-type"])
        if len(attempts) == 1:
            raise RuntimeError("Runtime.Unavailable")

    rules = [Rule("weekly", "TriggerFunction", None, "cron(0 3 ? * MON *)", True)]
    bus = EventBus(rules, down_once, retry=RetryPolicy(scale=0.0))
    scheduler = Scheduler(rules, bus.send, fast_clock=3600, start_at=MONDAY_MORNING)
    scheduler.fire_now("weekly")
    assert bus.wait_idle(3)
    bus.close()

    assert attempts == ["Scheduled Event", "Scheduled Event"]
    assert (bus.delivered, bus.failures) == (1, 0)
