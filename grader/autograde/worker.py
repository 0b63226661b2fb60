"""A long-lived autograding worker: ``python -m grader.autograde.worker`` (started by ``pool.WorkerProcess``).

Protocol, one JSON object per line: the first line on stdin is the init message (``course``: CourseConfig dict,
``sandbox``: SandboxConfig dict, ``cell_timeout``, ``data_dir``, ``feedback``: bool); the worker answers
``{"ready": true}``. Then each line is a task ``{"assignment", "student"}`` answered by a result dict. The worker
writes its answers to a private copy of stdout and points fd 1 at stderr, so anything nbgrader prints cannot corrupt
the protocol.

The worker is the grader: it runs no student code itself. nbgrader's autograde runs here with two steps replaced
(``execute.py``): the student's cells run in one sandboxed kernel, the tests in another; the gradebook is written
here, through nbgrader. nbgrader is imported and ``NbGraderAPI`` built once per worker (start-up ~2 s).

The worker dies with its supervisor (``PR_SET_PDEATHSIG``, and a watchdog on its parent pid), and its kernels'
sandboxes die with it (bwrap ``--die-with-parent``, and the lock its ``Scratch`` holds: ``sandbox.WORKER_LOCK``): a
``kill -9`` of ``python -m grader autograde`` leaves nothing running. At start it removes what dead grader processes
left (their kernels' cgroups and scratch mounts).

A failure of the grading machinery (nbgrader's autograde failing, an exception here) is answered with the status
``infrastructure_error``, which the pool retries once in a fresh worker (``pool.grade_with_retry``); a notebook that
filled its writable folders and so broke the grading is the student's ``error``, and so is a kernel that died while
running their cells (a cell output). ``HW8_FAULT_FILE`` names a file of faults to inject, one per line, each used
once: ``fail STUDENT/ASSIGNMENT`` (the autograde attempt fails as nbgrader's would) or ``crash STUDENT/ASSIGNMENT``
(the worker exits mid-task): the tests' way to make the machinery fail.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time

INFRASTRUCTURE_ERROR = "infrastructure_error"


def _cell_timeouts(course_dir, student: str, assignment: str) -> list[str]:
    """Grade ids (or cell numbers) of cells whose execution hit the per-cell timeout."""
    import nbformat
    from pathlib import Path
    hits = []
    for path in sorted((Path(course_dir) / "autograded" / student / assignment).glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for i, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error" and out.get("ename") in ("CellTimeoutError", "TimeoutError",
                                                                                "DeadKernelError"):
                    gid = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {i}")
                    hits.append(f"{path.stem}:{gid}:{out.get('ename')}")
    return hits


class Grader:
    """Holds one NbGraderAPI; :meth:`grade` autogrades one (student, assignment) and reads the gradebook back."""

    def __init__(self, init: dict):
        from pathlib import Path

        from grader.autograde.course import CourseConfig, make_api
        from grader.autograde.execute import nbgrader_config
        from grader.autograde.feedback import feedback_config
        from grader.autograde.sandbox import (SandboxConfig, clean_stale, isolation_gaps, make_boot_dir,
                                              sandbox_label, unavailable_reason)
        self.course = CourseConfig.from_dict(init["course"])
        sandbox = SandboxConfig.from_dict(init["sandbox"])
        if sandbox.enabled and unavailable_reason(sandbox):
            raise RuntimeError(f"no sandbox on this machine: {unavailable_reason(sandbox)}")
        for gone in clean_stale():
            print(f"removed what a dead grader process left: {gone}", file=sys.stderr, flush=True)
        gaps = isolation_gaps()
        if gaps:
            print("per-sandbox isolation incomplete: " + "; ".join(gaps), file=sys.stderr, flush=True)
        # Never silently: every row this worker grades says which per-sandbox limits were missing.
        from grader.autograde.results import SANDBOXED
        base = init.get("sandbox_label", "")
        self.sandbox_label = sandbox_label(base) if base == SANDBOXED else base
        self.boot = make_boot_dir()
        import atexit
        import shutil
        atexit.register(shutil.rmtree, self.boot, True)
        extra = nbgrader_config(sandbox=sandbox.to_dict(), cell_timeout=int(init.get("cell_timeout", 120)),
                                release_dir=self.course.course_dir / "release",
                                data_dir=Path(init["data_dir"]) if init.get("data_dir") else None, boot_dir=self.boot,
                                scratch_dir=Path(init["scratch_dir"]) if init.get("scratch_dir") else None)
        self.feedback = bool(init.get("feedback", True))
        if self.feedback:
            from grader.autograde.feedback import default_server_paths
            extra.update(feedback_config(default_server_paths(self.course, init.get("data_dir"))))
        self.api = make_api(self.course, **extra)

    def grade(self, task: dict) -> dict:
        from grader.autograde.course import open_gradebook
        from grader.autograde.env import ensure_tool_path
        ensure_tool_path()  # a task may run in a process whose PATH was changed since start-up
        from grader.autograde.sandbox import take_full_scratch
        a, s = task["assignment"], task["student"]
        t0 = time.perf_counter()
        take_full_scratch()
        for attempt in range(3):
            fault = _injected_fault(f"{s}/{a}")
            if fault == "crash":
                os._exit(70)
            res = {"success": False, "log": "", "error": "RuntimeError: injected fault (HW8_FAULT_FILE)"} \
                if fault == "fail" else self.api.autograde(a, s, force=True, create=True)
            # A busy shared gradebook is worth a retry here; other failures go back to the pool.
            if res.get("success") or "database is locked" not in (res.get("log") or "") + (res.get("error") or ""):
                break
            time.sleep(1 + attempt)
        out = {"assignment": a, "student": s, "status": "graded", "message": "", "worker_pid": os.getpid(),
               "sandbox": self.sandbox_label}
        if not res.get("success"):
            print(res.get("log", ""), res.get("error", ""), sep="\n", file=sys.stderr, flush=True)
            full = take_full_scratch()
            if full:        # the notebook's own doing: it filled its quota and the grading could not go on
                out.update(status="error", message=f"{full[-1]}; grading stopped: {_last_error(res)}")
            else:
                out.update(status=INFRASTRUCTURE_ERROR, message=f"grading failed: {_last_error(res)}")
            out["seconds"] = time.perf_counter() - t0
            return out
        timeouts = _cell_timeouts(self.course.course_dir, s, a)
        if any(t.endswith("DeadKernelError") for t in timeouts):
            out.update(status="error", message="the kernel died: " + ", ".join(timeouts))
        elif timeouts:
            out.update(status="timeout", message="cell timeout: " + ", ".join(timeouts))
        with open_gradebook(self.course) as gb:
            sub = gb.find_submission(a, s)
            out.update(score=float(sub.score), max_score=float(sub.max_score), code_score=float(sub.code_score),
                       written_score=float(sub.written_score), needs_manual_grade=bool(sub.needs_manual_grade),
                       seconds_late=float(sub.total_seconds_late or 0.0))
        # nbgrader leaves the graded notebook world-readable (0444): it holds the hidden tests' full source.
        for nb in (self.course.course_dir / "autograded" / s / a).glob("*"):
            if nb.is_file():
                nb.chmod(0o400)
        if self.feedback:
            fb = self.api.generate_feedback(a, s, force=True)
            if fb.get("success"):
                from grader.autograde.feedback import protect_feedback
                protect_feedback(self.course.course_dir, s, a)
            else:
                out["message"] = (out["message"] + "; " if out["message"] else "") + \
                    "feedback failed: " + _last_error(fb)
        out["seconds"] = time.perf_counter() - t0
        return out


def _injected_fault(key: str) -> str | None:
    """The fault ``HW8_FAULT_FILE`` holds for ``key`` (``STUDENT/ASSIGNMENT``), removed from the file as it is
    used (workers share the file: a lock), or None."""
    path = os.environ.get("HW8_FAULT_FILE")
    if not path or not os.path.isfile(path):
        return None
    import fcntl
    with open(path, "r+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        lines = f.read().splitlines()
        for i, line in enumerate(lines):
            kind, _, target = line.strip().partition(" ")
            if target.strip() == key and kind in ("fail", "crash"):
                del lines[i]
                f.seek(0)
                f.truncate()
                f.write("".join(ln + "\n" for ln in lines))
                f.flush()
                os.fsync(f.fileno())
                return kind
    return None


_EXC_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))(?::\s*(.*))?$")


def _last_error(res: dict) -> str:
    """The root cause in nbgrader's captured log (the innermost exception line), else the API's own traceback."""
    text = (res.get("log") or "") + "\n" + (res.get("error") or "")
    causes = [m for m in map(_EXC_LINE.match, text.splitlines()) if m and "NbGraderException" not in m.group(1)]
    if not causes:
        tail = [ln for ln in text.strip().splitlines() if ln.strip()]
        return tail[-1] if tail else "nbgrader failed without a message"
    name, msg = causes[0].group(1), (causes[0].group(2) or "").strip()
    if name.endswith("DeadKernelError"):
        return "the kernel died (os._exit, a crash in native code, or killed for memory)"
    return f"{name.rsplit('.', 1)[-1]}: {msg}" if msg else name.rsplit(".", 1)[-1]


def _die_with_supervisor() -> None:
    """Exit when the process that started this worker exits, however it ends (its pid is in the environment)."""
    import signal
    import threading
    want = int(os.environ.get("HW8_SUPERVISOR_PID") or os.getppid())
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)      # PR_SET_PDEATHSIG
        except Exception:  # noqa: BLE001 - the watchdog below still works
            pass
    if os.getppid() != want:
        os._exit(3)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != want:
                os._exit(3)

    threading.Thread(target=watch, daemon=True, name="supervisor-watchdog").start()


def main() -> int:
    _die_with_supervisor()
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    from grader.autograde.env import ensure_tool_path
    ensure_tool_path()
    init = json.loads(sys.stdin.readline())
    grader = Grader(init)
    proto.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        task = json.loads(line)
        try:
            result = grader.grade(task)
        except Exception as e:  # noqa: BLE001 - a failure is a value: the batch goes on (the pool retries it once)
            result = {"assignment": task.get("assignment"), "student": task.get("student"),
                      "status": INFRASTRUCTURE_ERROR, "message": f"grading failed: {type(e).__name__}: {e}",
                      "worker_pid": os.getpid()}
        proto.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
