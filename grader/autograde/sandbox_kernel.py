"""Kernel launcher for autograding: apply the limits, then start ipykernel.

Copied into every sandbox as ``/hw8/boot/hw8_sandbox_kernel.py`` and run there by the sandbox's Python, so it
imports nothing but the standard library (the kit is not importable inside). From ``GRADER_SANDBOX`` (JSON, made
by ``grader.autograde.sandbox.launcher_settings``):

- limits (``resource.setrlimit``, soft = hard, irreversible for this unprivileged process and its children):
  ``RLIMIT_AS`` (memory per process), ``RLIMIT_NPROC`` (processes and threads of the uid: a high backstop when
  the sandbox's own cgroup limits them, ``sandbox.launcher_settings``), ``RLIMIT_FSIZE`` (largest file;
  Python ignores SIGXFSZ, so a write past it fails with ``OSError: File too large``), ``RLIMIT_CPU``,
  ``RLIMIT_NOFILE``, ``RLIMIT_CORE`` = 0;
- a second layer over the OS sandbox, an audit hook (``sys.addaudithook``, cannot be removed from Python) refusing
  socket connections and name lookups to anything but loopback and Unix sockets, and ``os.system``, ``os.exec*``,
  ``os.posix_spawn``, ``subprocess.Popen``; it only sees what goes through Python (``ctypes`` or
  ``_posixsubprocess.fork_exec`` pass), which is why the sandbox, not the hook, is the boundary;
- ``PR_SET_PDEATHSIG``: the kernel dies with its parent;
- ``worker_lock``: a file the worker holds an exclusive ``flock`` on while it lives (``sandbox.WORKER_LOCK``). A
  thread waits for a shared lock on it and, once it has it (the worker is gone, even one killed before anything
  could tie the sandbox to it), kills the kernel's process group; without the file, the kernel does not start.
"""
from __future__ import annotations

import json
import os
import sys

_LOOPBACK = ("127.", "::1", "localhost", "0:0:0:0:0:0:0:1")
_PROCESS_EVENTS = ("os.system", "os.exec", "os.posix_spawn", "subprocess.Popen", "os.spawn", "pty.spawn")


def _is_local(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    return host == "" or host.startswith(_LOOPBACK)


def make_audit_hook(block_network: bool = True, block_subprocess: bool = True):
    """The audit hook (a function ``(event, args) -> None`` raising ``PermissionError`` on what is refused)."""
    def hook(event: str, args) -> None:
        if block_network:
            if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
                addr = args[1] if len(args) > 1 else None
                # AF_UNIX addresses are str/bytes paths; IP addresses are (host, port, ...) tuples.
                if isinstance(addr, tuple) and addr and not _is_local(addr[0]):
                    raise PermissionError(f"network access is disabled while autograding ({event} to {addr[0]})")
            elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                           "socket.gethostbyaddr"):
                if args and not _is_local(args[0]):
                    raise PermissionError(f"network access is disabled while autograding (lookup of {args[0]})")
        if block_subprocess and event in _PROCESS_EVENTS:
            raise PermissionError(f"starting processes is disabled while autograding ({event})")
    return hook


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; the pid namespace is the real guarantee
        pass


def _die_with_worker(path: str | None) -> None:
    if not path:
        return
    import fcntl
    import signal
    import threading
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        os._exit(125)           # the worker removed its folders: it has finished with this kernel

    def watch() -> None:
        fcntl.flock(fd, fcntl.LOCK_SH)        # blocks while the worker holds its exclusive lock
        if os.getpgrp() == os.getpid():       # the kernel leads its own session (bwrap --new-session, jupyter)
            os.killpg(0, signal.SIGKILL)
        os._exit(137)

    threading.Thread(target=watch, name="hw8-worker-watch", daemon=True).start()


def _limit(name: str, value: int) -> None:
    import resource
    resource.setrlimit(getattr(resource, name), (value, value))


def apply_sandbox(settings: dict) -> None:
    """Apply ``settings`` to this process (and every process it starts); irreversible."""
    mb = 1024 * 1024
    if int(settings.get("memory_mb") or 0) > 0:
        _limit("RLIMIT_AS", int(settings["memory_mb"]) * mb)
    if int(settings.get("nproc") or 0) > 0 and os.getuid() != 0:   # not enforced for root anyway
        _limit("RLIMIT_NPROC", int(settings["nproc"]))
    if int(settings.get("fsize_mb") or 0) > 0:
        _limit("RLIMIT_FSIZE", int(settings["fsize_mb"]) * mb)
    if int(settings.get("cpu_seconds") or 0) > 0:
        _limit("RLIMIT_CPU", int(settings["cpu_seconds"]))
    if int(settings.get("nofile") or 0) > 0:
        _limit("RLIMIT_NOFILE", int(settings["nofile"]))
    _limit("RLIMIT_CORE", 0)
    _die_with_parent()
    _die_with_worker(settings.get("worker_lock"))
    if settings.get("block_network", True) or settings.get("block_subprocess", True):
        sys.addaudithook(make_audit_hook(bool(settings.get("block_network", True)),
                                         bool(settings.get("block_subprocess", True))))


def main() -> None:
    apply_sandbox(json.loads(os.environ.get("GRADER_SANDBOX") or "{}"))
    from ipykernel.kernelapp import launch_new_instance
    launch_new_instance()


if __name__ == "__main__":
    main()
