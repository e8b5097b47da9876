"""Manual mode: the challenger waits for a human; the emailed link opens a confirmation page that decides."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import requests

from challenger.cli import data_push, latest_run_id, runs_wait
from challenger.local.cloud import LocalCloud
from challenger.local.outbox import OutboxMessage, read_messages
from challenger_core.models import NotificationKind
from tests.integration.conftest import DATA, target_of
from tests.support.emails import email_of


def wait_for_email(cloud: LocalCloud, kind: NotificationKind, timeout: float = 120) -> OutboxMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = read_messages(cloud.state_dir / "outbox")
        if any(message.kind == kind for message in messages):
            return email_of(messages, kind)
        time.sleep(0.5)
    raise AssertionError(f"no {kind.value!r} email in {cloud.state_dir / 'outbox'}")


def test_manual_approval_through_the_emailed_link(cloud_factory: Callable[..., LocalCloud]) -> None:
    cloud = cloud_factory(parameters={"ApprovalMode": "manual"})
    target = target_of(cloud)
    data_push(target, DATA / "train_v1.csv", "reviews", DATA / "test.csv")
    run_id = latest_run_id(target)

    approval = wait_for_email(cloud, NotificationKind.APPROVAL_REQUEST)
    assert "v1" in approval.subject
    approve_url = re.search(r"^Approve: (\S+)$", approval.body, re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert approve_url.startswith(cloud.gateway.api_url + "/approvals/")
    assert target.call("GET", f"/runs/{run_id}")["run"]["status"] == "RUNNING"

    page = requests.get(approve_url, timeout=10)  # what a mail scanner or a click does: decides nothing
    assert page.status_code == 200
    assert "<form method=post>" in page.text
    assert target.call("GET", f"/runs/{run_id}")["run"]["status"] == "RUNNING"

    fields = dict(re.findall(r"name=(\w+) value=([^>\s]+)", page.text))
    decided = requests.post(approve_url.split("?")[0], data=fields, timeout=30)
    assert decided.status_code == 200
    assert "v1 approved" in decided.text

    replay = requests.post(approve_url.split("?")[0], data=fields, timeout=30)
    assert replay.status_code == 409

    run = runs_wait(target, run_id, timeout=300, echo=lambda _: None)
    assert (run["status"], run["outcome"]) == ("SUCCEEDED", "DEPLOYED")
    assert target.call("POST", "/predict", {"instances": ["love it"]})["model_version"] == 1
