"""The leaderboard as one object: validate, score, store; boards and pages; the private-score firewall.

Everything a student can reach goes through :class:`Leaderboard`, and every private score leaves it through
:meth:`Leaderboard.reveal` — which returns None before the close time. "Now" comes from an injectable clock so
tests can move past the deadline without sleeping.
"""
from __future__ import annotations

import csv
import io
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import numpy as np

from data_tools.answer_key import AnswerKey, load_answer_key
from grader.competition import CompetitionConfig
from grader.errors import GraderError
from grader.leaderboard import plots, rules
from grader.leaderboard.roster import Issued, import_roster
from grader.leaderboard.rules import BoardRow, Submission
from grader.leaderboard.store import Store, Student, hash_token
from grader.scoring import score_scores
from grader.validate import read_submission

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


class NotFound(GraderError):
    """No such submission *for this student*: someone else's id is answered exactly like a missing one (404)."""


class NotRevealed(GraderError):
    """The private board or private scores before the close time (403)."""


@dataclass(frozen=True)
class SubmissionView:
    """What a student sees of one submission. ``private`` is None before the close time."""
    id: int
    submitted_at: datetime
    filename: str
    public: float
    private: float | None
    selected: bool       # marked by the student
    counts: bool         # in the effective final selection (marked, or auto-selected best public)


@dataclass(frozen=True)
class StudentPage:
    student: Student
    submissions: list[SubmissionView]   # newest first
    used_today: int
    left_today: int
    resets_at: datetime
    closed: bool
    open: bool
    final_private: float | None          # None before close
    best_public: float | None


class Leaderboard:
    """One competition: config, answer key, store and clock.

    Args:
        cfg: the competition (limits, times, baselines, database URL).
        store: storage (default: ``Store(cfg.database_url)``).
        key: the answer key (default: loaded from ``cfg.answers``).
        clock: returns the current aware UTC time.
        admin_token: the TA's secret; only its hash is kept.
    """

    def __init__(self, cfg: CompetitionConfig, *, store: Store | None = None, key: AnswerKey | None = None,
                 clock: Clock = system_clock, admin_token: str | None = None):
        self.cfg = cfg
        self.store = store or Store(cfg.database_url)
        self.key = key if key is not None else load_answer_key(cfg.answers)
        self.clock = clock
        self._admin_hash = hash_token(admin_token) if admin_token else None
        self._boards: dict[int, dict[str, list[BoardRow]]] = {}
        self._board_lock = threading.Lock()

    # --------------------------------------------------------------------------------------------------- time
    def now(self) -> datetime:
        return self.clock()

    def closed(self) -> bool:
        return self.cfg.is_closed(self.now())

    def reveal(self, private: float) -> float | None:
        """The one gate for private scores: the value after the close time, None before."""
        return private if self.closed() else None

    # --------------------------------------------------------------------------------------------------- auth
    def authenticate(self, token: str | None) -> Student | None:
        if not token or len(token) > 200:
            return None
        return self.store.student_by_token_hash(hash_token(token))

    def is_admin(self, token: str | None) -> bool:
        import hmac
        return bool(token and self._admin_hash and hmac.compare_digest(hash_token(token), self._admin_hash))

    # ------------------------------------------------------------------------------------------------ uploads
    def submit(self, student: Student, filename: str, data: bytes) -> SubmissionView:
        """Validate, score and store one upload. Raises ``SubmissionError`` (nothing stored, not counted),
        ``rules.NotOpen`` or ``rules.LimitReached``."""
        now = self.now()
        # Cheap rejections first (closed, limit already used), so a student at the limit is told so without
        # waiting for the scoring; the store re-checks both under its lock.
        rules.check_upload_allowed(now=now, used=self.store.used_today(student.id, now),
                                   limit=self.cfg.daily_limit, opens_at=self.cfg.opens_at,
                                   closes_at=self.cfg.closes_at)
        scores = read_submission(data, len(self.key), max_bytes=self.cfg.max_upload_bytes)
        s = score_scores(scores, self.key)
        sub = self.store.add_submission(student.id, now=now, daily_limit=self.cfg.daily_limit,
                                        opens_at=self.cfg.opens_at, closes_at=self.cfg.closes_at,
                                        filename=filename or "prediction.csv", data=data,
                                        public=s.public, private=s.private)
        return self._view(sub, counts=False)

    def _view(self, s: Submission, counts: bool) -> SubmissionView:
        return SubmissionView(s.id, s.submitted_at, s.filename, s.public, self.reveal(s.private), s.selected, counts)

    def page(self, student: Student) -> StudentPage:
        now = self.now()
        subs = self.store.submissions(student.id)
        counting = {s.id for s in rules.effective_selection(subs, self.cfg.final_selections)}
        used = rules.used_today((s.submitted_at for s in subs), now)
        final = rules.final_submission(subs, self.cfg.final_selections)
        best = rules.best(subs, "public")
        return StudentPage(
            student=student, submissions=[self._view(s, s.id in counting) for s in reversed(subs)],
            used_today=used, left_today=rules.uploads_left(used, self.cfg.daily_limit),
            resets_at=rules.next_reset(now), closed=self.cfg.is_closed(now), open=self.cfg.is_open(now),
            final_private=self.reveal(final.private) if final else None, best_public=best.public if best else None)

    def select(self, student: Student, ids: list[int]) -> list[int]:
        if self.closed():
            raise rules.SelectionError("The competition has closed; final selections are frozen.")
        return self.store.set_selection(student.id, ids, self.cfg.final_selections)

    def own(self, student: Student, submission_id: int) -> Submission:
        s = self.store.submission(submission_id)
        if s is None or s.student_id != student.id:
            raise NotFound(f"No submission {submission_id} among yours.")
        return s

    def view(self, student: Student, submission_id: int) -> SubmissionView:
        s = self.own(student, submission_id)
        counting = {x.id for x in rules.effective_selection(self.store.submissions(student.id),
                                                             self.cfg.final_selections)}
        return self._view(s, s.id in counting)

    def download(self, student: Student, submission_id: int) -> tuple[str, bytes]:
        s = self.own(student, submission_id)
        return s.filename, self.store.content(s.id)

    def _scores(self, submission_id: int) -> np.ndarray:
        return read_submission(self.store.content(submission_id), len(self.key), max_bytes=1 << 40)

    def roc_png(self, student: Student, submission_id: int) -> bytes:
        """ROC curve on the public rows; the private curve is added only after the close time (a curve on the
        private rows before then would leak the private score)."""
        s = self.own(student, submission_id)
        scores, k = self._scores(s.id), self.key
        curves = {"public": (k.labels[k.public], scores[k.public])}
        if self.closed():
            curves["private"] = (k.labels[k.private], scores[k.private])
        return plots.roc_png(curves, title=f"Submission {s.id}")

    def intervals(self, student: Student, submission_id: int, n_boot: int = 200) -> dict[str, tuple] | None:
        """95% bootstrap intervals of the public and private AUC, after the close time only (else None)."""
        s = self.own(student, submission_id)
        if not self.closed():
            return None
        scores, k = self._scores(s.id), self.key
        return {split: plots.bootstrap_auc(k.labels[m], scores[m], n_boot=n_boot, seed=s.id)
                for split, m in (("public", k.public), ("private", k.private))}

    # ------------------------------------------------------------------------------------------------- boards
    def board(self, split: str = "public") -> list[BoardRow]:
        """The ranked board. Cached per store version: a render costs one tiny query until something changes
        (an upload, a selection, a roster import); then both boards are rebuilt once from one read."""
        if split == "private" and not self.closed():
            raise NotRevealed("The private leaderboard is revealed after the competition closes.")
        version = self.store.version()
        with self._board_lock:
            cached = self._boards.get(version)
            if cached is None:
                names = {st.id: st.name for st in self.store.students()}
                subs, counts = self.store.board_candidates(self.cfg.final_selections)
                cached = {sp: rules.build_board(names, subs, self.cfg.baselines, split=sp,
                                                max_selected=self.cfg.final_selections, counts=counts)
                          for sp in ("public", "private")}
                self._boards = {version: cached}
        return cached[split]

    def clear_cache(self) -> None:
        """Forget the cached boards (benchmarks time the rebuild after a change with it)."""
        with self._board_lock:
            self._boards = {}

    # -------------------------------------------------------------------------------------------------- admin
    def import_roster(self, data: bytes) -> tuple[list[Issued], list[str]]:
        return import_roster(self.store, data)

    def probing(self, **kw) -> list[tuple[Student, rules.ProbeFlag]]:
        by_id = {st.id: st for st in self.store.students()}
        return [(by_id[f.student_id], f) for f in rules.probing_flags(self.store.submissions(), **kw)]

    def export_leaderboard_csv(self) -> str:
        """TA export (includes private scores at any time: it is never student-reachable). One row per student:
        best public, final private, submission count, and the ranks on both boards."""
        students = self.store.students()
        subs = rules.group_by_student(self.store.submissions())
        names = {st.id: st.name for st in students}
        allsubs = [s for v in subs.values() for s in v]
        ranks = {}
        for split in ("public", "private"):
            for row in rules.build_board(names, allsubs, {}, split=split, max_selected=self.cfg.final_selections):
                ranks[(split, row.student_id)] = row.rank
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["login", "name", "email", "n_submissions", "best_public", "best_public_id", "public_rank",
                    "final_private", "final_id", "private_rank"])
        for st in students:
            mine = subs.get(st.id, [])
            b = rules.best(mine, "public")
            f = rules.final_submission(mine, self.cfg.final_selections)
            w.writerow([st.login, st.name, st.email, len(mine), _fmt(b and b.public), b.id if b else "",
                        ranks.get(("public", st.id), ""), _fmt(f and f.private), f.id if f else "",
                        ranks.get(("private", st.id), "")])
        return buf.getvalue()

    def export_baselines_csv(self) -> str:
        """TA export: per student, which baselines were passed on public (best public) and on private (final)."""
        names = list(self.cfg.baselines)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["login", "name", "best_public", "final_private"]
                   + [f"{n}_public" for n in names] + [f"{n}_private" for n in names])
        subs = rules.group_by_student(self.store.submissions())
        for st in self.store.students():
            mine = subs.get(st.id, [])
            b = rules.best(mine, "public")
            f = rules.final_submission(mine, self.cfg.final_selections)
            pub = rules.baselines_passed(b.public if b else None, self.cfg.baselines, "public")
            pri = rules.baselines_passed(f.private if f else None, self.cfg.baselines, "private")
            w.writerow([st.login, st.name, _fmt(b and b.public), _fmt(f and f.private)]
                       + [int(pub[n]) for n in names] + [int(pri[n]) for n in names])
        return buf.getvalue()


def _fmt(x) -> str:
    return "" if x is None or x is False else f"{x:.6f}"
