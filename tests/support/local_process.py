"""`challenger local up` as a user runs it, in its own process, for tests that stop or kill it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from challenger.cli import Target, local_target
from tests.support.stack import BASE_ENV

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def local_up(state: Path, *arguments: str) -> Iterator[tuple[subprocess.Popen[bytes], Target, dict[str, Any]]]:
    """`challenger local up` in its own process; yields once its local.json (its own, not a dead one's) is there."""
    # A shell's environment: not the unit tests' stack settings (tests/local/conftest.py sets them in this process).
    dropped = {"PYTHONPATH", "AWS_PROFILE", "MOTO_PORT", *BASE_ENV}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["CHALLENGER_STATE_DIR"] = str(state)
    log = (state.parent / "local-up.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "challenger", "local", "up", *arguments],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        info = wait_for(lambda: _connection(state, process.pid), 120, f"local up ({state.parent / 'local-up.log'})")
        yield process, local_target(state), info
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(60)
        log.close()


def _connection(state: Path, pid: int) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = json.loads((state / "local.json").read_text())
    except (OSError, ValueError):
        return None
    return info if info.get("pid") == pid else None


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")
