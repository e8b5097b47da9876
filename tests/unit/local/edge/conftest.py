"""The edge services (gateway, event bus, scheduler, outbox) talk HTTP: sockets on, loopback only."""

from __future__ import annotations

import pytest
from pytest_socket import socket_allow_hosts

from challenger.local.template import LocalTemplate

LOOPBACK = ["127.0.0.1", "::1", "localhost"]


@pytest.fixture(autouse=True)
def _loopback_only(socket_enabled: None) -> None:
    # tests/unit/conftest.py disables sockets for every test; here they are on, but connect() only reaches
    # this machine (pytest-socket removes the restriction again at teardown).
    socket_allow_hosts(LOOPBACK, allow_unix_socket=True)


@pytest.fixture(scope="session")
def template() -> LocalTemplate:
    """template.yaml with DataBucket named as in events/trigger/*.json."""
    return LocalTemplate(
        parameters={"NotificationEmail": "ops@example.com"},
        physical={"DataBucket": "challenger-data-123456789012"},
    )
