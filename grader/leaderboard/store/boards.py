"""The change log every writer appends to, and the one read that keeps the service's cached boards current."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Iterable

from sqlalchemy.engine import Connection

from grader.leaderboard.rules import Submission
from grader.leaderboard.store.schema import (BUMP, COUNTED_SQL, INSERT_CHANGE, PRUNE_CHANGES, Q_VERSION,
                                             STUDENTS_SQL, SUBMISSIONS_SQL, Student, aware, student_of,
                                             submissions_of)

if TYPE_CHECKING:
    from grader.leaderboard.store.database import Store

#: Rows of ``changes`` kept (a process further behind than this rebuilds its boards from every row).
CHANGES_KEPT = 4096


def record_change(c: Connection, student_id: int | None = None) -> None:
    """A new version, and what it changed (``student_id``'s submissions, or None: anything). The last statements
    of a writing transaction, so the row lock on PostgreSQL is held only until the commit; that lock (SQLite: its
    one writer) also numbers the versions in commit order, without gaps."""
    v = c.execute(BUMP).scalar_one()
    c.execute(INSERT_CHANGE, {"version": v, "student_id": student_id})
    if v % 256 == 0:
        c.execute(PRUNE_CHANGES, {"upto": v - CHANGES_KEPT})


@dataclass(frozen=True)
class BoardRead:
    """:meth:`Boards.read`'s answer. A full read has ``students`` (every student), ``rows`` (every student's
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


class Boards:
    def __init__(self, db: "Store"):
        self.db = db

    def read(self, since: int | None, recheck: Iterable[int], max_selected: int,
             max_students: int = 400) -> BoardRead:
        """What boards held at version ``since`` need to become current, in one read transaction.

        When every version after ``since`` (if any) changed one student's submissions, the counted rows (on time
        and late) of those students, of the students in ``recheck`` (the caller's students with an unacknowledged
        upload at its last read) and of those with one now are read; else (``since`` None, a roster or override
        change, a bulk import, versions pruned or a restored database, more than ``max_students`` to read) the
        students, every student's board candidates (:meth:`_candidates`) and every counted late row.
        """
        sql, wall = self.db.driver_sql, self.db.wall()
        with self.db.transaction() as c:
            version = c.execute(Q_VERSION).scalar_one()
            pending = c.exec_driver_sql("SELECT student_id, ack_by FROM submissions WHERE NOT acked").fetchall()
            unacked = frozenset(sid for sid, _ in pending)
            expires = min((t for _, t in pending if t is not None and t > wall), default=None)
            changed = None
            if since is not None and since <= version:
                rows = c.exec_driver_sql(*sql(
                    "SELECT student_id FROM changes WHERE version > :since AND version <= :v",
                    since=since, v=version)).fetchall() if since < version else []
                if len(rows) == version - since and all(r[0] is not None for r in rows):
                    changed = {r[0] for r in rows} | set(recheck) | unacked
            if changed is not None and len(changed) <= max_students:
                ids = sorted(changed)
                marks = ", ".join(f":s{i}" for i in range(len(ids)))
                rows = c.exec_driver_sql(*sql(
                    f"{SUBMISSIONS_SQL} WHERE {COUNTED_SQL} AND student_id IN ({marks}) ORDER BY id",
                    wall=wall, **{f"s{i}": sid for i, sid in enumerate(ids)})).fetchall() if ids else []
                return BoardRead(version, None, frozenset(ids), submissions_of(rows), {}, [], unacked, expires)
            who = [student_of(r) for r in c.exec_driver_sql(STUDENTS_SQL).fetchall()]
            subs, counts = self._candidates(c, max_selected, wall)
            late = c.exec_driver_sql(*sql(f"{SUBMISSIONS_SQL} WHERE late AND {COUNTED_SQL} ORDER BY id",
                                          wall=wall)).fetchall()
        return BoardRead(version, who, None, subs, counts, submissions_of(late), unacked, expires)

    def _candidates(self, c: Connection, max_selected: int, wall: float
                    ) -> tuple[list[Submission], dict[int, tuple[int, datetime]]]:
        """The few on-time submissions per student that boards can use, and each student's (number of on-time
        submissions, time of the last one).

        A superset of what ``rules.build_board`` picks from: each student's ``max_selected`` best public (ties:
        earlier; this includes the best public) and every marked one, chosen with one window function in the
        database. 1,000 students × 20 uploads → ~2,000 rows instead of 20,000 to turn into objects and rank.
        (Two or more windows, one per rule, made SQLite sort twice and cost more than they saved.) A test checks
        that boards built from it equal boards built from every row.
        """
        q = f"""
            SELECT id, student_id, submitted_at, public, private, selected, filename, late FROM (
              SELECT id, student_id, submitted_at, public, private, selected, filename, late,
                     ROW_NUMBER() OVER (PARTITION BY student_id ORDER BY public DESC, submitted_at, id) AS pub_rank
              FROM submissions WHERE {COUNTED_SQL} AND NOT late) r
            WHERE pub_rank <= :k OR selected
            ORDER BY id"""
        counts_q = (f"SELECT student_id, count(*), max(submitted_at) FROM submissions "
                    f"WHERE {COUNTED_SQL} AND NOT late GROUP BY student_id")
        rows = c.exec_driver_sql(*self.db.driver_sql(q, k=max_selected, wall=wall)).fetchall()
        counts = {s: (n, aware(t))
                  for s, n, t in c.exec_driver_sql(*self.db.driver_sql(counts_q, wall=wall)).fetchall()}
        return submissions_of(rows), counts
