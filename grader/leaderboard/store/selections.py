"""Each student's final selection (the submissions marked to count for the private board)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from sqlalchemy import select, update

from grader.leaderboard import rules
from grader.leaderboard.store.boards import record_change
from grader.leaderboard.store.schema import COUNTED, Q_LOCK_STUDENT, submissions

if TYPE_CHECKING:
    from grader.leaderboard.store.database import Store


class Selections:
    def __init__(self, db: "Store"):
        self.db = db

    def replace(self, student_id: int, ids: Iterable[int], max_selected: int) -> list[int]:
        """Replace the student's final selection with ``ids`` (checked by ``rules.check_selection`` against their
        submissions as this transaction sees them, under the student's lock; late and unconfirmed uploads
        cannot be selected)."""
        with self.db.transaction(write=True) as c:
            c.execute(Q_LOCK_STUDENT, {"sid": student_id})
            mine = c.execute(select(submissions.c.id, submissions.c.late).where(
                submissions.c.student_id == student_id, COUNTED), {"wall": self.db.wall()}).all()
            chosen = rules.check_selection(ids, [i for i, late in mine if not late], max_selected,
                                           late=[i for i, late in mine if late])
            c.execute(update(submissions).where(submissions.c.student_id == student_id).values(selected=False))
            if chosen:
                c.execute(update(submissions).where(submissions.c.id.in_(chosen)).values(selected=True))
            record_change(c, student_id)
        return chosen
