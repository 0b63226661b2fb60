"""Kernel launcher for autograding: apply the sandbox, then start ipykernel (``python -m grader.autograde.sandbox_kernel``).

What it does, from ``GRADER_SANDBOX`` (JSON of :class:`grader.autograde.env.SandboxConfig`, set in the kernelspec):

- memory: ``resource.setrlimit(RLIMIT_AS)`` on the kernel process, so a memory bomb gets ``MemoryError`` (or the
  kernel dies) instead of taking the grading machine down;
- network: a ``sys.addaudithook`` hook refuses ``socket.connect``/``sendto``/``sendmsg`` to anything but loopback or
  Unix sockets and name lookups of non-local hosts (audit hooks cannot be removed from Python code);
- processes: the same hook refuses ``os.system``, ``os.exec*``, ``os.posix_spawn`` and ``subprocess.Popen``
  (``os.fork`` stays allowed: torch's DataLoader workers use it);
- the kernel dies with its worker (``PR_SET_PDEATHSIG``), so a killed worker leaves no orphan kernel.

Limits (documented, not hidden): the hooks only see what goes through Python; C code loaded with ``ctypes`` or an
extension module can still open sockets or spawn processes, and ``os.fork`` is allowed. ``--net-namespace`` closes
the network part at the OS level (the kernelspec starts this module through ``unshare --user --net``; see env.py).
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
    except Exception:  # noqa: BLE001 - best effort; ipykernel's parent poller is the fallback
        pass


def apply_sandbox(settings: dict) -> None:
    """Apply ``settings`` (keys of SandboxConfig, minus env) to this process; irreversible."""
    mem_mb = int(settings.get("memory_mb") or 0)
    if mem_mb > 0:
        import resource
        limit = mem_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _die_with_parent()
    if settings.get("block_network", True) or settings.get("block_subprocess", True):
        sys.addaudithook(make_audit_hook(bool(settings.get("block_network", True)),
                                         bool(settings.get("block_subprocess", True))))


def main() -> None:
    apply_sandbox(json.loads(os.environ.get("GRADER_SANDBOX") or "{}"))
    from ipykernel.kernelapp import launch_new_instance
    launch_new_instance()


if __name__ == "__main__":
    main()
