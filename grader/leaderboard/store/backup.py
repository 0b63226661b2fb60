"""The database's integrity check, and copies between databases (``backup`` and ``restore``; any engine to any)."""
from __future__ import annotations

import hashlib
import re
import zlib
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from grader.leaderboard.store.schema import (TABLES, StoreError, changes, files, meta, overrides, students,
                                             submissions)

if TYPE_CHECKING:
    from grader.leaderboard.store.database import Store

#: Rows copied per insert (a submission's file is ~240 kB compressed: 500 of them stay near 120 MB).
BATCH = 500


def _safe_url(url: str) -> str:
    """A database URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


class Backup:
    def __init__(self, db: "Store"):
        self.db = db

    def integrity_problems(self) -> list[str]:
        """Empty when the database is sound: engine checks, no orphan rows, every file matches its sha256."""
        problems = []
        with self.db.transaction() as c:
            if self.db.is_sqlite:
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

    def _is_empty(self) -> bool:
        with self.db.transaction() as c:
            return not any(c.execute(select(func.count()).select_from(t)).scalar_one()
                           for t in (students, submissions, overrides))

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A read transaction that sees one consistent state of every table (PostgreSQL's default, READ
        COMMITTED, would let an upload land between two tables)."""
        with self.db.engine.connect() as conn:
            if not self.db.is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def copy_into(self, dst: "Store") -> dict:
        """Copy every row into the empty store ``dst`` (any engine: SQLite ↔ PostgreSQL), in one transaction
        there, reading this store in one consistent snapshot. Returns the number of rows per table."""
        if not dst.backup._is_empty():
            raise StoreError(f"{_safe_url(dst.url)} already holds students or submissions; restore into an empty "
                             "database")
        counts = {}
        with self._snapshot() as src, dst.transaction(write=True) as out:
            out.execute(meta.delete())
            out.execute(changes.delete())
            for table in TABLES:
                n = 0
                result = src.execute(select(table).order_by(table.c.id).execution_options(yield_per=BATCH))
                for part in result.partitions(BATCH):
                    out.execute(table.insert(), [dict(r._mapping) for r in part])
                    n += len(part)
                counts[table.name] = n
            if not dst.is_sqlite:   # explicit ids do not move PostgreSQL's sequences (files.id is no sequence)
                for table in (students, overrides, submissions):
                    out.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                        f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)")
        return counts
