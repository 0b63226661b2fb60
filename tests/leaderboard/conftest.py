"""Leaderboard fixtures: a tiny answer key, CSV makers, a movable clock, and a database per test on SQLite and on a
throwaway PostgreSQL cluster (initdb/pg_ctl into a temp dir, once per session).

PostgreSQL tests skip with a printed reason only where no PostgreSQL binary exists; with ``CI`` set they fail instead.
"""
from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from data_tools.answer_key import AnswerKey, write_answer_key
from grader.competition import Baseline, CompetitionConfig

N_ROWS = 200
T0 = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)          # "now" at the start of every test
CLOSES = datetime(2026, 11, 20, 16, 0, tzinfo=timezone.utc)
BASELINES = {"simple": Baseline("simple", 0.55, 0.55), "medium": Baseline("medium", 0.70, 0.69),
             "strong": Baseline("strong", 0.80, 0.79), "boss": Baseline("boss", 0.90, 0.88)}


class Clock:
    """Injectable "now" (aware UTC) that tests move by hand instead of sleeping."""

    def __init__(self, t: datetime = T0):
        self.t = t
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.t

    def set(self, t: datetime) -> None:
        with self._lock:
            self.t = t

    def advance(self, **kw) -> None:
        with self._lock:
            self.t += timedelta(**kw)


def make_key(n: int = N_ROWS, seed: int = 0) -> AnswerKey:
    """(n,) labels with 30% anomalies; 30% of rows public; both splits hold both classes."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(np.int8)
    labels[:4] = [0, 1, 0, 1]
    usage = np.where(rng.random(n) < 0.3, "Public", "Private")
    usage[:2], usage[2:4] = "Public", "Private"
    kinds = np.where(labels == 1, "far_cartoon", "normal")
    return AnswerKey(labels=labels, usage=usage.astype(str), kinds=kinds.astype(str))


def csv_bytes(scores: np.ndarray) -> bytes:
    """A valid submission in the course's format (ID,score; IDs 0..M-1)."""
    return ("ID,score\n" + "".join(f"{i},{float(s)!r}\n" for i, s in enumerate(np.asarray(scores, float)))).encode()


def noisy_scores(key: AnswerKey, noise: float, seed: int) -> np.ndarray:
    """(M,) scores = label + Gaussian noise: smaller noise → higher AUC."""
    rng = np.random.default_rng(seed)
    return key.labels + noise * rng.standard_normal(len(key))


@pytest.fixture(scope="session")
def key() -> AnswerKey:
    return make_key()


@pytest.fixture(scope="session")
def key_path(key, tmp_path_factory) -> Path:
    return write_answer_key(key, tmp_path_factory.mktemp("answers") / "solution.csv")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_cfg(key_path: Path, db_url: str, **kw) -> CompetitionConfig:
    base = dict(title="HW8 test competition", answers=key_path, opens_at=T0 - timedelta(days=5), closes_at=CLOSES,
                daily_limit=5, final_selections=2, database_url=db_url, max_upload_bytes=1 << 20,
                baselines=dict(BASELINES))
    base.update(kw)
    return CompetitionConfig(**base)


# ------------------------------------------------------------------------------------------------ PostgreSQL
def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    w = shutil.which("initdb")
    return Path(w).parent if w else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgCluster:
    port: int
    counter = itertools.count()

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        """A fresh empty database in the cluster; returns its SQLAlchemy URL."""
        import psycopg
        name = f"t{os.getpid()}_{next(self.counter)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def pg_cluster():
    """Start a throwaway cluster (trust auth, loopback only, fsync off: a test cluster) and stop it at the end."""
    bindir = _pg_bin()
    if bindir is None:
        reason = "no PostgreSQL binaries (initdb) found; apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} — CI must run the PostgreSQL tests")
        print(f"SKIP postgres: {reason}")
        pytest.skip(reason)
    root = os.geteuid() == 0
    tmp = tempfile.mkdtemp(prefix="lb_pg_")
    data = os.path.join(tmp, "data")
    port = free_port()

    def as_pg(cmd: list[str]) -> subprocess.CompletedProcess:
        # PostgreSQL refuses to run as root: run its tools as the postgres OS user then.
        cmd = (["runuser", "-u", "postgres", "--"] + cmd) if root else cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    if root:
        shutil.chown(tmp, "postgres", "postgres")
    r = as_pg([str(bindir / "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
    assert r.returncode == 0, r.stderr
    r = as_pg([str(bindir / "pg_ctl"), "-D", data, "-l", os.path.join(tmp, "log"), "-w", "-t", "60", "-o",
               f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start"])
    assert r.returncode == 0, r.stderr + r.stdout
    try:
        yield PgCluster(port)
    finally:
        as_pg([str(bindir / "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"])
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """A fresh empty database: a SQLite file, or a new database in the session's PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lb.sqlite3'}"
    return request.getfixturevalue("pg_cluster").new_database()


@pytest.fixture
def lb(db_url, key, key_path, clock):
    """A Leaderboard on a fresh database with two students, alice and bob (tokens in ``lb.tokens``)."""
    from grader.leaderboard.service import Leaderboard
    from grader.leaderboard.store import Store
    store = Store(db_url)
    board = Leaderboard(make_cfg(key_path, db_url), store=store, key=key, clock=clock, admin_token="admin-secret")
    issued, _ = board.import_roster(b"login,name,email\nalice,Alice A,a@x\nbob,Bob B,b@x\ncarol,Carol C,\n")
    board.tokens = {i.login: i.token for i in issued}
    board.users = {i.login: board.authenticate(i.token) for i in issued}
    yield board
    store.close()


# -------------------------------------------------------------------------------------------- live server
class LiveServer:
    """uvicorn serving ``app`` in a thread on a free loopback port."""

    def __init__(self, app):
        import uvicorn
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
