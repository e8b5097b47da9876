"""`challenger local up` as a user runs it: a separate process, stopped with SIGTERM, started again."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def _environment(state_dir: Path) -> dict[str, str]:
    # Only what a shell would have: no PYTHONPATH (the console script finds the core as the installed
    # challenger-core package, not through a path pytest set), no AWS profile, the state under the test's directory.
    env = {name: value for name, value in os.environ.items() if name not in {"PYTHONPATH", "AWS_PROFILE", "MOTO_PORT"}}
    env["CHALLENGER_STATE_DIR"] = str(state_dir)
    return env


def _up(
    state_dir: Path,
    *arguments: str,
    while_up: Callable[[dict[str, Any]], None] = lambda _: None,
    timeout: float = 90.0,
) -> tuple[dict[str, Any], str]:
    """Start the local cloud, wait for local.json, call ``while_up``, stop it with SIGTERM; the connection info
    and the output."""
    process = subprocess.Popen(
        [sys.executable, "-m", "challenger", "local", "up", *arguments],
        cwd=ROOT,
        env=_environment(state_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    connection = state_dir / "local.json"
    deadline = time.monotonic() + timeout
    try:
        while not connection.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.communicate(timeout=10)[0] if process.poll() is not None else "(still running)"
                pytest.fail(f"`challenger local up {' '.join(arguments)}` did not come up:\n{output}")
            time.sleep(0.2)
        info: dict[str, Any] = json.loads(connection.read_text())
        while_up(info)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    return info, output


def test_local_up_starts_again_on_the_state_of_a_previous_run(tmp_path: Path) -> None:
    state = tmp_path / ".challenger"
    first, _ = _up(state, "--fresh")
    second, output = _up(state)

    assert "restored" in output
    assert second["api_key"] == first["api_key"]
    assert second["console_token"] == first["console_token"]
    # Same addresses: an open dashboard tab and the links in earlier emails reconnect.
    assert (second["api_url"], second["endpoint_url"], second["sagemaker_url"]) == (
        first["api_url"],
        first["endpoint_url"],
        first["sagemaker_url"],
    )


def test_a_fresh_start_empties_the_stack_but_keeps_the_dashboards_address_and_token(tmp_path: Path) -> None:
    state = tmp_path / ".challenger"
    first, _ = _up(state, "--fresh")
    second, output = _up(state, "--fresh")

    assert "restored" not in output
    assert second["api_key"] != first["api_key"]  # a new stack, new keys
    assert (second["dashboard_url"], second["api_url"]) == (first["dashboard_url"], first["api_url"])


def test_state_is_private_and_the_local_s3_refuses_browsers(tmp_path: Path) -> None:
    state = tmp_path / ".challenger"
    refused: list[requests.Response] = []

    def while_up(info: dict[str, Any]) -> None:
        for headers in ({"Origin": "http://evil.test"}, {"Host": "rebound.evil.test"}):
            refused.append(requests.get(info["endpoint_url"], headers=headers, timeout=10))

    _up(state, "--fresh", while_up=while_up)

    assert [response.status_code for response in refused] == [403, 403]
    assert "Origin" in refused[0].json()["message"]
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("api-key", "approval-key", "local-token", "ports.json"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    snapshot_files = [path for path in (state / "state").rglob("*") if path.is_file()]
    assert snapshot_files
    assert {stat.S_IMODE(path.stat().st_mode) for path in snapshot_files} == {0o600}
