"""The emails Challenger sent, found by their kind, never by the wording of a subject.

Every email carries its `NotificationKind` as the SNS message attribute `kind` (the local outbox keeps it too), so
a test asks for "the rolled-back email" and then checks the facts it must name (the version, the run, the cause).
The wording is `challenger_core.notifications`' own; tests/unit/core/test_notifications.py pins it.

    rolled_back = email_of(sent(stack), NotificationKind.ROLLED_BACK)
    assert "v2" in rolled_back.subject
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from challenger_core.models import NotificationKind


@dataclass(frozen=True)
class Email:
    kind: str
    subject: str
    body: str


class NotificationQueue(Protocol):
    """A test stack whose notification topic has an SQS subscriber (tests/support/stack.py, the state machine tests)."""

    sqs: Any
    queue_url: str


class Kinded(Protocol):
    """An email as the tests see it: `Email`, or the local outbox's `OutboxMessage`."""

    @property
    def kind(self) -> str: ...

    @property
    def subject(self) -> str: ...


def sent(stack: NotificationQueue) -> list[Email]:
    """Every email published to the notification topic since the last call, oldest first (drained from the topic's
    SQS subscriber: the SNS envelope has the subject, the message and the `kind` attribute)."""
    found: list[Email] = []
    while batch := stack.sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            envelope = json.loads(message["Body"])
            kind = envelope.get("MessageAttributes", {}).get("kind", {}).get("Value", "")
            found.append(Email(kind=kind, subject=envelope.get("Subject", ""), body=envelope["Message"]))
            stack.sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def email_of[E: Kinded](emails: list[E], kind: NotificationKind) -> E:
    """The one email of `kind`; fails, listing what was sent, when there is none or more than one."""
    found = [email for email in emails if email.kind == kind]
    assert len(found) == 1, f"expected one {kind.value!r} email, sent: {[(e.kind, e.subject) for e in emails]}"
    return found[0]
