"""The leaderboard's tables, the statements built once from them, and the conversions between stored rows and
records (times are stored as naive UTC and returned as aware UTC)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import (Boolean, Column, Date, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, MetaData,
                        String, Table, bindparam, func, inspect, or_, select, text, true, update)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateColumn

from grader.errors import GraderError
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

#: The tables a backup copies, parents before children.
TABLES = (meta, students, overrides, submissions, files)
MAX_ID = 2**63 - 1


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


def naive_utc(t: datetime) -> datetime:
    return t.astimezone(timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def aware(t: datetime | str | None) -> datetime | None:
    if t is None:
        return None
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


# ------------------------------------------------------------------------------------------------------- reads
# Boards and pages read many rows: the driver's rows, without SQLAlchemy's per-value processing, take a third of
# the time (20,000 rows on SQLite: 47 ms against 157 ms, measured under load on 2 cores). ``:wall`` is the wall
# clock now: an upload counts while acknowledged or inside its grace time.
COUNTED_SQL = "(acked OR ack_by > :wall)"
SUBMISSIONS_SQL = "SELECT id, student_id, submitted_at, public, private, selected, filename, late FROM submissions"
STUDENTS_SQL = ("SELECT id, login, name, email, lms_id, nickname, deadline, daily_limit FROM students "
                "ORDER BY id")

STUDENT_COLS = (students.c.id, students.c.login, students.c.name, students.c.email, students.c.lms_id,
                students.c.nickname, students.c.deadline, students.c.daily_limit)
SUBMISSION_COLS = (submissions.c.id, submissions.c.student_id, submissions.c.submitted_at, submissions.c.public,
                   submissions.c.private, submissions.c.selected, submissions.c.filename, submissions.c.late)

#: The same condition as ``COUNTED_SQL`` for Core statements.
COUNTED = or_(submissions.c.acked == true(), submissions.c.ack_by > bindparam("wall"))

# The statements of the upload path, built once. Building a Core statement on each call (``where``, ``values``,
# its cache key) cost more CPU than running it on SQLite; a prebuilt one is looked up in the compiled cache by
# identity and keeps SQLAlchemy's type handling (the same stored formats as every other query here).
Q_STUDENT_BY_TOKEN = select(*STUDENT_COLS).where(students.c.token_hash == bindparam("token_hash"))
Q_LOCK_STUDENT = select(students.c.id).where(students.c.id == bindparam("sid")).with_for_update()
Q_USED_ON = select(func.count()).select_from(submissions).where(
    submissions.c.student_id == bindparam("sid"), submissions.c.day == bindparam("day"), COUNTED)
INSERT_SUBMISSION = submissions.insert()
INSERT_FILE = files.insert()
BUMP = update(meta).where(meta.c.id == 1).values(version=meta.c.version + 1).returning(meta.c.version)
INSERT_CHANGE = changes.insert()
PRUNE_CHANGES = changes.delete().where(changes.c.version <= bindparam("upto"))
Q_VERSION = select(meta.c.version).where(meta.c.id == 1)


def student_of(r) -> Student:
    i, login, name, email, lms, nick, deadline, limit = r
    return Student(i, login, name, email, lms or "", nick or "", aware(deadline), limit)


def submissions_of(rows) -> list[Submission]:
    """Rows of ``SUBMISSIONS_SQL`` (SQLite's driver gives times as text) as records."""
    utc, parse = timezone.utc, datetime.fromisoformat
    return [Submission(i, s, (parse(t) if isinstance(t, str) else t).replace(tzinfo=utc), pu, pr, bool(sel),
                       fn, bool(late)) for i, s, t, pu, pr, sel, fn, late in rows]


def driver_sql(sql: str, is_sqlite: bool, **params):
    """``sql`` with ``:name`` parameters in the spelling of the database's driver, and its parameters."""
    if is_sqlite:
        names = re.findall(r":(\w+)", sql)
        return re.sub(r":\w+", "?", sql), tuple(params[n] for n in names)
    return re.sub(r":(\w+)", r"%(\1)s", sql), params


# ---------------------------------------------------------------------------------------------------- creation
def create(engine: Engine, transaction) -> None:
    """Create the tables that are missing, bring a database made by an older version up to date (add the columns
    it lacks, each has a default; move file contents from ``submissions.content``, the first layout, into
    ``files``) and make the meta row. ``transaction`` is the store's writing transaction helper."""
    metadata.create_all(engine)
    insp = inspect(engine)
    with transaction(write=True) as c:
        for table in (students, submissions, files, overrides, meta):
            have = {col["name"] for col in insp.get_columns(table.name)}
            for col in table.columns:
                if col.name not in have:
                    ddl = CreateColumn(col).compile(dialect=engine.dialect)
                    c.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")
            if table is submissions and "content" in have:
                c.exec_driver_sql("INSERT INTO files (id, content) SELECT id, content FROM submissions")
                c.exec_driver_sql("ALTER TABLE submissions DROP COLUMN content")
        ix_unacked.create(c, checkfirst=True)
    try:
        with transaction(write=True) as c:
            if c.execute(select(meta.c.id)).first() is None:
                c.execute(meta.insert().values(id=1, version=0))
    except IntegrityError:
        pass  # another process created it first
