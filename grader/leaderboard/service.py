"""The leaderboard as one object: validate, score, store; boards and pages; the private-score firewall.

Everything a student can reach goes through :class:`Leaderboard`, and every private score leaves it through
:meth:`Leaderboard.reveal` — which returns None before the student's deadline. "Now" comes from an injectable clock
so tests can move past the deadline without sleeping.

Per-student deadlines: the TA may extend one student's deadline (and change one student's daily limit); both are
recorded with who and when. Until a student's own deadline has passed, their uploads are on time, their private
scores stay hidden from them, and they are left off the private board (which lists them once it passes). Late
uploads (after a student's deadline) are scored, shown to their author and on the late board, never ranked on the
main boards; their private scores are shown only once no extension is running, so that nobody can probe the
private split for a classmate who still has time.

Public names: the boards show the roster nickname, else a stable pseudonym (:mod:`.display`); never the legal name.
"""
from __future__ import annotations

import csv
import hmac
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Callable

import numpy as np

from common.answer_key import AnswerKey, load_answer_key
from grader.competition import CompetitionConfig
from grader.errors import GraderError
from grader.leaderboard import plots, rules, signals
from grader.leaderboard.display import csv_row, public_names
from grader.leaderboard.roster import ImportResult, Issued, import_roster, reissue
from grader.leaderboard.rules import BoardRow, Submission
from grader.leaderboard.store import NewUpload, Override, Store, Student, hash_token
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
    """What a student sees of one submission. ``private`` is None until it may be shown."""
    id: int
    submitted_at: datetime
    filename: str
    public: float
    private: float | None
    selected: bool       # marked by the student
    counts: bool         # in the effective final selection (marked, or auto-selected best public)
    late: bool = False   # uploaded after the student's deadline: scored, never ranked on the main boards
    used_today: int | None = None    # set by ``submit``: this student's counted uploads today, this one included
    left_today: int | None = None


@dataclass(frozen=True)
class StudentPage:
    student: Student
    submissions: list[SubmissionView]   # newest first, on time and late
    used_today: int
    left_today: int
    daily_limit: int
    resets_at: datetime
    closed: bool                         # this student's deadline has passed
    open: bool                           # uploads are scored (on time, or late when late uploads are on)
    deadline: datetime | None            # this student's deadline (an extension, or the competition's)
    extended: bool
    final_private: float | None          # None before the deadline
    best_public: float | None
    last_scored: datetime | None         # the latest counted upload
    unconfirmed: list[Submission] = field(default_factory=list)   # stored, never acknowledged: not counted


class _LRU:
    """A small thread-safe LRU cache for rendered images, intervals and comparisons of uploads."""

    def __init__(self, size: int):
        self.size, self.data, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key, make):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        value = make()
        with self.lock:
            self.data[key] = value
            while len(self.data) > self.size:
                self.data.popitem(last=False)
        return value


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
        self._secret: bytes | None = None
        self._cache: dict = {}            # per store version: students, names, standings, boards, signals
        self._cache_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        # A 20,000-row ROC PNG costs ~400 ms and intervals ~350 ms; both are fixed once drawn for a given reveal.
        self._roc = _LRU(256)
        self._intervals = _LRU(1024)
        self._diffs = _LRU(4096)

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = self.store.secret()
        return self._secret

    # --------------------------------------------------------------------------------------------------- time
    def now(self) -> datetime:
        return self.clock()

    def closed(self) -> bool:
        """The competition's own deadline has passed (the private board is revealed)."""
        return self.cfg.is_closed(self.now())

    def deadline_for(self, student: Student) -> datetime | None:
        return student.deadline or self.cfg.closes_at

    def closed_for(self, student: Student, now: datetime | None = None) -> bool:
        d = self.deadline_for(student)
        return d is not None and (now or self.now()) >= d

    def limit_for(self, student: Student) -> int:
        return self.cfg.daily_limit if student.daily_limit is None else student.daily_limit

    def extensions_running(self) -> list[Student]:
        now = self.now()
        return [st for st in self._versioned()["students"]
                if st.deadline is not None and not self.closed_for(st, now)]

    def reveal(self, private: float, student: Student | None = None, late: bool = False) -> float | None:
        """The one gate for private scores: the value once it may be shown, else None. An on-time submission's
        after its author's deadline; a late one's after the close, once no extension is running."""
        if late:
            return private if self.closed() and not self.extensions_running() else None
        if student is not None:
            return private if self.closed_for(student) else None
        return private if self.closed() else None

    # --------------------------------------------------------------------------------------------------- auth
    def authenticate(self, token: str | None) -> Student | None:
        if not token or len(token) > 200 or not token.isascii():
            return None
        return self.store.accounts.by_token_hash(hash_token(token))

    def is_admin(self, token: str | None) -> bool:
        return bool(token and self._admin_hash and len(token) <= 200
                    and hmac.compare_digest(hash_token(token), self._admin_hash))

    # ------------------------------------------------------------------------------------------------ uploads
    def submit(self, student: Student, filename: str, data: bytes) -> SubmissionView:
        """Validate, score and store one upload. Raises ``SubmissionError`` (nothing stored, not counted),
        ``rules.NotOpen`` or ``rules.LimitReached``. The file's own problem is reported first, then the rules.

        The stored upload is unacknowledged until :meth:`ack` (the web app calls it once its answer is sent)."""
        now = self.now()
        scores = read_submission(data, len(self.key), max_bytes=self.cfg.max_upload_bytes)
        # The time rule needs no database: refused uploads are not scored. The daily limit is applied under the
        # student's lock, in the one transaction that counts the day's uploads and stores this one.
        limit = self.limit_for(student)
        late = rules.check_open(now=now, opens_at=self.cfg.opens_at, closes_at=self.deadline_for(student),
                                late_ok=self.cfg.late_uploads)
        s = score_scores(scores, self.key)
        upload = NewUpload.of(filename or "prediction.csv", data, public=s.public, private=s.private, late=late,
                              fingerprint=signals.fingerprint(scores))
        with self.store.transaction(write=True) as tx:
            used = self.store.uploads.count_today(tx, student.id, now)
            rules.check_daily_limit(now=now, used=used, limit=limit)
            sub, mine = self.store.uploads.insert(tx, student.id, now, upload)
        counting = {x.id for x in rules.effective_selection(mine, self.cfg.final_selections)}
        return replace(self._view(student, sub, sub.id in counting), used_today=used + 1,
                       left_today=rules.uploads_left(used + 1, limit))

    def ack(self, submission_id: int) -> None:
        self.store.uploads.ack(submission_id)

    def _view(self, student: Student, s: Submission, counts: bool) -> SubmissionView:
        return SubmissionView(s.id, s.submitted_at, s.filename, s.public, self.reveal(s.private, student, s.late),
                              s.selected, counts, s.late)

    def page(self, student: Student) -> StudentPage:
        now = self.now()
        subs = self.store.uploads.counted(student.id)
        counting = {s.id for s in rules.effective_selection(subs, self.cfg.final_selections)}
        used = rules.used_today((s.submitted_at for s in subs), now)
        limit, deadline = self.limit_for(student), self.deadline_for(student)
        on_time = [s for s in subs if not s.late]
        final = rules.final_submission(on_time, self.cfg.final_selections)
        best = rules.best(on_time, "public")
        closed = self.closed_for(student, now)
        opened = self.cfg.opens_at is None or now >= self.cfg.opens_at
        return StudentPage(
            student=student, submissions=[self._view(student, s, s.id in counting) for s in reversed(subs)],
            used_today=used, left_today=rules.uploads_left(used, limit), daily_limit=limit,
            resets_at=rules.next_reset(now), closed=closed, open=opened and (not closed or self.cfg.late_uploads),
            deadline=deadline, extended=student.deadline is not None,
            final_private=self.reveal(final.private, student) if final else None,
            best_public=best.public if best else None,
            last_scored=max((s.submitted_at for s in subs), default=None),
            unconfirmed=self.store.uploads.unconfirmed(student.id))

    def select(self, student: Student, ids: list[int]) -> list[int]:
        if self.closed_for(student):
            raise rules.SelectionError("Your deadline has passed; final selections are frozen.")
        return self.store.selections.replace(student.id, ids, self.cfg.final_selections)

    def own(self, student: Student, submission_id: int) -> Submission:
        s = self.store.uploads.get(submission_id)
        if s is None or s.student_id != student.id:
            raise NotFound(f"No submission {submission_id} among yours.")
        return s

    def view(self, student: Student, submission_id: int) -> SubmissionView:
        s = self.own(student, submission_id)
        counting = {x.id for x in rules.effective_selection(self.store.uploads.counted(student.id),
                                                             self.cfg.final_selections)}
        return self._view(student, s, s.id in counting)

    def download(self, student: Student, submission_id: int) -> tuple[str, bytes]:
        s = self.own(student, submission_id)
        return s.filename, self.store.uploads.content(s.id)

    def _scores(self, submission_id: int) -> np.ndarray:
        return read_submission(self.store.uploads.content(submission_id), len(self.key), max_bytes=1 << 40)

    def roc_png(self, student: Student, submission_id: int) -> bytes:
        """ROC curve on the public rows; the private curve is added only once the private score may be shown (a
        curve on the private rows before then would leak it). Cached per submission and reveal."""
        s = self.own(student, submission_id)
        revealed = self.reveal(s.private, student, s.late) is not None

        def draw():
            scores, k = self._scores(s.id), self.key
            curves = {"public": (k.labels[k.public], scores[k.public])}
            if revealed:
                curves["private"] = (k.labels[k.private], scores[k.private])
            return plots.roc_png(curves, title=f"Submission {s.id}")
        return self._roc.get((s.id, revealed), draw)

    def intervals(self, student: Student, submission_id: int, n_boot: int = 200) -> dict[str, tuple] | None:
        """95% bootstrap intervals of the public and private AUC, once the private score may be shown (else
        None). Cached per submission."""
        s = self.own(student, submission_id)
        if self.reveal(s.private, student, s.late) is None:
            return None

        def compute():
            scores, k = self._scores(s.id), self.key
            return {split: plots.bootstrap_auc(k.labels[m], scores[m], n_boot=n_boot, seed=s.id)
                    for split, m in (("public", k.public), ("private", k.private))}
        return self._intervals.get((s.id, n_boot), compute)

    # ------------------------------------------------------------------------------------------------- boards
    def _versioned(self) -> dict:
        """Students, public names and each student's standing, current with the store's version; the boards made
        from them are cached in it. A render costs one tiny query until something changes.

        After an upload or a selection (by this process or another on the database) only the students whose
        submissions changed are read again (``store.boards.read``) and the boards re-ranked from the
        standings; a roster import, an override or anything the store cannot name reads every student again.
        Either way the boards equal boards built from every row (tests check it step by step), also when an
        unacknowledged upload's grace time ends (no version marks that: its students are read again then). Only
        an acknowledgement that comes after the grace time shows at the next change."""
        version = self.store.version()
        c = self._cache
        if c.get("version") == version and not self._expired(c):
            return c
        with self._refresh_lock:
            c = self._cache
            if c.get("version") == version and not self._expired(c):
                return c
            read = self.store.boards.read(c.get("version"), c.get("unacked", ()), self.cfg.final_selections)
            if read.version == c.get("version") and not read.reread:
                c["expires"] = read.expires
                return c
            k = self.cfg.final_selections
            if read.full:
                students = read.students
                # Most full reads follow overrides: the roster is unchanged, and so are the names (1,000 HMACs).
                names = c["names"] if c.get("students") == students else public_names(students, self.secret)
                standings = rules.standings(read.rows, k, read.counts)
                late = {sid: tuple(mine) for sid, mine in rules.group_by_student(read.late).items()}
                c = {"students": students, "by_id": {st.id: st for st in students}, "names": names}
            else:
                standings, late = dict(c["standings"]), dict(c["late"])
                mine = rules.group_by_student(read.rows)
                for sid in read.reread:
                    rows = mine.get(sid, ())
                    st = rules.standing(rows, k)
                    if st is None:
                        standings.pop(sid, None)
                    else:
                        standings[sid] = st
                    late_rows = tuple(s for s in rows if s.late)
                    if late_rows:
                        late[sid] = late_rows
                    else:
                        late.pop(sid, None)
                c = {key: c[key] for key in ("students", "by_id", "names")}
            c.update(version=read.version, unacked=read.unacked, expires=read.expires, standings=standings,
                     late=late, boards={})
            self._cache = c
            return c

    def _expired(self, c: dict) -> bool:
        """A counted upload's grace time has ended since ``c`` was read: it may no longer count."""
        return c.get("expires") is not None and self.store.wall() >= c["expires"]

    def public_name(self, student: Student) -> str:
        return self._versioned()["names"].get(student.id) or public_names([student], self.secret)[student.id]

    def board(self, split: str = "public") -> list[BoardRow]:
        """The ranked public or private board, or the (unranked) late board. Cached per store version."""
        if split == "private" and not self.closed():
            raise NotRevealed("The private leaderboard is revealed after the competition closes.")
        if split == "late" and self.reveal(0.0, late=True) is None:
            raise NotRevealed("The late board is shown after the competition closes and every extension has ended.")
        c = self._versioned()
        now = self.now()
        if split == "late":
            key = ("late",)
        elif split == "public":
            key = ("public",)
        else:   # students whose extension runs are left off the private board until their deadline
            key = ("private", frozenset(st.id for st in c["students"]
                                        if st.deadline is not None and not self.closed_for(st, now)))
        with self._cache_lock:
            cached = c["boards"].get(key)
        if cached is None:
            names = c["names"]
            if split == "late":
                cached = rules.build_late_board(names, [s for rows in c["late"].values() for s in rows])
            elif split == "public":
                cached = rules.rank_board(names, c["standings"].values(), self.cfg.baselines, split="public")
            else:
                pending = key[1]
                cached = rules.rank_board(names, (st for sid, st in c["standings"].items() if sid not in pending),
                                          self.cfg.baselines, split="private")
            with self._cache_lock:
                c["boards"][key] = cached
        return cached

    # -------------------------------------------------------------------------------------------------- admin
    def import_roster(self, data, public_url: str = "", tokens_path=None) -> ImportResult:
        return import_roster(self.store, data, public_url or self.cfg.public_url, tokens_path)

    def reissue(self, ids: list[str]) -> list[Issued]:
        return reissue(self.store, ids)

    def set_override(self, student: Student, *, deadline: datetime | None | str = "keep",
                     daily_limit: int | None | str = "keep", by: str, note: str = "") -> None:
        """Change one student's deadline and/or daily limit (None: back to the competition's), recorded with who
        and when."""
        now = self.now()
        if deadline != "keep":
            self.store.overrides.set(student.id, "deadline", deadline, set_by=by, set_at=now, note=note)
        if daily_limit != "keep":
            self.store.overrides.set(student.id, "daily_limit", daily_limit, set_by=by, set_at=now, note=note)

    def overrides(self) -> list[Override]:
        return self.store.overrides.all()

    def signals(self) -> list[signals.Signal]:
        """Probing and collusion signals over every counted upload (cached per store version)."""
        c = self._versioned()
        with self._cache_lock:
            cached = c.get("signals")
        if cached is None:
            files = _LRU(64)       # one upload is often compared with several others in a row

            def scores(i: int) -> np.ndarray:
                return files.get(i, lambda: self._scores(i))

            def reordered(a: int, b: int) -> int:
                return self._diffs.get(("reordered", a, b), lambda: signals.rows_reordered(scores(a), scores(b)))

            def correlation(a: int, b: int) -> float:
                return self._diffs.get(("spearman", a, b), lambda: signals.spearman(scores(a), scores(b)))
            cached = signals.compute(self.store.uploads.fingerprints(), n_rows=len(self.key), reordered=reordered,
                                     correlation=correlation)
            cached += [signals.Signal(f.student_id, "tiny-steps", -1,
                                      f"{f.tiny_steps} improvements of at most 0.002 (total {f.total_gain:.4f})")
                       for f in rules.probing_flags(s for s in self.store.uploads.counted() if not s.late)]
            with self._cache_lock:
                c["signals"] = cached
        return cached

    def probing(self, **kw) -> list[tuple[Student, rules.ProbeFlag]]:
        by_id = self._versioned()["by_id"]
        return [(by_id[f.student_id], f) for f in rules.probing_flags(
            (s for s in self.store.uploads.counted() if not s.late), **kw)]

    def export_leaderboard_csv(self) -> str:
        """TA export (includes private scores at any time: it is never student-reachable). One row per student:
        legal and public names, best public, final private, submission counts, ranks on both boards, overrides
        and signals. Cells a spreadsheet would run as a formula are escaped."""
        c = self._versioned()
        subs = rules.group_by_student(self.store.uploads.counted())
        allsubs = [s for v in subs.values() for s in v]
        ranks = {}
        for split in ("public", "private"):
            for row in rules.build_board(c["names"], allsubs, {}, split=split,
                                         max_selected=self.cfg.final_selections):
                ranks[(split, row.student_id)] = row.rank
        flags = signals.summary(self.signals())
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["id", "name", "email", "lms_id", "public_name", "n_submissions", "n_late", "best_public",
                    "best_public_id", "public_rank", "final_private", "final_id", "private_rank", "deadline",
                    "daily_limit", "signals"])
        for st in c["students"]:
            mine = [s for s in subs.get(st.id, []) if not s.late]
            b = rules.best(mine, "public")
            f = rules.final_submission(mine, self.cfg.final_selections)
            w.writerow(csv_row([st.login, st.name, st.email, st.lms_id, c["names"][st.id], len(mine),
                                len(subs.get(st.id, [])) - len(mine), _fmt(b and b.public), b.id if b else "",
                                ranks.get(("public", st.id), ""), _fmt(f and f.private), f.id if f else "",
                                ranks.get(("private", st.id), ""),
                                st.deadline.isoformat() if st.deadline else "",
                                "" if st.daily_limit is None else st.daily_limit, flags.get(st.id, "")]))
        return buf.getvalue()

    def export_baselines_csv(self) -> str:
        """TA export: per student, which baselines were passed on public (best public) and on private (final)."""
        names = list(self.cfg.baselines)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["id", "name", "best_public", "final_private"]
                   + [f"{n}_public" for n in names] + [f"{n}_private" for n in names])
        subs = rules.group_by_student(s for s in self.store.uploads.counted() if not s.late)
        for st in self._versioned()["students"]:
            mine = subs.get(st.id, [])
            b = rules.best(mine, "public")
            f = rules.final_submission(mine, self.cfg.final_selections)
            pub = rules.baselines_passed(b.public if b else None, self.cfg.baselines, "public")
            pri = rules.baselines_passed(f.private if f else None, self.cfg.baselines, "private")
            w.writerow(csv_row([st.login, st.name, _fmt(b and b.public), _fmt(f and f.private)]
                               + [int(pub[n]) for n in names] + [int(pri[n]) for n in names]))
        return buf.getvalue()


def _fmt(x) -> str:
    return "" if x is None or x is False else f"{x:.6f}"
