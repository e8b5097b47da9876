"""Unit tests: no network (pytest-socket), every AWS call served by moto's in-memory mock."""

from __future__ import annotations

from collections.abc import Iterator

import aws_xray_sdk.core  # noqa: F401  # creates its UDP emitter socket at import, before sockets are blocked
import pytest
from moto import mock_aws
from pytest_socket import disable_socket

from tests.support.stack import BASE_ENV, Stack, provision


def pytest_runtest_setup(item: pytest.Item) -> None:
    disable_socket(allow_unix_socket=True)


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A provisioned Challenger stack in moto; handlers load from it with `stack.handler(name)`."""
    with mock_aws():
        provisioned = provision(dict(BASE_ENV))
        for name, value in provisioned.env.items():
            monkeypatch.setenv(name, value)
        yield provisioned
        for module in provisioned.modules.values():
            deps = getattr(module, "deps", None)
            if deps is not None and deps.capture.cache_info().currsize:
                # Drain the API's capture buffer inside this test's moto: its flush thread would otherwise write
                # the counters, up to 30 s later, into whatever table a later test has under the same name.
                deps.capture().flush()
