"""`.challenger/` is the developer's only: 0700 directory, 0600 files, private from the moment they exist."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from challenger.local.private import private_directory, read_or_create_secret, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def no_chmod(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A chmod after creation would leave a window in which another user can open the file: forbid it, and
    make the umask as permissive as it gets so only the creation mode can keep the file private."""

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("modes are set at creation, not with chmod")

    monkeypatch.setattr(os, "chmod", refuse)
    monkeypatch.setattr(Path, "chmod", refuse)
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_state_directory_is_created_0700(tmp_path: Path, no_chmod: None) -> None:
    state = private_directory(tmp_path / "project" / ".challenger")

    assert mode(state) == 0o700


def test_a_wider_state_directory_from_an_older_version_is_tightened(tmp_path: Path) -> None:
    state = tmp_path / ".challenger"
    state.mkdir(mode=0o755)

    private_directory(state)

    assert mode(state) == 0o700


def test_files_are_written_0600(tmp_path: Path, no_chmod: None) -> None:
    path = tmp_path / "local.json"

    write_private(path, '{"api_key": "k"}')
    write_private(path, '{"api_key": "k2"}')  # replaced, still private

    assert mode(path) == 0o600
    assert path.read_text() == '{"api_key": "k2"}'
    assert [p.name for p in tmp_path.iterdir()] == ["local.json"]  # no temporary left behind


def test_secrets_are_created_0600_once(tmp_path: Path, no_chmod: None) -> None:
    path = tmp_path / "api-key"

    first = read_or_create_secret(path, lambda: "first")
    second = read_or_create_secret(path, lambda: "second")

    assert (first, second) == ("first", "first")
    assert mode(path) == 0o600
