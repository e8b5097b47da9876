"""`challenger local up` guards (issue 16, section 4): one cloud per state directory, and a dashboard that is
built or says how to build it."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from challenger.local.cloud import LocalCloud, StateDirInUse, dashboard_dir, lock_state_dir
from challenger.local.gateway import DASHBOARD_NOT_BUILT, LocalApiGateway
from challenger.local.template import LocalTemplate


def test_a_second_cloud_on_the_same_state_dir_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    """Before: it started, moved the ports for good and deleted the running cloud's local.json."""
    state = tmp_path / ".challenger"
    state.mkdir()
    running = lock_state_dir(state)  # the first cloud
    files = {"local.json": '{"api_url": "http://127.0.0.1:1/v1"}\n', "ports.json": '{"api": 1}\n', "api-key": "k"}
    for name, text in files.items():
        (state / name).write_text(text)
    try:
        with pytest.raises(StateDirInUse, match="already runs"):
            LocalCloud(state_dir=state, fresh=True, progress=lambda _: None).start()
        assert {name: (state / name).read_text() for name in files} == files
    finally:
        running.close()
    lock_state_dir(state).close()  # free again once the first one is gone


def test_the_lock_names_the_process_that_holds_it(tmp_path: Path) -> None:
    held = lock_state_dir(tmp_path)
    try:
        with pytest.raises(StateDirInUse) as refused:
            lock_state_dir(tmp_path)
    finally:
        held.close()
    pid = (tmp_path / "lock").read_text().strip()
    assert f"pid {pid}" in str(refused.value)


def test_the_unbuilt_dashboard_is_not_served_as_a_blank_page(tmp_path: Path) -> None:
    (tmp_path / "frontend").mkdir()
    (tmp_path / "frontend" / "index.html").write_text('<script type="module" src="/src/main.ts"></script>')
    assert dashboard_dir(tmp_path) is None
    (tmp_path / "frontend" / "dist").mkdir()
    (tmp_path / "frontend" / "dist" / "index.html").write_text("<html></html>")
    assert dashboard_dir(tmp_path) == tmp_path / "frontend" / "dist"


def test_without_a_build_the_gateway_says_how_to_build_the_dashboard(template: LocalTemplate) -> None:
    with LocalApiGateway(template, lambda *_: {"statusCode": 200}, api_key="k", static_dir=None) as gateway:
        response = requests.get(f"{gateway.url}/", timeout=5)
        api = requests.get(f"{gateway.api_url}/health", headers={"x-api-key": "k"}, timeout=5)

    assert response.status_code == 503
    assert response.text == DASHBOARD_NOT_BUILT + "\n"
    assert "make frontend" in response.text
    assert api.status_code == 200  # the API still answers
