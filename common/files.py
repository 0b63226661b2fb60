"""Atomic file writes, and the private (0600) files that only the TA's account may read.

Every write here goes to a temporary file created 0600 in the target's folder, is fsynced and renamed over the
target, so a reader never sees half a file and a crash never leaves a world-readable copy of a secret (tokens,
grades, rosters, reports, the answer key).
"""
from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

#: Owner read/write only: tokens, databases, gradebooks, rosters, submitted notebooks, reports.
PRIVATE = 0o600


@contextmanager
def atomic_target(path: str | Path, *, mode: int = PRIVATE) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to (created empty with ``mode``; parent folders are created),
    renamed over ``path`` when the block ends without an error and removed when it raises: for writers that need
    a file name (``np.save``, a memory map)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)   # created 0600
    try:
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_atomic(path: str | Path, data: str | bytes, *, mode: int = PRIVATE) -> Path:
    """Write ``data`` (text as UTF-8, LF kept) to ``path`` atomically with permission bits ``mode``; returns the
    path. Parent folders are created."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_target(path, mode=mode) as tmp, open(tmp, "wb") as f:
        f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


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

