"""``python -m grader autograde``: real nbgrader on every submission, in sandboxes, one status each.

Each (student, assignment) ends with a status, never an aborted batch:

====================  ==============================================================================================
graded                nbgrader ran; score from the gradebook (a cell error is just lost points)
timeout               a cell hit ``cell_timeout`` (the rest still ran and is graded) or the notebook hit
                      ``notebook_timeout`` (its worker and kernels were killed and replaced; no score)
error                 not a notebook, another assignment's notebook, a dead kernel, or a notebook that filled its
                      writable folders so that grading could not go on (message says which)
source_notebook       the instructor's source notebook (solutions, hidden tests) was submitted: not graded, score 0
missing               on the roster but nothing was submitted (score 0, nbgrader not run)
infrastructure_error  the grading machinery failed (nbgrader, a worker that crashed or did not start, a kernel that
                      did not start), once more in a fresh worker too: no score, not the student's 0; a plain rerun
                      grades it again (never kept from an earlier run); the gradebook leaves it out until then
====================  ==============================================================================================

How a notebook runs (``execute.py``, ``sandbox.py``): the student's cells in a bubblewrap sandbox as an
unprivileged user, the tests in a second sandboxed kernel that never ran student code and receives only plain data;
nbgrader's gradebook, ``SaveAutoGrades``, manual grading and feedback stay. Tampering (edited, deleted, moved or
duplicated test cells) is reported per cell from a comparison with the release (``tamper.py``); every test is run as
released whatever the student did to it. Notebooks read the tiny data preset (``HW8_SMOKE=1``, ``HW8_DATA_DIR``) so
grading never retrains on 100k images. Nothing here is a ``--no-execute`` shortcut: every notebook is executed.

This module is the supervisor: it decides what to grade (every (student, assignment) of the roster and the
submitted folders; a cheap check first, ``precheck``), hands the rest to workers and records each result as it comes.
Each finished submission is in the gradebook (by its worker, through nbgrader) and then in
``autograde_results.csv`` (``results.py``, atomically replaced), so a run killed at any moment loses at most the
submissions in flight; run again, it grades only what has no result for the submitted file yet (``--regrade``:
everything). Workers die with this process, and the kernels with their worker.

Parallelism: ``--workers N`` long-lived worker processes on this machine (``pool.py``), or ``--dask-scheduler
ADDRESS`` to fan the same tasks out to a Dask cluster (``dask_pool.py``: each Dask worker keeps one such worker
process, sandboxed the same way; beyond this machine the scheduler must be ``tls://`` with ``--dask-tls-*``
certificates; the gradebook must be reachable from every machine: ``--db-url postgresql+psycopg://...``).
"""
from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from common.config import add_config_arguments, config_overrides
from grader.autograde.course import REPO_ROOT, CourseConfig, add_course_arguments, assignments_due, course_from_args
from grader.autograde.dask_pool import DaskTLS, add_dask_arguments, dask_tls_from_args, grade_dask
from grader.autograde.env import ensure_tool_path
from grader.autograde.pool import grade_local
from grader.autograde.results import (INFRASTRUCTURE_ERROR, SANDBOXED, UNSANDBOXED, Result, confinement,
                                      infrastructure_note, read_results, score_distribution, summarize,
                                      write_results)
from grader.autograde.sandbox import SandboxConfig, unavailable_reason
from grader.errors import ConfigError, GraderError

HELP = "Autograde every submission with nbgrader in sandboxed workers (graded/timeout/error/source_notebook/missing)."


@dataclass
class AutogradeConfig:
    """How submissions are executed. Defaults are what the CLI uses."""
    workers: int = field(default=2, metadata={"help": "Worker processes on this machine."})
    cell_timeout: int = field(default=120, metadata={"help": "Seconds one cell may run (per kernel)."})
    notebook_timeout: int = field(default=600, metadata={
        "help": "Seconds one submission may take in all; past it the worker and kernels are killed and replaced."})
    memory_mb: int = field(default=4096, metadata={"help": "Address-space limit of each kernel process in MiB."})
    memory_rss_mb: int = field(default=0, metadata={
        "help": "Resident memory of each kernel's sandbox, all its processes together, MiB (its cgroup's limit; "
                "0: memory_mb)."})
    data_dir: Path | None = field(default=None, metadata={
        "help": "Data the notebooks read (HW8_DATA_DIR), built with a secret seed; none: leave unset."})
    smoke: bool = field(default=True, metadata={"help": "Set HW8_SMOKE=1: notebooks train for seconds, not hours."})
    feedback: bool = field(default=True, metadata={"help": "Write per-student HTML feedback (hidden tests removed)."})
    unsafe_no_sandbox: bool = field(default=False, metadata={
        "help": "Run kernels WITHOUT the bubblewrap sandbox, as the grader's own user (every result row says so)."})
    sandbox_user: str = field(default="hw8-sandbox", metadata={
        "help": "When run as root: the unprivileged user kernels run as ('nobody' if it does not exist)."})
    max_processes: int = field(default=256, metadata={
        "help": "Processes and threads of one kernel's sandbox (its cgroup's pids.max)."})
    max_file_mb: int = field(default=512, metadata={"help": "Largest file a kernel may write, MiB."})
    scratch_mb: int = field(default=1024, metadata={
        "help": "Space of a notebook's writable folders together (work folder, exports, HOME: a tmpfs), MiB."})
    block_network: bool = field(default=True, metadata={"help": "Audit hook (second layer): refuse sockets."})
    block_subprocess: bool = field(default=True, metadata={"help": "Audit hook (second layer): refuse processes."})
    scratch_dir: Path | None = field(default=None, metadata={
        "help": "Where each notebook's scratch folders are made and removed (default: the system temp folder)."})
    regrade: bool = field(default=False, metadata={
        "help": "Grade every submission again, also those with a result for the same file already."})
    startup_timeout: int = field(default=180, metadata={"help": "Seconds a worker may take to start."})

    def __post_init__(self):
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        for k in ("cell_timeout", "notebook_timeout", "memory_mb", "max_processes", "max_file_mb", "scratch_mb"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"{k} must be positive, got {getattr(self, k)}")
        if self.memory_rss_mb < 0:
            raise ConfigError(f"memory_rss_mb must be positive (or 0: memory_mb), got {self.memory_rss_mb}")

    @property
    def sandbox_label(self) -> str:
        return UNSANDBOXED if self.unsafe_no_sandbox else SANDBOXED

    def sandbox(self) -> SandboxConfig:
        return SandboxConfig(enabled=not self.unsafe_no_sandbox, user=self.sandbox_user, memory_mb=self.memory_mb,
                             memory_rss_mb=self.memory_rss_mb, scratch_mb=self.scratch_mb,
                             max_processes=self.max_processes, max_file_mb=self.max_file_mb,
                             cpu_seconds=2 * self.notebook_timeout, block_network=self.block_network,
                             block_subprocess=self.block_subprocess,
                             env={"HW8_SMOKE": "1" if self.smoke else "0"})


#: The fields ``python -m grader autograde`` offers as options (``smoke`` is ``--full-data``'s opposite).
CLI_FIELDS = ("workers", "cell_timeout", "notebook_timeout", "memory_mb", "memory_rss_mb", "max_processes",
              "max_file_mb", "scratch_mb", "sandbox_user", "data_dir", "scratch_dir", "feedback", "regrade",
              "unsafe_no_sandbox")


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


def submission_sha256(course: CourseConfig, student: str, assignment: str) -> str:
    """A fingerprint of what was submitted (the assignment's notebooks and the timestamp), '' if nothing."""
    folder = course.course_dir / "submitted" / student / assignment
    if not folder.is_dir():
        return ""
    h = hashlib.sha256()
    for name in [f"{n}.ipynb" for n in course.notebooks(assignment)] + ["timestamp.txt"]:
        p = folder / name
        if p.is_file():
            h.update(name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def precheck(course: CourseConfig, student: str, assignment: str) -> Result | list[str]:
    """A final Result (missing / error / source_notebook) or the tampering findings of a submission to grade."""
    import nbformat

    from grader.autograde.tamper import is_source_notebook, overlap, restore_layout, tamper_report
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
    findings, errors, sources = [], [], []
    for name in present:
        nb, err = _read_notebook(folder / f"{name}.ipynb")
        if nb is None:
            errors.append(err)
            continue
        rel = nbformat.read(str(course.course_dir / "release" / assignment / f"{name}.ipynb"), as_version=4)
        src_path = course.source_dir / assignment / f"{name}.ipynb"
        if src_path.is_file() and is_source_notebook(nbformat.read(str(src_path), as_version=4), nb):
            sources.append(f"{name}.ipynb")
            continue
        if overlap(rel, nb) == 0:
            errors.append(f"{name}.ipynb: none of its graded cells belong to {assignment} (another assignment's "
                          f"notebook?)")
            continue
        found = tamper_report(rel, nb) + restore_layout(rel, nb)[1]
        findings += [f"{name}: {f}" for f in dict.fromkeys(found)]
    if sources:
        return Result(student, assignment, "source_notebook", score=0.0,
                      message=f"{', '.join(sources)}: the instructor's source notebook (solutions and hidden tests), "
                              f"not the student's work: not graded")
    if errors:
        return Result(student, assignment, "error", score=0.0, tampering=findings, message="; ".join(errors))
    return findings


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


def check_sandbox(cfg: AutogradeConfig) -> None:
    """Refuse to run students' code unconfined unless the TA said so (``--unsafe-no-sandbox``)."""
    if cfg.unsafe_no_sandbox:
        return
    reason = unavailable_reason(cfg.sandbox())
    if reason:
        raise GraderError(f"cannot sandbox the notebooks here: {reason}. Students' code would run with your "
                          f"privileges, your files and the network: install bubblewrap and allow namespaces, or pass "
                          f"--unsafe-no-sandbox (every result row then says so)")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _keep(row: dict | None, sha: str, cfg: AutogradeConfig) -> bool:
    """Whether an earlier worker's row still stands for this submission (same file, same kind of confinement, an
    outcome of the notebook's: an ``infrastructure_error`` is always graded again)."""
    return (row is not None and not cfg.regrade and row.get("submission_sha256") == sha and bool(sha)
            and confinement(row.get("sandbox", "")) == confinement(cfg.sandbox_label)
            and row.get("status") in ("graded", "timeout", "error"))


def _init_message(course: CourseConfig, cfg: AutogradeConfig) -> dict:
    """What every worker is started with (JSON): the course, the sandbox, timeouts, data and feedback."""
    return {"course": {**course.to_dict(), "course_dir": str(course.course_dir.resolve()),
                       "source": str(Path(course.source).resolve())},
            "sandbox": cfg.sandbox().to_dict(), "cell_timeout": cfg.cell_timeout,
            "data_dir": str(Path(cfg.data_dir).resolve()) if cfg.data_dir else None, "feedback": cfg.feedback,
            "scratch_dir": str(Path(cfg.scratch_dir).resolve()) if cfg.scratch_dir else None,
            "sandbox_label": cfg.sandbox_label}


def autograde(course: CourseConfig, cfg: AutogradeConfig | None = None, *, assignments: list[str] | None = None,
              students: list[str] | None = None, dask_scheduler=None, dask_tls: DaskTLS | None = None,
              progress: bool = True) -> list[Result]:
    """Autograde every (student, assignment) not graded yet; each result is written as soon as it is known.

    ``dask_scheduler``: an address (``tcp://127.0.0.1:8786`` on this machine, ``tls://host:8786`` with ``dask_tls``
    beyond it) or a ``dask.distributed.Client``; None grades locally. Returns one Result per (student, assignment),
    those kept from an earlier run marked ``kept``.
    """
    cfg = cfg or AutogradeConfig()
    assignments = check_released(course, assignments)
    _, not_due = assignments_due(course, assignments)
    check_sandbox(cfg)
    students = list(students or roster_ids(course))
    csv_path = course.course_dir / "autograde_results.csv"
    earlier = {(r["student"], r["assignment"]): r for r in read_results(csv_path)}
    results: dict[tuple, Result] = {}
    tasks, findings, shas = [], {}, {}
    lock = threading.Lock()

    def record(r: Result) -> None:
        """Clear old scores of what could not be graded, then make the row durable (atomic CSV replace); an
        ``infrastructure_error`` gets no score at all (it is not the student's 0)."""
        if r.score is None or (r.status in ("error", "missing", "source_notebook") and r.worker_pid is None):
            clear_stale_scores(course, r.student, r.assignment)
            if r.status not in ("missing", INFRASTRUCTURE_ERROR):
                r.score = 0.0
        if r.status == INFRASTRUCTURE_ERROR:
            r.score = r.max_score = r.code_score = r.written_score = None
        r.sandbox = r.sandbox or cfg.sandbox_label
        r.graded_at = _now()
        with lock:
            results[(r.student, r.assignment)] = r
            write_results(csv_path, [r])

    for s in students:
        for a in assignments:
            sha = submission_sha256(course, s, a)
            pre = precheck(course, s, a)
            if isinstance(pre, Result) and pre.status == "missing" and a in not_due:
                continue            # nothing to grade yet, and nothing is missing before the due date
            if isinstance(pre, Result):
                pre.submission_sha256 = sha
                record(pre)
            elif _keep(earlier.get((s, a)), sha, cfg):
                results[(s, a)] = Result.from_row(earlier[(s, a)])
            else:
                findings[(s, a)], shas[(s, a)] = pre, sha
                tasks.append({"student": s, "assignment": a})
    log_dir = course.course_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm
    bar = tqdm(total=len(tasks), desc="autograde", unit="nb", disable=not progress)
    # ``sandbox`` comes from the worker: it names what that machine lacked (no cgroup, no scratch quota)
    known = {f.name for f in fields(Result)} - {"tampering", "kept", "submission_sha256", "graded_at"}

    def done(raw: dict) -> None:
        key = (raw["student"], raw["assignment"])
        r = Result(**{k: v for k, v in raw.items() if k in known}, tampering=findings.get(key, []),
                   submission_sha256=shas.get(key, ""))
        record(r)
        bar.update(1)
        bar.set_postfix_str(f"{r.student}: {r.status}")

    if tasks:
        init = _init_message(course, cfg)
        if dask_scheduler is not None:
            grade_dask(tasks, init, done, dask_scheduler, tls=dask_tls, notebook_timeout=cfg.notebook_timeout,
                       startup_timeout=cfg.startup_timeout, sandbox_enabled=not cfg.unsafe_no_sandbox,
                       sandbox_user=cfg.sandbox_user)
        else:
            grade_local(tasks, init, done, workers=cfg.workers, notebook_timeout=cfg.notebook_timeout,
                        startup_timeout=cfg.startup_timeout, log_dir=log_dir)
    bar.close()
    return [results[(s, a)] for s in students for a in assignments if (s, a) in results]


# --- CLI ---------------------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    add_course_arguments(parser)
    parser.add_argument("--assignment", action="append", dest="assignments", default=None,
                        help="assignment id (repeatable; default: all released)")
    parser.add_argument("--student", action="append", dest="students", default=None,
                        help="student id (repeatable; default: roster and every submission)")
    add_config_arguments(parser, AutogradeConfig, only=CLI_FIELDS,
                         shown={"data_dir": "the grading preset built on first use with the course's secret seed, in "
                                                "COURSE/probes/data-grading/data",
                                "scratch_dir": "the system temp folder"})
    parser.add_argument("--no-data", action="store_true", help="do not set HW8_DATA_DIR (notebooks find data "
                                                                "themselves)")
    parser.add_argument("--full-data", action="store_true", help="do not set HW8_SMOKE=1 (slow: real training)")
    parser.add_argument("--feedback-only", action="store_true",
                        help="only rewrite the feedback of graded submissions (after manual grading); runs nothing")
    add_dask_arguments(parser, "grade")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def ensure_grading_data(course_dir: Path, preset: str = "grading") -> Path:
    """The data folder notebooks read while autograding when no ``--data-dir`` is given: ``preset`` (the ``grading``
    preset: 512 training faces, 1,024 test rows, every one a secret probe) built once with the course's secret seed
    (``probes.grading_data_seed``) and the kinds of ``probes.GRADING_KINDS_VERSION`` into
    ``COURSE/probes/data-<preset>/data``, its answer key beside it; reused while present.

    A known seed would not do: the kit is public, so anyone could build the same data and its answer key and look
    up the label of every probe image. Built by ``python -m data_tools build`` in a subprocess (the grader never
    imports torch). Only the two ``.npy`` files of ``data`` are ever shown to a notebook; the answer key never is.
    """
    from grader.autograde import probes
    base = probes.grading_data_folder(course_dir, preset)
    data = base / "data"
    if not (data / "trainingset.npy").is_file() or not (data / "testingset.npy").is_file():
        print(f"building the {preset} data preset for grading (the course's secret seed) into {data} ...", flush=True)
        seed = probes.grading_data_seed(course_dir)
        proc = subprocess.run([sys.executable, "-m", "data_tools", "build", "--preset", preset, "--seed", str(seed),
                               "--kinds-version", str(probes.GRADING_KINDS_VERSION), "--out", str(data),
                               "--answers", str(base / "answers"), "--no-progress"],
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
    cfg = AutogradeConfig(**config_overrides(args, AutogradeConfig), smoke=not args.full_data)
    tls = dask_tls_from_args(args)
    check_sandbox(cfg)
    if cfg.unsafe_no_sandbox:
        print("WARNING: --unsafe-no-sandbox: students' code runs with this user's privileges, files and network",
              file=sys.stderr)
    if cfg.data_dir is None and not args.no_data:
        cfg.data_dir = ensure_grading_data(course.course_dir)
    t0 = time.perf_counter()
    results = autograde(course, cfg, assignments=args.assignments, students=args.students,
                        dask_scheduler=args.dask_scheduler, dask_tls=tls, progress=not args.no_progress)
    dt = time.perf_counter() - t0
    for r in results:
        if not r.kept and (r.status != "graded" or r.tampering):
            extra = f" tampering: {'; '.join(r.tampering)}" if r.tampering else ""
            print(f"  {r.student}/{r.assignment}: {r.status} {r.message}{extra}".rstrip())
    kept = sum(r.kept for r in results)
    print(f"{len(results)} submissions in {dt:.1f} s: {summarize(results)}"
          + (f" ({kept} kept from an earlier run; --regrade to grade them again)" if kept else "")
          + f"; results in {course.course_dir / 'autograde_results.csv'}")
    for line in score_distribution(results):
        print(f"  {line}")
    note = infrastructure_note(results)
    if note:
        print(f"  {note}")
    if cfg.unsafe_no_sandbox:
        print(f"  sandbox: {UNSANDBOXED} (recorded in every result row)")
    partial = sorted({r.sandbox for r in results if not r.kept and r.sandbox not in ("", SANDBOXED, UNSANDBOXED)})
    for label in partial:
        print(f"  warning: sandbox {label}: without a writable cgroup a notebook's processes and memory are bounded "
              f"per uid and per process only (one fork bomb can starve the others), without a scratch quota its "
              f"writes only per file; run as root where /sys/fs/cgroup is writable (see the worker logs)")
    return 0
