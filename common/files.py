"""Atomic file writes, and the private (0600) files that only the TA's account may read.

Every write here goes to a temporary file created 0600 in the target's folder, is fsynced and renamed over the
target, so a reader never sees half a file and a crash never leaves a world-readable copy of a secret (tokens,
grades, rosters, reports, the answer key).
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

#: Owner read/write only: tokens, databases, gradebooks, rosters, submitted notebooks, reports.
PRIVATE = 0o600


def write_atomic(path: str | Path, data: str | bytes, *, mode: int = PRIVATE) -> Path:
    """Write ``data`` (text as UTF-8, LF kept) to ``path`` atomically with permission bits ``mode``; returns the
    path. Parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)   # created 0600
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_private(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` with mode 0600, atomically; returns the path."""
    return write_atomic(path, data, mode=PRIVATE)


def make_private(path: str | Path) -> bool:
    """Create ``path`` empty with mode 0600 if missing, or drop group/other permissions of an existing file.
    Returns True when the mode was changed (callers may say so)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
            return True
        return False
    os.fchmod(fd, PRIVATE)
    os.close(fd)
    return False

