"""The database behind the leaderboard: its engine, the one transaction helper every area store uses, the board
version and the server secret; :class:`Store` also holds the area stores (``store.accounts``, ``store.uploads``,
...)."""
from __future__ import annotations

import os
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import create_engine, event, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError

from common.files import make_private
from grader.leaderboard.store import schema
from grader.leaderboard.store.accounts import Accounts
from grader.leaderboard.store.backup import Backup
from grader.leaderboard.store.boards import Boards
from grader.leaderboard.store.overrides import Overrides
from grader.leaderboard.store.selections import Selections
from grader.leaderboard.store.uploads import Uploads

#: Seconds an upload counts before it is acknowledged (the answer takes milliseconds; a crash leaves it longer).
ACK_GRACE_S = 30.0
#: A pooled PostgreSQL connection unused for this long is checked (``SELECT 1``) before it is handed out.
PING_IDLE_S = 5.0


def _sqlite_pragmas(dbapi_conn, _record):
    # isolation_level=None: the driver issues no BEGIN of its own; the "begin" hook below does it.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=60000"):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def _sqlite_pragmas_no_wait(dbapi_conn, record):
    _sqlite_pragmas(dbapi_conn, record)
    dbapi_conn.execute("PRAGMA synchronous=NORMAL")


def _sqlite_begin(conn: Connection):
    # A writer takes SQLite's write lock at BEGIN: no deadlock/SQLITE_BUSY_SNAPSHOT when two upgrade from a read.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Check a pooled connection before use only when it sat idle longer than ``idle_s`` (a database restart or
    a dropped idle connection is caught there; the pool then opens a new one). SQLAlchemy's ``pool_pre_ping``
    checks on every checkout: a round trip per transaction, four per upload, ~2 ms of the server's CPU per
    upload. A connection that fails while in steady use is still noticed: SQLAlchemy then renews the whole pool,
    and that one request fails (an upload is then not stored, or never acknowledged: not counted)."""
    def checked_in(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_conn, record, _proxy):
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since <= idle_s:
            return
        try:
            cur = dbapi_conn.cursor()
            cur.execute("SELECT 1")
            cur.close()
            dbapi_conn.rollback()
        except Exception as e:   # any failure: this connection is done; the pool tries a new one
            raise DisconnectionError(f"pooled connection failed its check: {e}") from e

    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checkout)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///path`` URL (None for memory databases and other engines)."""
    if not url.startswith("sqlite:///") or url in ("sqlite:///", "sqlite:///:memory:"):
        return None
    return Path(url[len("sqlite:///"):].split("?", 1)[0])


def remove_sqlite(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists():
            os.unlink(p)


class Store:
    """Leaderboard database at ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    Use as ``with Store(url) as store: ...`` (disposes the engine on exit). Tables are created if missing, and
    columns added by newer versions of this module are added to an older database. The areas:
    ``accounts`` (students and tokens), ``uploads`` (scored files), ``selections``, ``overrides`` (the TA's
    deadlines and limits), ``boards`` (what the cached boards read) and ``backup`` (integrity check, copies).

    Args:
        ack_grace: seconds an unacknowledged upload counts (see the package docstring).
        wall: wall clock for that grace time (tests move it; the competition's clock is the service's).
        ping_idle: PostgreSQL: a pooled connection idle longer than this is checked before use (see
            :func:`_ping_when_idle`).
    """

    def __init__(self, url: str, *, create: bool = True, ack_grace: float = ACK_GRACE_S,
                 wall: Callable[[], float] = time.time, ping_idle: float = PING_IDLE_S):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.ack_grace, self.wall, self.ping_idle = ack_grace, wall, ping_idle
        self.mode_fixed = False
        self._no_wait_engine: Engine | None = None
        if self.is_sqlite:
            path = sqlite_path(url)
            if path is not None and create:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.mode_fixed = make_private(path)
                for extra in ("-wal", "-shm"):
                    p = path.with_name(path.name + extra)
                    if p.exists():
                        make_private(p)
            # A pool: opening a connection and setting its pragmas costs ~1 ms, too much for each board view. A
            # pooled connection is used by one thread at a time, hence check_same_thread=False is safe.
            self.engine: Engine = create_engine(url, pool_size=8, max_overflow=64,
                                                connect_args={"check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=40)
            _ping_when_idle(self.engine, ping_idle)
        if create:
            schema.create(self.engine, self.transaction)
        self.accounts = Accounts(self)
        self.uploads = Uploads(self)
        self.selections = Selections(self)
        self.overrides = Overrides(self)
        self.boards = Boards(self)
        self.backup = Backup(self)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()
        if self._no_wait_engine is not None:
            self._no_wait_engine.dispose()

    @contextmanager
    def transaction(self, *, write: bool = False, durable: bool = True) -> Iterator[Connection]:
        """One transaction: commit on success, roll back on any exception (which propagates). ``write`` takes the
        write lock at the start (SQLite). ``durable=False`` commits without waiting for the disk (SQLite
        synchronous=NORMAL, PostgreSQL synchronous_commit=off): the commit survives a killed server, not a power
        loss."""
        engine = self.engine if durable else self._no_wait()
        with engine.connect() as conn:
            if write:
                conn = conn.execution_options(write=True)
            with conn.begin():
                yield conn

    def _no_wait(self) -> Engine:
        if self._no_wait_engine is None:
            if self.is_sqlite:
                engine = create_engine(self.url, pool_size=4, max_overflow=32,
                                       connect_args={"check_same_thread": False})
                event.listen(engine, "connect", _sqlite_pragmas_no_wait)
                event.listen(engine, "begin", _sqlite_begin)
            else:
                engine = create_engine(self.url, pool_size=2, max_overflow=20,
                                       connect_args={"options": "-c synchronous_commit=off"})
                _ping_when_idle(engine, self.ping_idle)
            self._no_wait_engine = engine
        return self._no_wait_engine

    def driver_sql(self, sql: str, **params):
        """``sql`` and its parameters for ``exec_driver_sql``, which skips SQLAlchemy's per-value processing (see
        :data:`~.schema.SUBMISSIONS_SQL`); the two drivers spell parameters differently."""
        return schema.driver_sql(sql, self.is_sqlite, **params)

    def version(self) -> int:
        """Changes whenever a board could change (uploads, selections, roster, overrides)."""
        with self.transaction() as c:
            return c.execute(schema.Q_VERSION).scalar_one()

    def secret(self) -> bytes:
        """The server secret (32 random bytes), made on first use and shared by every process on this database."""
        meta = schema.meta
        with self.transaction() as c:
            s = c.execute(select(meta.c.secret).where(meta.c.id == 1)).scalar_one()
        if s is None:
            with self.transaction(write=True) as c:
                c.execute(update(meta).where(meta.c.id == 1, meta.c.secret.is_(None))
                          .values(secret=secrets.token_hex(32)))
                s = c.execute(select(meta.c.secret).where(meta.c.id == 1)).scalar_one()
        return bytes.fromhex(s)
