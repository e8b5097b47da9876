"""`challenger local up` as a user runs it: a separate process, stopped with SIGTERM, started again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _environment(state_dir: Path) -> dict[str, str]:
    # Only what a shell would have: no PYTHONPATH (pytest puts layers/core on its own path, the console
    # script does not), no AWS profile, the state under the test's directory.
    env = {name: value for name, value in os.environ.items() if name not in {"PYTHONPATH", "AWS_PROFILE", "MOTO_PORT"}}
    env["CHALLENGER_STATE_DIR"] = str(state_dir)
    return env


def _up(state_dir: Path, *arguments: str, timeout: float = 90.0) -> tuple[dict[str, Any], str]:
    """Start the local cloud, wait for local.json, stop it with SIGTERM; the connection info and the output."""
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
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    return info, output


def test_local_up_starts_again_on_the_state_of_a_previous_run(tmp_path: Path) -> None:
    first, _ = _up(tmp_path, "--fresh")
    second, output = _up(tmp_path)

    assert "restored" in output
    assert second["api_key"] == first["api_key"]
    assert second["console_token"] == first["console_token"]
