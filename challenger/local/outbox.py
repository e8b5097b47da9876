"""The local outbox: SNS email deliveries rendered as real email messages on disk.

moto cannot send email: an SQS queue subscribed to the notification topic stands in for the address, and
:class:`Outbox` drains it into RFC 5322 `.eml` files (text/plain plus a linkified text/html) listed in
`index.json` (`{"version": 1, "messages": [{"id", "subject", "kind", "date", "to", "file"}]}`, oldest first) for the
CLI and the dashboard. Why links survive intact: docs/decisions/0008-local-cloud-strictness.md, "The outbox".
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from challenger.local.background import BackgroundLoop
from challenger.local.private import write_private

LOG = logging.getLogger(__name__)

DEFAULT_SUBJECT = "AWS Notification Message"  # what SNS puts on an email published without a Subject
INDEX_FILE = "index.json"
_MAX_LINE_OCTETS = 998  # RFC 5322 §2.1.1
_URL = re.compile(r"https?://[^\s<>\"']+")
_URL_TRAILING = ".,;:!?)]}'\""  # sentence punctuation after a URL is not part of it
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class OutboxMessage:
    """One delivered email. ``body`` is the text/plain part; ``path`` the ``.eml`` file."""

    id: str
    subject: str
    kind: str
    date: datetime
    to: str
    path: Path
    body: str

    @property
    def links(self) -> list[str]:
        """The URLs in the body, in order (e.g. an approval email's approve and reject links)."""
        return find_urls(self.body)


def find_urls(text: str) -> list[str]:
    return [match.rstrip(_URL_TRAILING) for match in _URL.findall(text)]


def _linkify(text: str) -> str:
    """Escape ``text`` for HTML and turn its URLs into links (href and text both escaped)."""
    parts: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_URL_TRAILING)
        parts.append(html.escape(text[position : match.start()]))
        parts.append(f'<a href="{html.escape(url, quote=True)}">{html.escape(url)}</a>')
        position = match.start() + len(url)
    parts.append(html.escape(text[position:]))
    return "".join(parts)


def _transfer_encoding(text: str) -> str:
    lines = text.encode("utf-8").splitlines()
    if any(len(line) > _MAX_LINE_OCTETS for line in lines):
        return "quoted-printable"
    return "7bit" if text.isascii() else "8bit"


def render_email(
    *,
    message_id: str,
    subject: str,
    body: str,
    kind: str,
    date: datetime,
    to_address: str,
    from_address: str,
    topic_arn: str | None = None,
) -> EmailMessage:
    """The email SNS would send for one notification: text/plain plus a linkified text/html alternative."""
    domain = from_address.rpartition("@")[2] or "challenger.local"
    message = EmailMessage(policy=default_policy)
    message["From"] = from_address
    message["To"] = to_address
    message["Subject"] = subject
    message["Date"] = format_datetime(date.astimezone(UTC))
    message["Message-ID"] = f"<{_SAFE_ID.sub('-', message_id)}@{domain}>"
    message["X-Challenger-Kind"] = kind
    if topic_arn:
        message["X-SNS-Topic-Arn"] = topic_arn
    message.set_content(body, subtype="plain", charset="utf-8", cte=_transfer_encoding(body))
    page = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n"
        '<body><pre style="font-family: ui-monospace, Menlo, Consolas, monospace; white-space: pre-wrap">'
        f"{_linkify(body)}</pre></body></html>\n"
    )
    message.add_alternative(page, subtype="html", charset="utf-8", cte=_transfer_encoding(page))
    return message


def _plain_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    # The file has CRLF line ends (RFC 5322) and a 7bit/8bit part keeps them when decoded: back to "\n".
    return str(part.get_content()).replace("\r\n", "\n")


def _parse_date(text: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(text))
    except ValueError:
        return datetime.now(UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Outbox(BackgroundLoop):
    """Drains the SQS queue subscribed to the notification topic into ``.eml`` files and an index.

    :meth:`start` runs a daemon thread that long-polls the queue (1 s waits, so :meth:`stop` is prompt);
    :meth:`drain` is one synchronous pass. A message is deleted from the queue only once its file and the
    index are written; a redelivered one (same SNS ``MessageId``) is not written twice.
    """

    thread_name = "outbox"

    def __init__(
        self,
        *,
        sqs_client: Any,
        queue_url: str,
        directory: Path,
        to_address: str,
        from_address: str = "no-reply@challenger.local",
    ) -> None:
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.directory = Path(directory)
        self.to_address = to_address
        self.from_address = from_address
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # signed approval links: the user's only
        self._lock = threading.Lock()
        super().__init__()

    # -- lifecycle ---------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._drain(wait_seconds=1)
            except Exception:
                LOG.exception("outbox: could not drain %s", self.queue_url)
                self._stop.wait(1.0)  # the queue may be gone (stack torn down): don't spin

    # -- draining ----------------------------------------------------------------------------------

    def drain(self) -> int:
        """Receive until the queue is empty; returns the number of new messages written."""
        return self._drain(wait_seconds=0)

    def _drain(self, *, wait_seconds: int) -> int:
        written = 0
        while not self._stop.is_set() or wait_seconds == 0:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait_seconds,
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages", [])
            if not received:
                return written
            for sqs_message in received:
                try:
                    written += self._deliver(sqs_message)
                except Exception:
                    # Leave it on the queue: it becomes visible again and is retried.
                    LOG.exception("outbox: could not write message %s", sqs_message.get("MessageId"))
                    continue
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=sqs_message["ReceiptHandle"])
        return written

    def _deliver(self, sqs_message: dict[str, Any]) -> int:
        # The SNS envelope: provision subscribes the queue without RawMessageDelivery. A body that is not one raises,
        # and stays on the queue (logged by _drain).
        envelope = json.loads(sqs_message["Body"])
        if envelope["Type"] != "Notification":
            LOG.info("outbox: skipping SNS %s message", envelope["Type"])
            return 0
        message_id = str(envelope["MessageId"])
        subject = str(envelope.get("Subject") or DEFAULT_SUBJECT)
        text = str(envelope.get("Message", ""))
        kind = str(envelope.get("MessageAttributes", {}).get("kind", {}).get("Value", ""))
        date = _parse_date(envelope.get("Timestamp"))
        topic_arn = envelope.get("TopicArn")
        with self._lock:
            index = _read_index(self.directory)
            if any(entry["id"] == message_id for entry in index):
                return 0
            email = render_email(
                message_id=message_id,
                subject=subject,
                body=text,
                kind=kind,
                date=date,
                to_address=self.to_address,
                from_address=self.from_address,
                topic_arn=str(topic_arn) if topic_arn else None,
            )
            name = f"{date.astimezone(UTC):%Y%m%dT%H%M%S}-{_SAFE_ID.sub('-', message_id)}.eml"
            # CRLF line ends (policy SMTP): RFC 5322 on disk, as a mail client saves an .eml.
            write_private(self.directory / name, email.as_bytes(policy=SMTP))
            index.append(
                {
                    "id": message_id,
                    "subject": subject,
                    "kind": kind,
                    "date": date.isoformat(),
                    "to": self.to_address,
                    "file": name,
                }
            )
            # Atomic, 0600: readers in other processes (CLI, dashboard) never see a half-written file.
            write_private(self.directory / INDEX_FILE, json.dumps({"version": 1, "messages": index}, indent=2))
        LOG.info("outbox: %s (%s)", subject, kind or "no kind")
        return 1

    # -- reading -----------------------------------------------------------------------------------

    def messages(self) -> list[OutboxMessage]:
        """Every delivered message, newest first."""
        with self._lock:
            return read_messages(self.directory)

    def get(self, message_id: str) -> OutboxMessage:
        """One message by id (the SNS MessageId); KeyError if there is none."""
        with self._lock:
            index = _read_index(self.directory)
        for entry in index:
            if entry["id"] == message_id:
                return _load(self.directory, entry)
        raise KeyError(f"no message {message_id!r} in {self.directory}")


# --------------------------------------------------------------------------------------------------
# Reading an outbox directory (no queue needed: the CLI and the dashboard read what the outbox wrote)


def read_messages(directory: Path) -> list[OutboxMessage]:
    """The messages an :class:`Outbox` wrote to ``directory``, newest first (empty if there are none)."""
    index = _read_index(Path(directory))
    ordered = sorted(enumerate(index), key=lambda pair: (_parse_date(pair[1]["date"]), pair[0]), reverse=True)
    return [_load(Path(directory), entry) for _, entry in ordered]


def _read_index(directory: Path) -> list[dict[str, Any]]:
    path = directory / INDEX_FILE
    if not path.exists():
        return []
    messages: list[dict[str, Any]] = json.loads(path.read_text())["messages"]
    return messages


def _load(directory: Path, entry: dict[str, Any]) -> OutboxMessage:
    path = directory / entry["file"]
    parsed = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert isinstance(parsed, EmailMessage)  # the default policy parses into EmailMessage
    return OutboxMessage(
        id=entry["id"],
        subject=entry["subject"],
        kind=entry["kind"],
        date=_parse_date(entry["date"]),
        to=entry["to"],
        path=path,
        body=_plain_body(parsed),
    )
