"""The Dask path (``--dask-scheduler ADDRESS``): the local pool's tasks fanned out to a Dask cluster.

Each Dask worker keeps one long-lived grading process (``pool.WorkerProcess``, the same worker and sandbox as on
this machine), started by its first task. Before any task, every Dask worker is asked whether it can grade
(``dask_check.py``: kit importable, sandbox available). A failure of the grading machinery is retried once, as
locally (``pool.grade_with_retry``), and so is a task whose Dask worker was lost; twice failed, it is
``infrastructure_error``. A scheduler beyond this machine runs code for whoever reaches
it, so only ``tls://`` with client certificates (:class:`DaskTLS`) is accepted there. The course folder must be the
same path on every machine and the gradebook a server (``--db-url postgresql+psycopg://...``).

``reproduce`` fans its notebooks out the same way (``reproduce.dask_run``), with the same options
(:func:`add_dask_arguments`), address rule and worker check (:func:`connect`).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from grader.autograde.env import ensure_tool_path, worker_env
from grader.autograde.pool import INFRASTRUCTURE_ERROR, WorkerProcess, grade_with_retry
from grader.errors import ConfigError, GraderError

_DASK_WORKERS: dict[str, WorkerProcess] = {}


def dask_grade(task: dict, init: dict, notebook_timeout: float, startup_timeout: float) -> dict:
    """Run on a Dask worker: grade ``task`` in this Dask worker's long-lived grading process (started once).

    The grading process is the same as a local worker's (same sandbox). Only the course folder (``init``) must be
    the same path on every machine (a shared file system), and the gradebook a server (``db_url``) when several
    machines write to it.
    """
    ensure_tool_path()
    key = json.dumps(init, sort_keys=True)
    w = _DASK_WORKERS.get(key)
    if w is None:
        for old in _DASK_WORKERS.values():      # another course or configuration before: one grading process each
            old.close()
        _DASK_WORKERS.clear()
        log_dir = Path(init["course"]["course_dir"]) / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        w = _DASK_WORKERS[key] = WorkerProcess(init, env=worker_env(), log_path=log_dir / f"dask-{os.getpid()}.log",
                                               startup_timeout=startup_timeout)
    return grade_with_retry(w, task, notebook_timeout)


@dataclass
class DaskTLS:
    """Certificates for a Dask scheduler beyond this machine (``distributed.security.Security``)."""
    ca_file: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    def security(self):
        if not (self.ca_file and self.cert):
            return None
        from distributed.security import Security
        return Security(tls_ca_file=str(self.ca_file), tls_client_cert=str(self.cert),
                        tls_client_key=str(self.key) if self.key else None, require_encryption=True)


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1", "") or host.startswith("127.")


def check_scheduler_address(address: str, tls: DaskTLS | None) -> None:
    """Refuse an unencrypted scheduler on another machine (it runs arbitrary code for whoever reaches it)."""
    from urllib.parse import urlsplit
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    scheme, host = parts.scheme, (parts.hostname or "")
    if scheme == "tls":
        if tls is None or tls.security() is None:
            raise ConfigError(f"{address}: a tls:// scheduler needs --dask-tls-ca-file and --dask-tls-cert "
                              f"(and --dask-tls-key unless the key is in the certificate file)")
        return
    if scheme in ("tcp", "inproc") and _loopback(host):
        return
    raise ConfigError(f"{address}: a Dask scheduler beyond this machine must use TLS "
                      f"(tls://{host}:{parts.port or 8786} with --dask-tls-ca-file/--dask-tls-cert/--dask-tls-key): "
                      f"an unencrypted scheduler runs code for anyone who reaches it")


def check_dask_workers(client, *, sandbox_enabled: bool, sandbox_user: str) -> None:
    """Ask every Dask worker whether it can grade (kit importable, sandbox available); raise naming each that
    cannot."""
    import cloudpickle

    from grader.autograde import dask_check
    cloudpickle.register_pickle_by_value(dask_check)
    try:
        answers = client.run(dask_check.worker_problem, sandbox_enabled, sandbox_user)
    finally:
        cloudpickle.unregister_pickle_by_value(dask_check)
    bad = {w: msg for w, msg in answers.items() if msg}
    if not answers:
        raise GraderError("the Dask cluster has no workers")
    if bad:
        raise GraderError("Dask worker(s) cannot grade: " + "; ".join(f"{w}: {m}" for w, m in sorted(bad.items())))


def add_dask_arguments(parser, what: str) -> None:
    """The ``--dask-*`` options of a command that fans ``what`` out to a Dask cluster."""
    parser.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                        help=f"{what} on this Dask scheduler's workers instead of this machine: tcp://127.0.0.1:8786 "
                             f"on this machine, tls://HOST:8786 with the --dask-tls-* files beyond it")
    parser.add_argument("--dask-tls-ca-file", type=Path, default=None, help="CA certificate of the Dask cluster")
    parser.add_argument("--dask-tls-cert", type=Path, default=None, help="this client's certificate (PEM)")
    parser.add_argument("--dask-tls-key", type=Path, default=None, help="this client's key (PEM)")


def dask_tls_from_args(args) -> DaskTLS:
    """The :class:`DaskTLS` of :func:`add_dask_arguments`' options; the scheduler's address checked against it."""
    tls = DaskTLS(args.dask_tls_ca_file, args.dask_tls_cert, args.dask_tls_key)
    if args.dask_scheduler:
        check_scheduler_address(args.dask_scheduler, tls)
    return tls


def connect(scheduler, tls: DaskTLS | None, *, sandbox_enabled: bool, sandbox_user: str):
    """(client, whether this call opened it) for ``scheduler`` (an address or a ``Client``), once every Dask worker
    said it can run notebooks (:func:`check_dask_workers`)."""
    from dask.distributed import Client
    if hasattr(scheduler, "submit"):
        client, own = scheduler, False
    else:
        check_scheduler_address(str(scheduler), tls)
        client, own = Client(scheduler, security=tls.security() if tls else None), True
    try:
        check_dask_workers(client, sandbox_enabled=sandbox_enabled, sandbox_user=sandbox_user)
    except BaseException:
        if own:
            client.close()
        raise
    return client, own


def grade_dask(tasks: list[dict], init: dict, done, scheduler, *, tls: DaskTLS | None, notebook_timeout: float,
               startup_timeout: float, sandbox_enabled: bool, sandbox_user: str) -> None:
    """Grade ``tasks`` on the Dask cluster at ``scheduler`` (an address or a ``Client``), once every worker said it
    can; ``done(result)`` is called once per task, in this thread, as tasks finish."""
    from dask.distributed import as_completed
    client, own = connect(scheduler, tls, sandbox_enabled=sandbox_enabled, sandbox_user=sandbox_user)
    try:
        def submit(t):
            return client.submit(dask_grade, t, init, notebook_timeout, startup_timeout, pure=False,
                                 key=f"autograde-{t['student']}-{t['assignment']}-{time.time_ns()}")

        futures = {submit(t): t for t in tasks}
        retried: dict[tuple, str] = {}
        pending = as_completed(list(futures))
        for fut in pending:
            t = futures[fut]
            try:
                r = fut.result()
            except Exception as e:  # noqa: BLE001 - a lost Dask worker is a failed task, not a failed batch
                hint = (" (a Dask worker that joined later cannot import the kit: start it from the kit's venv with "
                        "the kit on PYTHONPATH)" if "deserializ" in str(e).lower() else "")
                why = f"dask task failed: {type(e).__name__}: {e}{hint}"
                key = (t["student"], t["assignment"])
                if key not in retried:           # the machinery failed, not the notebook: once more
                    retried[key] = why
                    again = submit(t)
                    futures[again] = t
                    pending.add(again)
                    continue
                r = {**t, "status": INFRASTRUCTURE_ERROR,
                     "message": f"the grading machinery failed twice (first try: {retried[key]}; second try: {why})"}
            done(r)
    finally:
        if own:
            client.close()
