"""``python -m grader autograde``: real nbgrader on every submission, in long-lived workers, one status each.

Each (student, assignment) ends with a status, never an aborted batch:

=========  =====================================================================================================
graded     nbgrader ran; score from the gradebook (a cell error is just lost points)
timeout    a cell hit ``cell_timeout`` (the rest still ran and is graded) or the notebook hit ``notebook_timeout``
           (its worker and kernel were killed and replaced; no score)
error      not a notebook, another assignment's notebook, a dead kernel, or nbgrader failed (message says which)
missing    on the roster but nothing was submitted (score 0, nbgrader not run)
=========  =====================================================================================================

Grade cells always come from the gradebook (``OverwriteCells.add_missing_cells=True``): an edited test cell is
replaced by the original and a deleted one re-added. Tampering is reported from our own checksum comparison with the
release (``tamper.py``). Notebooks run in the sandboxed kernel (``sandbox_kernel.py``: memory limit, no network, no
subprocesses) with the tiny data preset (``HW8_SMOKE=1``, ``HW8_DATA_DIR``) so grading never retrains on 100k images.
Nothing here is a ``--no-execute`` shortcut: every notebook is executed.

Parallelism: ``--workers N`` long-lived worker processes on this machine, or ``--dask-scheduler ADDRESS`` to fan the
same tasks out to a Dask cluster (each Dask worker keeps one such worker process; the gradebook must then be reachable
from every machine: ``--db-url postgresql+psycopg://...``).
"""
from __future__ import annotations

import csv
import json
import os
import queue
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from grader.autograde.course import REPO_ROOT, CourseConfig, add_course_arguments, course_from_args
from grader.autograde.env import SANDBOX_KERNEL, SandboxConfig, ensure_tool_path, install_sandbox_kernelspec, \
    kernel_env
from grader.errors import ConfigError, GraderError

HELP = "Autograde every submission with nbgrader in parallel workers (statuses: graded/timeout/error/missing)."
STATUSES = ("graded", "timeout", "error", "missing")
RESULT_COLUMNS = ("student", "assignment", "status", "score", "max_score", "code_score", "written_score",
                  "needs_manual_grade", "seconds_late", "tampering", "message", "seconds")


@dataclass
class AutogradeConfig:
    """How submissions are executed. Defaults are what the CLI uses."""
    workers: int = field(default=2, metadata={"help": "Worker processes on this machine."})
    cell_timeout: int = field(default=120, metadata={"help": "Seconds one cell may run (nbgrader Execute.timeout)."})
    notebook_timeout: int = field(default=600, metadata={
        "help": "Seconds one submission may take in all; past it the worker and kernel are killed and replaced."})
    memory_mb: int = field(default=4096, metadata={"help": "Address-space limit of each kernel in MiB."})
    data_dir: Path | None = field(default=None, metadata={
        "help": "Data the notebooks read (HW8_DATA_DIR), normally a tiny preset; none: leave unset."})
    smoke: bool = field(default=True, metadata={"help": "Set HW8_SMOKE=1: notebooks train for seconds, not hours."})
    feedback: bool = field(default=True, metadata={"help": "Write per-student HTML feedback (hidden tests removed)."})
    block_network: bool = field(default=True, metadata={"help": "Refuse non-loopback sockets in the kernel."})
    block_subprocess: bool = field(default=True, metadata={"help": "Refuse os.system/subprocess in the kernel."})
    net_namespace: bool = field(default=False, metadata={
        "help": "Run each kernel in an empty network namespace too (unshare; IPC transport). Linux only."})
    startup_timeout: int = field(default=180, metadata={"help": "Seconds a worker may take to start."})

    def __post_init__(self):
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        for k in ("cell_timeout", "notebook_timeout", "memory_mb"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"{k} must be positive, got {getattr(self, k)}")

    def sandbox(self) -> SandboxConfig:
        env = {"HW8_SMOKE": "1" if self.smoke else "0"}
        if self.data_dir is not None:
            env["HW8_DATA_DIR"] = str(Path(self.data_dir).resolve())
        return SandboxConfig(memory_mb=self.memory_mb, block_network=self.block_network,
                             block_subprocess=self.block_subprocess, net_namespace=self.net_namespace, env=env)

    def nbgrader_extra(self) -> dict:
        extra = {"Execute.timeout": self.cell_timeout, "Execute.kernel_name": SANDBOX_KERNEL,
                 "Execute.startup_timeout": 120, "OverwriteCells.add_missing_cells": True}
        if self.net_namespace:
            # A kernel in its own network namespace cannot reach the worker's loopback: talk over Unix sockets.
            extra["KernelManager.transport"] = "ipc"
        return extra


@dataclass
class Result:
    """The outcome for one (student, assignment): a value even when everything went wrong."""
    student: str
    assignment: str
    status: str
    score: float | None = None
    max_score: float | None = None
    code_score: float | None = None
    written_score: float | None = None
    needs_manual_grade: bool | None = None
    seconds_late: float | None = None
    tampering: list[str] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0
    worker_pid: int | None = None   # which worker process graded it (not written to the CSV)

    def row(self) -> dict:
        d = asdict(self)
        d["tampering"] = "; ".join(self.tampering)
        return {k: ("" if d[k] is None else d[k]) for k in RESULT_COLUMNS}


# --- checks before grading (cheap, in the supervisor) -----------------------------------------------------------

def _read_notebook(path: Path):
    """nbformat node or a message naming the file, line and column."""
    import nbformat
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        return None, f"{path.name}: not UTF-8 text (byte {e.start}): not a notebook"
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"{path.name}: line {e.lineno}, column {e.colno}: not a notebook ({e.msg})"
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # noqa: BLE001 - nbformat raises several types
        return None, f"{path.name}: not a valid notebook: {str(e).splitlines()[0]}"
    return nb, ""


def precheck(course: CourseConfig, student: str, assignment: str) -> Result | list[str]:
    """A final Result (missing / error) or the tampering findings of a submission that should be graded."""
    import nbformat
    from grader.autograde.tamper import overlap, tamper_report
    folder = course.course_dir / "submitted" / student / assignment
    if not folder.is_dir():
        return Result(student, assignment, "missing", score=0.0, message="no submission")
    expected = course.notebooks(assignment)
    present = [n for n in expected if (folder / f"{n}.ipynb").is_file()]
    if not present:
        found = sorted(p.name for p in folder.iterdir() if p.name != "timestamp.txt")
        return Result(student, assignment, "error", score=0.0,
                      message=f"none of {', '.join(n + '.ipynb' for n in expected)} submitted; found: "
                              f"{', '.join(found) or 'nothing'}")
    findings, errors = [], []
    for name in present:
        nb, err = _read_notebook(folder / f"{name}.ipynb")
        if nb is None:
            errors.append(err)
            continue
        rel_path = course.course_dir / "release" / assignment / f"{name}.ipynb"
        rel = nbformat.read(str(rel_path), as_version=4)
        if overlap(rel, nb) == 0:
            errors.append(f"{name}.ipynb: none of its graded cells belong to {assignment} (another assignment's "
                          f"notebook?)")
            continue
        findings += [f"{name}: {f}" for f in tamper_report(rel, nb)]
    if errors:
        return Result(student, assignment, "error", score=0.0, tampering=findings, message="; ".join(errors))
    return findings


# --- worker processes -------------------------------------------------------------------------------------------

class WorkerDied(Exception):
    pass


class WorkerProcess:
    """One ``python -m grader.autograde.worker`` in its own session; killed with its kernels on timeout."""

    def __init__(self, init: dict, *, env: dict, log_path: Path | None = None, startup_timeout: float = 180):
        self.init, self.env, self.log_path, self.startup_timeout = init, env, log_path, startup_timeout
        self.proc = None
        self._buf = b""
        self.started = 0

    def start(self) -> None:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "grader.autograde.worker"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log, env=self.env, start_new_session=True,
                                         cwd=str(Path(__file__).resolve().parents[2]))
        finally:
            if self.log_path:
                log.close()
        self._buf = b""
        self.started += 1
        self._send(self.init)
        ready = self._receive(self.startup_timeout)
        if ready is None or not ready.get("ready"):
            self.kill()
            raise WorkerDied(f"worker did not start (see {self.log_path})")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _send(self, obj) -> None:
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def _receive(self, timeout: float):
        """The next JSON line, or None on timeout; raises WorkerDied on EOF."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise WorkerDied(f"worker exited with code {self.proc.wait()}")
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def grade(self, task: dict, timeout: float) -> dict:
        """The worker's result dict, or a timeout/error dict after killing it (it restarts on the next call)."""
        if not self.alive():
            self.start()
        t0 = time.perf_counter()
        try:
            self._send(task)
            out = self._receive(timeout)
        except (WorkerDied, BrokenPipeError, OSError) as e:
            self.kill()
            return {**task, "status": "error", "message": f"worker crashed: {e}", "seconds": time.perf_counter() - t0}
        if out is None:
            self.kill()
            return {**task, "status": "timeout", "seconds": time.perf_counter() - t0,
                    "message": f"notebook timeout: more than {timeout:g} s; worker and kernel killed"}
        return out

    def kill(self) -> None:
        """Kill the worker, its kernels (own sessions: found through psutil) and its process group."""
        if self.proc is None:
            return
        try:
            import psutil
            kids = psutil.Process(self.proc.pid).children(recursive=True)
        except Exception:  # noqa: BLE001 - already gone
            kids = []
        for p in kids:
            try:
                p.kill()
            except Exception:  # noqa: BLE001
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def close(self) -> None:
        if self.alive():
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except Exception:  # noqa: BLE001
                pass
        self.kill()


def _prepare(course: CourseConfig, cfg: AutogradeConfig) -> tuple[dict, dict]:
    """(init message, worker environment): kernelspec installed, tools and kernelspec on the paths."""
    ensure_tool_path()
    jdir = install_sandbox_kernelspec(course.course_dir.resolve() / ".jupyter", cfg.sandbox())
    env = kernel_env(jdir, dict(os.environ))
    init = {"course": {**course.to_dict(), "course_dir": str(course.course_dir.resolve()),
                       "source": str(Path(course.source).resolve())},
            "nbgrader": cfg.nbgrader_extra(), "feedback": cfg.feedback}
    return init, env


def _grade_local(tasks: list[dict], init: dict, env: dict, cfg: AutogradeConfig, log_dir: Path, progress) -> list[dict]:
    todo: queue.Queue = queue.Queue()
    for t in tasks:
        todo.put(t)
    results, lock = [], threading.Lock()

    def loop(i: int) -> None:
        w = WorkerProcess(init, env=env, log_path=log_dir / f"worker-{i}.log", startup_timeout=cfg.startup_timeout)
        try:
            while True:
                try:
                    t = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    r = w.grade(t, cfg.notebook_timeout)
                except WorkerDied as e:
                    r = {**t, "status": "error", "message": str(e)}
                with lock:
                    results.append(r)
                    progress(r)
        finally:
            w.close()

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(min(cfg.workers, len(tasks)))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


# --- Dask ---------------------------------------------------------------------------------------------------------

_DASK_WORKERS: dict[str, WorkerProcess] = {}


def dask_grade(task: dict, init: dict, sandbox: dict, notebook_timeout: float, startup_timeout: float) -> dict:
    """Run on a Dask worker: grade ``task`` in this Dask worker's long-lived grading process (started once).

    Everything machine-specific is set up here, on the worker: the venv's bin on PATH (this worker's interpreter),
    the sandbox kernelspec in a local temp folder, the kit on PYTHONPATH. Only the course folder (``init``) must be
    the same path on every machine (a shared file system), and the gradebook a server (``db_url``) when several
    machines write to it.
    """
    import tempfile
    ensure_tool_path()
    key = json.dumps([init, sandbox], sort_keys=True)
    w = _DASK_WORKERS.get(key)
    if w is None:
        jdir = install_sandbox_kernelspec(Path(tempfile.gettempdir()) / f"hw8-grader-{os.getpid()}",
                                          SandboxConfig(**sandbox))
        env = kernel_env(jdir, dict(os.environ))
        log_dir = Path(init["course"]["course_dir"]) / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        w = _DASK_WORKERS[key] = WorkerProcess(init, env=env, log_path=log_dir / f"dask-{os.getpid()}.log",
                                               startup_timeout=startup_timeout)
    try:
        return w.grade(task, notebook_timeout)
    except WorkerDied as e:
        return {**task, "status": "error", "message": str(e)}


def _grade_dask(tasks, init, cfg: AutogradeConfig, scheduler, progress) -> list[dict]:
    from dask.distributed import Client, as_completed
    client = scheduler if hasattr(scheduler, "submit") else Client(scheduler)
    sandbox = asdict(cfg.sandbox())
    try:
        futures = {client.submit(dask_grade, t, init, sandbox, cfg.notebook_timeout, cfg.startup_timeout,
                                 pure=False, key=f"autograde-{t['student']}-{t['assignment']}-{time.time_ns()}"): t
                   for t in tasks}
        results = []
        for fut in as_completed(list(futures)):
            try:
                r = fut.result()
            except Exception as e:  # noqa: BLE001 - a lost Dask worker is a failed task, not a failed batch
                r = {**futures[fut], "status": "error", "message": f"dask task failed: {e}"}
            results.append(r)
            progress(r)
        return results
    finally:
        if client is not scheduler:
            client.close()


# --- the batch ------------------------------------------------------------------------------------------------------

def clear_stale_scores(course: CourseConfig, student: str, assignment: str) -> bool:
    """Set the autograded scores of a submission that could not be graded now to 0 (manual scores are kept).

    Without this, a re-submission that crashes, times out or is not a notebook would keep the scores of the
    previous, successful run in nbgrader's gradebook. Returns whether the gradebook held the submission.
    """
    from nbgrader.api import MissingEntry

    from grader.autograde.course import open_gradebook
    with open_gradebook(course) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return False
        for nb in sub.notebooks:
            for grade in nb.grades:
                if grade.auto_score is not None:
                    grade.auto_score = 0.0
        gb.db.commit()
    return True


def check_released(course: CourseConfig, assignments: list[str] | None = None) -> list[str]:
    """``assignments`` (default: all in the source folder), each checked to have been released."""
    assignments = list(assignments or course.assignments())
    for a in assignments:
        if not (course.course_dir / "release" / a).is_dir():
            raise GraderError(f"{a}: not released in {course.course_dir} (run `python -m grader release` first)")
    return assignments


def roster_ids(course: CourseConfig) -> list[str]:
    """Student ids: ``COURSE/roster.csv`` (written by ``collect``; column ``id``) plus every submitted folder."""
    ids = set()
    roster = course.course_dir / "roster.csv"
    if roster.is_file():
        with open(roster, newline="", encoding="utf-8-sig") as f:
            ids |= {r["id"].strip() for r in csv.DictReader(f) if r.get("id", "").strip()}
    sub = course.course_dir / "submitted"
    if sub.is_dir():
        ids |= {p.name for p in sub.iterdir() if p.is_dir()}
    return sorted(ids)


def autograde(course: CourseConfig, cfg: AutogradeConfig | None = None, *, assignments: list[str] | None = None,
              students: list[str] | None = None, dask_scheduler=None, progress: bool = True) -> list[Result]:
    """Autograde every (student, assignment); results also merged into ``COURSE/autograde_results.csv``.

    ``dask_scheduler``: an address (``tcp://host:8786``) or a ``dask.distributed.Client``; None grades locally.
    """
    cfg = cfg or AutogradeConfig()
    assignments = check_released(course, assignments)
    students = list(students or roster_ids(course))
    results: dict[tuple, Result] = {}
    tasks, findings = [], {}
    for s in students:
        for a in assignments:
            pre = precheck(course, s, a)
            if isinstance(pre, Result):
                results[(s, a)] = pre
            else:
                findings[(s, a)] = pre
                tasks.append({"student": s, "assignment": a})
    log_dir = course.course_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm
    bar = tqdm(total=len(tasks), desc="autograde", unit="nb", disable=not progress)

    def tick(r):
        bar.update(1)
        bar.set_postfix_str(f"{r.get('student')}: {r.get('status')}")

    if tasks:
        init, env = _prepare(course, cfg)
        raw = (_grade_dask(tasks, init, cfg, dask_scheduler, tick) if dask_scheduler is not None
               else _grade_local(tasks, init, env, cfg, log_dir, tick))
        for r in raw:
            key = (r["student"], r["assignment"])
            known = {f.name for f in fields(Result)}
            results[key] = Result(**{k: v for k, v in r.items() if k in known and k != "tampering"},
                                  tampering=findings.get(key, []))
    bar.close()
    for (s, a), r in results.items():
        # nbgrader did not grade this submission now (precheck verdicts have no worker): no old score may survive
        if r.score is None or (r.status in ("error", "missing") and r.worker_pid is None):
            clear_stale_scores(course, s, a)
            if r.status != "missing":
                r.score = 0.0
    out = [results[(s, a)] for s in students for a in assignments]
    write_results(course.course_dir / "autograde_results.csv", out)
    return out


def read_results(path: Path) -> list[dict]:
    if not Path(path).is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_results(path: Path, results: list[Result]) -> Path:
    """Merge ``results`` into the CSV at ``path`` (rows of other students/assignments are kept)."""
    new = {(r.student, r.assignment): r.row() for r in results}
    rows = {(r["student"], r["assignment"]): r for r in read_results(path)}
    rows.update(new)
    tmp = Path(path).with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=RESULT_COLUMNS, lineterminator="\n")
        w.writeheader()
        for k in sorted(rows):
            w.writerow({c: rows[k].get(c, "") for c in RESULT_COLUMNS})
    os.replace(tmp, path)
    return Path(path)


def summarize(results: list[Result]) -> str:
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    return ", ".join(f"{n} {s}" for s, n in counts.items())


# --- CLI ---------------------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    f = {x.name: x for x in fields(AutogradeConfig)}
    add_course_arguments(parser)
    parser.add_argument("--assignment", action="append", dest="assignments", default=None,
                        help="assignment id (repeatable; default: all released)")
    parser.add_argument("--student", action="append", dest="students", default=None,
                        help="student id (repeatable; default: roster and every submission)")
    for name in ("workers", "cell_timeout", "notebook_timeout", "memory_mb"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=f[name].default,
                            help=f"{f[name].metadata['help']} (default: {f[name].default})")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f["data_dir"].metadata["help"] + " (default: the tiny preset in .cache/data/tiny-0/data, "
                                                               "built on first use)")
    parser.add_argument("--no-data", action="store_true", help="do not set HW8_DATA_DIR (notebooks find data "
                                                                "themselves)")
    parser.add_argument("--full-data", action="store_true", help="do not set HW8_SMOKE=1 (slow: real training)")
    parser.add_argument("--no-feedback", action="store_true", help="skip the HTML feedback")
    parser.add_argument("--feedback-only", action="store_true",
                        help="only rewrite the feedback of graded submissions (after manual grading); runs nothing")
    parser.add_argument("--net-namespace", action="store_true", help=f["net_namespace"].metadata["help"])
    parser.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                        help="fan out to this Dask scheduler (e.g. tcp://10.0.0.5:8786) instead of local workers")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def ensure_grading_data(preset: str = "tiny", seed: int = 0, root: Path | None = None) -> Path:
    """The data folder notebooks read while autograding: ``<root>/<preset>-<seed>/data``, built once if missing.

    Built by ``python -m data_tools build`` in a subprocess (the grader never imports torch). ``root`` defaults to
    the kit's ``.cache/data``.
    """
    base = (root or REPO_ROOT / ".cache" / "data") / f"{preset}-{seed}"
    data = base / "data"
    if not (data / "trainingset.npy").is_file() or not (data / "testingset.npy").is_file():
        print(f"building the {preset} data preset for grading into {data} ...", flush=True)
        proc = subprocess.run([sys.executable, "-m", "data_tools", "build", "--preset", preset, "--seed", str(seed),
                               "--out", str(data), "--answers", str(base / "answers"), "--no-progress"],
                              cwd=str(REPO_ROOT), capture_output=True, text=True)
        if proc.returncode != 0:
            raise GraderError(f"could not build the {preset} data preset: {proc.stderr.strip()[-500:]}")
    return data


def run(args) -> int:
    ensure_tool_path()
    if args.feedback_only:
        from grader.autograde.feedback import regenerate_feedback
        pages, errors = regenerate_feedback(course_from_args(args), args.assignments, args.students)
        for e in errors:
            print(f"  {e}")
        print(f"wrote {len(pages)} feedback page(s)")
        return 1 if errors else 0
    course = course_from_args(args)
    check_released(course, args.assignments)       # before building any data
    data_dir = args.data_dir
    if data_dir is None and not args.no_data:
        data_dir = ensure_grading_data()
    cfg = AutogradeConfig(workers=args.workers, cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                          memory_mb=args.memory_mb, data_dir=data_dir, smoke=not args.full_data,
                          feedback=not args.no_feedback, net_namespace=args.net_namespace)
    t0 = time.perf_counter()
    results = autograde(course, cfg, assignments=args.assignments, students=args.students,
                        dask_scheduler=args.dask_scheduler, progress=not args.no_progress)
    dt = time.perf_counter() - t0
    for r in results:
        if r.status != "graded" or r.tampering:
            extra = f" tampering: {'; '.join(r.tampering)}" if r.tampering else ""
            print(f"  {r.student}/{r.assignment}: {r.status} {r.message}{extra}".rstrip())
    print(f"{len(results)} submissions in {dt:.1f} s: {summarize(results)}; "
          f"results in {course.course_dir / 'autograde_results.csv'}")
    return 0
