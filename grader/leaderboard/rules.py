"""Leaderboard rules as pure functions: no database, no clock, no HTTP. Every rule lives here, once.

- Day boundary: UTC midnight. A student's scored uploads with ``utc_day(submitted_at) == utc_day(now)`` count
  against ``daily_limit`` (late ones too); invalid uploads are never stored, so they never count.
- Deadline: a student's own deadline is the competition's close time unless the TA extended it. After it, uploads
  are refused, or (``late_uploads``) scored as *late*: shown to the student and on the late board, never ranked on
  the main boards, never selectable.
- Final selection: a student may mark up to ``final_selections`` submissions; if none is marked, the best public
  ones are auto-selected (ties: earlier first). Final score = best private among the selected (ties: earlier first).
- Ordering: ``grader.ranking.rank_entries`` (higher score first, ties → earlier submission first, then the lower
  submission id; a student tied with a baseline is listed above it). Baselines pass when ``score >= threshold``,
  consistent with that order.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from operator import attrgetter
from typing import Iterable, Mapping, NamedTuple, Sequence

from grader.errors import GraderError
from grader.ranking import rank_entries

class RuleViolation(GraderError):
    """An upload or selection breaks a competition rule (HTTP 403/409/429 at the edge)."""


class NotOpen(RuleViolation):
    """Uploads before ``opens_at`` or after ``closes_at``."""


class LimitReached(RuleViolation):
    """The student has used today's uploads; ``resets_at`` says when the next one is allowed."""

    def __init__(self, message: str, resets_at: datetime):
        self.resets_at = resets_at
        super().__init__(message)


class SelectionError(RuleViolation):
    """A final selection names too many submissions or someone else's."""


class Submission(NamedTuple):
    """One scored upload as the rules see it. ``private`` is always computed; whether it is *shown* is not decided
    here but in :mod:`.service`, which blanks it before the close time.

    A NamedTuple, not a frozen dataclass: a board rebuild makes 20,000 of them, and a frozen dataclass's
    ``__init__`` made that 4× slower."""
    id: int
    student_id: int
    submitted_at: datetime
    public: float
    private: float
    selected: bool = False
    filename: str = ""
    late: bool = False


class BoardRow(NamedTuple):
    """A line of a board. ``rank`` is 1-based among students (None for baseline rows, which carry a badge, and
    on the late board, which is never ranked). ``submitted_at`` is the ranked submission's time (it breaks ties);
    ``last_at`` the time of the student's latest upload counted on this board ("Last scored").

    A NamedTuple like :class:`Submission`: a frozen dataclass's ``__init__`` made a 1,000-row board cost ~15 ms."""
    rank: int | None
    name: str
    score: float
    submitted_at: datetime | None
    n_submissions: int
    baseline: bool = False
    student_id: int | None = None
    submission_id: int | None = None
    last_at: datetime | None = None
    public: float | None = None      # late board: both scores are shown


@dataclass(frozen=True)
class ProbeFlag:
    """A student whose public best climbed by ``tiny_steps`` improvements each no larger than ``tiny``."""
    student_id: int
    tiny_steps: int
    total_gain: float
    n_submissions: int


# ------------------------------------------------------------------------------------------------------- uploads
def utc_day(t: datetime) -> date:
    """The UTC calendar day of ``t`` (naive times are taken as UTC)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).date()


def next_reset(now: datetime) -> datetime:
    """The next UTC midnight after ``now``: when the daily limit resets."""
    return datetime.combine(utc_day(now) + timedelta(days=1), time(0), tzinfo=timezone.utc)


def used_today(times: Iterable[datetime], now: datetime) -> int:
    """How many of the scored uploads at ``times`` fall on ``now``'s UTC day."""
    today = utc_day(now)
    return sum(1 for t in times if utc_day(t) == today)


def uploads_left(used: int, limit: int) -> int:
    return max(0, limit - used)


def check_open(*, now: datetime, opens_at: datetime | None, closes_at: datetime | None,
               late_ok: bool = False) -> bool:
    """Raise :class:`NotOpen` if an upload at ``now`` is not scored at all; else return whether it is late (at or
    after ``closes_at``, the student's deadline, with ``late_ok``)."""
    if opens_at is not None and now < opens_at:
        raise NotOpen(f"The competition opens at {opens_at:%Y-%m-%d %H:%M} UTC.")
    late = closes_at is not None and now >= closes_at
    if late and not late_ok:
        raise NotOpen(f"The competition closed at {closes_at:%Y-%m-%d %H:%M} UTC; uploads are no longer scored.")
    return late


def check_daily_limit(*, now: datetime, used: int, limit: int) -> None:
    """Raise :class:`LimitReached` if one more scored upload at ``now`` would break the daily ``limit``; ``used``
    counts the student's uploads of ``now``'s UTC day, late ones too."""
    if used >= limit:
        reset = next_reset(now)
        raise LimitReached(f"Daily limit reached: {limit} scored upload(s) per UTC day. "
                           f"The limit resets at {reset:%Y-%m-%d %H:%M} UTC.", reset)


# --------------------------------------------------------------------------------------------- final selection
def _order(by: str):
    # The same order as grader.ranking.rank_entries (higher first, then earlier, then id) as a sort key: boards
    # pick each student's best among ~20 submissions 1,000 times per render, and a key is 10× cheaper there.
    return lambda s: (-getattr(s, by), s.submitted_at, s.id)


def best(subs: Sequence[Submission], by: str = "public") -> Submission | None:
    """Highest ``by`` score, ties → earlier submission; None when there are none."""
    return min(subs, key=_order(by)) if subs else None


def effective_selection(subs: Sequence[Submission], max_selected: int) -> list[Submission]:
    """The submissions that count for the final score: the marked ones, else the ``max_selected`` best public
    (late submissions never count)."""
    subs = [s for s in subs if not s.late]
    marked = [s for s in subs if s.selected]
    if marked:
        return sorted(marked, key=lambda s: (s.submitted_at, s.id))[:max_selected]
    return sorted(subs, key=_order("public"))[:max_selected]


def final_submission(subs: Sequence[Submission], max_selected: int) -> Submission | None:
    """Best private among the effective selection (ties → earlier); None for a student with no submission."""
    return best(effective_selection(subs, max_selected), by="private")


def check_selection(requested: Iterable[int], owned: Iterable[int], max_selected: int,
                    late: Iterable[int] = ()) -> list[int]:
    """Validate a student's final selection; return the ids sorted. Raise :class:`SelectionError` naming the id.
    ``owned``: the student's on-time submissions; ``late``: theirs after the deadline (never selectable)."""
    req = sorted(set(int(i) for i in requested))
    own, late = set(owned), set(late)
    for i in req:
        if i in late:
            raise SelectionError(f"Submission {i} was uploaded after the deadline; late submissions are scored "
                                 "but cannot be selected.")
        if i not in own:
            raise SelectionError(f"Submission {i} is not one of yours.")
    if len(req) > max_selected:
        raise SelectionError(f"You may select at most {max_selected} submission(s); you selected {len(req)}.")
    return req


# ------------------------------------------------------------------------------------------------------ boards
def group_by_student(subs: Iterable[Submission]) -> dict[int, list[Submission]]:
    out: dict[int, list[Submission]] = {}
    for s in subs:
        out.setdefault(s.student_id, []).append(s)
    return out


class Standing(NamedTuple):
    """One student's place on the main boards, from their on-time submissions: the best public one, the final one
    (best private among the effective selection; None only when ``max_selected`` is 0), how many there are and
    the time of the latest. Boards are ranked from standings, so a board kept up to date by re-reading only the
    students who changed (``service.Leaderboard``) is built exactly as one from every row."""
    student_id: int
    best: Submission
    final: Submission | None
    n: int
    last: datetime


def standing(mine: Sequence[Submission], max_selected: int, count: tuple[int, datetime] | None = None
             ) -> Standing | None:
    """The standing of one student from their submissions (late ones are ignored); None without an on-time one.
    ``count`` is their (number of on-time submissions, latest time) when ``mine`` is a candidate subset."""
    on_time = [s for s in mine if not s.late]
    if not on_time:
        return None
    n, last = count if count is not None else (len(on_time), max(s.submitted_at for s in on_time))
    return Standing(on_time[0].student_id, best(on_time, "public"), final_submission(on_time, max_selected), n,
                    last)


def standings(subs: Iterable[Submission], max_selected: int,
              counts: Mapping[int, tuple[int, datetime]] | None = None) -> dict[int, Standing]:
    """``{student id: standing}`` for every student with an on-time submission in ``subs``."""
    return {sid: standing(mine, max_selected, counts[sid] if counts is not None else None)
            for sid, mine in group_by_student(s for s in subs if not s.late).items()}


def rank_board(names: Mapping[int, str], ranked: Iterable[Standing], baselines: Mapping[str, object], *,
               split: str) -> list[BoardRow]:
    """Rank students (their best public, or their final submission's private score) and baseline rows on
    ``split``. Ties: ``grader.ranking.rank_entries``; students tied on score and time are listed by submission id
    (the one stored first), whatever the order of ``ranked``."""
    if split not in ("public", "private"):
        raise ValueError(f"split must be 'public' or 'private', got {split!r}")
    chosen, of = [], {}
    for st in ranked:
        sub = st.best if split == "public" else st.final
        if sub is not None:
            chosen.append(sub)
            of[st.student_id] = st
    # Submissions are ranked as they are (``rank_entries`` reads their fields); baselines as dicts.
    chosen.sort(key=lambda s: s.id)
    entries = chosen + [{split: getattr(b, split), "submitted_at": None, "baseline": True, "name": b.name}
                        for b in baselines.values()]
    score = attrgetter(split)
    rows = []
    for rank, e in rank_entries(entries, by=split):
        if isinstance(e, dict):
            rows.append(BoardRow(None, e["name"], e[split], None, 0, baseline=True))
            continue
        sid = e.student_id
        st = of[sid]
        rows.append(BoardRow(rank, names.get(sid, f"student {sid}"), score(e), e.submitted_at, st.n, False, sid,
                             e.id, st.last))
    return rows


def build_board(names: Mapping[int, str], subs: Iterable[Submission], baselines: Mapping[str, object], *,
                split: str, max_selected: int, counts: Mapping[int, tuple[int, datetime]] | None = None
                ) -> list[BoardRow]:
    """Rank students and baseline rows on ``split`` ('public' or 'private').

    Public board: each student's best public submission. Private board: each student's final submission
    (best private among the effective selection). Students without submissions are not listed; late
    submissions are ignored. ``counts`` gives each student's (number of submissions, time of the latest) when
    ``subs`` is only a candidate subset (``store.boards.read``); by default both come from ``subs``.
    """
    if split not in ("public", "private"):
        raise ValueError(f"split must be 'public' or 'private', got {split!r}")
    return rank_board(names, standings(subs, max_selected, counts).values(), baselines, split=split)


def build_late_board(names: Mapping[int, str], subs: Iterable[Submission]) -> list[BoardRow]:
    """The late board: each student's best late submission by private score (higher first, ties → earlier), with
    its public score too. Never ranked (``rank`` None): it only shows what late work would have scored."""
    rows = []
    for sid, mine in group_by_student(s for s in subs if s.late).items():
        b = best(mine, "private")
        rows.append(BoardRow(None, names.get(sid, f"student {sid}"), b.private, b.submitted_at, len(mine),
                             student_id=sid, submission_id=b.id, last_at=max(s.submitted_at for s in mine),
                             public=b.public))
    rows.sort(key=lambda r: (-r.score, r.submitted_at, r.submission_id))
    return rows


def baselines_passed(score: float | None, baselines: Mapping[str, object], split: str) -> dict[str, bool]:
    """``{baseline name: score >= threshold}`` on ``split``; all False for a student with no score."""
    return {name: score is not None and score >= getattr(b, split) for name, b in baselines.items()}


# ----------------------------------------------------------------------------------------------------- probing
def probing_flags(subs: Iterable[Submission], *, tiny: float = 0.002, min_steps: int = 5) -> list[ProbeFlag]:
    """Flag accounts whose public best climbs by many tiny steps (public-split probing).

    For each student, in upload order, every upload that raises their best public score by ``0 < gain <= tiny``
    is a tiny step; ``min_steps`` or more of them flag the account. Genuine model changes move the AUC by
    more than that; flipping a few rows to learn their labels moves it by about ``1/(n_pos*n_neg)`` per pair.
    """
    flags = []
    for sid, mine in sorted(group_by_student(subs).items()):
        mine = sorted(mine, key=lambda s: (s.submitted_at, s.id))
        best_so_far, steps, gain = None, 0, 0.0
        for s in mine:
            if best_so_far is not None and 0 < s.public - best_so_far <= tiny:
                steps += 1
                gain += s.public - best_so_far
            if best_so_far is None or s.public > best_so_far:
                best_so_far = s.public
        if steps >= min_steps:
            flags.append(ProbeFlag(sid, steps, gain, len(mine)))
    return flags
