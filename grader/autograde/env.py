"""Process environment of the grader's own processes: the venv's ``bin`` on PATH and the kit importable.

nbgrader creates a new gradebook by running ``alembic heads`` from PATH (``nbgrader.api.get_alembic_version``).
Without the venv's ``bin`` there, ``Gradebook()`` has already created the tables when the subprocess fails, so the
next open finds a database without an ``alembic_version`` row: silently broken for every later ``nbgrader db
upgrade``. :func:`ensure_tool_path` is called by the CLI commands, by every worker process and by every Dask task.

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
