"""Process environment of the grader's own processes: the venv's ``bin`` on PATH and the kit importable.

nbgrader stamps a new gradebook with the head revision of its migrations, which it asks of ``alembic heads`` run
from PATH (``nbgrader.api.get_alembic_version``): a Python process of its own, ~2.5 s of CPU per new gradebook.
Without the venv's ``bin`` on PATH, ``Gradebook()`` has already created the tables when that subprocess fails, so
the next open finds a database without an ``alembic_version`` row: silently broken for every later ``nbgrader db
upgrade``. :func:`prepare_nbgrader` (called before the kit opens nbgrader's API or a gradebook) answers the question
in this process instead (:func:`alembic_head`, from the same migration scripts) and puts the venv's ``bin`` first on
PATH for whatever nbgrader still runs by name; :func:`ensure_tool_path` alone is called by the CLI commands, by every
worker process and by every Dask task.

(The notebook kernels get an environment of their own, built from nothing: ``sandbox.kernel_env``.)
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

#: The kit's root (holds ``grader/``): workers import ``grader.autograde.worker`` from here.
KIT_ROOT = Path(__file__).resolve().parents[2]


def tool_dir() -> Path:
    """The directory of the running interpreter: the venv's ``bin`` (holds ``alembic``, ``jupyter``)."""
    return Path(sys.executable).parent


def ensure_tool_path(env: dict | None = None) -> dict:
    """Put :func:`tool_dir` first on ``PATH`` in ``env`` (default ``os.environ``, changed in place); return it."""
    env = os.environ if env is None else env
    want = str(tool_dir())
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    if not parts or parts[0] != want:
        env["PATH"] = os.pathsep.join([want] + [p for p in parts if p != want])
    return env


def worker_env(env: dict | None = None) -> dict:
    """``env`` (default: a copy of ``os.environ``) for a grading worker: tool path, the kit on PYTHONPATH."""
    env = ensure_tool_path(dict(os.environ) if env is None else env)
    pp = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(KIT_ROOT) not in pp:
        env["PYTHONPATH"] = os.pathsep.join([str(KIT_ROOT)] + pp)
    return env


def alembic_head() -> str:
    """The head revision of nbgrader's gradebook migrations, read from its scripts in this process: what
    ``alembic heads`` prints for them (``nbgrader.api.get_alembic_version``), without a process of its own."""
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR
    return ScriptDirectory(ALEMBIC_DIR).get_current_head()


def prepare_nbgrader() -> None:
    """Before this process uses nbgrader's API or opens a gradebook: the venv's ``bin`` first on PATH, and a new
    gradebook stamped by :func:`alembic_head` rather than by an ``alembic heads`` subprocess."""
    ensure_tool_path()
    import nbgrader.api
    if not hasattr(nbgrader.api, "get_alembic_version"):       # nbgrader moved it: fail here, not in a stamp
        raise RuntimeError("nbgrader.api.get_alembic_version is gone: update grader.autograde.env.prepare_nbgrader")
    nbgrader.api.get_alembic_version = alembic_head
