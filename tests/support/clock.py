"""A clock the test sets, in place of the `time` module a module under test imported: no test waits or measures.

clock = Clock.install(monkeypatch, service_module)  # that module's `time.monotonic()` is now `clock.now`
"""

from __future__ import annotations

import threading
import time
from types import ModuleType
from typing import Any

import pytest


class Clock:
    """`monotonic()` is `now`, which only the test moves; `sleep(s)` records `s` in `waits` and returns at once
    (with `hold_first_sleep()`, the first sleeper stays asleep until the test opens `wake`). Everything else is the
    real `time` module."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []
        self.asleep = threading.Event()  # set when the first sleep begins
        self.wake: threading.Event | None = None

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> Clock:
        clock = cls()
        monkeypatch.setattr(module, "time", clock)
        return clock

    def hold_first_sleep(self) -> threading.Event:
        """Keep the first `sleep` asleep (up to 10 s) until the returned event is set."""
        self.wake = threading.Event()
        return self.wake

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) == 1:
            self.asleep.set()
            if self.wake is not None:
                self.wake.wait(10)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)
