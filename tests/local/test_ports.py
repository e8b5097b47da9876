"""Stable ports: a restarted local cloud asks for the ports it had, and says so when one is taken."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from challenger.local.cloud import PORTS_FILE, LocalCloud
from challenger.local.serving import listen


def _cloud(state: Path, messages: list[str]) -> LocalCloud:
    state.mkdir(mode=0o700, exist_ok=True)
    return LocalCloud(state_dir=state, progress=messages.append)


def test_the_ports_of_the_last_start_are_reused_when_free(tmp_path: Path) -> None:
    probes = [listen("127.0.0.1", 0) for _ in range(3)]  # three ports that were free a moment ago
    saved = {name: probe.getsockname()[1] for name, probe in zip(("moto", "api", "sagemaker"), probes, strict=True)}
    for probe in probes:
        probe.close()
    (tmp_path / PORTS_FILE).write_text(json.dumps(saved))
    messages: list[str] = []

    ports = _cloud(tmp_path, messages)._choose_ports()

    assert ports == saved
    assert messages == []


def test_a_taken_port_is_replaced_and_the_user_told(tmp_path: Path) -> None:
    messages: list[str] = []
    with listen("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        (tmp_path / PORTS_FILE).write_text(json.dumps({"api": port}))

        ports = _cloud(tmp_path, messages)._choose_ports()

    assert ports["api"] != port
    assert len(messages) == 1
    assert f"port {port} (api, used by the last start) is taken" in messages[0]
    assert "reopen the dashboard" in messages[0]


def test_an_unreadable_ports_file_means_new_ports(tmp_path: Path) -> None:
    (tmp_path / PORTS_FILE).write_text("not json")

    ports = _cloud(tmp_path, [])._choose_ports()

    assert set(ports) == {"moto", "api", "sagemaker"}
    assert all(port > 0 for port in ports.values())


def test_a_stopped_cloud_leaves_the_process_environment_as_it_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loopback endpoints and moto's port must not outlive the cloud: a later boto3 client in the same process would
    call a server that is gone (and a socket-free test would try to open a socket)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_PROFILE", "someone")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "MOTO_PORT", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    cloud = _cloud(tmp_path / "state", []).start()
    try:
        # Since the worker-process Lambda runtime (93e1510) handlers get the loopback endpoints in their own
        # sandbox's environment and this process no longer sets AWS_ENDPOINT_URL; it still sets dummy
        # credentials, moto's port and drops the user's profile, and must put those back.
        assert os.environ["AWS_ACCESS_KEY_ID"] == "local"
        assert cloud.moto_url.endswith(f":{os.environ['MOTO_PORT']}")
        assert "AWS_PROFILE" not in os.environ
    finally:
        cloud.stop()

    assert dict(os.environ) == before
