"""The admin token's file: read only when no one but the TA's account can read it.

Writing private files (tokens, the SQLite database, backups) is ``common.files``' job.
"""
from __future__ import annotations

import stat
from pathlib import Path

from grader.errors import ConfigError


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
