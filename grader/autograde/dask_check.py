"""What each Dask worker is asked before it gets a task (sent by value: it runs even where the kit is missing).

Without it, a worker whose Python cannot import the kit fails every task with Dask's "Error during deserialization
of the task", which names neither the worker nor the missing module.
"""
from __future__ import annotations


def worker_problem(sandbox_enabled: bool, sandbox_user: str) -> str:
    """'' when this Dask worker can grade; else what is missing, in words a TA can act on."""
    import importlib
    import os
    import sys
    missing = []
    for name in ("grader.autograde.worker", "grader.autograde.sandbox", "nbgrader", "nbclient", "starter_code",
                 "common"):
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - any import failure is the answer
            missing.append(f"{name} ({type(e).__name__}: {e})")
    if missing:
        return (f"cannot import {'; '.join(missing)} with {sys.executable} in {os.getcwd()}: start `dask worker` "
                f"from the kit's venv with the kit's folder on PYTHONPATH (or the kit pip-installed)")
    if sandbox_enabled:
        from grader.autograde.sandbox import SandboxConfig, unavailable_reason
        reason = unavailable_reason(SandboxConfig(user=sandbox_user))
        if reason:
            return f"no sandbox on this worker: {reason}"
    return ""
