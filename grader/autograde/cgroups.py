"""One cgroup per sandboxed kernel: a process and a memory limit that hold whatever uid the kernel runs as.

Every kernel runs as the same unprivileged uid, so ``RLIMIT_NPROC`` (threads per uid, machine-wide) would let one
notebook's fork bomb starve every other notebook's threads, and ``RLIMIT_AS`` (per process) lets four forked
children hold four times ``memory_mb``. A cgroup counts the sandbox's processes and resident memory as one, and
nothing outside it: each kernel gets its own, ``<base>/hw8/<worker pid>-<n>``, where ``<base>`` is, per controller,

- cgroup v1: the ``pids`` and the ``memory`` hierarchies (``/sys/fs/cgroup/pids``, ``/sys/fs/cgroup/memory``) at
  this process's own cgroup in each (so the limits of whatever contains the grader still apply): ``pids.max``,
  ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes`` where swap is accounted);
- cgroup v2 (the unified hierarchy, ``/sys/fs/cgroup`` or ``/sys/fs/cgroup/unified``, with the ``pids`` and
  ``memory`` controllers): its root, the controllers enabled for ``hw8`` and below: ``pids.max``, ``memory.max``,
  ``memory.swap.max`` = 0.

v1 is used where both its hierarchies are writable, else v2, else none (:func:`hierarchy` says why; the grader then
falls back to rlimits and says so in every result row's ``sandbox`` column). A kernel enters its cgroup before
bwrap runs: its command starts with ``sandbox.launch_argv``, whose ``/bin/sh`` line writes its own pid to each of
the group's :attr:`Group.procs` files and then execs the rest (bwrap), so every process of the sandbox is born
inside. A group is removed when its kernel is gone (:meth:`Group.remove` kills what is left first);
:func:`clean_stale` removes the groups of grader processes that no longer exist (a worker killed on a timeout), at
every worker's start.
"""
from __future__ import annotations

import functools
import itertools
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

#: Where the cgroup hierarchies are mounted.
ROOT = Path("/sys/fs/cgroup")
#: The kit's folder in each hierarchy.
PREFIX = "hw8"
_NAME = re.compile(r"^(?:probe-)?(\d+)(?:-\d+)?$")
_COUNTER = itertools.count(1)


@dataclass(frozen=True)
class Hierarchy:
    """Where the kit's groups live: ``version`` 1 (one base per controller: pids, memory) or 2 (one base);
    ``tops``: the roots of those hierarchies (where :func:`clean_stale` looks for the kit's folders)."""
    version: int
    bases: tuple[Path, ...]
    tops: tuple[Path, ...] = ()

    @property
    def label(self) -> str:
        return f"cgroup v{self.version}"


def _own_paths(text: str) -> dict[str, str]:
    """``/proc/self/cgroup`` as {controller: path} (v1 controllers by name; the unified hierarchy as ``""``)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for c in (parts[1].split(",") if parts[1] else [""]):
            out[c] = parts[2]
    return out


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _limits(h: Hierarchy, dirs: list[Path], pids_max: int, memory_bytes: int) -> None:
    if h.version == 1:
        _write(dirs[0] / "pids.max", str(pids_max))
        _write(dirs[1] / "memory.limit_in_bytes", str(memory_bytes))
        if (dirs[1] / "memory.memsw.limit_in_bytes").exists():     # memory + swap: no escape into swap
            _write(dirs[1] / "memory.memsw.limit_in_bytes", str(memory_bytes))
    else:
        _write(dirs[0] / "pids.max", str(pids_max))
        _write(dirs[0] / "memory.max", str(memory_bytes))
        if (dirs[0] / "memory.swap.max").exists():
            _write(dirs[0] / "memory.swap.max", "0")


def _v1(root: Path, own: dict[str, str]) -> Hierarchy:
    bases = []
    for c in ("pids", "memory"):
        top = root / c
        if not (top / "cgroup.procs").is_file():
            raise OSError(f"no cgroup v1 {c} hierarchy at {top}")
        bases.append(top / own.get(c, "/").lstrip("/") / PREFIX)
    return Hierarchy(1, tuple(bases), (root / "pids", root / "memory"))


def _v2(root: Path) -> Hierarchy:
    for top in (root, root / "unified"):
        if (top / "cgroup.controllers").is_file():
            break
    else:
        raise OSError(f"no cgroup v2 hierarchy at {root}")
    have = (top / "cgroup.controllers").read_text().split()
    missing = [c for c in ("pids", "memory") if c not in have]
    if missing:
        raise OSError(f"cgroup v2 at {top} offers no {' or '.join(missing)} controller")
    base = top / PREFIX
    enabled = (top / "cgroup.subtree_control").read_text().split()
    if not {"pids", "memory"} <= set(enabled):
        _write(top / "cgroup.subtree_control", "+pids +memory")
    base.mkdir(exist_ok=True)
    if not {"pids", "memory"} <= set((base / "cgroup.subtree_control").read_text().split()):
        _write(base / "cgroup.subtree_control", "+pids +memory")
    return Hierarchy(2, (base,), (top,))


def _probe(h: Hierarchy) -> None:
    """Make, limit and remove one group: raises OSError where this process cannot."""
    dirs = [b / f"probe-{os.getpid()}" for b in h.bases]
    try:
        for b, d in zip(h.bases, dirs):
            b.mkdir(exist_ok=True)
            d.mkdir(exist_ok=True)
        _limits(h, dirs, 64, 64 << 20)
    finally:
        for d in dirs:
            try:
                d.rmdir()
            except OSError:
                pass


def find_hierarchy(root: Path = ROOT, proc_cgroup: str | None = None) -> Hierarchy | str:
    """The writable hierarchy kernels' groups go into, or why there is none (a sentence)."""
    if not root.is_dir():
        return f"no cgroup file system at {root}"
    if proc_cgroup is None:
        try:
            proc_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            proc_cgroup = ""
    reasons = []
    for make in (lambda: _v1(root, _own_paths(proc_cgroup)), lambda: _v2(root)):
        try:
            h = make()
            _probe(h)
            return h
        except OSError as e:
            reasons.append(str(e) if not isinstance(e, PermissionError) or not e.filename
                           else f"{e.filename} is not writable")
    return "no writable cgroup (" + "; ".join(reasons) + ")"


@functools.lru_cache(maxsize=1)
def hierarchy() -> Hierarchy | str:
    """:func:`find_hierarchy` of this machine, once per process (``HW8_CGROUP_ROOT``, if set, is where the
    hierarchies are looked for instead of :data:`ROOT`: a path without them makes the grader fall back to rlimits)."""
    return find_hierarchy(Path(os.environ.get("HW8_CGROUP_ROOT") or ROOT))


class Group:
    """One kernel's cgroup (a folder per base). ``procs``: its ``cgroup.procs`` files."""

    def __init__(self, h: Hierarchy, name: str):
        self.h, self.name = h, name
        self.dirs = [b / name for b in h.bases]
        self.procs = [d / "cgroup.procs" for d in self.dirs]

    @classmethod
    def create(cls, h: Hierarchy, pids_max: int, memory_bytes: int) -> "Group":
        """A new, empty group named ``<this pid>-<n>`` with the limits set."""
        g = cls(h, f"{os.getpid()}-{next(_COUNTER)}")
        try:
            for b, d in zip(h.bases, g.dirs):
                b.mkdir(exist_ok=True)
                d.mkdir()
            _limits(h, g.dirs, pids_max, memory_bytes)
        except OSError:
            g.remove()
            raise
        return g

    def pids(self) -> set[int]:
        return _pids(self.dirs)

    def remove(self, timeout: float = 10.0) -> bool:
        """Kill every process left in the group, then remove it; whether it is gone."""
        return _remove(self.dirs, timeout)


def _pids(dirs: list[Path]) -> set[int]:
    out: set[int] = set()
    for d in dirs:
        try:
            out |= {int(x) for x in (d / "cgroup.procs").read_text().split()}
        except (OSError, ValueError):
            pass
    return out


def _remove(dirs: list[Path], timeout: float, kill: bool = True) -> bool:
    """Kill the processes in ``dirs`` (cgroups) until none is left (``kill``), and remove them; whether they are
    gone."""
    deadline = time.monotonic() + timeout
    while True:
        for d in dirs if kill else []:
            if (d / "cgroup.kill").exists():            # v2: the whole group at once
                try:
                    _write(d / "cgroup.kill", "1")
                except OSError:
                    pass
        for pid in _pids(dirs) if kill else []:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for d in dirs:
            try:
                d.rmdir()
            except OSError:
                pass
        if not any(d.exists() for d in dirs):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _kit_folders(h: Hierarchy) -> list[Path]:
    """Every folder named :data:`PREFIX` in the hierarchies of ``h`` (its own bases first)."""
    found = list(h.bases)
    for top in h.tops:
        for here, dirs, _ in os.walk(top):
            if Path(here).name == PREFIX:
                dirs[:] = []                 # the kit's groups are leaves: nothing below them to search
                if Path(here) not in found:
                    found.append(Path(here))
    return found


def clean_stale(h: Hierarchy | str | None = None) -> list[str]:
    """Remove the groups of grader processes that are gone; their names. Under this process's own bases,
    processes left in them are killed first; elsewhere in the hierarchies (a grader of another login session or
    service, or of another pid namespace, whose pids this process cannot see) only empty ones are removed."""
    h = hierarchy() if h is None else h
    if isinstance(h, str):
        return []
    stale: dict[tuple[str, bool], list[Path]] = {}
    for folder in _kit_folders(h):
        try:
            children = [d for d in folder.iterdir() if d.is_dir()]
        except OSError:
            continue
        for d in children:
            m = _NAME.match(d.name)
            if m and not _alive(int(m.group(1))):
                stale.setdefault((d.name, folder in h.bases), []).append(d)
    return [name for (name, own), dirs in sorted(stale.items())
            if _remove(dirs, timeout=5 if own else 0, kill=own)]


def kit_groups(h: Hierarchy | str | None = None) -> list[str]:
    """Names of the kit's groups that exist now, wherever in the hierarchies."""
    h = hierarchy() if h is None else h
    if isinstance(h, str):
        return []
    out: set[str] = set()
    for folder in _kit_folders(h):
        try:
            out |= {d.name for d in folder.iterdir() if d.is_dir()}
        except OSError:
            pass
    return sorted(out)
