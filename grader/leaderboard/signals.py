"""Probing and collusion signals for the TA: which uploads look like someone learning the public split row by row,
or like one file shared between students. Signals are hints for a human, shown on the admin page and in the TA
export only; they never block an upload or change a score.

Why these: one file that scores every row 0 except ID ``i`` reveals, from its public AUC, whether row ``i`` is public
and its label (the AUC is ~0.5 ± 1/(2·n) when it is, exactly 0.5 when it is private). A student doing that uploads
near-constant files, or files that differ from an earlier one of theirs in a handful of rows; neither has to
improve the score, so a detector that only watches improvements misses it. Copying shows as the same bytes, or the
same ranking of the rows (any increasing transform of a file's scores gives the same AUC on every split).

Each upload gets a :class:`~grader.leaderboard.store.Fingerprint` when it is stored (about 1.5 ms for 20,000
rows): a hash of its dense ranks, its number of distinct values, the share of its most common value, and a sketch
(an 8-byte hash of each of 64 blocks of consecutive IDs). Two uploads differing in k rows differ in at most k
blocks, so only pairs with a few differing blocks are read back and compared row by row.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from grader.leaderboard.store import Fingerprint, FingerprintRow

BLOCKS = 64
#: A near-constant file: at least this share of rows hold its most common value, or at most 2 distinct values.
NEAR_CONSTANT_SHARE = 0.99
#: Pairs differing in at most this many blocks are compared row by row.
MAX_BLOCKS = 4


def fingerprint(scores: np.ndarray) -> Fingerprint:
    """The fingerprint of one upload's (M,) scores (row = ID)."""
    scores = np.ascontiguousarray(scores, dtype="<f8")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    rank_sha = hashlib.sha256(inverse.astype("<i4").tobytes()).hexdigest()
    sketch = b"".join(hashlib.blake2b(b.tobytes(), digest_size=8).digest()
                      for b in np.array_split(scores, BLOCKS))
    return Fingerprint(rank_sha, int(len(counts)), float(counts.max() / len(scores)), sketch)


def small_diff_threshold(n_rows: int) -> int:
    """At most this many changed rows is "a handful": 10, or 0.1% of a large test set."""
    return max(10, n_rows // 1000)


@dataclass(frozen=True)
class Signal:
    """One observation about one student's upload. ``kind``: ``small-diff`` (differs from an earlier upload of
    theirs in a few rows), ``near-constant``, ``same-file`` / ``same-ranks`` (as another student's upload)."""
    student_id: int
    kind: str
    submission_id: int
    detail: str
    other_submission: int | None = None
    other_student: int | None = None


def _blocks_differing(a: bytes, b: bytes) -> int:
    return int((np.frombuffer(a, "<u8") != np.frombuffer(b, "<u8")).sum())


def compute(rows: Sequence[FingerprintRow], *, n_rows: int,
            rows_differing: Callable[[int, int], int]) -> list[Signal]:
    """All signals over ``rows`` (every counted upload, oldest first). ``rows_differing(a, b)`` counts the rows
    in which uploads ``a`` and ``b`` differ (it reads both files; called only for near pairs)."""
    out: list[Signal] = []
    handful = small_diff_threshold(n_rows)
    by_student: dict[int, list[FingerprintRow]] = {}
    for r in rows:
        by_student.setdefault(r.student_id, []).append(r)
    for sid, mine in sorted(by_student.items()):
        for k, r in enumerate(mine):
            if r.n_distinct is not None and (r.n_distinct <= 2 or (r.mode_share or 0) >= NEAR_CONSTANT_SHARE):
                out.append(Signal(sid, "near-constant", r.id,
                                  f"{r.n_distinct} distinct value(s); {100 * r.mode_share:.2f}% of rows share one"))
            if r.sketch is None:
                continue
            near = [(d, e) for e in mine[:k] if e.sketch is not None
                    and 0 < (d := _blocks_differing(r.sketch, e.sketch)) <= MAX_BLOCKS]
            best = None
            for _, e in sorted(near, key=lambda x: (x[0], -x[1].id)):
                n = rows_differing(e.id, r.id)
                if 0 < n <= handful and (best is None or n < best[0]):
                    best = (n, e)
            if best:
                out.append(Signal(sid, "small-diff", r.id, f"differs from #{best[1].id} in {best[0]} row(s)",
                                  other_submission=best[1].id))
    # Across students: the same bytes, or (different bytes but) the same ranking of the rows.
    for kind, key in (("same-file", lambda r: r.sha256), ("same-ranks", lambda r: r.rank_sha)):
        groups: dict[str, list[FingerprintRow]] = {}
        for r in rows:
            if key(r) is not None and not (kind == "same-ranks" and r.n_distinct == 1):
                groups.setdefault(key(r), []).append(r)
        for members in groups.values():
            if len({m.student_id for m in members}) < 2:
                continue
            for m in members:
                others = [o for o in members if o.student_id != m.student_id
                          and not (kind == "same-ranks" and o.sha256 == m.sha256)]
                if not others:
                    continue
                first = min(others, key=lambda o: o.id)
                what = "the same file as" if kind == "same-file" else "the same ranking of the rows as"
                out.append(Signal(m.student_id, kind, m.id,
                                  f"{what} #{first.id}" + (f" and {len(others) - 1} more" if len(others) > 1 else ""),
                                  other_submission=first.id, other_student=first.student_id))
    return out


def summary(signals: Sequence[Signal]) -> dict[int, str]:
    """``{student_id: 'near-constant ×3; small-diff ×12; same-file ×1'}`` for the TA export."""
    counts: dict[int, dict[str, int]] = {}
    for s in signals:
        c = counts.setdefault(s.student_id, {})
        c[s.kind] = c.get(s.kind, 0) + 1
    return {sid: "; ".join(f"{k} ×{n}" for k, n in sorted(c.items())) for sid, c in counts.items()}
