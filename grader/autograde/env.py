"""Process environment shared by every entry point: the venv's ``bin`` on PATH, and the sandboxed kernel's spec.

nbgrader creates a new gradebook by running ``alembic heads`` from PATH (``nbgrader.api.get_alembic_version``).
Without the venv's ``bin`` there, ``Gradebook()`` has already created the tables when the subprocess fails, so the
next open finds a database without an ``alembic_version`` row: silently broken for every later ``nbgrader db
upgrade``. :func:`ensure_tool_path` is called by the CLI commands, by every worker process and by every Dask task.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Name of the kernelspec the autograder executes notebooks with (see ``sandbox_kernel``).
SANDBOX_KERNEL = "hw8-sandbox"


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


@dataclass
class SandboxConfig:
    """Limits applied inside each notebook kernel (by ``grader.autograde.sandbox_kernel`` before ipykernel starts)."""
    memory_mb: int = field(default=4096, metadata={
        "help": "RLIMIT_AS of the kernel process in MiB (address space, not RSS: torch alone maps ~1 GiB)."})
    block_network: bool = field(default=True, metadata={
        "help": "Refuse socket connect/sendto to anything but loopback and Unix sockets (Python-level audit hook)."})
    block_subprocess: bool = field(default=True, metadata={
        "help": "Refuse os.system, os.exec*, os.posix_spawn and subprocess.Popen in the kernel (audit hook)."})
    net_namespace: bool = field(default=False, metadata={
        "help": "Also start the kernel in an empty network namespace (`unshare --user --net`, kernel talks over "
                "IPC sockets): no network even for C code or subprocesses. Needs unprivileged user namespaces."})
    env: dict = field(default_factory=dict, metadata={
        "help": "Extra environment for the kernel, e.g. HW8_SMOKE=1 and HW8_DATA_DIR (the tiny data preset)."})


@functools.lru_cache(maxsize=1)
def net_namespace_available() -> bool:
    """Whether this machine lets an unprivileged process create a user + network namespace."""
    exe = shutil.which("unshare")
    if exe is None:
        return False
    try:
        return subprocess.run([exe, "--user", "--map-root-user", "--net", "--", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def install_sandbox_kernelspec(jupyter_dir: Path, sandbox: SandboxConfig) -> Path:
    """Write ``<jupyter_dir>/kernels/hw8-sandbox/kernel.json`` and return ``jupyter_dir``.

    Put ``jupyter_dir`` first on ``JUPYTER_PATH`` (``kernel_env``) for jupyter_client to find the spec. The kernel
    runs ``python -m grader.autograde.sandbox_kernel`` with this interpreter, which applies ``sandbox`` and then
    starts ipykernel.
    """
    kdir = Path(jupyter_dir) / "kernels" / SANDBOX_KERNEL
    kdir.mkdir(parents=True, exist_ok=True)
    env = {"GRADER_SANDBOX": json.dumps({k: v for k, v in asdict(sandbox).items() if k != "env"}),
           # One malloc arena per thread reserves 64 MiB of address space each: with RLIMIT_AS that alone can
           # exhaust the limit under torch's thread pool, so cap the arenas.
           "MALLOC_ARENA_MAX": "2",
           # Notebooks run on the CPU with one thread each: several kernels share the grading machine.
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}
    env.update({str(k): str(v) for k, v in sandbox.env.items()})
    argv = [sys.executable, "-m", "grader.autograde.sandbox_kernel", "-f", "{connection_file}"]
    if sandbox.net_namespace:
        if not net_namespace_available():
            raise OSError("net_namespace: `unshare --user --map-root-user --net` does not work on this machine")
        # unshare execs the kernel in place (same pid, same parent): timeouts and PR_SET_PDEATHSIG still apply.
        argv = [shutil.which("unshare"), "--user", "--map-root-user", "--net", "--"] + argv
    spec = {"argv": argv,
            "display_name": "HW8 autograder (sandboxed)", "language": "python", "env": env,
            "metadata": {"debugger": False}}
    (kdir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return Path(jupyter_dir)


def kernel_env(jupyter_dir: Path, env: dict | None = None) -> dict:
    """``env`` (default ``os.environ``, in place) with the tool path and ``jupyter_dir`` first on JUPYTER_PATH."""
    env = ensure_tool_path(env)
    parts = [str(jupyter_dir)] + [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != str(jupyter_dir)]
    env["JUPYTER_PATH"] = os.pathsep.join(parts)
    # The package root, so the kernel (started elsewhere, in the autograded folder) can import grader.autograde.
    root = str(Path(__file__).resolve().parents[2])
    pp = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in pp:
        env["PYTHONPATH"] = os.pathsep.join([root] + pp)
    return env
