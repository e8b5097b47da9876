"""Metrics carry the template's service and namespace however the module is first imported."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

OBSERVABILITY = Path(__file__).resolve().parents[3] / "layers" / "core" / "challenger_core" / "observability.py"


def _fresh_import(name: str) -> ModuleType:
    """observability.py under a private name: its module-level Logger and Metrics are built now."""
    spec = importlib.util.spec_from_file_location(name, OBSERVABILITY)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_imported_outside_a_functions_environment_it_keeps_the_alarms_dimensions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The local cloud runs every function in one process: the core may first be imported before any function's
    # environment is applied. The alarms read namespace Challenger, dimension service=challenger.
    for name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    module = _fresh_import("_observability_without_environment")
    assert (module.metrics.namespace, module.metrics.service) == ("Challenger", "challenger")


def test_the_functions_environment_wins_when_it_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "other")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Other")
    module = _fresh_import("_observability_with_environment")
    assert (module.metrics.namespace, module.metrics.service) == ("Other", "other")
