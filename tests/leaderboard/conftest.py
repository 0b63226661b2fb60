"""Leaderboard fixtures: a tiny answer key, CSV makers, a movable clock, and a database per test on SQLite and on a
throwaway PostgreSQL cluster (initdb/pg_ctl into a temp dir, once per session).

PostgreSQL tests skip with a printed reason only where no PostgreSQL binary exists; with ``CI`` set they fail instead.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from common.answer_key import AnswerKey, write_answer_key
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    issued = board.import_roster(b"id,name,email\nalice,Alice A,a@x\nbob,Bob B,b@x\ncarol,Carol C,\n").issued
    board.tokens = {i.login: i.token for i in issued}
    board.users = {i.login: board.authenticate(i.token) for i in issued}
    yield board
    store.close()


class Wall:
    """Injectable wall clock (``time.time()`` stand-in) for the store's acknowledgement grace time."""

    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def page_csrf(text: str) -> str:
    """The CSRF token a rendered page put in its forms."""
    import re
    m = re.search(r'name="csrftoken" value="([^"]+)"', text)
    assert m, "no CSRF token in the page"
    return m.group(1)


def cookie_login(client, token: str) -> None:
    """Log ``client`` in the way a browser does: open the login link, press the confirmation button."""
    page = client.get(f"/login/{token}")
    assert page.status_code == 200, page.text
    r = client.post("/login", data={"csrftoken": page_csrf(page.text), "token": token})
    assert r.status_code == 303, r.text


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


# ----------------------------------------------- screenshots (the browser fixture is tests/conftest.py's)
SHOTS = Path(os.environ.get("LEADERBOARD_SCREENSHOTS", Path(__file__).parents[2] / ".cache" / "screenshots"))
