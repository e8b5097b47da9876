"""Files only the developer may read: `.challenger/` holds keys, tokens, signed approval links and the stack's data.

Modes are set when a file or directory is created (``os.open``/``mkdir`` with a mode, ``mkstemp``), never by a
``chmod`` after the content is written: between the two, another local user could open the file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: Path) -> Path:
    """Create ``path`` (and missing parents) 0700; an existing one left by an older version is tightened."""
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) & ~DIRECTORY_MODE:
        path.chmod(DIRECTORY_MODE)  # created before this rule existed; nothing new is written until it is private
    return path


def write_private(path: Path, data: bytes | str) -> None:
    """Replace ``path`` atomically with a new 0600 file holding ``data`` (readers never see half a file)."""
    payload = data.encode() if isinstance(data, str) else data
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp: 0600
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_or_create_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret stored in ``path``, created 0600 with ``make()`` if there is none yet."""
    with contextlib.suppress(FileExistsError):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(make())
    return path.read_text().strip()
