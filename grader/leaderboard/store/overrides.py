"""The TA's per-student deadlines and daily limits, each change recorded with who, when and why."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from grader.leaderboard.store.boards import record_change
from grader.leaderboard.store.schema import StoreError, aware, naive_utc, overrides, students

if TYPE_CHECKING:
    from grader.leaderboard.store.database import Store


@dataclass(frozen=True)
class Override:
    student_id: int
    field: str
    value: str
    set_by: str
    set_at: datetime
    note: str


class Overrides:
    def __init__(self, db: "Store"):
        self.db = db

    def set(self, student_id: int, field: str, value, *, set_by: str, set_at: datetime, note: str = "") -> None:
        """Set (or with ``value=None`` clear) a student's ``deadline`` or ``daily_limit``, recording who and when."""
        if field not in ("deadline", "daily_limit"):
            raise ValueError(f"unknown override {field!r}")
        shown = "" if value is None else (aware(value).isoformat() if field == "deadline" else str(int(value)))
        stored = naive_utc(value) if (field == "deadline" and value is not None) else value
        with self.db.transaction(write=True) as c:
            r = c.execute(update(students).where(students.c.id == student_id).values(**{field: stored}))
            if r.rowcount != 1:
                raise StoreError(f"no student with id {student_id}")
            c.execute(overrides.insert().values(student_id=student_id, field=field, value=shown,
                                                set_by=set_by[:64], set_at=naive_utc(set_at), note=note[:256]))
            record_change(c)

    def all(self) -> list[Override]:
        """Every change, oldest first."""
        q = select(overrides.c.student_id, overrides.c.field, overrides.c.value, overrides.c.set_by,
                   overrides.c.set_at, overrides.c.note).order_by(overrides.c.id)
        with self.db.transaction() as c:
            return [Override(s, f, v, b, aware(t), n) for s, f, v, b, t, n in c.execute(q)]
