"""Files only the TA's account may read: tokens, the SQLite database, backups, the admin token (mode 0600).

Every file here is written atomically (a temporary file created 0600 in the same folder, fsynced, renamed over the
target), so a reader never sees half a tokens file and a crash never leaves a world-readable copy.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from grader.errors import ConfigError

PRIVATE = 0o600


def write_private(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` with mode 0600, atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)          # O_CREAT's mode is filtered by the umask; the file may also have existed
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


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


def is_private(path: str | Path) -> bool:
    return not (stat.S_IMODE(Path(path).stat().st_mode) & 0o077)


def read_secret_file(path: str | Path, what: str = "admin token") -> str:
    """The first line of a 0600 file; a file others can read is refused (the secret may already be known)."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise ConfigError(f"{path}: the {what} file is readable by other users (mode "
                          f"{stat.S_IMODE(st.st_mode):04o}); run `chmod 600 {path}` and choose a new {what}, "
                          "since the old one may have been read")
    value = path.read_text(encoding="utf-8").strip().splitlines()
    if not value or not value[0].strip():
        raise ConfigError(f"{path}: the {what} file is empty")
    return value[0].strip()
