"""Students and their tokens (stored as hashes only)."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from grader.leaderboard.store.boards import record_change
from grader.leaderboard.store.schema import (MAX_ID, Q_STUDENT_BY_TOKEN, STUDENT_COLS, STUDENTS_SQL, StoreError,
                                             Student, naive_utc, student_of, students)

if TYPE_CHECKING:
    from grader.leaderboard.store.database import Store


def hash_token(token: str) -> str:
    """sha256 hex of a token. Tokens are 32 random bytes, so a fast hash is enough (no dictionary to attack)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Accounts:
    def __init__(self, db: "Store"):
        self.db = db

    def sync(self, new: Sequence[dict], changed: Sequence[dict] = ()) -> list[Student]:
        """In one transaction, insert ``new`` students (dicts with login, name, email, lms_id, nickname,
        token_hash) and update the profile of ``changed`` known logins (login, name, email, lms_id, nickname).
        A duplicate login or token aborts all of it."""
        out = []
        now = naive_utc(datetime.now(timezone.utc))
        try:
            with self.db.transaction(write=True) as c:
                for row in new:
                    r = c.execute(students.insert().values(created_at=now, **row))
                    out.append(Student(r.inserted_primary_key[0], row["login"], row["name"], row.get("email", ""),
                                       row.get("lms_id", ""), row.get("nickname", "")))
                for row in changed:
                    c.execute(update(students).where(students.c.login == row["login"])
                              .values(**{k: v for k, v in row.items() if k != "login"}))
                record_change(c)
        except IntegrityError as e:
            raise StoreError(f"duplicate student login or token: {e.orig}") from e
        return out

    def set_token_hashes(self, hashes: dict[str, str]) -> None:
        """Replace the tokens of the logins in ``{login: token_hash}`` (all, or none if one is unknown)."""
        with self.db.transaction(write=True) as c:
            for login, token_hash in hashes.items():
                r = c.execute(update(students).where(students.c.login == login).values(token_hash=token_hash))
                if r.rowcount != 1:
                    raise StoreError(f"no student with id {login!r}")

    def by_token_hash(self, token_hash: str) -> Student | None:
        with self.db.transaction() as c:
            r = c.execute(Q_STUDENT_BY_TOKEN, {"token_hash": token_hash}).first()
        return student_of(r) if r else None

    def get(self, student_id: int) -> Student | None:
        if not 0 < student_id <= MAX_ID:
            return None
        with self.db.transaction() as c:
            r = c.execute(select(*STUDENT_COLS).where(students.c.id == student_id)).first()
        return student_of(r) if r else None

    def all(self) -> list[Student]:
        """Every student, in id order (read on every full board rebuild, to notice roster changes)."""
        with self.db.transaction() as c:
            return [student_of(r) for r in c.exec_driver_sql(STUDENTS_SQL).fetchall()]
