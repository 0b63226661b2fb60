"""The local worker pool: ``--workers N`` long-lived ``python -m grader.autograde.worker`` processes.

Each worker grades one submission at a time and answers with a result dict (protocol: ``worker.py``). A submission
that takes longer than ``notebook_timeout`` gets a ``timeout`` result: its worker is killed with its process group
and its kernels' sandboxes (bwrap ``--die-with-parent``), and the next task starts a fresh worker. A failure of the
grading machinery (a worker that crashes or does not start, nbgrader failing: the worker's ``infrastructure_error``)
is retried once in a fresh worker, so in fresh sandboxes (:func:`grade_with_retry`); failing again, the result is
``infrastructure_error`` with both messages, which a plain rerun grades again. The batch goes on either way.

Workers die with the process that started them (``HW8_SUPERVISOR_PID``: ``PR_SET_PDEATHSIG`` and a watchdog in the
worker), so a ``kill -9`` of ``python -m grader autograde`` leaves nothing running. The Dask path
(``dask_pool.py``) keeps one :class:`WorkerProcess` per Dask worker.
"""
from __future__ import annotations

import json
import os
import queue
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from grader.autograde.env import KIT_ROOT, worker_env

INFRASTRUCTURE_ERROR = "infrastructure_error"


class WorkerDied(Exception):
    pass


class WorkerProcess:
    """One ``python -m grader.autograde.worker`` in its own session; killed with its kernels on timeout.

    The worker watches its parent: if this process dies (even by ``kill -9``), the worker exits, and its kernels'
    sandboxes die with it (bwrap ``--die-with-parent``).
    """

    def __init__(self, init: dict, *, env: dict, log_path: Path | None = None, startup_timeout: float = 180):
        self.init, self.env, self.log_path, self.startup_timeout = init, env, log_path, startup_timeout
        self.proc = None
        self._buf = b""
        self.started = 0

    def start(self) -> None:
        # A worker's log quotes students' tracebacks: the TA's eyes only.
        log = open(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") \
            if self.log_path else subprocess.DEVNULL
        env = {**self.env, "HW8_SUPERVISOR_PID": str(os.getpid())}
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "grader.autograde.worker"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True,
                                         cwd=str(KIT_ROOT))
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
            return {**task, "status": INFRASTRUCTURE_ERROR, "message": f"worker crashed: {e}",
                    "seconds": time.perf_counter() - t0}
        if out is None:
            self.kill()
            return {**task, "status": "timeout", "seconds": time.perf_counter() - t0,
                    "message": f"notebook timeout: more than {timeout:g} s; worker and kernels killed"}
        return out

    def kill(self) -> None:
        """Kill the worker and its process group; its sandboxes die with it (``--die-with-parent``)."""
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
        # What the killed worker's kernels leave: their cgroups and scratch mounts (a no-op unless root).
        try:
            from grader.autograde.sandbox import clean_stale
            clean_stale()
        except Exception:  # noqa: BLE001 - best effort: the next worker's start cleans again
            pass

    def close(self) -> None:
        if self.alive():
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except Exception:  # noqa: BLE001
                pass
        self.kill()


def grade_with_retry(w: WorkerProcess, task: dict, timeout: float) -> dict:
    """``w.grade(task)``, once more in a fresh worker (fresh sandboxes) if the grading machinery failed; a second
    failure is ``infrastructure_error`` with both messages. A timeout or the notebook's own error is not retried."""
    def attempt() -> dict:
        try:
            return w.grade(task, timeout)
        except WorkerDied as e:
            return {**task, "status": INFRASTRUCTURE_ERROR, "message": str(e)}

    first = attempt()
    if first.get("status") != INFRASTRUCTURE_ERROR:
        return first
    w.kill()
    second = attempt()
    note = f"first try: {first.get('message') or 'failed'}"
    if second.get("status") == INFRASTRUCTURE_ERROR:
        second["message"] = f"the grading machinery failed twice ({note}; second try: {second.get('message')})"
    else:
        second["message"] = "; ".join(m for m in (second.get("message"), f"graded on a second try ({note})") if m)
    return second


def grade_local(tasks: list[dict], init: dict, done, *, workers: int, notebook_timeout: float,
                startup_timeout: float, log_dir: Path) -> None:
    """Grade ``tasks`` in ``workers`` worker processes (one thread each drives one); ``done(result)`` is called
    once per task, one call at a time."""
    todo: queue.Queue = queue.Queue()
    for t in tasks:
        todo.put(t)
    lock = threading.Lock()
    env = worker_env()

    def loop(i: int) -> None:
        w = WorkerProcess(init, env=env, log_path=log_dir / f"worker-{i}.log", startup_timeout=startup_timeout)
        try:
            while True:
                try:
                    t = todo.get_nowait()
                except queue.Empty:
                    return
                r = grade_with_retry(w, t, notebook_timeout)
                with lock:
                    done(r)
        finally:
            w.close()

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(min(workers, len(tasks)))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
