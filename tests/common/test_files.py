"""``common.files``: atomic writes with chosen permission bits; nothing is left behind on an error."""
from __future__ import annotations

import os
import stat

import pytest

from common.files import PRIVATE, atomic_target, write_atomic, write_private


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_atomic_modes_and_text(tmp_path):
    old = os.umask(0o022)
    try:
        p = write_private(tmp_path / "a" / "secret.txt", "x\ny\n")
        assert mode(p) == PRIVATE == 0o600 and p.read_bytes() == b"x\ny\n"
        q = write_atomic(tmp_path / "shared.csv", b"ID,score\n", mode=0o644)
        assert mode(q) == 0o644 and q.read_bytes() == b"ID,score\n"
        write_atomic(q, "again")                       # replaces, with the default (private) mode
        assert mode(q) == 0o600 and q.read_text() == "again"
    finally:
        os.umask(old)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a", "shared.csv"]   # no temporary file left


def test_atomic_target_renames_on_success_and_cleans_up_on_error(tmp_path):
    target = tmp_path / "data.npy"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_target(target) as tmp:
            tmp.write_text("half")
            assert target.read_text() == "old" and mode(tmp) == 0o600
            raise RuntimeError("writer failed")
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]
    with atomic_target(target, mode=0o644) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and mode(target) == 0o644 and sorted(tmp_path.iterdir()) == [target]
