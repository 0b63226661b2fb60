"""Scored uploads: their scores and fingerprints in ``submissions``, the files themselves in ``files``.

Storing one is two calls inside the caller's write transaction (:meth:`Uploads.count_today` takes the student's
lock and counts, :meth:`Uploads.insert` stores), so the service can apply the daily limit between them.
"""
from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Sequence

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from grader.leaderboard import rules
from grader.leaderboard.rules import Submission
from grader.leaderboard.store.boards import record_change
from grader.leaderboard.store.schema import (COUNTED, COUNTED_SQL, INSERT_FILE, INSERT_SUBMISSION, MAX_ID,
                                             Q_LOCK_STUDENT, Q_USED_ON, SUBMISSION_COLS, SUBMISSIONS_SQL,
                                             StoreError, aware, files, naive_utc, submissions, submissions_of)

if TYPE_CHECKING:
    from grader.leaderboard.store.database import Store


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


@dataclass(frozen=True)
class NewUpload:
    """A scored upload ready to store. Made with :meth:`of` before the write lock is taken: compressing and
    hashing a 20,000-row file takes 11 ms, and SQLite has one writer at a time."""
    filename: str
    size: int
    sha256: str
    blob: bytes
    public: float
    private: float
    late: bool
    fingerprint: Fingerprint | None

    @classmethod
    def of(cls, filename: str, data: bytes, *, public: float, private: float, late: bool,
           fingerprint: Fingerprint | None = None) -> "NewUpload":
        return cls(filename[:256], len(data), hashlib.sha256(data).hexdigest(), zlib.compress(data, 1),
                   float(public), float(private), late, fingerprint)


class Uploads:
    def __init__(self, db: "Store"):
        self.db = db

    # ---------------------------------------------------------------------------------------------- storing
    def count_today(self, tx: Connection, student_id: int, now: datetime) -> int:
        """Take the student's write lock in ``tx`` (``SELECT ... FOR UPDATE``; SQLite: its one writer) and count
        their uploads counted on ``now``'s UTC day: concurrent uploads of one student queue here, so the count
        stays true until ``tx`` commits. Raises ``StoreError`` for an unknown student."""
        if tx.execute(Q_LOCK_STUDENT, {"sid": student_id}).first() is None:
            raise StoreError(f"no student with id {student_id}")
        return tx.execute(Q_USED_ON, {"sid": student_id, "day": rules.utc_day(now),
                                      "wall": self.db.wall()}).scalar_one()

    def insert(self, tx: Connection, student_id: int, now: datetime, upload: NewUpload
               ) -> tuple[Submission, list[Submission]]:
        """Store ``upload`` in ``tx``, unacknowledged (see :meth:`ack`), and record the change: the last writes
        of the transaction. Returns it and the student's counted submissions, oldest first, as ``tx`` sees them
        (an upload's answer then costs no second transaction)."""
        wall, fp = self.db.wall(), upload.fingerprint
        r = tx.execute(INSERT_SUBMISSION, dict(
            student_id=student_id, submitted_at=naive_utc(now), day=rules.utc_day(now), filename=upload.filename,
            size=upload.size, sha256=upload.sha256, public=upload.public, private=upload.private, selected=False,
            late=upload.late, acked=False, ack_by=wall + self.db.ack_grace, rank_sha=fp and fp.rank_sha,
            n_distinct=fp and fp.n_distinct, mode_share=fp and fp.mode_share, sketch=fp and fp.sketch))
        sid = r.inserted_primary_key[0]
        tx.execute(INSERT_FILE, {"id": sid, "content": upload.blob})
        mine = submissions_of(tx.exec_driver_sql(*self.db.driver_sql(
            f"{SUBMISSIONS_SQL} WHERE {COUNTED_SQL} AND student_id = :sid ORDER BY id",
            wall=wall, sid=student_id)).fetchall())
        record_change(tx, student_id)
        return next(x for x in mine if x.id == sid), mine

    def ack(self, submission_id: int) -> None:
        """Mark an upload acknowledged (its answer was sent): from now on it counts for good. Committed without
        waiting for the disk: it survives a killed server; only a power loss can undo it, and then the upload
        shows as unconfirmed."""
        with self.db.transaction(write=True, durable=False) as c:
            c.exec_driver_sql(*self.db.driver_sql("UPDATE submissions SET acked = :t, ack_by = NULL WHERE id = :id",
                                                  t=True, id=submission_id))

    def add_bulk(self, rows: Sequence[dict]) -> None:
        """Insert pre-scored, acknowledged rows (benchmarks, imports; no other writer at the same time): keys as
        the table's columns except id/day/sha256/size, and ``data`` for the file."""
        with self.db.transaction(write=True) as c:
            last = c.execute(select(func.coalesce(func.max(submissions.c.id), 0))).scalar_one()
            c.execute(submissions.insert(), [
                dict(student_id=r["student_id"], submitted_at=naive_utc(r["submitted_at"]),
                     day=rules.utc_day(r["submitted_at"]), filename=r.get("filename", "prediction.csv"),
                     size=len(r["data"]), sha256=hashlib.sha256(r["data"]).hexdigest(), public=r["public"],
                     private=r["private"], selected=r.get("selected", False), late=r.get("late", False), acked=True)
                for r in rows])
            ids = c.execute(select(submissions.c.id).where(submissions.c.id > last).order_by(submissions.c.id)
                            ).scalars().all()
            c.execute(files.insert(), [dict(id=i, content=zlib.compress(r["data"], 1)) for i, r in zip(ids, rows)])
            record_change(c)

    # ---------------------------------------------------------------------------------------------- reading
    def counted(self, student_id: int | None = None) -> list[Submission]:
        """Counted submissions (on time and late, without file content), oldest first; all students' when
        ``student_id`` is None."""
        where = COUNTED_SQL + (" AND student_id = :sid" if student_id is not None else "")
        sql, params = self.db.driver_sql(f"{SUBMISSIONS_SQL} WHERE {where} ORDER BY id", wall=self.db.wall(),
                                         sid=student_id)
        with self.db.transaction() as c:
            return submissions_of(c.exec_driver_sql(sql, params).fetchall())

    def unconfirmed(self, student_id: int) -> list[Submission]:
        """Uploads stored but never acknowledged (the server stopped before answering): not counted."""
        sql, params = self.db.driver_sql(f"{SUBMISSIONS_SQL} WHERE student_id = :sid AND NOT acked AND "
                                         "(ack_by IS NULL OR ack_by <= :wall) ORDER BY id",
                                         sid=student_id, wall=self.db.wall())
        with self.db.transaction() as c:
            return submissions_of(c.exec_driver_sql(sql, params).fetchall())

    def get(self, submission_id: int) -> Submission | None:
        """One counted submission by id (None when missing, unconfirmed or out of range)."""
        if not 0 < submission_id <= MAX_ID:
            return None
        with self.db.transaction() as c:
            r = c.execute(select(*SUBMISSION_COLS).where(submissions.c.id == submission_id, COUNTED),
                          {"wall": self.db.wall()}).first()
        if r is None:
            return None
        i, s, t, pu, pr, sel, fn, late = r
        return Submission(i, s, aware(t), pu, pr, bool(sel), fn, bool(late))

    def content(self, submission_id: int) -> bytes:
        """The uploaded file exactly as received."""
        with self.db.transaction() as c:
            blob = c.execute(select(files.c.content).where(files.c.id == submission_id)).scalar_one()
        return zlib.decompress(blob)

    def fingerprints(self) -> list[FingerprintRow]:
        """Every counted upload's fingerprint, oldest first (for the TA's signals)."""
        s = submissions.c
        q = select(s.id, s.student_id, s.submitted_at, s.sha256, s.rank_sha, s.n_distinct, s.mode_share, s.sketch,
                   s.public).where(COUNTED).order_by(s.id)
        with self.db.transaction() as c:
            return [FingerprintRow(i, st, aware(t), sha, rs, nd, ms, bytes(sk) if sk is not None else None, pu)
                    for i, st, t, sha, rs, nd, ms, sk, pu in c.execute(q, {"wall": self.db.wall()})]
