"""The local outbox: SNS → SQS deliveries become .eml files that parse back with their links intact."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from html import unescape
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from challenger.local.outbox import INDEX_FILE, Outbox, find_urls, read_messages

REGION = "us-east-1"
APPROVE = (
    "http://127.0.0.1:4566/v1/approvals/0123456789abcdef0123456789abcdef?decision=approve&expires=1795515300"
    "&sig=" + "a1b2c3d4" * 8
)
REJECT = APPROVE.replace("decision=approve", "decision=reject").replace("sig=a1", "sig=f0")
APPROVAL_BODY = f"""v2 is ready: approve or reject

Run:      run-20261123-101500
Verdict:  PROMOTE — f1 +0.0210 over the champion

Approve: {APPROVE}
Reject:  {REJECT}

The links expire at 2026-11-24T10:15:00+00:00."""


@dataclass
class Topic:
    sns: Any
    sqs: Any
    topic_arn: str
    queue_url: str


@pytest.fixture
def topic() -> Iterator[Topic]:
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(Name="challenger-notifications")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="challenger-outbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)  # raw message delivery off
        yield Topic(sns, sqs, topic_arn, queue_url)


def publish(topic: Topic, subject: str, body: str, kind: str) -> str:
    response = topic.sns.publish(
        TopicArn=topic.topic_arn,
        Subject=subject,
        Message=body,
        MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}},
    )
    return str(response["MessageId"])


def outbox_for(topic: Topic, directory: Path) -> Outbox:
    return Outbox(sqs_client=topic.sqs, queue_url=topic.queue_url, directory=directory, to_address="ops@example.com")


def parse(path: Path) -> EmailMessage:
    parsed = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_drain_writes_rfc5322_messages_with_intact_links(topic: Topic, tmp_path: Path) -> None:
    outbox = outbox_for(topic, tmp_path / "outbox")
    message_id = publish(
        topic, "[Challenger challenger] v2 is ready: approve or reject", APPROVAL_BODY, "approval_request"
    )

    assert outbox.drain() == 1
    assert outbox.drain() == 0  # the queue is empty now

    (message,) = outbox.messages()
    assert message.id == message_id
    assert message.kind == "approval_request"
    assert message.to == "ops@example.com"
    assert message.links == [APPROVE, REJECT]
    assert message.body.rstrip("\n") == APPROVAL_BODY

    raw = message.path.read_bytes()
    assert message.path.suffix == ".eml"
    assert b"\r\n" in raw  # RFC 5322 line ends
    # The links sit on one line of the file, unencoded: any viewer shows (and can open) them whole.
    assert APPROVE.encode() in raw
    assert REJECT.encode() in raw
    email = parse(message.path)
    assert email["From"] == "no-reply@challenger.local"
    assert email["To"] == "ops@example.com"
    assert email["Subject"] == "[Challenger challenger] v2 is ready: approve or reject"
    assert email["Message-ID"] == f"<{message_id}@challenger.local>"
    assert email["Date"].datetime.tzinfo is not None
    assert email["X-Challenger-Kind"] == "approval_request"
    assert email.get_content_type() == "multipart/alternative"
    plain = email.get_body(preferencelist=("plain",))
    html = email.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content_charset() == "utf-8"
    assert plain.get_content().replace("\r\n", "\n").rstrip("\n") == APPROVAL_BODY
    assert "PROMOTE — f1" in plain.get_content()
    hrefs = [unescape(href) for href in re.findall(r'href="([^"]+)"', html.get_content())]
    assert hrefs == [APPROVE, REJECT]
    assert "&amp;expires=" in html.get_content()  # & escaped in HTML, restored by any browser


def test_very_long_lines_fall_back_to_quoted_printable_and_decode_intact(topic: Topic, tmp_path: Path) -> None:
    long_url = "http://127.0.0.1:4566/v1/x?" + "&".join(f"p{i}=" + "v" * 40 for i in range(40))
    assert len(long_url) > 998
    outbox = outbox_for(topic, tmp_path)
    publish(topic, "long", f"see {long_url}.", "info")

    outbox.drain()

    (message,) = outbox.messages()
    email = parse(message.path)
    plain = email.get_body(preferencelist=("plain",))
    assert plain is not None
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert all(len(line) <= 998 for line in message.path.read_bytes().split(b"\r\n"))
    assert find_urls(plain.get_content()) == [long_url]  # soft breaks undone, trailing "." not part of it
    assert message.links == [long_url]


def test_messages_are_listed_newest_first_and_indexed(topic: Topic, tmp_path: Path) -> None:
    outbox = outbox_for(topic, tmp_path)
    first = publish(topic, "run started", "Run run-1 started.", "run_started")
    outbox.drain()
    time.sleep(0.01)  # SNS timestamps have millisecond resolution
    second = publish(topic, "deployed", "v1 is live.", "deployed")
    outbox.drain()

    assert [m.id for m in outbox.messages()] == [second, first]
    assert outbox.get(first).subject == "run started"
    with pytest.raises(KeyError):
        outbox.get("nope")
    index = json.loads((tmp_path / INDEX_FILE).read_text())
    assert index["version"] == 1
    assert [(m["id"], m["kind"], m["subject"]) for m in index["messages"]] == [
        (first, "run_started", "run started"),
        (second, "deployed", "deployed"),
    ]
    assert all((tmp_path / m["file"]).is_file() for m in index["messages"])
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    # What the CLI and the dashboard use: the directory alone, no queue.
    assert read_messages(tmp_path) == outbox.messages()
    assert read_messages(tmp_path / "never-written") == []


def test_redelivered_message_is_written_once(topic: Topic, tmp_path: Path) -> None:
    outbox = outbox_for(topic, tmp_path)
    publish(topic, "once", "only once", "info")
    received = topic.sqs.receive_message(QueueUrl=topic.queue_url)["Messages"][0]
    topic.sqs.send_message(QueueUrl=topic.queue_url, MessageBody=received["Body"])  # SQS at-least-once

    outbox.drain()
    outbox.drain()

    assert [m.subject for m in outbox.messages()] == ["once"]
    assert len(list(tmp_path.glob("*.eml"))) == 1


def test_a_message_without_subject_gets_snss_default(topic: Topic, tmp_path: Path) -> None:
    outbox = outbox_for(topic, tmp_path)
    topic.sns.publish(TopicArn=topic.topic_arn, Message="no subject, no kind")

    outbox.drain()

    (message,) = outbox.messages()
    assert message.subject == "AWS Notification Message"
    assert message.kind == ""


def test_background_thread_drains_until_stopped(topic: Topic, tmp_path: Path) -> None:
    outbox = outbox_for(topic, tmp_path)
    with outbox:
        publish(topic, "background", "drained by the thread", "info")
        deadline = time.monotonic() + 5
        while not outbox.messages() and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
    assert time.monotonic() - started < 3  # stop() joins within one long-poll wait
    assert [m.subject for m in outbox.messages()] == ["background"]
