"""Tests of the local cloud's servers and processes: they open loopback sockets and may spawn processes.

`make test-unit` stays socket-free; these run in `make test` and `make test-local`.
"""

from __future__ import annotations

import pytest
from pytest_socket import socket_allow_hosts

from challenger.local.template import LocalTemplate
from tests.support.stack import BASE_ENV

LOOPBACK = ["127.0.0.1", "::1", "localhost"]


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # connect() only reaches this machine; dummy credentials so nothing could sign for a real account.
    socket_allow_hosts(LOOPBACK, allow_unix_socket=True)
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def template() -> LocalTemplate:
    """template.yaml with DataBucket named as in events/trigger/*.json."""
    return LocalTemplate(
        parameters={"NotificationEmail": "ops@example.com"},
        physical={"DataBucket": "challenger-data-123456789012"},
    )
