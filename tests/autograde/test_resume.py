"""A run killed with ``kill -9`` leaves nothing running and loses nothing finished; the rerun grades only the rest.

Then the gradebook, ``autograde_results.csv`` and the exported ``grades.csv`` agree on every score.
"""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

from tests.autograde.conftest import fresh_copy, release_nb
from tests.autograde.fixtures import write_submission
from tests.autograde.test_run import sandbox_processes

KINDS = ("good", "partial", "blank", "slow", "good")


def _rows(course) -> dict:
    path = course.course_dir / "autograde_results.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def _workers_of(pid: int) -> list[int]:
    """Grading workers started by the supervisor ``pid`` (they carry its pid in their environment)."""
    import psutil
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if "grader.autograde.worker" in " ".join(p.info["cmdline"] or []) and \
                    p.environ().get("HW8_SUPERVISOR_PID") == str(pid):
                found.append(p.pid)
        except Exception:  # noqa: BLE001 - processes come and go
            pass
    return found


def _process_tree() -> str:
    """Every process with its parent, state and kernel wait channel (what a failure above needs to be explained)."""
    return subprocess.run(["ps", "-eo", "pid,ppid,stat,wchan:24,etime,args", "--forest"], capture_output=True,
                          text=True).stdout[-8000:]


def _wait_until(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.3)
    return cond()


def test_kill_9_then_rerun_grades_only_what_is_missing(sandbox, released_course, tmp_path, capsys):
    from grader.autograde.course import open_gradebook
    from grader.cli import main
    course = fresh_copy(released_course, tmp_path)
    rel = release_nb(course)
    students = [f"k{i:02d}" for i in range(10)]
    for i, sid in enumerate(students):
        write_submission(course.course_dir / "submitted" / sid / "ps1" / "ps1.ipynb", rel, KINDS[i % len(KINDS)])
    scratch = tmp_path / "scratch"
    args = ["autograde", "--source", str(course.source), "--course", str(course.course_dir), "--workers", "2",
            "--no-data", "--no-feedback", "--no-progress", "--cell-timeout", "60", "--scratch-dir", str(scratch)]
    proc = subprocess.Popen([sys.executable, "-m", "grader", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        assert _wait_until(lambda: len(_rows(course)) >= 3 or proc.poll() is not None, 600)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    first = _rows(course)
    assert 3 <= len(first) < 10
    # workers die with their supervisor, kernels with their worker: nothing of the killed run keeps running. A
    # killed worker that is inside a system call which cannot be interrupted (e.g. an fsync on a busy
    # disk) exits, and so signals its kernels, only when that call returns: up to 120 s here; the process tree,
    # with what each process waits on, is printed if something is left
    assert _wait_until(lambda: not _workers_of(proc.pid) and not sandbox_processes(scratch), 120), \
        (_workers_of(proc.pid), sandbox_processes(scratch), _process_tree())

    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"({len(first)} kept from an earlier run" in out
    second = _rows(course)
    assert set(second) == set(students)
    for sid, row in first.items():                    # finished before the kill: not graded again
        assert second[sid]["graded_at"] == row["graded_at"], sid
    regraded = {sid for sid in students if sid not in first}
    assert {sid for sid in students if second[sid]["graded_at"] not in {r["graded_at"] for r in first.values()}} == \
        regraded

    # the three records agree
    assert main(["gradebook", "--source", str(course.source), "--course", str(course.course_dir),
                 "--out", str(tmp_path / "grades")]) == 0
    with open(tmp_path / "grades" / "grades.csv", newline="", encoding="utf-8") as f:
        exported = {r["id"]: r for r in csv.DictReader(f)}
    with open_gradebook(course) as gb:
        for sid in students:
            score = gb.find_submission("ps1", sid).score
            assert second[sid]["status"] == "graded", (sid, second[sid]["message"])
            assert float(second[sid]["score"]) == score == float(exported[sid]["code_raw"]), sid
    expected = {"good": 2.0, "slow": 2.0, "partial": 0.0, "blank": 0.0}
    assert {sid: float(second[sid]["code_score"]) for sid in students} == \
        {sid: expected[KINDS[i % len(KINDS)]] for i, sid in enumerate(students)}

    # --regrade grades everything again
    assert main(args + ["--student", "k00", "--regrade"]) == 0
    assert _rows(course)["k00"]["graded_at"] != second["k00"]["graded_at"]
