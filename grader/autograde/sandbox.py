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
                              files (the test kernel works in its own HOME and reads these by path)
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

Limits, set by the launcher before ipykernel starts (``sandbox_kernel.py``): address space (``memory_mb``), processes
and threads of the sandbox uid (``max_processes`` more than it has), size of any file written (``max_file_mb``), CPU
seconds, open files, no core dumps. When the kernel exits (normally, killed on a timeout, or crashed), the pid
namespace's init exits and the kernel of the OS kills every process left in it; ``--die-with-parent`` does the same
when the worker dies.
"""
from __future__ import annotations

import functools
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from common.config import Config
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
        "help": "RLIMIT_AS of each kernel in MiB (address space, not RSS: torch alone maps ~1 GiB)."})
    max_processes: int = field(default=256, metadata={
        "help": "Processes/threads a kernel may add to those its uid already has (RLIMIT_NPROC)."})
    max_file_mb: int = field(default=512, metadata={"help": "Largest file a kernel may write, MiB (RLIMIT_FSIZE)."})
    cpu_seconds: int = field(default=3600, metadata={"help": "CPU seconds of one kernel process (RLIMIT_CPU)."})
    tmp_mb: int = field(default=256, metadata={"help": "Size of the kernel's private /tmp (a tmpfs), MiB."})
    block_network: bool = field(default=True, metadata={
        "help": "Second layer: an audit hook refusing non-loopback sockets and DNS in the kernel."})
    block_subprocess: bool = field(default=True, metadata={
        "help": "Second layer: an audit hook refusing os.system, exec*, posix_spawn and subprocess in the kernel."})
    env: dict = field(default_factory=dict, metadata={
        "help": "Extra environment of the kernel (HW8_SMOKE; HW8_DATA_DIR is set from the data folder)."})

    def __post_init__(self):
        for k in ("memory_mb", "max_processes", "max_file_mb", "cpu_seconds", "tmp_mb"):
            if int(getattr(self, k)) <= 0:
                raise ConfigError(f"sandbox {k} must be positive, got {getattr(self, k)}")


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


def launcher_settings(cfg: SandboxConfig) -> dict:
    """What ``hw8_sandbox_kernel`` applies to itself before ipykernel starts (JSON in ``GRADER_SANDBOX``)."""
    ids = sandbox_ids(cfg) if cfg.enabled else None
    uid = ids[0] if ids else os.getuid()
    return {"memory_mb": cfg.memory_mb, "nproc": _threads_of(uid) + cfg.max_processes,
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


class Boot:
    """A read-only folder of what every kernel starts from: the launcher, the exchange module, /etc files.

    Made once per worker process (``root`` is private to it) and bound at ``/hw8/boot``.
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
        self.mpl = self.root / "matplotlib"
        self._font_cache()
        for p in [self.root, *self.root.rglob("*")]:
            if not p.is_symlink():
                os.chmod(p, 0o755 if p.is_dir() else 0o644)

    def _font_cache(self) -> None:
        """matplotlib's font list, built once: a fresh HOME would otherwise rebuild it in every kernel (~1 s)."""
        self.mpl.mkdir(exist_ok=True)
        env = {**os.environ, "MPLCONFIGDIR": str(self.mpl), "MPLBACKEND": "Agg"}
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, capture_output=True,
                       timeout=300)

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


class Scratch:
    """The host folders of one notebook's run, removed by :meth:`cleanup` (``ipc`` path kept short for sockets)."""

    def __init__(self, cfg: SandboxConfig, base: Path | None = None):
        self.cfg = cfg
        self.root = Path(tempfile.mkdtemp(prefix="hw8-", dir=base))
        self.work, self.export = self.root / "work", self.root / "export"
        self.home_student, self.home_tests = self.root / "home-s", self.root / "home-t"
        for d in (self.work, self.export, self.home_student, self.home_tests):
            d.mkdir()
        # Unix socket paths are limited to ~107 bytes: the sockets live in short folders of the system's temp, one
        # per kernel (each bound into its own sandbox only: a kernel's connection file holds its signing key).
        self.ipc_student = Path(tempfile.mkdtemp(prefix="hw8-ipc-"))
        self.ipc_tests = Path(tempfile.mkdtemp(prefix="hw8-ipc-"))
        self.ids = sandbox_ids(cfg) if cfg.enabled else None
        os.chmod(self.root, 0o711)
        for d in (self.ipc_student, self.ipc_tests):
            os.chmod(d, 0o711)

    def ipc_for(self, tests: bool) -> Path:
        return self.ipc_tests if tests else self.ipc_student

    def hand_over(self) -> None:
        """Give the kernel's uid its folders, private to it (the grader may be root; the kernel is not)."""
        for d in (self.work, self.export, self.ipc_student, self.ipc_tests, self.home_student, self.home_tests):
            os.chmod(d, 0o700)
            if self.ids is None:
                continue
            for p in [d, *d.rglob("*")]:
                os.chown(p, *self.ids, follow_symlinks=False)

    def cleanup(self) -> None:
        for d in (self.root, self.ipc_student, self.ipc_tests):
            shutil.rmtree(d, ignore_errors=True)


def kernel_env(cfg: SandboxConfig, *, home: str, data: str | None, tests: bool, boot: str, lib: str,
               bin_dir: str) -> dict:
    """The whole environment of a kernel (nothing of the grader's own environment is passed on).

    ``data``: the data folder as the kernel sees it (``HW8_DATA_DIR``), or None.
    """
    env = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": home,
           "MPLCONFIGDIR": f"{home}/.config/matplotlib", "IPYTHONDIR": f"{home}/.ipython", "LANG": "C.UTF-8",
           "TMPDIR": "/tmp", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
           # One malloc arena per thread reserves 64 MiB of address space each: with RLIMIT_AS that alone can
           # exhaust the limit under torch's thread pool, so cap the arenas.
           "MALLOC_ARENA_MAX": "2",
           # Notebooks run on the CPU with one thread each: several kernels share the grading machine.
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1", "GRADER_SANDBOX": json.dumps(launcher_settings(cfg))}
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
    of which only :data:`DATA_FILES` are bound. ``venv``: default, this interpreter's.
    """
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
    args = [BWRAP, *_namespace_args(), "--hostname", "sandbox", *m.args]
    # The test kernel starts in its own HOME: nothing the student wrote is in its working directory (config files,
    # modules, matplotlibrc are looked up there by some libraries).
    args += ["--remount-ro", "/", "--chdir", HOME if tests else WORK, "--clearenv"]
    env = kernel_env(cfg, home=HOME, data=DATA if data_dir is not None else None, tests=tests, boot=BOOT, lib=LIB,
                     bin_dir=f"{VENV}/bin")
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
    home = scratch.home_tests if tests else scratch.home_student
    env = kernel_env(cfg, home=str(home), data=str(Path(data_dir).resolve()) if data_dir is not None else None,
                     tests=tests, boot=str(boot.root), lib=str(boot.root / "lib"),
                     bin_dir=str(Path(sys.executable).parent))
    cmd = [sys.executable, str(boot.root / BOOT_MODULES["sandbox_kernel.py"]), "-f", "{connection_file}", *extra]
    return cmd, env, str(home if tests else scratch.work)


def paths_for(cfg: SandboxConfig, scratch: Scratch) -> tuple[str, str]:
    """(work folder, export folder) as the kernels see them."""
    if cfg.enabled:
        return WORK, EXPORT
    return str(scratch.work), str(scratch.export)
