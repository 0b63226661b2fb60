"""The operating-system sandbox every notebook kernel runs in: bubblewrap namespaces, an unprivileged uid, limits.

Each kernel (the student's, and the separate one that runs the tests) is started as

    bwrap --unshare-pid --unshare-net --unshare-ipc --unshare-uts [--unshare-user --disable-userns]
          --die-with-parent --new-session --clearenv ... (binds below) ... --remount-ro /
          -- [setpriv --reuid U --regid G --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs --]
          /hw8/venv/bin/python /hw8/boot/hw8_sandbox_kernel.py -f CONNECTION_FILE

and talks to its worker over Unix sockets in a folder bound at the same path inside and outside (jupyter's ``ipc``
transport): the sandbox has its own network namespace, so it reaches no network at all, the host's loopback
included. What the kernel sees (everything else of the machine does not exist for it):

==============  ============  ========================================================================================
path            access        what
==============  ============  ========================================================================================
/hw8/work       rw (tests ro) the notebook's folder: its working directory and ``HW8_OUTPUT_DIR``; the release's
                              files (the test kernel works in its own HOME and reads these by path); with export
                              and the student's HOME, one tmpfs of ``scratch_mb``
/hw8/export     rw (tests ro) plain data the student's kernel hands to the test kernel (``exchange.py``)
/hw8/home       rw            ``HOME`` (a fresh one per kernel; matplotlib's font cache is copied in)
/hw8/data       ro            ``trainingset.npy`` and ``testingset.npy`` only: never the answer key beside them
/hw8/venv       ro            the grading venv (the kit's own packages hidden if they were installed into it)
/hw8/lib        ro            ``STUDENT_PACKAGES``: ``starter_code`` and ``common`` (first on ``PYTHONPATH``)
/hw8/boot       ro            the kernel launcher, the exchange module, a minimal passwd/group/hosts
/usr, /bin, ..  ro            the system, plus Python's own prefix (e.g. a pyenv build) at its own path
/etc            ro, minimal   ld.so.cache, localtime, alternatives, the generated passwd/group/hosts
/tmp            tmpfs         ``tmp_mb`` MiB
/proc, /dev     new           a procfs of the sandbox's own pid namespace (no other process is visible); minimal /dev
IPC folder      rw            the kernel's connection file and sockets
==============  ============  ========================================================================================

Privileges: started by root, bwrap itself (root, no user namespace) builds the mounts and namespaces, then
``setpriv`` drops to a real unprivileged uid (:attr:`SandboxConfig.user`, default ``hw8-sandbox``, else ``nobody``)
with every capability gone and ``no_new_privs`` set. (``bwrap --unshare-user --uid 65534`` started by root is *not*
enough: the namespace's uid maps back to root outside and still reads root's files.) Started by anyone else, bwrap
makes an unprivileged user namespace and the kernel keeps that user's uid, without access to any of their files.

Limits. Every kernel runs as the same uid, so what one notebook may use is counted per sandbox, not per uid: each
kernel gets a cgroup of its own (``cgroups.py``; v1 ``pids`` + ``memory``, or v2) which its command enters before
bwrap runs, so every process of the sandbox is born inside: ``pids.max`` = ``max_processes`` (processes and threads
of the whole sandbox) and a memory limit of ``memory_rss_mb`` (resident memory of all its processes together, the
tmpfs pages they write included; 0: ``memory_mb``; past it the kernel of the OS kills a process of that sandbox
only). The group is removed once the kernel is gone, what is left in it killed first; a worker removes the groups
of dead grader processes when it starts. The writable places are quotas in memory, not the host's disk: the
notebook's folder, the exports and the student kernel's HOME share one tmpfs of ``scratch_mb`` (the folders under
``root`` of :class:`Scratch`), the test kernel's HOME has one of its own, each IPC folder a small one, ``/tmp`` a
tmpfs of ``tmp_mb``: a write past them fails with ENOSPC in the student's cell. The launcher (``sandbox_kernel.py``)
sets, before ipykernel starts: address space per process (``memory_mb``), size of any file written
(``max_file_mb``), CPU seconds, open files, no core dumps, and ``RLIMIT_NPROC`` only as a high backstop
(:data:`NPROC_BACKSTOP_SANDBOXES` sandboxes' worth). Without a writable cgroup (not root, or a read-only cgroupfs)
``max_processes`` falls back to ``RLIMIT_NPROC`` counted from what the uid has, which one notebook's fork bomb can
use up for all, and memory to ``RLIMIT_AS`` alone; without root, no tmpfs quotas (only ``max_file_mb`` bounds a
write). Neither is silent: each result row's ``sandbox`` label then says ``bwrap (rlimits only; no scratch
quota)``, and the run ends with a warning. When the kernel exits (normally, killed on a timeout, or crashed), the
pid namespace's init exits and the kernel of the OS kills every process left in it; ``--die-with-parent`` does the
same when the worker dies, and :func:`launch_argv` covers the moments before bwrap has asked for it. One moment is
inside bwrap: its child in the new pid namespace asks to die with its parent only after the ``clone``, and a worker
killed in between leaves that child running with no parent to die with. So the worker also holds an exclusive lock
on a file in each IPC folder (:data:`WORKER_LOCK`, held by :class:`Scratch` until :meth:`Scratch.cleanup`), and the
launcher waits for that lock in a thread: it gets it only once the worker is gone, and then kills the kernel's
process group (in the sandbox, ending its pid namespace).
"""
from __future__ import annotations

import functools
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from common.config import Config
from grader.autograde import cgroups
from grader.errors import ConfigError, UnknownKeyError

#: Fixed paths inside the sandbox.
INSIDE = "/hw8"
#: The kit's packages a student has: the bundle ships them and every kernel may import them (read-only, first on
#: ``PYTHONPATH``); ``common`` is the shared base ``starter_code`` is built on.
STUDENT_PACKAGES = ("starter_code", "common")
WORK, EXPORT, HOME, DATA, VENV, LIB, BOOT = (f"{INSIDE}/{n}" for n in ("work", "export", "home", "data", "venv",
                                                                      "lib", "boot"))
#: The only files of the grading data folder a notebook may read.
DATA_FILES = ("trainingset.npy", "testingset.npy")
#: Top-level packages of the kit that must never be importable in a sandbox, even if pip-installed into the venv.
KIT_PACKAGES = ("grader", "solutions", "kit", "data_tools", "assignments", "benchmarks", "tests")
#: The standalone modules copied into ``/hw8/boot`` (source file in this package -> name inside).
BOOT_MODULES = {"sandbox_kernel.py": "hw8_sandbox_kernel.py", "exchange.py": "hw8_exchange.py"}
BWRAP = "/usr/bin/bwrap"
#: The file in each IPC folder the worker holds an exclusive ``flock`` on while its kernels may run.
WORKER_LOCK = "worker.lock"
SETPRIV = "/usr/bin/setpriv"


@dataclass
class SandboxConfig(Config):
    """How each notebook kernel is confined. Defaults are what ``python -m grader autograde`` uses."""
    key_error = UnknownKeyError
    enabled: bool = field(default=True, metadata={
        "help": "Run kernels in the bubblewrap sandbox. Off only with --unsafe-no-sandbox (every result row says so)."})
    user: str = field(default="hw8-sandbox", metadata={
        "help": "When the grader runs as root: the unprivileged user kernels run as ('nobody' if this user does "
                "not exist; .ci/run creates hw8-sandbox)."})
    memory_mb: int = field(default=4096, metadata={
        "help": "RLIMIT_AS of each kernel process in MiB (address space, not RSS: torch alone maps ~1 GiB)."})
    memory_rss_mb: int = field(default=0, metadata={
        "help": "Resident memory of each kernel's sandbox, all its processes and the tmpfs pages they write "
                "together, MiB: its cgroup's memory limit (past it the kernel of the OS kills a process of that "
                "sandbox). 0: the same as memory_mb."})
    max_processes: int = field(default=256, metadata={
        "help": "Processes and threads of each kernel's sandbox together: its cgroup's pids.max (without a "
                "writable cgroup: RLIMIT_NPROC, this many more than the sandbox uid already has)."})
    max_file_mb: int = field(default=512, metadata={"help": "Largest file a kernel may write, MiB (RLIMIT_FSIZE)."})
    cpu_seconds: int = field(default=3600, metadata={"help": "CPU seconds of one kernel process (RLIMIT_CPU)."})
    tmp_mb: int = field(default=256, metadata={"help": "Size of the kernel's private /tmp (a tmpfs), MiB."})
    scratch_mb: int = field(default=1024, metadata={
        "help": "Space of the notebook's writable folders together (its work folder, the exports and the student "
                "kernel's HOME: one tmpfs), MiB; the test kernel's HOME has a tmpfs of this size of its own. A "
                "write past it fails with ENOSPC in the kernel. Needs root; else only max_file_mb bounds writes."})
    block_network: bool = field(default=True, metadata={
        "help": "Second layer: an audit hook refusing non-loopback sockets and DNS in the kernel."})
    block_subprocess: bool = field(default=True, metadata={
        "help": "Second layer: an audit hook refusing os.system, exec*, posix_spawn and subprocess in the kernel."})
    env: dict = field(default_factory=dict, metadata={
        "help": "Extra environment of the kernel (HW8_SMOKE; HW8_DATA_DIR is set from the data folder)."})

    def __post_init__(self):
        for k in ("memory_mb", "max_processes", "max_file_mb", "cpu_seconds", "tmp_mb", "scratch_mb"):
            if int(getattr(self, k)) <= 0:
                raise ConfigError(f"sandbox {k} must be positive, got {getattr(self, k)}")
        if int(self.memory_rss_mb) < 0:
            raise ConfigError(f"sandbox memory_rss_mb must be positive (or 0: memory_mb), got {self.memory_rss_mb}")

    @property
    def rss_mb(self) -> int:
        """The cgroup's memory limit, MiB."""
        return int(self.memory_rss_mb) or int(self.memory_mb)


def _is_root() -> bool:
    return os.geteuid() == 0


def sandbox_ids(cfg: SandboxConfig) -> tuple[int, int] | None:
    """(uid, gid) kernels run as when the grader is root; None otherwise (bwrap then uses a user namespace)."""
    if not _is_root():
        return None
    for name in (cfg.user, "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        if pw.pw_uid == 0:
            raise ConfigError(f"sandbox user {name!r} is root: choose an unprivileged user")
        return pw.pw_uid, pw.pw_gid
    raise ConfigError(f"neither the sandbox user {cfg.user!r} nor 'nobody' exists: create one "
                      f"(useradd --system --no-create-home {cfg.user})")


def _threads_of(uid: int) -> int:
    """Threads currently owned by ``uid`` (RLIMIT_NPROC counts threads per real uid, machine-wide)."""
    n = 0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            status = (p / "status").read_text()
        except OSError:
            continue
        uid_line = next((ln for ln in status.splitlines() if ln.startswith("Uid:")), "")
        thr_line = next((ln for ln in status.splitlines() if ln.startswith("Threads:")), "")
        if uid_line.split()[1:2] == [str(uid)]:
            n += int(thr_line.split()[1]) if thr_line else 1
    return n


#: With a cgroup's pids.max in force, RLIMIT_NPROC stays only as a backstop this many sandboxes' worth above what
#: the uid has: concurrent kernels, each held to max_processes by its own cgroup, never reach it together.
NPROC_BACKSTOP_SANDBOXES = 64


def launcher_settings(cfg: SandboxConfig, *, pids_cgroup: bool = False) -> dict:
    """What ``hw8_sandbox_kernel`` applies to itself before ipykernel starts (JSON in ``GRADER_SANDBOX``).

    ``pids_cgroup``: the kernel's own cgroup limits its processes, so ``RLIMIT_NPROC`` (shared by every kernel of
    the uid) is only a high backstop."""
    ids = sandbox_ids(cfg) if cfg.enabled else None
    uid = ids[0] if ids else os.getuid()
    extra = cfg.max_processes * (NPROC_BACKSTOP_SANDBOXES if pids_cgroup else 1)
    return {"memory_mb": cfg.memory_mb, "nproc": _threads_of(uid) + extra,
            "fsize_mb": cfg.max_file_mb, "cpu_seconds": cfg.cpu_seconds, "nofile": 1024,
            "block_network": cfg.block_network, "block_subprocess": cfg.block_subprocess}


# --- availability ----------------------------------------------------------------------------------------------

def _namespace_args() -> list[str]:
    args = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session"]
    if not _is_root():
        # An unprivileged user namespace; no further ones inside (a smaller kernel attack surface).
        args += ["--unshare-user", "--disable-userns"]
    return args


@functools.lru_cache(maxsize=4)
def _probe(user: str) -> str | None:
    if not Path(BWRAP).is_file():
        return f"{BWRAP} not found (Debian package bubblewrap)"
    cmd = [BWRAP, *_namespace_args(), *_system_binds(_Mounts()).args, "--proc", "/proc", "--dev", "/dev",
           "--remount-ro", "/", "--"]
    ids = sandbox_ids(SandboxConfig(user=user))
    if ids is not None:
        if not Path(SETPRIV).is_file():
            return f"{SETPRIV} not found (Debian package util-linux): needed to drop root before a kernel starts"
        cmd += _setpriv(ids)
    cmd += ["/bin/sh", "-c", "test \"$(id -u)\" != 0"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return f"bwrap did not run: {e}"
    if proc.returncode != 0:
        err = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return f"bwrap cannot create the namespaces here: {err}"
    return None


def unavailable_reason(cfg: SandboxConfig | None = None) -> str | None:
    """None when kernels can be sandboxed on this machine, else why not (in words a TA can act on)."""
    if not sys.platform.startswith("linux"):
        return "the sandbox needs Linux namespaces (bubblewrap)"
    return _probe((cfg or SandboxConfig()).user)


# --- what a sandbox binds --------------------------------------------------------------------------------------

#: :func:`launch_argv`'s script: exit unless the process that started it (``$1``) is still its parent, write its own
#: pid into every ``cgroup.procs`` named before ``--``, then exec the rest.
_LAUNCH = ('[ "$PPID" = "$1" ] || exit 125; shift; '
           'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"')


def launch_argv(group: cgroups.Group | None) -> list[str]:
    """The prefix of a kernel's command: it dies with this process and enters ``group`` (if any), then execs the rest.

    ``setpriv --pdeathsig KILL`` asks for SIGKILL when this process dies, kept across the execs that follow (the
    shell, then bwrap, which asks again for its own child); the shell then checks that this process is still its
    parent, since it may have died before the request. bwrap's ``--die-with-parent`` alone leaves a window (from
    the fork until bwrap has made its namespaces) in which a ``kill -9`` of the worker leaves a sandbox running.
    """
    procs = [str(p) for p in group.procs] if group is not None else []
    tie = [SETPRIV, "--pdeathsig", "KILL"] if os.path.exists(SETPRIV) else []     # util-linux: every Linux has it
    return [*tie, "/bin/sh", "-c", _LAUNCH, "hw8-kernel", str(os.getpid()), *procs, "--"]


def _setpriv(ids: tuple[int, int]) -> list[str]:
    uid, gid = ids
    return [SETPRIV, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--"]


class _Mounts:
    """bwrap mount arguments in order; every missing parent of a destination is created 0755 first (bwrap
    would otherwise copy the mode of the host's parent, e.g. 0700 for a pyenv under /root)."""

    def __init__(self):
        self.args: list[str] = []
        self.made = {"/"}

    def _parents(self, dest: str) -> None:
        parts = dest.strip("/").split("/")[:-1]
        for i in range(len(parts)):
            d = "/" + "/".join(parts[:i + 1])
            if d not in self.made:
                self.args += ["--perms", "0755", "--dir", d]
                self.made.add(d)

    def add(self, op: str, src: str | None, dest: str, perms: str | None = None) -> "_Mounts":
        self._parents(dest)
        if perms:
            self.args += ["--perms", perms]
        self.args += [op, *([src] if src is not None else []), dest]
        self.made.add(dest)
        return self


def _system_binds(m: _Mounts) -> _Mounts:
    """The read-only system: /usr, the merged-/usr links (or directories), Python's prefix, a minimal /etc."""
    m.add("--ro-bind", "/usr", "/usr")
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        p = Path(top)
        if p.is_symlink():
            m.add("--symlink", os.readlink(p), top)
        elif p.is_dir():
            m.add("--ro-bind", top, top)
    for prefix in sorted({os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)}):
        if not (prefix == "/usr" or prefix.startswith("/usr/")):
            m.add("--ro-bind", prefix, prefix)
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives",
                "/etc/fonts", "/etc/mime.types"):
        if os.path.exists(etc):
            m.add("--ro-bind", etc, etc)
    return m


def _venv_binds(m: _Mounts, venv: Path) -> _Mounts:
    """The venv read-only at /hw8/venv; kit packages installed into it (a non-editable install) stay outside."""
    m.add("--ro-bind", str(venv), VENV)
    for site in sorted(venv.glob("lib/python*/site-packages")):
        hidden = [p for p in site.iterdir() if p.name.split("-")[0].split(".")[0] in KIT_PACKAGES
                  and p.is_dir() and not p.name.endswith((".dist-info", ".egg-info"))]
        if not hidden:
            continue
        # Rebuild that folder entry by entry without the kit: an empty directory over a package would still
        # import (as a namespace package), so it must not exist at all.
        inside = f"{VENV}/{site.relative_to(venv)}"
        m.add("--tmpfs", None, inside, perms="0755")
        for p in sorted(site.iterdir()):
            if p not in hidden:
                m.add("--ro-bind", str(p), f"{inside}/{p.name}")
        m.args += ["--remount-ro", inside]
    return m


def package_dir(name: str) -> Path:
    """The folder of ``name``, one of ``STUDENT_PACKAGES``, that this grader uses (repository checkout or
    installed)."""
    import importlib.util
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{name} is not importable: the sandbox has no student library to offer")
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def venv_dir() -> Path:
    """The venv (``sys.prefix``) of this interpreter; kernels run its Python."""
    return Path(sys.prefix).resolve()


BOOT_PREFIX = "hw8-boot-"
_BOOT_NAME_RE = re.compile(rf"^{BOOT_PREFIX}(\d+)-")


def make_boot_dir() -> Path:
    """A new private folder for a :class:`Boot`, in the temporary folder and named after this process, so that
    :func:`clean_stale` removes it once the process is gone (a worker killed with SIGKILL runs no clean-up)."""
    return Path(tempfile.mkdtemp(prefix=f"{BOOT_PREFIX}{os.getpid()}-"))


def font_cache(fallback: Path) -> Path:
    """The folder holding matplotlib's font list, which every kernel's fresh HOME gets a copy of (``Boot.seed_home``;
    without it each kernel would build its own, ~1 s). Built once per matplotlib version for the grader's user, in
    its cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``, then ``hw8-kit/matplotlib-VERSION``; ``fallback`` where
    that cannot be made, e.g. a service user without a home), by a Python of its own (the grader does not import
    matplotlib) whose files are moved in whole: a worker starting beside it copies a complete list or none."""
    from importlib.metadata import version
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hw8-kit" / \
        f"matplotlib-{version('matplotlib')}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = fallback
        folder.mkdir(exist_ok=True)
    if not any(folder.glob("fontlist-*.json")):
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            env = {**os.environ, "MPLCONFIGDIR": tmp, "MPLBACKEND": "Agg"}
            subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, capture_output=True,
                           timeout=300)
            for f in Path(tmp).glob("fontlist-*.json"):
                os.replace(f, folder / f.name)
    return folder


class Boot:
    """A read-only folder of what every kernel starts from: the launcher, the exchange module, /etc files.

    Made once per worker process (``root`` is private to it, from :func:`make_boot_dir`) and bound at
    ``/hw8/boot``.
    """

    def __init__(self, root: Path, cfg: SandboxConfig):
        self.root = Path(root)
        self.cfg = cfg
        self.root.mkdir(parents=True, exist_ok=True)
        here = Path(__file__).resolve().parent
        for src, dst in BOOT_MODULES.items():
            shutil.copyfile(here / src, self.root / dst)
        ids = sandbox_ids(cfg) if cfg.enabled else None
        uid, gid = ids or (os.getuid(), os.getgid())
        (self.root / "passwd").write_text(f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
                                          f"student:x:{uid}:{gid}:student:{HOME}:/usr/sbin/nologin\n")
        (self.root / "group").write_text(f"root:x:0:\nstudent:x:{gid}:\n")
        (self.root / "hosts").write_text("127.0.0.1 localhost\n::1 localhost\n")
        # A unsandboxed kernel (--unsafe-no-sandbox) imports starter_code from here, not from the kit's root.
        lib = self.root / "lib"
        lib.mkdir(exist_ok=True)
        for name in STUDENT_PACKAGES:
            link = lib / name
            if not link.exists():
                link.symlink_to(package_dir(name), target_is_directory=True)
        self.mpl = font_cache(fallback=self.root / "matplotlib")
        for p in [self.root, *self.root.rglob("*")]:
            if not p.is_symlink():
                os.chmod(p, 0o755 if p.is_dir() else 0o644)

    def data_file(self, path: Path) -> Path:
        """``path`` (a grading data file) as the kernel's uid can read it: itself if world-readable or the kernel
        keeps the grader's uid; else a copy in this folder, made once (a TA's 0600 file stays 0600)."""
        path = Path(path).resolve()
        ids = sandbox_ids(self.cfg) if self.cfg.enabled else None
        if ids is None or path.stat().st_mode & 0o004:
            return path
        st = path.stat()
        copy = self.root / "data" / f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}-{path.name}"
        if not copy.is_file():
            copy.parent.mkdir(mode=0o755, exist_ok=True)
            tmp = copy.with_suffix(".tmp")
            shutil.copyfile(path, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, copy)
        return copy

    def seed_home(self, home: Path) -> None:
        """Copy the font cache into a fresh HOME."""
        dest = home / ".config" / "matplotlib"
        dest.mkdir(parents=True, exist_ok=True)
        for f in self.mpl.glob("*.json"):
            shutil.copyfile(f, dest / f.name)


# --- quotas: the kernel's writable folders in tmpfs mounts ----------------------------------------------------------

_MS_NOSUID, _MS_NODEV, _MNT_DETACH = 2, 4, 2
#: The ``source`` of every scratch tmpfs (``/proc/self/mountinfo``): names the grader process that mounted it.
_MOUNT_SOURCE = "hw8-scratch-{pid}"
_MOUNT_SOURCE_RE = re.compile(r"^hw8-scratch-(\d+)$")
#: An IPC folder holds a connection file and sockets.
IPC_MB = 1


def _libc():
    import ctypes
    return ctypes.CDLL(None, use_errno=True)


def mount_tmpfs(path: Path, size_mb: int, owner: int | None = None) -> None:
    """Mount a tmpfs of ``size_mb`` MiB (and one inode per 16 KiB) on ``path``, named after the grader process
    ``owner`` (default: this one) for :func:`clean_stale`; raises OSError (root only)."""
    import ctypes
    opts = f"size={int(size_mb)}m,nr_inodes={max(1024, int(size_mb) * 64)},mode=0711"
    rc = _libc().mount(_MOUNT_SOURCE.format(pid=owner or os.getpid()).encode(), str(path).encode(), b"tmpfs",
                       _MS_NOSUID | _MS_NODEV, opts.encode())
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot mount a tmpfs: {os.strerror(err)}", str(path))


def unmount(path: Path) -> None:
    """Detach the mount at ``path`` (freed once nothing uses it); a path that is no mount is left alone."""
    _libc().umount2(str(path).encode(), _MNT_DETACH)


@functools.lru_cache(maxsize=1)
def quota_unavailable() -> str | None:
    """None when this process can give each notebook's folders a tmpfs of their own, else why not."""
    if not sys.platform.startswith("linux"):
        return "tmpfs quotas need Linux"
    probe = Path(tempfile.mkdtemp(prefix="hw8-probe-"))
    try:
        mount_tmpfs(probe, 1)
    except OSError as e:
        return f"{e.strerror} (mounting needs root)"
    finally:
        unmount(probe)
        shutil.rmtree(probe, ignore_errors=True)
    return None


def isolation_gaps() -> list[str]:
    """What of the per-sandbox isolation this machine lacks, in short words ([] when cgroups and quotas hold)."""
    gaps = []
    h = cgroups.hierarchy()
    if isinstance(h, str):
        gaps.append(f"rlimits only: {h}")
    q = quota_unavailable()
    if q:
        gaps.append(f"no scratch quota: {q}")
    return gaps


def sandbox_label(base: str) -> str:
    """``base`` (``results.SANDBOXED``...) with what this machine lacks in parentheses, e.g. ``bwrap (rlimits only;
    no scratch quota)``: every result row says when a per-sandbox limit was missing, never silently."""
    gaps = isolation_gaps()
    return f"{base} ({'; '.join(g.split(':')[0] for g in gaps)})" if gaps else base


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _mountinfo() -> list[tuple[str, str, str]]:
    """(mount point, file system type, source) of every mount this process sees."""
    out = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        fields_, rest = left.split(), right.split()
        if len(fields_) >= 5 and len(rest) >= 2:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields_[4])
            out.append((point, rest[0], rest[1]))
    return out


def clean_stale() -> list[str]:
    """Remove what grader processes that are gone left behind (a worker killed on a timeout): their kernels'
    cgroups (processes left in them killed), their scratch mounts with the folders under them and their boot
    folders (:func:`make_boot_dir`). Returns what was removed."""
    removed = [f"cgroup {n}" for n in cgroups.clean_stale()]
    for boot in sorted(Path(tempfile.gettempdir()).glob(f"{BOOT_PREFIX}*")):
        m = _BOOT_NAME_RE.match(boot.name)
        if m and boot.is_dir() and not boot.is_symlink() and not _alive(int(m.group(1))):
            shutil.rmtree(boot, ignore_errors=True)
            removed.append(f"boot folder {boot}")
    stale = []
    for point, fstype, source in _mountinfo():
        m = _MOUNT_SOURCE_RE.match(source)
        if fstype == "tmpfs" and m and not _alive(int(m.group(1))):
            stale.append(Path(point))
    for point in sorted(stale, key=lambda p: -len(p.parts)):
        unmount(point)
        removed.append(f"mount {point}")
    for point in stale:
        if point.name.startswith("hw8-"):
            shutil.rmtree(point, ignore_errors=True)
    return removed


#: Scratch folders found full when removed, since the last :func:`take_full_scratch` (this process).
_FULL_SCRATCH: list[str] = []


def take_full_scratch() -> list[str]:
    """Notes on the notebooks' writable folders that were (almost) full when removed since the last call: a
    failure then is the notebook's doing (it filled its quota), not the grading machinery's."""
    out = list(_FULL_SCRATCH)
    _FULL_SCRATCH.clear()
    return out


def _hold(path: Path) -> int | None:
    """Create ``path`` and hold an exclusive lock on it until the returned descriptor is closed or this process dies
    (the descriptor is not inherited by the processes this one starts); None where the file system has no locks
    (the kernel is then not told of the file, and ``--die-with-parent`` alone ties it to this process)."""
    import fcntl
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class Scratch:
    """The host folders of one notebook's run, removed by :meth:`cleanup` (``ipc`` path kept short for sockets).

    Run as root, ``root`` (the work folder, the exports and the student kernel's HOME) is a tmpfs of ``scratch_mb``,
    the test kernel's HOME another, each IPC folder a small one: a kernel writing past them gets ENOSPC and the host's
    disk never fills. Each kernel gets its own cgroup (:meth:`cgroup_for`), removed with the rest.
    """

    def __init__(self, cfg: SandboxConfig, base: Path | None = None):
        self.cfg = cfg
        self.root = Path(tempfile.mkdtemp(prefix="hw8-", dir=base))
        self.mounts: list[Path] = []
        self.groups: list[cgroups.Group] = []
        self.quota = quota_unavailable() is None
        if self.quota:
            self._mount(self.root, cfg.scratch_mb)
        self.work, self.export = self.root / "work", self.root / "export"
        self.home_student, self.home_tests = self.root / "home-s", self.root / "home-t"
        for d in (self.work, self.export, self.home_student, self.home_tests):
            d.mkdir()
        # Unix socket paths are limited to ~107 bytes: the sockets live in short folders of the system's temp, one
        # per kernel (each bound into its own sandbox only: a kernel's connection file holds its signing key).
        self.ipc_student = Path(tempfile.mkdtemp(prefix="hw8-ipc-"))
        self.ipc_tests = Path(tempfile.mkdtemp(prefix="hw8-ipc-"))
        if self.quota:
            # The test kernel must start and run whatever the student's kernel wrote: its HOME is not theirs to fill.
            self._mount(self.home_tests, cfg.scratch_mb)
            self._mount(self.ipc_student, IPC_MB)
            self._mount(self.ipc_tests, IPC_MB)
        self.locks = {d: _hold(d / WORKER_LOCK) for d in (self.ipc_student, self.ipc_tests)}
        self.ids = sandbox_ids(cfg) if cfg.enabled else None
        os.chmod(self.root, 0o711)
        for d in (self.ipc_student, self.ipc_tests):
            os.chmod(d, 0o711)

    def _mount(self, path: Path, size_mb: int) -> None:
        try:
            mount_tmpfs(path, size_mb)
        except OSError:
            self.cleanup()
            raise
        self.mounts.append(path)

    def ipc_for(self, tests: bool) -> Path:
        return self.ipc_tests if tests else self.ipc_student

    def worker_lock(self, tests: bool) -> str | None:
        """The file whose lock this process holds while the kernel may run (the kernel ends once it can lock it);
        None if it could not be locked."""
        ipc = self.ipc_for(tests)
        return str(ipc / WORKER_LOCK) if self.locks.get(ipc) is not None else None

    def cgroup_for(self, tests: bool) -> cgroups.Group | None:
        """A new cgroup for one kernel of this notebook (removed by :meth:`cleanup`); None without cgroups."""
        h = cgroups.hierarchy()
        if isinstance(h, str):
            return None
        g = cgroups.Group.create(h, self.cfg.max_processes, self.cfg.rss_mb << 20)
        self.groups.append(g)
        return g

    def hand_over(self) -> None:
        """Give the kernel's uid its folders, private to it (the grader may be root; the kernel is not)."""
        for d in (self.work, self.export, self.ipc_student, self.ipc_tests, self.home_student, self.home_tests):
            os.chmod(d, 0o700)
            if self.ids is None:
                continue
            for p in [d, *d.rglob("*")]:
                os.chown(p, *self.ids, follow_symlinks=False)

    def _full(self) -> str | None:
        """Why the student's folders count as full (less than a tenth of the space or inodes left), or None."""
        try:
            st = os.statvfs(self.root)
        except OSError:
            return None
        if st.f_blocks and st.f_bavail < st.f_blocks / 10:
            return f"{self.cfg.scratch_mb} MiB of space"
        if st.f_files and st.f_favail < st.f_files / 10:
            return f"{st.f_files} files"
        return None

    def cleanup(self) -> None:
        """Kill what is left in the kernels' cgroups and remove them, unmount, remove the folders."""
        for g in self.groups:
            g.remove()
        self.groups = []
        for fd in getattr(self, "locks", {}).values():
            if fd is not None:
                os.close(fd)
        self.locks = {}
        if self.quota and self.root in self.mounts:
            full = self._full()
            if full:
                _FULL_SCRATCH.append(f"the notebook filled its writable folders ({full})")
        for m in reversed(self.mounts):
            unmount(m)
        self.mounts = []
        for d in (self.root, getattr(self, "ipc_student", None), getattr(self, "ipc_tests", None)):
            if d is not None:
                shutil.rmtree(d, ignore_errors=True)


def kernel_env(cfg: SandboxConfig, *, home: str, data: str | None, tests: bool, boot: str, lib: str,
               bin_dir: str, pids_cgroup: bool = False, worker_lock: str | None = None) -> dict:
    """The whole environment of a kernel (nothing of the grader's own environment is passed on).

    ``data``: the data folder as the kernel sees it (``HW8_DATA_DIR``), or None. ``pids_cgroup``: the kernel's
    cgroup limits its processes (``launcher_settings``). ``worker_lock``: the file whose lock the worker holds
    (:meth:`Scratch.worker_lock`); the kernel ends once it can lock it.
    """
    env = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": home,
           "MPLCONFIGDIR": f"{home}/.config/matplotlib", "IPYTHONDIR": f"{home}/.ipython", "LANG": "C.UTF-8",
           "TMPDIR": "/tmp", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
           # One malloc arena per thread reserves 64 MiB of address space each: with RLIMIT_AS that alone can
           # exhaust the limit under torch's thread pool, so cap the arenas.
           "MALLOC_ARENA_MAX": "2",
           # Notebooks run on the CPU with one thread each: several kernels share the grading machine.
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1",
           "GRADER_SANDBOX": json.dumps({**launcher_settings(cfg, pids_cgroup=pids_cgroup),
                                         "worker_lock": worker_lock})}
    env.update({str(k): str(v) for k, v in cfg.env.items() if k != "HW8_DATA_DIR"})
    if data is not None:
        env["HW8_DATA_DIR"] = data
    # The test kernel never puts a folder the student could write on sys.path: no script dir, no cwd.
    env["PYTHONPATH"] = f"{boot}:{lib}" if tests else lib
    if tests:
        env["PYTHONSAFEPATH"] = "1"
    return env


def wrap(cmd: list[str], cfg: SandboxConfig, scratch: Scratch, boot: Boot, *, tests: bool,
         data_dir: Path | None, venv: Path | None = None) -> list[str]:
    """``cmd`` (run inside, with ``/hw8`` paths) prefixed by the bwrap invocation of one kernel.

    ``tests``: the test kernel (work and export read-only, its own HOME). ``data_dir``: the grading data folder,
    of which only :data:`DATA_FILES` are bound. ``venv``: default, this interpreter's. Where cgroups are writable,
    the command first enters a new cgroup of the kernel's own (``scratch.cgroup_for``), then execs bwrap.
    """
    group = scratch.cgroup_for(tests)
    home = scratch.home_tests if tests else scratch.home_student
    m = _system_binds(_Mounts())
    for name in ("passwd", "group", "hosts"):
        m.add("--ro-bind", str(boot.root / name), f"/etc/{name}")
    m.add("--proc", None, "/proc").add("--dev", None, "/dev")
    m.args += ["--size", str(cfg.tmp_mb << 20)]
    m.add("--tmpfs", None, "/tmp", perms="1777")
    _venv_binds(m, venv or venv_dir())
    for name in STUDENT_PACKAGES:
        m.add("--ro-bind", str(package_dir(name)), f"{LIB}/{name}")
    m.add("--ro-bind", str(boot.root), BOOT)
    m.add("--ro-bind" if tests else "--bind", str(scratch.work), WORK)
    m.add("--ro-bind" if tests else "--bind", str(scratch.export), EXPORT)
    ipc = scratch.ipc_for(tests)
    m.add("--bind", str(home), HOME).add("--bind", str(ipc), str(ipc))
    if data_dir is not None:
        m.add("--dir", None, DATA, perms="0755")
        for name in DATA_FILES:
            if (Path(data_dir) / name).is_file():
                m.add("--ro-bind", str(boot.data_file(Path(data_dir) / name)), f"{DATA}/{name}")
    args = [*launch_argv(group), BWRAP, *_namespace_args(), "--hostname", "sandbox",
            *m.args]
    # The test kernel starts in its own HOME: nothing the student wrote is in its working directory (config files,
    # modules, matplotlibrc are looked up there by some libraries).
    args += ["--remount-ro", "/", "--chdir", HOME if tests else WORK, "--clearenv"]
    env = kernel_env(cfg, home=HOME, data=DATA if data_dir is not None else None, tests=tests, boot=BOOT, lib=LIB,
                     bin_dir=f"{VENV}/bin", pids_cgroup=group is not None,
                     worker_lock=scratch.worker_lock(tests))
    for k, v in env.items():
        args += ["--setenv", k, v]
    args.append("--")
    if scratch.ids is not None:
        args += _setpriv(scratch.ids)
    return args + cmd


def kernel_command(cfg: SandboxConfig, scratch: Scratch, boot: Boot, *, tests: bool,
                   data_dir: Path | None) -> tuple[list[str], dict, str]:
    """(argv with ``{connection_file}``, environment, working directory) of one kernel, sandboxed or not."""
    extra = ["--HistoryManager.enabled=False", "--IPKernelApp.ignore_cwd=True"] if tests else \
        ["--HistoryManager.enabled=False"]
    if cfg.enabled:
        cmd = [f"{VENV}/bin/python", f"{BOOT}/{BOOT_MODULES['sandbox_kernel.py']}", "-f", "{connection_file}", *extra]
        return wrap(cmd, cfg, scratch, boot, tests=tests, data_dir=data_dir), {}, str(scratch.root)
    # --unsafe-no-sandbox: the same launcher, limits and hooks, as the grader's own user on the host's paths.
    group = scratch.cgroup_for(tests)
    home = scratch.home_tests if tests else scratch.home_student
    env = kernel_env(cfg, home=str(home), data=str(Path(data_dir).resolve()) if data_dir is not None else None,
                     tests=tests, boot=str(boot.root), lib=str(boot.root / "lib"),
                     bin_dir=str(Path(sys.executable).parent), pids_cgroup=group is not None,
                     worker_lock=scratch.worker_lock(tests))
    cmd = [*launch_argv(group), sys.executable,
           str(boot.root / BOOT_MODULES["sandbox_kernel.py"]), "-f", "{connection_file}", *extra]
    return cmd, env, str(home if tests else scratch.work)


def paths_for(cfg: SandboxConfig, scratch: Scratch) -> tuple[str, str]:
    """(work folder, export folder) as the kernels see them."""
    if cfg.enabled:
        return WORK, EXPORT
    return str(scratch.work), str(scratch.export)
