"""``python -m grader reproduce``: re-run a student's submitted notebook on the full data and compare what it
writes with the submission that counts for them on the final leaderboard.

The board ranks files; nothing ties a file to the code that was graded. For each chosen student this command

1. reads their **final submission** from the leaderboard's database: the submission of their final selection
   whose private score is on the final board (``rules.final_submission``: the marked ones, else the best public
   ones, ``final_selections`` of them; late uploads never count);
2. runs their collected notebook (``COURSE/submitted/<id>/<assignment>/``) top to bottom in the autograder's
   bubblewrap sandbox (``sandbox.py``: same binds, uid, limits and audit hooks), on the data folder the TA names
   (``HW8_DATA_DIR``, only its ``trainingset.npy`` and ``testingset.npy``), **smoke mode off** (``HW8_SMOKE=0``).
   When the assignment was released (``COURSE/release/<assignment>/``) the notebook is first rebuilt in the
   release's layout (``tamper.restore_layout``: read-only cells as released, the student's answers where they
   wrote them) and its test cells are left out, as the autograder's student kernel runs it; the release's other
   files are copied beside it. The kernel starts in a fresh folder, so no file of the student's can stand in for
   the one it writes;
3. takes the ``prediction.csv`` the notebook wrote (``env.path("prediction.csv")``: the working directory, unless
   the notebook sets ``HW8_OUTPUT_DIR`` to a folder below it), validated as an upload is;
4. compares the two score vectors: Spearman's rank correlation, and each one's ROC-AUC on the public and on the
   private rows of the answer key, with their differences (reproduced minus board).

Each student ends with a status: ``match``; ``mismatch`` (rank correlation under ``--min-correlation`` or an AUC
differing by more than ``--max-auc-diff`` on either split); ``failed`` (the notebook ran but no valid
``prediction.csv`` came of it: a cell error, a timeout, a wrong row count); ``error`` (nothing was run: unknown
student, no final submission, no notebook). The command exits 1 when any student is not ``match``.

Training on the full data takes as long as the student's own run (an hour or more on a CPU), one student after
the other on this machine; ``--dask-scheduler ADDRESS`` runs them side by side on a Dask cluster's workers instead
(one notebook at a time per Dask worker, in the same sandbox; the course folder and ``--data`` at the same paths on
every machine; ``tls://`` with the ``--dask-tls-*`` files beyond this machine, as ``autograde``'s). ``--gpu`` shows
the NVIDIA devices of the machine that runs the notebook to its kernel (and lifts the address-space limit, which
CUDA's reservations exceed); without it the sandbox has no GPU, and with it a machine that has none fails that
student's run, saying so.
"""
from __future__ import annotations

import asyncio
import atexit
import csv
import io
import math
import os
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common.config import Config, add_config_arguments, config_overrides
from common.files import write_private
from grader.autograde.course import CourseConfig, course_from_args
from grader.autograde.dask_pool import add_dask_arguments, dask_tls_from_args
from grader.errors import GraderError, UnknownKeyError

HELP = ("Re-run students' notebooks on the full data in the sandbox and compare their prediction.csv with their "
        "final leaderboard submission (rank correlation, AUC differences).")

#: What a notebook writes (``starter_code.formats.SUBMISSION_FILENAME``; not imported: the grader keeps its own).
PREDICTION = "prediction.csv"
#: The address-space limit with ``--gpu`` (MiB): CUDA reserves far more virtual memory than any RAM.
GPU_MEMORY_MB = 1 << 26
#: Statuses, in the order the summary lists them.
STATUSES = ("match", "mismatch", "failed", "error")


@dataclass
class ReproduceConfig(Config):
    """How a notebook is re-run and when a reproduction counts as a mismatch. Defaults are the CLI's."""
    key_error = UnknownKeyError
    min_correlation: float = field(default=0.9, metadata={
        "help": "A rank correlation (Spearman) between the reproduced and the board's scores under this is a "
                "mismatch."})
    max_auc_diff: float = field(default=0.02, metadata={
        "help": "A public or private AUC of the reproduced scores further than this from the board's is a "
                "mismatch."})
    cell_timeout: int = field(default=4 * 3600, metadata={"help": "Seconds one cell may run."})
    notebook_timeout: int = field(default=8 * 3600, metadata={
        "help": "Seconds one notebook may take in all (its kernel is then killed)."})
    memory_mb: int = field(default=32768, metadata={
        "help": "Address-space limit of the kernel in MiB (the full data as float32 alone is ~5 GiB)."})
    threads: int = field(default=0, metadata={
        "help": "Threads of torch and BLAS in the kernel (OMP_NUM_THREADS...); 0: every core of this machine."})
    gpu: bool = field(default=False, metadata={
        "help": "Show this machine's NVIDIA devices (/dev/nvidia*) to the kernel, and lift its address-space "
                "limit; without it the sandbox has no GPU."})
    sandbox_user: str = field(default="hw8-sandbox", metadata={
        "help": "When run as root: the unprivileged user the kernel runs as ('nobody' if it does not exist)."})
    scratch_dir: Path | None = field(default=None, metadata={
        "help": "Where each notebook's scratch folder is made and removed."})
    unsafe_no_sandbox: bool = field(default=False, metadata={
        "help": "Run the notebooks WITHOUT the bubblewrap sandbox, as your own user, with your files and network."})
    startup_timeout: int = field(default=180, metadata={"help": "Seconds the kernel may take to start."})

    def __post_init__(self):
        from grader.errors import ConfigError
        for k in ("cell_timeout", "notebook_timeout", "memory_mb", "startup_timeout"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"{k} must be positive, got {getattr(self, k)}")
        if self.threads < 0:
            raise ConfigError(f"threads must be 0 (every core) or more, got {self.threads}")
        if not 0 <= self.max_auc_diff <= 1 or not -1 <= self.min_correlation <= 1:
            raise ConfigError(f"max_auc_diff must be in [0, 1] and min_correlation in [-1, 1], got "
                              f"{self.max_auc_diff} and {self.min_correlation}")

    @property
    def n_threads(self) -> int:
        return self.threads or os.cpu_count() or 1

    def sandbox(self):
        """The kernel's ``SandboxConfig``: the autograder's, with smoke mode off and this run's limits."""
        from grader.autograde.sandbox import SandboxConfig
        n = str(self.n_threads)
        extra = {}
        if self.gpu and "memory_rss_mb" in SandboxConfig.__dataclass_fields__:
            extra["memory_rss_mb"] = self.memory_mb     # resident memory stays bounded where the sandbox can
        return SandboxConfig(enabled=not self.unsafe_no_sandbox, user=self.sandbox_user,
                             memory_mb=max(self.memory_mb, GPU_MEMORY_MB) if self.gpu else self.memory_mb,
                             cpu_seconds=2 * self.notebook_timeout * self.n_threads,
                             env={"HW8_SMOKE": "0", "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n,
                                  "OPENBLAS_NUM_THREADS": n}, **extra)


#: The fields offered as options.
CLI_FIELDS = ("min_correlation", "max_auc_diff", "cell_timeout", "notebook_timeout", "memory_mb", "threads", "gpu",
              "sandbox_user", "scratch_dir", "unsafe_no_sandbox")


# --- the board's side -----------------------------------------------------------------------------------------------

@dataclass
class Final:
    """A student's final submission on the board and its scores (``scores``: (M,) by ID)."""
    submission_id: int
    marked: bool            # chosen by the student (else the best public ones were taken for them)
    scores: object


@dataclass
class Outcome:
    """One student's reproduction. AUCs are None where there is nothing to score."""
    student: str
    status: str = "error"
    message: str = ""
    notes: list[str] = field(default_factory=list)
    board_id: int | None = None
    selection: str = ""
    correlation: float | None = None
    board_public: float | None = None
    board_private: float | None = None
    repro_public: float | None = None
    repro_private: float | None = None
    seconds: float = 0.0

    @property
    def public_diff(self) -> float | None:
        return _diff(self.repro_public, self.board_public)

    @property
    def private_diff(self) -> float | None:
        return _diff(self.repro_private, self.board_private)


def _diff(a, b):
    return None if a is None or b is None else a - b


class Board:
    """The leaderboard's database read for final submissions (never written)."""

    def __init__(self, db_url: str, n_rows: int, final_selections: int):
        from grader.leaderboard.store import Store
        from grader.leaderboard.store.database import sqlite_path
        path = sqlite_path(db_url) if db_url.startswith("sqlite") else None
        if path is not None and not path.is_file():
            raise GraderError(f"{db_url}: no leaderboard database there")
        self.store = Store(db_url, create=False)
        self.n_rows, self.k = n_rows, final_selections
        self.students = {st.login: st for st in self.store.accounts.all()}

    def close(self) -> None:
        self.store.close()

    def final(self, login: str) -> Final | None:
        """``login``'s final submission (None: no on-time upload counts); KeyError for a login not on the board."""
        from grader.leaderboard import rules
        from grader.validate import read_submission
        st = self.students[login]
        on_time = [s for s in self.store.uploads.counted(st.id) if not s.late]
        f = rules.final_submission(on_time, self.k)
        if f is None:
            return None
        scores = read_submission(self.store.uploads.content(f.id), self.n_rows, max_bytes=1 << 40)
        return Final(f.id, f.selected, scores)

    def with_final(self) -> list[str]:
        """Logins whose final submission is on the final board, sorted."""
        from grader.leaderboard import rules
        by_id = {st.id: st.login for st in self.students.values()}
        mine = rules.group_by_student(s for s in self.store.uploads.counted() if not s.late)
        return sorted(by_id[sid] for sid, subs in mine.items()
                      if sid in by_id and rules.final_submission(subs, self.k) is not None)


# --- running a notebook ----------------------------------------------------------------------------------------------

def gpu_devices(dev: Path = Path("/dev")) -> list[str]:
    """The NVIDIA device files of this machine (``/dev/nvidia0``, ``nvidiactl``, ``nvidia-uvm``...), sorted."""
    return sorted(str(p) for p in dev.glob("nvidia*") if p.is_char_device())


def with_devices(argv: list[str], devices: list[str]) -> list[str]:
    """A bwrap command (``sandbox.wrap``'s) that also binds ``devices`` into the sandbox's ``/dev``: placed after
    ``--dev /dev`` (which makes the minimal /dev they go into) and before ``--remount-ro /``."""
    if not devices:
        return list(argv)
    try:
        dev = next(i for i in range(len(argv) - 1) if argv[i] == "--dev" and argv[i + 1] == "/dev")
        end = next(i for i in range(dev, len(argv) - 1) if argv[i] == "--remount-ro" and argv[i + 1] == "/")
    except StopIteration:
        raise GraderError("--gpu: the sandbox command has no --dev /dev ... --remount-ro / to bind devices into") \
            from None
    binds = [a for d in devices for a in ("--dev-bind", d, d)]
    return argv[:end] + binds + argv[end:]


def _is_test(cell) -> bool:
    md = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(md.get("grade")) and not md.get("solution")


def notebook_to_run(course: CourseConfig, assignment: str, path: Path):
    """(notebook, notes): the submission as the autograder's student kernel runs it when the assignment was
    released (the release's layout, tests left out), else as submitted. Raises ``GraderError`` for a file that is
    not a notebook."""
    import nbformat
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # noqa: BLE001 - JSON, UTF-8 and schema errors come as several types
        raise GraderError(f"{path.name}: not a readable notebook ({type(e).__name__}: {str(e)[:200]})") from None
    rel_path = course.course_dir / "release" / assignment / path.name
    notes = []
    if rel_path.is_file():
        from grader.autograde.tamper import restore_layout
        nb, findings = restore_layout(nbformat.read(str(rel_path), as_version=4), nb)
        notes += [f"layout: {f}" for f in findings]
    else:
        notes.append("no release of this assignment: run as submitted")
    nb.cells = [c for c in nb.cells if not _is_test(c)]
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    return nb, notes


def find_notebook(course: CourseConfig, student: str, assignment: str) -> Path:
    """The student's collected notebook of ``assignment``; ``GraderError`` when there is none (or no single one)."""
    folder = course.course_dir / "submitted" / student / assignment
    if not folder.is_dir():
        raise GraderError(f"no submission: {folder} does not exist (run `python -m grader collect` first)")
    expected = [folder / f"{n}.ipynb" for n in course.notebooks(assignment)]
    found = [p for p in expected if p.is_file()] or sorted(folder.glob("*.ipynb"))
    if not found:
        raise GraderError(f"no notebook in {folder}")
    if len(found) > 1:
        named = [p for p in found if p.stem == assignment]
        if len(named) != 1:
            raise GraderError(f"several notebooks in {folder} ({', '.join(p.name for p in found)}): which one wrote "
                              f"the predictions is not clear")
        found = named
    return found[0]


def _read_output(work: Path, max_bytes: int) -> tuple[bytes | None, str]:
    """(bytes of the prediction.csv the notebook wrote, where), or (None, why not). Only regular files are read,
    never through a link the notebook left (its processes are gone by now, so nothing changes meanwhile)."""
    hits, smoke = [], []
    for root, dirs, files in os.walk(work, followlinks=False):
        if PREDICTION in files:
            hits.append(Path(root) / PREDICTION)
        smoke += [Path(root) / f for f in files if f.startswith("prediction_smoke")]
    hits.sort(key=lambda p: (len(p.relative_to(work).parts), str(p)))
    if not hits:
        extra = " (only prediction_smoke.csv: the notebook ran in smoke mode anyway)" if smoke else ""
        return None, f"the notebook wrote no {PREDICTION}{extra}"
    if len(hits) > 1 and hits[0].parent != work:
        return None, f"the notebook wrote several {PREDICTION} files: " + ", ".join(
            str(p.relative_to(work)) for p in hits)
    path = hits[0]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        return None, f"{path.relative_to(work)}: cannot be read ({e.strerror}; a link?)"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, f"{path.relative_to(work)}: not a regular file"
        if st.st_size > max_bytes:
            return None, f"{path.relative_to(work)}: {st.st_size} bytes, more than an upload may be ({max_bytes})"
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(max_bytes + 1), str(path.relative_to(work))
    finally:
        os.close(fd)


def _first_error(nb) -> str | None:
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                evalue = str(out.get("evalue", "")).strip().splitlines()
                return f"code cell {i + 1}: {out.get('ename', 'Error')}" + (f": {evalue[0][:200]}" if evalue else "")
    return None


async def _execute(kernel, nb, notebook_timeout: float, bar, log) -> str | None:
    """Run every code cell of ``nb`` in ``kernel`` (started here, its own output to the file ``log``, always
    stopped); None, or why it stopped early."""
    from nbclient.exceptions import DeadKernelError
    try:
        await kernel.client.async_start_new_kernel(cwd=kernel.cwd, env=kernel.env, stdout=log, stderr=log)
        await kernel.client.async_start_new_kernel_client()

        async def cells():
            for i, cell in enumerate(nb.cells):
                try:
                    await kernel.client.async_execute_cell(cell, i,
                                                           execution_count=kernel.client.code_cells_executed + 1)
                except DeadKernelError:
                    return f"the kernel died in code cell {i + 1} (killed for memory, os._exit, or a native crash)"
                bar.update(1)
            return None
        t0 = time.monotonic()
        try:
            stopped = await asyncio.wait_for(cells(), notebook_timeout)
        except TimeoutError:
            stopped = None
        # A cell cancelled by the timeout may end as a dead kernel instead of the timeout: the clock decides.
        if time.monotonic() - t0 >= notebook_timeout:
            return f"the notebook ran past --notebook-timeout ({notebook_timeout:.0f} s) and was stopped"
        return stopped
    finally:
        await kernel.stop()


class Runner:
    """Runs notebooks in the autograder's sandbox, one at a time (a boot folder made once)."""

    def __init__(self, cfg: ReproduceConfig, data_dir: Path, *, progress: bool = True):
        from grader.autograde.sandbox import Boot, make_boot_dir, unavailable_reason
        self.cfg, self.sb_cfg, self.data_dir, self.progress = cfg, cfg.sandbox(), Path(data_dir), progress
        if not cfg.unsafe_no_sandbox:
            reason = unavailable_reason(self.sb_cfg)
            if reason:
                raise GraderError(f"cannot sandbox the notebooks here: {reason}. Install bubblewrap and allow "
                                  f"namespaces, or pass --unsafe-no-sandbox (students' code then runs as you)")
        self.devices: list[str] = []
        if cfg.gpu:
            self.devices = gpu_devices()
            if not self.devices:
                raise GraderError("--gpu: no NVIDIA device (/dev/nvidia*) on this machine")
        self.boot_dir = make_boot_dir()
        self.boot = Boot(self.boot_dir, self.sb_cfg)

    def close(self) -> None:
        import shutil
        shutil.rmtree(self.boot_dir, ignore_errors=True)

    def run(self, course: CourseConfig, assignment: str, notebook: Path, max_bytes: int
            ) -> tuple[bytes | None, str, list[str]]:
        """(prediction.csv bytes or None, where or why not, notes) of one notebook run top to bottom."""
        import nbformat

        from grader.autograde import sandbox as sb
        from grader.autograde.execute import Kernel, copy_release_files
        nb, notes = notebook_to_run(course, assignment, notebook)
        if self.cfg.scratch_dir:
            Path(self.cfg.scratch_dir).mkdir(parents=True, exist_ok=True)
        scratch = sb.Scratch(self.sb_cfg, Path(self.cfg.scratch_dir) if self.cfg.scratch_dir else None)
        try:
            copy_release_files(course.course_dir / "release" / assignment, scratch.work)
            nbformat.write(nb, str(scratch.work / notebook.name))
            self.boot.seed_home(scratch.home_student)
            scratch.hand_over()
            argv, env, cwd = sb.kernel_command(self.sb_cfg, scratch, self.boot, tests=False, data_dir=self.data_dir)
            if self.sb_cfg.enabled:
                argv, env = with_devices(argv, self.devices), {"PATH": "/usr/bin:/bin"}
            kernel = Kernel(nb, argv=argv, env=env, cwd=cwd, ids=scratch.ids, ipc=scratch.ipc_for(False),
                             timeout=self.cfg.cell_timeout, startup_timeout=self.cfg.startup_timeout,
                             max_output_bytes=1 << 20)
            from tqdm.auto import tqdm
            n_code = sum(c.cell_type == "code" for c in nb.cells)
            student = notebook.parent.parent.name
            log_path = course.course_dir / "logs" / f"reproduce-{student}-{assignment}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with tqdm(total=len(nb.cells), desc=f"  {student}", unit="cell", leave=False,
                      disable=not self.progress or n_code == 0) as bar, \
                    open(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as log:
                stopped = asyncio.run(_execute(kernel, nb, self.cfg.notebook_timeout, bar, log))
            error = _first_error(nb)
            if stopped:
                notes.append(f"{stopped} (the kernel's own output: {log_path})")
            if error:
                notes.append(error)
            data, where = _read_output(scratch.work, max_bytes)
            return data, where, notes
        finally:
            scratch.cleanup()


# --- comparing -------------------------------------------------------------------------------------------------------

def compare(outcome: Outcome, board_scores, repro_scores, key, cfg: ReproduceConfig) -> Outcome:
    """Fill in the correlation and AUCs of ``outcome`` and decide match or mismatch."""
    from grader.leaderboard.signals import spearman
    from grader.scoring import score_scores
    b, r = score_scores(board_scores, key), score_scores(repro_scores, key)
    outcome.correlation = spearman(board_scores, repro_scores)
    outcome.board_public, outcome.board_private = _finite(b.public), _finite(b.private)
    outcome.repro_public, outcome.repro_private = _finite(r.public), _finite(r.private)
    why = []
    if outcome.correlation < cfg.min_correlation:
        why.append(f"rank correlation {outcome.correlation:.4f} < {cfg.min_correlation}")
    for split, d in (("public", outcome.public_diff), ("private", outcome.private_diff)):
        if d is not None and abs(d) > cfg.max_auc_diff:
            why.append(f"{split} AUC {d:+.4f} off the board's (more than {cfg.max_auc_diff})")
    outcome.status = "mismatch" if why else "match"
    outcome.message = "; ".join(why)
    return outcome


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def reproduce(course: CourseConfig, assignment: str, students: list[str] | None, *, data_dir: Path, key,
              board: Board, cfg: ReproduceConfig | None = None, max_bytes: int = 8 << 20, progress: bool = True,
              runner: Runner | None = None, dask_scheduler=None, dask_tls=None) -> list[Outcome]:
    """One :class:`Outcome` per student (``students``; None: every student with a final submission), in order.

    A student who cannot be compared gets an ``error`` or ``failed`` outcome with the reason, and the others go on.
    ``dask_scheduler`` (an address or a ``Client``; ``dask_tls``: ``dask_pool.DaskTLS``): the notebooks run on
    that cluster's workers, side by side, instead of one after the other here.
    """
    from tqdm.auto import tqdm
    cfg = cfg or ReproduceConfig()
    students = list(dict.fromkeys(students)) if students is not None else board.with_final()
    plans, outcomes = [], {}
    for s in students:          # everything that needs no kernel first: bad input is reported at once
        o = outcomes[s] = Outcome(s)
        if s not in board.students:
            o.message = f"unknown student {s!r}: not on the leaderboard's roster"
            continue
        try:
            final = board.final(s)
        except Exception as e:  # noqa: BLE001 - a stored file the current key cannot read: say so, go on
            o.message = f"the board's final submission cannot be read: {e}"
            continue
        if final is None:
            o.message = "no final selection: no on-time upload counts on the board"
            continue
        o.board_id, o.selection = final.submission_id, "marked" if final.marked else "auto"
        try:
            notebook = find_notebook(course, s, assignment)
        except GraderError as e:
            o.message = str(e)
            continue
        plans.append((o, final, notebook))
    if dask_scheduler is not None and plans:
        _run_on_dask(plans, course, assignment, data_dir, key, cfg, max_bytes, dask_scheduler, dask_tls, progress)
        return [outcomes[s] for s in students]
    own = runner is None and bool(plans)
    runner = Runner(cfg, data_dir, progress=progress) if own else runner
    try:
        bar = tqdm(plans, desc="reproduce", unit="nb", disable=not progress)
        for o, final, notebook in bar:
            bar.set_postfix_str(o.student)
            t0 = time.perf_counter()
            try:
                ran = runner.run(course, assignment, notebook, max_bytes)
            except Exception as e:  # noqa: BLE001 - a kernel that would not start: this student only
                ran = e
            o.seconds = time.perf_counter() - t0
            _judge(o, final, ran, key, cfg, max_bytes)
        bar.close()
    finally:
        if own:
            runner.close()
    return [outcomes[s] for s in students]


def _judge(o: Outcome, final: Final, ran, key, cfg: ReproduceConfig, max_bytes: int) -> None:
    """Fill in ``o`` from what running the notebook gave: ``(prediction.csv bytes or None, where or why not,
    notes)``, or the exception that stopped it."""
    from grader.validate import read_submission
    if isinstance(ran, GraderError):
        o.status, o.message = "failed", str(ran)
        return
    if isinstance(ran, BaseException):
        o.status, o.message = "failed", f"the notebook could not be run: {type(ran).__name__}: {ran}"
        return
    data, where, notes = ran
    o.notes = notes
    if data is None:
        o.status, o.message = "failed", "; ".join([where] + notes)
        return
    try:
        scores = read_submission(data, len(key), max_bytes=max_bytes)
    except Exception as e:  # noqa: BLE001 - SubmissionError or a ValueError: the file's own problem
        o.status, o.message = "failed", "; ".join([f"{where}: {e}"] + notes)
        return
    compare(o, final.scores, scores, key, cfg)


# --- on a Dask cluster -----------------------------------------------------------------------------------------------

#: Each Dask worker's :class:`Runner` (one boot folder per worker), by its configuration and data folder, and the
#: lock that runs one notebook at a time in it, however many threads the Dask worker has.
_DASK_RUNNERS: dict[str, Runner] = {}
_DASK_LOCK = threading.Lock()


def dask_run(cfg: ReproduceConfig, data_dir: str, course: CourseConfig, assignment: str, notebook: str,
             max_bytes: int) -> tuple:
    """Run on a Dask worker: one notebook in this worker's :class:`Runner` (made on its first task). Returns
    ``(prediction.csv bytes or None, where or why not, notes, seconds)``; a notebook that cannot be run raises."""
    key = repr((cfg, data_dir))
    with _DASK_LOCK:
        runner = _DASK_RUNNERS.get(key)
        if runner is None:
            for old in _DASK_RUNNERS.values():      # another configuration before: one boot folder at a time
                old.close()
            _DASK_RUNNERS.clear()
            from grader.autograde.sandbox import clean_stale
            clean_stale()                           # what dead workers left here: cgroups, mounts, boot folders
            runner = _DASK_RUNNERS[key] = Runner(cfg, Path(data_dir), progress=False)
            atexit.register(runner.close)
        t0 = time.perf_counter()
        data, where, notes = runner.run(course, assignment, Path(notebook), max_bytes)
        return data, where, notes, time.perf_counter() - t0


def _run_on_dask(plans, course, assignment, data_dir, key, cfg, max_bytes, scheduler, tls, progress) -> None:
    """Each planned student's notebook on the cluster at ``scheduler``, side by side; outcomes filled in as they
    finish. A task whose Dask worker was lost is that student's ``failed``, with the reason."""
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    from grader.autograde.dask_pool import connect
    client, own = connect(scheduler, tls, sandbox_enabled=not cfg.unsafe_no_sandbox, sandbox_user=cfg.sandbox_user)
    try:
        futures = {client.submit(dask_run, cfg, str(data_dir), course, assignment, str(notebook), max_bytes,
                                 pure=False, key=f"reproduce-{o.student}-{assignment}-{time.time_ns()}"): (o, final)
                   for o, final, notebook in plans}
        for fut in tqdm(as_completed(list(futures)), total=len(futures), desc="reproduce (dask)", unit="nb",
                        disable=not progress):
            o, final = futures[fut]
            try:
                data, where, notes, o.seconds = fut.result()
                ran = (data, where, notes)
            except Exception as e:  # noqa: BLE001 - this student's run failed on its worker: say why, go on
                ran = e
            _judge(o, final, ran, key, cfg, max_bytes)
    finally:
        if own:
            client.close()


# --- reporting -------------------------------------------------------------------------------------------------------

COLUMNS = ("student", "status", "rank_corr", "board_id", "selection", "board_public", "repro_public", "public_diff",
           "board_private", "repro_private", "private_diff", "seconds")


def _f(x, fmt: str = ".5f") -> str:
    return "" if x is None else format(x, fmt)


def _row(o: Outcome) -> list[str]:
    return [o.student, o.status, _f(o.correlation, ".4f"), "" if o.board_id is None else str(o.board_id),
            o.selection, _f(o.board_public), _f(o.repro_public), _f(o.public_diff, "+.5f"), _f(o.board_private),
            _f(o.repro_private), _f(o.private_diff, "+.5f"), f"{o.seconds:.0f}"]


def format_table(outcomes: list[Outcome]) -> str:
    """The per-student table, then the mismatches and failures with their reasons."""
    rows = [list(COLUMNS)] + [_row(o) for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    bad = [o for o in outcomes if o.status != "match"]
    lines.append("")
    lines.append(f"Mismatches and failures: {len(bad)}" if bad else "Every reproduction matches its board submission.")
    for o in bad:
        lines.append(f"  {o.student}: {o.status}: {o.message}")
    notes = [o for o in outcomes if o.notes and o.status in ("match", "mismatch")]
    for o in notes:
        lines.append(f"  note {o.student}: " + "; ".join(o.notes))
    return "\n".join(lines)


def outcomes_csv(outcomes: list[Outcome]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(COLUMNS) + ["message", "notes"])
    for o in outcomes:
        w.writerow(_row(o) + [o.message, "; ".join(o.notes)])
    return buf.getvalue()


def summary(outcomes: list[Outcome]) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in STATUSES}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no students"


# --- CLI -------------------------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    add_config_arguments(parser, CourseConfig, only=("source", "course_dir"), flags={"course_dir": "--course"},
                         shown={"source": "the kit's assignments/"})
    parser.add_argument("--assignment", required=True,
                        help="the assignment whose notebook wrote the predictions (e.g. 04_boss)")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--student", action="append", dest="students", default=None,
                     help="student id as on the roster (repeatable)")
    who.add_argument("--all", action="store_true", help="every student with a final submission on the board")
    parser.add_argument("--data", type=Path, required=True, metavar="DIR",
                        help="the full data the students had: DIR holds trainingset.npy and testingset.npy (only "
                             "those two are shown to the notebook)")
    parser.add_argument("--competition", type=Path, default=None,
                        help="competition.toml: the board's database_url, answers and final_selections")
    parser.add_argument("--database-url", default=None, metavar="URL",
                        help="the leaderboard's database (default: the competition's database_url)")
    parser.add_argument("--answers", type=Path, default=None,
                        help="TA-only answer key solution.csv (default: the competition's answers)")
    add_config_arguments(parser, ReproduceConfig, only=CLI_FIELDS,
                         shown={"scratch_dir": "the system temp folder"})
    add_dask_arguments(parser, "run the notebooks")
    parser.add_argument("--csv", type=Path, default=None, metavar="PATH",
                        help="also write the table, with each reason, to PATH (mode 0600)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _check_data(data: Path, n_rows: int) -> None:
    import numpy as np
    for name in ("trainingset.npy", "testingset.npy"):
        if not (data / name).is_file():
            raise GraderError(f"--data {data}: no {name} there (the full data the students had)")
    try:
        m = np.load(data / "testingset.npy", mmap_mode="r").shape[0]
    except (OSError, ValueError) as e:
        raise GraderError(f"{data / 'testingset.npy'}: not a readable .npy file: {e}") from None
    if m != n_rows:
        raise GraderError(f"{data / 'testingset.npy'} has {m} images but the answer key has {n_rows} rows: "
                          f"not the data this board scores")


def run(args) -> int:
    from common.answer_key import load_answer_key
    from grader.competition import CompetitionConfig, load_competition
    course = course_from_args(args)
    cfg = ReproduceConfig(**config_overrides(args, ReproduceConfig))
    comp = load_competition(args.competition) if args.competition else None
    db_url = args.database_url or (comp.database_url if comp else None)
    answers = args.answers or (comp.answers if comp else None)
    if db_url is None or answers is None:
        raise GraderError("name the board: --competition competition.toml, or --database-url URL with --answers "
                          "solution.csv")
    comp = comp or CompetitionConfig()
    tls = dask_tls_from_args(args)
    key = load_answer_key(answers)
    _check_data(args.data, len(key))
    if cfg.unsafe_no_sandbox:
        print("WARNING: --unsafe-no-sandbox: students' code runs with your privileges, files and network",
              file=sys.stderr)
    board = Board(db_url, len(key), comp.final_selections)
    try:
        t0 = time.perf_counter()
        outcomes = reproduce(course, args.assignment, None if args.all else args.students, data_dir=args.data,
                             key=key, board=board, cfg=cfg, max_bytes=comp.max_upload_bytes,
                             progress=not args.no_progress, dask_scheduler=args.dask_scheduler, dask_tls=tls)
    finally:
        board.close()
    print(format_table(outcomes))
    if args.csv is not None:
        write_private(args.csv, outcomes_csv(outcomes))
        print(f"wrote {args.csv} (0600)")
    print(f"{len(outcomes)} student(s) in {time.perf_counter() - t0:.1f} s: {summary(outcomes)}")
    return 0 if all(o.status == "match" for o in outcomes) else 1
