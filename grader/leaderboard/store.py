"""SQLAlchemy storage for the leaderboard: students (hashed tokens), scored submissions (file kept compressed), the
TA's per-student overrides with who/when, and one meta row (board version, server secret).

``Store`` is context-managed and every operation runs in one transaction that commits on success and rolls back on
any error: an upload is counted against the limit and stored together, or not at all. The daily limit is enforced
inside that transaction under a per-student write lock (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite), so concurrent uploads, from threads or from several server processes, never exceed it.

**Acknowledge or don't count.** An upload is stored with ``acked = false`` and a wall-clock ``ack_by`` a few seconds
ahead; the web app marks it acknowledged right after its response has been sent. A row counts (limit, boards,
selection) while it is acknowledged *or* still inside that grace time, so racing uploads cannot exceed the limit;
a row whose server was killed between the commit and the answer stops counting when the grace time ends, and the
student sees it as "not confirmed" without a score (a score shown there would be a free, uncounted probe).

SQLite runs in WAL mode with ``synchronous=FULL``: an acknowledged upload survives the server being killed (and the
machine losing power). The acknowledgement itself is written with ``synchronous=NORMAL`` (PostgreSQL:
``synchronous_commit=off``): it survives the process being killed, and after a power loss the upload is merely
shown as unconfirmed and not counted, the safe side. Times are stored as naive UTC and returned as aware UTC.

A SQLite database file (and its -wal/-shm companions, which SQLite creates with the same mode) is mode 0600.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from sqlalchemy import (Boolean, Column, Date, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, MetaData,
                        String, Table, bindparam, create_engine, event, func, inspect, or_, select, text, true,
                        update)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.schema import CreateColumn

from grader.errors import GraderError
from grader.leaderboard import rules
from common.files import make_private
from grader.leaderboard.rules import Submission

metadata = MetaData()

students = Table(
    "students", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("login", String(128), nullable=False, unique=True),   # the roster's id, e.g. b09901001
    Column("name", String(256), nullable=False),                 # legal name: TA pages and exports only
    Column("email", String(256), nullable=False, default=""),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex of the secret token
    Column("created_at", DateTime, nullable=False),
    Column("lms_id", String(128), nullable=False, default="", server_default=""),
    Column("nickname", String(64), nullable=False, default="", server_default=""),   # public board name
    # The TA's per-student overrides (current values; every change is also a row of ``overrides``).
    Column("deadline", DateTime, nullable=True),      # an extension: this student's own close time
    Column("daily_limit", Integer, nullable=True),    # this student's own daily limit
)

submissions = Table(
    "submissions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("student_id", Integer, ForeignKey("students.id", ondelete="RESTRICT"), nullable=False),
    Column("submitted_at", DateTime, nullable=False),
    Column("day", Date, nullable=False),   # UTC day of submitted_at: what the daily limit counts
    Column("filename", String(256), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),   # of the uncompressed file: integrity and copy checks
    Column("public", Float, nullable=False),
    Column("private", Float, nullable=False),
    Column("selected", Boolean, nullable=False, default=False),
    Column("late", Boolean, nullable=False, default=False, server_default="0"),   # after the student's deadline
    Column("acked", Boolean, nullable=False, default=True, server_default="1"),
    Column("ack_by", Float, nullable=True),   # wall-clock (time.time()) end of the grace time while not acked
    # Fingerprints for the TA's probing/collusion signals (grader.leaderboard.signals); NULL on old rows.
    Column("rank_sha", String(64), nullable=True),
    Column("n_distinct", Integer, nullable=True),
    Column("mode_share", Float, nullable=True),
    Column("sketch", LargeBinary, nullable=True),
    Index("ix_submissions_student_day", "student_id", "day"),
)
#: The few uploads not (yet) acknowledged: boards re-read their students (their grace time may have ended, or
#: the acknowledgement come, without a version change).
ix_unacked = Index("ix_submissions_unacked", submissions.c.student_id, sqlite_where=text("NOT acked"),
                   postgresql_where=text("NOT acked"))

#: The uploaded files, apart from their scores: a row of ``submissions`` stays ~200 bytes, so boards and pages
#: scan a compact table (with a 240 kB file in the same row, SQLite walked its overflow pages to reach any column
#: stored after it: reading one student's rows took 15× longer).
files = Table(
    "files", metadata,
    Column("id", Integer, ForeignKey("submissions.id", ondelete="RESTRICT"), primary_key=True, autoincrement=False),
    # zlib level 1: a 20,000-row file 498 kB → 242 kB in 11 ms (level 6: 229 kB but 74 ms per upload).
    Column("content", LargeBinary, nullable=False),
)

#: Every change the TA makes to a student's deadline or daily limit: who, when, the new value, why.
overrides = Table(
    "overrides", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("student_id", Integer, ForeignKey("students.id", ondelete="RESTRICT"), nullable=False),
    Column("field", String(32), nullable=False),        # 'deadline' or 'daily_limit'
    Column("value", String(64), nullable=False),        # ISO time / integer / '' (back to the competition's)
    Column("set_by", String(64), nullable=False),
    Column("set_at", DateTime, nullable=False),
    Column("note", String(256), nullable=False, default=""),
)

#: One row whose ``version`` every write that can change a board bumps: boards are cached per version, which
#: stays correct with several server processes (each compares with the database, not with its own memory).
#: ``secret`` keys the public pseudonyms and CSRF tokens, shared by every server process on the database.
meta = Table(
    "meta", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    Column("secret", String(64), nullable=True),
)

#: What each version changed: the student whose submissions an upload or a selection changed, or NULL for
#: anything else (roster, overrides, bulk imports). A server process that holds boards of version v re-reads only
#: the students of versions v+1.., when every one of them is here; else it rebuilds the boards from every row.
#: Old rows are pruned; backups do not copy it (a restored database has none, hence full rebuilds).
changes = Table(
    "changes", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("student_id", Integer, nullable=True),
)

TABLES = (students, submissions, files, overrides, meta)
#: Rows of ``changes`` kept (a process further behind than this rebuilds its boards from every row).
CHANGES_KEPT = 4096
MAX_ID = 2**63 - 1
#: Seconds an upload counts before it is acknowledged (the answer takes milliseconds; a crash leaves it longer).
ACK_GRACE_S = 30.0


class StoreError(GraderError):
    """A storage-level problem (unknown student, duplicate login)."""


@dataclass(frozen=True)
class Student:
    id: int
    login: str
    name: str
    email: str
    lms_id: str = ""
    nickname: str = ""
    deadline: datetime | None = None      # the TA's extension, None = the competition's close time
    daily_limit: int | None = None        # the TA's override, None = the competition's


@dataclass(frozen=True)
class Override:
    student_id: int
    field: str
    value: str
    set_by: str
    set_at: datetime
    note: str


@dataclass(frozen=True)
class Recorded:
    """A stored upload (:meth:`Store.record_upload`), with the student's counted uploads today (it included) and
    their counted submissions, oldest first, as the same transaction saw them."""
    submission: Submission
    used_today: int
    mine: list[Submission]


@dataclass(frozen=True)
class BoardRead:
    """:meth:`Store.board_read`'s answer. A full read has ``students`` (every student), ``rows`` (every student's
    board candidates), ``counts`` (every student's on-time count and latest time) and ``late`` (every counted late
    row); a partial one has ``reread`` (the students whose rows were read) and ``rows`` (all their counted rows,
    on time and late). Both carry the version, ``unacked`` (the students with an unacknowledged upload) and
    ``expires``: the earliest end of a grace time among the counted unacknowledged uploads (the boards change
    then, without a new version), None when none is pending."""
    version: int
    students: list[Student] | None
    reread: frozenset[int] | None
    rows: list[Submission]
    counts: dict[int, tuple[int, datetime]]
    late: list[Submission]
    unacked: frozenset[int]
    expires: float | None = None

    @property
    def full(self) -> bool:
        return self.students is not None


@dataclass(frozen=True)
class Fingerprint:
    """Per-upload summary for the TA's signals (see :mod:`grader.leaderboard.signals`)."""
    rank_sha: str
    n_distinct: int
    mode_share: float
    sketch: bytes


@dataclass(frozen=True)
class FingerprintRow:
    id: int
    student_id: int
    submitted_at: datetime
    sha256: str
    rank_sha: str | None
    n_distinct: int | None
    mode_share: float | None
    sketch: bytes | None
    public: float


def hash_token(token: str) -> str:
    """sha256 hex of a token. Tokens are 32 random bytes, so a fast hash is enough (no dictionary to attack)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _naive_utc(t: datetime) -> datetime:
    return t.astimezone(timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def _aware(t: datetime | str | None) -> datetime | None:
    if t is None:
        return None
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


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


#: A pooled PostgreSQL connection unused for this long is checked (``SELECT 1``) before it is handed out.
PING_IDLE_S = 5.0


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


_STUDENT_COLS = (students.c.id, students.c.login, students.c.name, students.c.email, students.c.lms_id,
                 students.c.nickname, students.c.deadline, students.c.daily_limit)


_SUB_COLS = (submissions.c.id, submissions.c.student_id, submissions.c.submitted_at, submissions.c.public,
             submissions.c.private, submissions.c.selected, submissions.c.filename, submissions.c.late)


#: An upload counts while acknowledged or inside its grace time (``:wall`` is the wall clock now).
_COUNTED = or_(submissions.c.acked == true(), submissions.c.ack_by > bindparam("wall"))

# The statements of the upload path, built once. Building a Core statement on each call (``where``, ``values``,
# its cache key) cost more CPU than running it on SQLite; a prebuilt one is looked up in the compiled cache by
# identity and keeps SQLAlchemy's type handling (the same stored formats as every other query here).
_Q_STUDENT_BY_TOKEN = select(*_STUDENT_COLS).where(students.c.token_hash == bindparam("token_hash"))
_Q_LOCK_STUDENT = select(students.c.id).where(students.c.id == bindparam("sid")).with_for_update()
_Q_USED_ON = select(func.count()).select_from(submissions).where(
    submissions.c.student_id == bindparam("sid"), submissions.c.day == bindparam("day"), _COUNTED)
_INSERT_SUBMISSION = submissions.insert()
_INSERT_FILE = files.insert()
_BUMP = update(meta).where(meta.c.id == 1).values(version=meta.c.version + 1).returning(meta.c.version)
_INSERT_CHANGE = changes.insert()
_PRUNE_CHANGES = changes.delete().where(changes.c.version <= bindparam("upto"))
_Q_VERSION = select(meta.c.version).where(meta.c.id == 1)


def _student(r) -> Student:
    i, login, name, email, lms, nick, deadline, limit = r
    return Student(i, login, name, email, lms or "", nick or "", _aware(deadline), limit)


class Store:
    """Leaderboard database at ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    Use as ``with Store(url) as store: ...`` (disposes the engine on exit). Tables are created if missing, and
    columns added by newer versions of this module are added to an older database.

    Args:
        ack_grace: seconds an unacknowledged upload counts (see the module docstring).
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
        self._ack_engine: Engine | None = None
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
            metadata.create_all(self.engine)
            self._add_missing_columns()
            try:
                with self.transaction(write=True) as c:
                    if c.execute(select(meta.c.id)).first() is None:
                        c.execute(meta.insert().values(id=1, version=0))
            except IntegrityError:
                pass  # another process created it first

    def _add_missing_columns(self) -> None:
        """Bring a database made by an older version up to date: add the columns it lacks (each has a default),
        and move file contents from ``submissions.content`` (the first layout) into ``files``."""
        insp = inspect(self.engine)
        with self.transaction(write=True) as c:
            for table in TABLES:
                have = {col["name"] for col in insp.get_columns(table.name)}
                for col in table.columns:
                    if col.name not in have:
                        ddl = CreateColumn(col).compile(dialect=self.engine.dialect)
                        c.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")
                if table is submissions and "content" in have:
                    c.exec_driver_sql("INSERT INTO files (id, content) SELECT id, content FROM submissions")
                    c.exec_driver_sql("ALTER TABLE submissions DROP COLUMN content")
            ix_unacked.create(c, checkfirst=True)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()
        if self._ack_engine is not None:
            self._ack_engine.dispose()

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Connection]:
        """One transaction: commit on success, roll back on any exception (which propagates)."""
        with self.engine.connect() as conn:
            if write:
                conn = conn.execution_options(write=True)
            with conn.begin():
                yield conn

    @staticmethod
    def _bump(c: Connection, student_id: int | None = None) -> None:
        """A new version, and what it changed (``student_id``'s submissions, or None: anything). The last
        statements of a writing transaction, so the row lock on PostgreSQL is held only until the commit; that
        lock (SQLite: its one writer) also numbers the versions in commit order, without gaps."""
        v = c.execute(_BUMP).scalar_one()
        c.execute(_INSERT_CHANGE, {"version": v, "student_id": student_id})
        if v % 256 == 0:
            c.execute(_PRUNE_CHANGES, {"upto": v - CHANGES_KEPT})

    def version(self) -> int:
        """Changes whenever a board could change (uploads, selections, roster, overrides)."""
        with self.transaction() as c:
            return c.execute(_Q_VERSION).scalar_one()

    def secret(self) -> bytes:
        """The server secret (32 random bytes), made on first use and shared by every process on this database."""
        with self.transaction() as c:
            s = c.execute(select(meta.c.secret).where(meta.c.id == 1)).scalar_one()
        if s is None:
            with self.transaction(write=True) as c:
                c.execute(update(meta).where(meta.c.id == 1, meta.c.secret.is_(None))
                          .values(secret=secrets.token_hex(32)))
                s = c.execute(select(meta.c.secret).where(meta.c.id == 1)).scalar_one()
        return bytes.fromhex(s)

    def _counted(self):
        """SQL condition: the upload counts (acknowledged, or still inside its grace time)."""
        return or_(submissions.c.acked == true(), submissions.c.ack_by > self.wall())

    def _driver_sql(self, sql: str, **params):
        # Driver-level execution skips SQLAlchemy's per-value processing (see ``submissions``); the two drivers
        # spell parameters differently.
        if self.is_sqlite:
            names = re.findall(r":(\w+)", sql)
            return re.sub(r":\w+", "?", sql), tuple(params[n] for n in names)
        return re.sub(r":(\w+)", r"%(\1)s", sql), params

    # ------------------------------------------------------------------------------------------------ students
    def sync_roster(self, new: Sequence[dict], changed: Sequence[dict] = ()) -> list[Student]:
        """In one transaction, insert ``new`` students (dicts with login, name, email, lms_id, nickname,
        token_hash) and update the profile of ``changed`` known logins (login, name, email, lms_id, nickname).
        A duplicate login or token aborts all of it."""
        out = []
        now = _naive_utc(datetime.now(timezone.utc))
        try:
            with self.transaction(write=True) as c:
                for row in new:
                    r = c.execute(students.insert().values(created_at=now, **row))
                    out.append(Student(r.inserted_primary_key[0], row["login"], row["name"], row.get("email", ""),
                                       row.get("lms_id", ""), row.get("nickname", "")))
                for row in changed:
                    c.execute(update(students).where(students.c.login == row["login"])
                              .values(**{k: v for k, v in row.items() if k != "login"}))
                self._bump(c)
        except IntegrityError as e:
            raise StoreError(f"duplicate student login or token: {e.orig}") from e
        return out

    def add_students(self, rows: Iterable[tuple]) -> list[Student]:
        """Insert ``(login, name, email, token_hash)`` rows in one transaction; a duplicate login aborts all."""
        return self.sync_roster([dict(login=r[0], name=r[1], email=r[2], token_hash=r[3]) for r in rows])

    def set_token_hashes(self, hashes: dict[str, str]) -> None:
        """Replace the tokens of the logins in ``{login: token_hash}`` (all, or none if one is unknown)."""
        with self.transaction(write=True) as c:
            for login, token_hash in hashes.items():
                r = c.execute(update(students).where(students.c.login == login).values(token_hash=token_hash))
                if r.rowcount != 1:
                    raise StoreError(f"no student with id {login!r}")

    def student_by_token_hash(self, token_hash: str) -> Student | None:
        with self.transaction() as c:
            r = c.execute(_Q_STUDENT_BY_TOKEN, {"token_hash": token_hash}).first()
        return _student(r) if r else None

    def student(self, student_id: int) -> Student | None:
        if not 0 < student_id <= MAX_ID:
            return None
        with self.transaction() as c:
            r = c.execute(select(*_STUDENT_COLS).where(students.c.id == student_id)).first()
        return _student(r) if r else None

    def students(self) -> list[Student]:
        # Read on every board rebuild (to notice roster changes): the driver's rows, without per-value processing.
        with self.transaction() as c:
            return [_student(r) for r in c.exec_driver_sql(self._STUDENTS_SQL).fetchall()]

    _STUDENTS_SQL = ("SELECT id, login, name, email, lms_id, nickname, deadline, daily_limit FROM students "
                     "ORDER BY id")

    def logins(self) -> set[str]:
        with self.transaction() as c:
            return set(c.execute(select(students.c.login)).scalars())

    def set_override(self, student_id: int, field: str, value, *, set_by: str, set_at: datetime,
                     note: str = "") -> None:
        """Set (or with ``value=None`` clear) a student's ``deadline`` or ``daily_limit``, recording who and when."""
        if field not in ("deadline", "daily_limit"):
            raise ValueError(f"unknown override {field!r}")
        shown = "" if value is None else (_aware(value).isoformat() if field == "deadline" else str(int(value)))
        stored = _naive_utc(value) if (field == "deadline" and value is not None) else value
        with self.transaction(write=True) as c:
            r = c.execute(update(students).where(students.c.id == student_id).values(**{field: stored}))
            if r.rowcount != 1:
                raise StoreError(f"no student with id {student_id}")
            c.execute(overrides.insert().values(student_id=student_id, field=field, value=shown,
                                                set_by=set_by[:64], set_at=_naive_utc(set_at), note=note[:256]))
            self._bump(c)

    def overrides(self, student_id: int | None = None) -> list[Override]:
        q = select(overrides.c.student_id, overrides.c.field, overrides.c.value, overrides.c.set_by,
                   overrides.c.set_at, overrides.c.note).order_by(overrides.c.id)
        if student_id is not None:
            q = q.where(overrides.c.student_id == student_id)
        with self.transaction() as c:
            return [Override(s, f, v, b, _aware(t), n) for s, f, v, b, t, n in c.execute(q)]

    # --------------------------------------------------------------------------------------------- submissions
    def add_submission(self, student_id: int, *, now: datetime, daily_limit: int, opens_at: datetime | None,
                       closes_at: datetime | None, filename: str, data: bytes, public: float,
                       private: float, late_ok: bool = False, fingerprint: Fingerprint | None = None,
                       acked: bool = False) -> Submission:
        """Check the rules and store one scored upload, atomically; ``closes_at`` is this student's deadline.

        After the deadline the upload is stored as late when ``late_ok``. Stored unacknowledged unless ``acked``
        (see :meth:`ack`). Raises ``rules.NotOpen`` / ``rules.LimitReached`` (nothing stored) or ``StoreError``.
        """
        return self.record_upload(student_id, now=now, daily_limit=daily_limit, opens_at=opens_at,
                                  closes_at=closes_at, filename=filename, data=data, public=public,
                                  private=private, late_ok=late_ok, fingerprint=fingerprint,
                                  acked=acked).submission

    def record_upload(self, student_id: int, *, now: datetime, daily_limit: int, opens_at: datetime | None,
                      closes_at: datetime | None, filename: str, data: bytes, public: float,
                      private: float, late_ok: bool = False, fingerprint: Fingerprint | None = None,
                      acked: bool = False) -> "Recorded":
        """:meth:`add_submission`, also returning what the upload's answer needs from the same transaction: the
        student's uploads counted today (this one included) and their counted submissions (an upload then costs
        one transaction, not a read before it and a write)."""
        day = rules.utc_day(now)
        # Compress and hash before taking the lock: SQLite has one writer at a time (11 ms for a 20,000-row file).
        blob, digest = zlib.compress(data, 1), hashlib.sha256(data).hexdigest()
        fp = fingerprint
        with self.transaction(write=True) as c:
            # The per-student lock: concurrent uploads of one student queue here, so count+insert is atomic.
            if c.execute(_Q_LOCK_STUDENT, {"sid": student_id}).first() is None:
                raise StoreError(f"no student with id {student_id}")
            wall = self.wall()
            used = c.execute(_Q_USED_ON, {"sid": student_id, "day": day, "wall": wall}).scalar_one()
            late = rules.check_upload_allowed(now=now, used=used, limit=daily_limit, opens_at=opens_at,
                                              closes_at=closes_at, late_ok=late_ok)
            r = c.execute(_INSERT_SUBMISSION, dict(
                student_id=student_id, submitted_at=_naive_utc(now), day=day, filename=filename[:256],
                size=len(data), sha256=digest, public=float(public), private=float(private),
                selected=False, late=late, acked=acked, ack_by=None if acked else wall + self.ack_grace,
                rank_sha=fp and fp.rank_sha, n_distinct=fp and fp.n_distinct, mode_share=fp and fp.mode_share,
                sketch=fp and fp.sketch))
            sid = r.inserted_primary_key[0]
            c.execute(_INSERT_FILE, {"id": sid, "content": blob})
            mine = self._rows(c.exec_driver_sql(*self._driver_sql(
                f"{self._SUB_SQL} WHERE (acked OR ack_by > :wall) AND student_id = :sid ORDER BY id",
                wall=wall, sid=student_id)).fetchall())
            self._bump(c, student_id)
        sub = next(x for x in mine if x.id == sid)
        return Recorded(sub, used + 1, mine)

    def ack(self, submission_id: int) -> None:
        """Mark an upload acknowledged (its answer was sent): from now on it counts for good. Committed without
        waiting for the disk (its own engine: SQLite synchronous=NORMAL, PostgreSQL synchronous_commit=off):
        it survives a killed server; only a power loss can undo it, and then the upload shows as unconfirmed."""
        if self._ack_engine is None:
            self._ack_engine = self._make_ack_engine()
        with self._ack_engine.connect() as conn:
            conn = conn.execution_options(write=True)
            with conn.begin():
                conn.exec_driver_sql(*self._driver_sql("UPDATE submissions SET acked = :t, ack_by = NULL "
                                                       "WHERE id = :id", t=True, id=submission_id))

    def _make_ack_engine(self) -> Engine:
        if self.is_sqlite:
            engine = create_engine(self.url, pool_size=4, max_overflow=32, connect_args={"check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas_no_wait)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        engine = create_engine(self.url, pool_size=2, max_overflow=20,
                               connect_args={"options": "-c synchronous_commit=off"})
        _ping_when_idle(engine, self.ping_idle)
        return engine

    def add_submissions_bulk(self, rows: Sequence[dict]) -> None:
        """Insert pre-scored, acknowledged rows (benchmarks, imports; no other writer at the same time): keys as
        the table's columns except id/day/sha256/size, and ``data`` for the file."""
        with self.transaction(write=True) as c:
            last = c.execute(select(func.coalesce(func.max(submissions.c.id), 0))).scalar_one()
            c.execute(submissions.insert(), [
                dict(student_id=r["student_id"], submitted_at=_naive_utc(r["submitted_at"]),
                     day=rules.utc_day(r["submitted_at"]), filename=r.get("filename", "prediction.csv"),
                     size=len(r["data"]), sha256=hashlib.sha256(r["data"]).hexdigest(), public=r["public"],
                     private=r["private"], selected=r.get("selected", False), late=r.get("late", False), acked=True)
                for r in rows])
            ids = c.execute(select(submissions.c.id).where(submissions.c.id > last).order_by(submissions.c.id)
                            ).scalars().all()
            c.execute(files.insert(), [dict(id=i, content=zlib.compress(r["data"], 1)) for i, r in zip(ids, rows)])
            self._bump(c)

    _SUB_SQL = "SELECT id, student_id, submitted_at, public, private, selected, filename, late FROM submissions"

    @staticmethod
    def _rows(rows) -> list[Submission]:
        utc, parse = timezone.utc, datetime.fromisoformat
        return [Submission(i, s, (parse(t) if isinstance(t, str) else t).replace(tzinfo=utc), pu, pr, bool(sel),
                           fn, bool(late)) for i, s, t, pu, pr, sel, fn, late in rows]

    def submissions(self, student_id: int | None = None) -> list[Submission]:
        """Counted submissions (on time and late, without file content), oldest first; all students' when
        ``student_id`` is None."""
        # Every board rebuild reads all rows: the driver's rows without SQLAlchemy's per-value processing take a
        # third of the time (20,000 rows on SQLite: 47 ms against 157 ms, measured under load on 2 cores).
        where = "(acked OR ack_by > :wall)" + (" AND student_id = :sid" if student_id is not None else "")
        sql, params = self._driver_sql(f"{self._SUB_SQL} WHERE {where} ORDER BY id", wall=self.wall(),
                                       sid=student_id)
        with self.transaction() as c:
            return self._rows(c.exec_driver_sql(sql, params).fetchall())

    def late_submissions(self) -> list[Submission]:
        """Every counted late submission (for the late board), oldest first."""
        sql, params = self._driver_sql(f"{self._SUB_SQL} WHERE late AND (acked OR ack_by > :wall) ORDER BY id",
                                       wall=self.wall())
        with self.transaction() as c:
            return self._rows(c.exec_driver_sql(sql, params).fetchall())

    def unconfirmed(self, student_id: int) -> list[Submission]:
        """Uploads stored but never acknowledged (the server stopped before answering): not counted."""
        sql, params = self._driver_sql(f"{self._SUB_SQL} WHERE student_id = :sid AND NOT acked AND "
                                       "(ack_by IS NULL OR ack_by <= :wall) ORDER BY id",
                                       sid=student_id, wall=self.wall())
        with self.transaction() as c:
            return self._rows(c.exec_driver_sql(sql, params).fetchall())

    def board_candidates(self, max_selected: int) -> tuple[list[Submission], dict[int, tuple[int, datetime]]]:
        """The few on-time submissions per student that boards can use, and each student's (number of on-time
        submissions, time of the last one).

        A superset of what ``rules.build_board`` picks from: each student's ``max_selected`` best public (ties:
        earlier; this includes the best public) and every marked one, chosen with one window function in the
        database. 1,000 students × 20 uploads → ~2,000 rows instead of 20,000 to turn into objects and rank.
        (Two or more windows, one per rule, made SQLite sort twice and cost more than they saved.) A test checks
        that boards built from it equal boards built from every row.
        """
        with self.transaction() as c:
            return self._candidates(c, max_selected, self.wall())

    def _candidates(self, c: Connection, max_selected: int, wall: float
                    ) -> tuple[list[Submission], dict[int, tuple[int, datetime]]]:
        q = """
            SELECT id, student_id, submitted_at, public, private, selected, filename, late FROM (
              SELECT id, student_id, submitted_at, public, private, selected, filename, late,
                     ROW_NUMBER() OVER (PARTITION BY student_id ORDER BY public DESC, submitted_at, id) AS pub_rank
              FROM submissions WHERE (acked OR ack_by > :wall) AND NOT late) r
            WHERE pub_rank <= :k OR selected
            ORDER BY id"""
        counts_q = ("SELECT student_id, count(*), max(submitted_at) FROM submissions "
                    "WHERE (acked OR ack_by > :wall) AND NOT late GROUP BY student_id")
        rows = c.exec_driver_sql(*self._driver_sql(q, k=max_selected, wall=wall)).fetchall()
        counts = {s: (n, _aware(t))
                  for s, n, t in c.exec_driver_sql(*self._driver_sql(counts_q, wall=wall)).fetchall()}
        return self._rows(rows), counts

    def board_read(self, since: int | None, recheck: Iterable[int], max_selected: int,
                   max_students: int = 400) -> "BoardRead":
        """What boards held at version ``since`` need to become current, in one read transaction.

        When every version after ``since`` (if any) changed one student's submissions, the counted rows (on time
        and late) of those students, of the students in ``recheck`` (the caller's students with an unacknowledged
        upload at its last read) and of those with one now are read; else (``since`` None, a roster or override change,
        a bulk import, versions pruned or a restored database, more than ``max_students`` to read) the students
        and every student's board candidates (:meth:`board_candidates`) and late rows.
        """
        wall = self.wall()
        with self.transaction() as c:
            version = c.execute(_Q_VERSION).scalar_one()
            pending = c.exec_driver_sql("SELECT student_id, ack_by FROM submissions WHERE NOT acked").fetchall()
            unacked = frozenset(sid for sid, _ in pending)
            expires = min((t for _, t in pending if t is not None and t > wall), default=None)
            changed = None
            if since is not None and since <= version:
                rows = c.exec_driver_sql(*self._driver_sql(
                    "SELECT student_id FROM changes WHERE version > :since AND version <= :v",
                    since=since, v=version)).fetchall() if since < version else []
                if len(rows) == version - since and all(r[0] is not None for r in rows):
                    changed = {r[0] for r in rows} | set(recheck) | unacked
            if changed is not None and len(changed) <= max_students:
                ids = sorted(changed)
                marks = ", ".join(f":s{i}" for i in range(len(ids)))
                rows = c.exec_driver_sql(*self._driver_sql(
                    f"{self._SUB_SQL} WHERE (acked OR ack_by > :wall) AND student_id IN ({marks}) ORDER BY id",
                    wall=wall, **{f"s{i}": sid for i, sid in enumerate(ids)})).fetchall() if ids else []
                return BoardRead(version, None, frozenset(ids), self._rows(rows), {}, [], unacked, expires)
            who = [_student(r) for r in c.exec_driver_sql(self._STUDENTS_SQL).fetchall()]
            subs, counts = self._candidates(c, max_selected, wall)
            late = c.exec_driver_sql(*self._driver_sql(
                f"{self._SUB_SQL} WHERE late AND (acked OR ack_by > :wall) ORDER BY id", wall=wall)).fetchall()
        return BoardRead(version, who, None, subs, counts, self._rows(late), unacked, expires)

    def submission(self, submission_id: int) -> Submission | None:
        """One counted submission by id (None when missing, unconfirmed or out of range)."""
        if not 0 < submission_id <= MAX_ID:
            return None
        with self.transaction() as c:
            r = c.execute(select(*_SUB_COLS).where(submissions.c.id == submission_id, self._counted())).first()
        if r is None:
            return None
        i, s, t, pu, pr, sel, fn, late = r
        return Submission(i, s, _aware(t), pu, pr, bool(sel), fn, bool(late))

    def content(self, submission_id: int) -> bytes:
        """The uploaded file exactly as received."""
        with self.transaction() as c:
            blob = c.execute(select(files.c.content).where(files.c.id == submission_id)).scalar_one()
        return zlib.decompress(blob)

    def used_today(self, student_id: int, now: datetime) -> int:
        with self.transaction() as c:
            return c.execute(select(func.count()).select_from(submissions).where(
                submissions.c.student_id == student_id, submissions.c.day == rules.utc_day(now),
                self._counted())).scalar_one()

    def set_selection(self, student_id: int, ids: Iterable[int], max_selected: int) -> list[int]:
        """Replace the student's final selection with ``ids`` (checked by ``rules.check_selection``; late and
        unconfirmed uploads cannot be selected)."""
        with self.transaction(write=True) as c:
            c.execute(select(students.c.id).where(students.c.id == student_id).with_for_update())
            mine = c.execute(select(submissions.c.id, submissions.c.late).where(
                submissions.c.student_id == student_id, self._counted())).all()
            chosen = rules.check_selection(ids, [i for i, late in mine if not late], max_selected,
                                           late=[i for i, late in mine if late])
            c.execute(update(submissions).where(submissions.c.student_id == student_id).values(selected=False))
            if chosen:
                c.execute(update(submissions).where(submissions.c.id.in_(chosen)).values(selected=True))
            self._bump(c, student_id)
        return chosen

    def fingerprints(self) -> list[FingerprintRow]:
        """Every counted upload's fingerprint, oldest first (for the TA's signals)."""
        q = select(submissions.c.id, submissions.c.student_id, submissions.c.submitted_at, submissions.c.sha256,
                   submissions.c.rank_sha, submissions.c.n_distinct, submissions.c.mode_share, submissions.c.sketch,
                   submissions.c.public).where(self._counted()).order_by(submissions.c.id)
        with self.transaction() as c:
            return [FingerprintRow(i, s, _aware(t), sha, rs, nd, ms, bytes(sk) if sk is not None else None, pu)
                    for i, s, t, sha, rs, nd, ms, sk, pu in c.execute(q)]

    # ----------------------------------------------------------------------------------------------- integrity
    def integrity_problems(self) -> list[str]:
        """Empty when the database is sound: engine checks, no orphan rows, every file matches its sha256."""
        problems = []
        with self.transaction() as c:
            if self.is_sqlite:
                res = [r[0] for r in c.exec_driver_sql("PRAGMA integrity_check")]
                if res != ["ok"]:
                    problems += [f"integrity_check: {r}" for r in res]
                problems += [f"foreign_key_check: {tuple(r)}" for r in c.exec_driver_sql("PRAGMA foreign_key_check")]
            orphans = c.execute(text("SELECT count(*) FROM submissions s LEFT JOIN students t ON s.student_id = t.id "
                                     "WHERE t.id IS NULL")).scalar_one()
            if orphans:
                problems.append(f"{orphans} submission(s) without a student")
            no_file = c.execute(text("SELECT count(*) FROM submissions s LEFT JOIN files f ON s.id = f.id "
                                     "WHERE f.id IS NULL")).scalar_one()
            if no_file:
                problems.append(f"{no_file} submission(s) without their file")
            for sid, digest, blob in c.execute(select(submissions.c.id, submissions.c.sha256, files.c.content)
                                               .join(files, files.c.id == submissions.c.id)):
                try:
                    ok = hashlib.sha256(zlib.decompress(blob)).hexdigest() == digest
                except zlib.error:
                    ok = False
                if not ok:
                    problems.append(f"submission {sid}: stored file does not match its sha256")
        return problems

    # ------------------------------------------------------------------------------------------ backup, restore
    def is_empty(self) -> bool:
        with self.transaction() as c:
            return not any(c.execute(select(func.count()).select_from(t)).scalar_one()
                           for t in (students, submissions, overrides))

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A read transaction that sees one consistent state of every table (PostgreSQL's default, READ
        COMMITTED, would let an upload land between two tables)."""
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def copy_into(self, dst: "Store", *, batch: int = 500, progress: Callable[[int], None] | None = None) -> dict:
        """Copy every row into the empty store ``dst`` (any engine: SQLite ↔ PostgreSQL), in one transaction
        there, reading this store in one consistent snapshot. Returns the number of rows per table."""
        if not dst.is_empty():
            raise StoreError(f"{_safe_url(dst.url)} already holds students or submissions; restore into an empty "
                             "database")
        counts = {}
        with self._snapshot() as src, dst.transaction(write=True) as out:
            out.execute(meta.delete())
            out.execute(changes.delete())
            for table in (meta, students, overrides, submissions, files):   # parents before children
                n = 0
                result = src.execute(select(table).order_by(table.c.id).execution_options(yield_per=batch))
                for part in result.partitions(batch):
                    out.execute(table.insert(), [dict(r._mapping) for r in part])
                    n += len(part)
                    if progress:
                        progress(len(part))
                counts[table.name] = n
            if not dst.is_sqlite:   # explicit ids do not move PostgreSQL's sequences (files.id is no sequence)
                for table in (students, overrides, submissions):
                    out.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                        f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)")
        return counts


def _safe_url(url: str) -> str:
    """A database URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def count_rows(url: str) -> dict[str, int]:
    with Store(url, create=False) as s, s.transaction() as c:
        return {t.name: c.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES}


def remove_sqlite(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists():
            os.unlink(p)
