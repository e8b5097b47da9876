"""The one event loader: sample events live in events/<function>/<case>.json (shared with `sam local invoke`)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@cache
def _read(function: str, case: str) -> str:
    return (ROOT / "events" / function / f"{case}.json").read_text()


def load_event(function: str, case: str) -> dict[str, Any]:
    """A fresh (mutable) copy of a sample event."""
    return copy.deepcopy(json.loads(_read(function, case)))
