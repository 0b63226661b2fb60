"""Probing and collusion signals for the TA: which uploads look like someone learning the public split row by row,
or like one file shared between students. Signals are hints for a human, shown on the admin page and in the TA
export only; they never block an upload or change a score.

Why these: one file that scores every row 0 except ID ``i`` reveals, from its public AUC, whether row ``i`` is public
and its label (the AUC is ~0.5 ± 1/(2·n) when it is, exactly 0.5 when it is private). More generally, an upload that
changes the order of a few rows of an earlier one of the same student learns, from the change of its public AUC,
about those rows' labels however small the change of value: the AUC depends on the ranking alone. Neither has to
improve the score, so a detector that only watches improvements misses it. Copying shows as the same bytes, the
same ranking of the rows (any increasing transform of a file's scores gives the same AUC on every split), or a
ranking that differs by a swap or by tiny noise: Spearman's rank correlation stays ~1 (a swap of two adjacent rows
of 20,000: 1 - 1.5e-12; N(0, 1e-6) noise on scores of spread 1: 1 - 1e-10), where honestly retrained models stay
below 0.999 (a fine-tuning that moves every score by a tenth of their spread: 0.9956, 94% of rows reordered).

Each upload gets a :class:`~grader.leaderboard.store.Fingerprint` when it is stored (about 2 ms for 20,000 rows):
a hash of its dense ranks, its number of distinct values, the share of its most common value, and a sketch. The
sketch holds a hash of the order of the rows inside each of 64 blocks of consecutive IDs (adding a constant, or
anything that keeps the order, changes no hash; reordering k rows changes at most k blocks), then the rank of each
of 256 evenly spaced rows, scaled to 0..65535 (a sample for an estimate of the rank correlation). Only pairs that
the sketches bring near are read back and compared row by row: within a student, uploads whose orders differ in a
few blocks, and the previous upload if their sampled ranks correlate at 0.995 or more; across students, the latter.
"""
from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass
from itertools import pairwise
from typing import Callable, Sequence

import numpy as np

from grader.leaderboard.store import Fingerprint, FingerprintRow

BLOCKS = 64
#: Rows whose rank the sketch samples (evenly spaced IDs; all rows of a smaller test set).
SAMPLE = 256
#: A near-constant file: at least this share of rows hold its most common value, or at most 2 distinct values.
NEAR_CONSTANT_SHARE = 0.99
#: Pairs whose orders differ in at most this many blocks are compared row by row.
MAX_BLOCKS = 4
#: At most this many earlier uploads of the student, the nearest by sketch, are compared with each upload.
MAX_COMPARED = 8
#: Pairs whose sampled ranks correlate at least this much are compared row by row.
SAMPLE_NEAR = 0.995
#: Uploads of two students whose rank correlation (Spearman, over every row) is at least this are flagged.
COPY_SPEARMAN = 0.999


def sample_rows(n: int) -> np.ndarray:
    """The IDs whose ranks the sketch holds: ``SAMPLE`` evenly spaced ones (every ID when there are fewer)."""
    return np.unique(np.linspace(0, n - 1, min(n, SAMPLE)).round().astype(np.int64)) if n else np.zeros(0, int)


def _ranks(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(argsort, dense ranks (np.unique's inverse), first sorted index of each run of equal values, run lengths)
    of the (M,) scores, from one sort. Row ``i``'s mid-rank (ties share their mean 0-based rank) is
    ``starts[dense[i]] + (counts[dense[i]] - 1) / 2``."""
    n = len(scores)
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    first = np.empty(n, dtype=bool)          # the first of each run of equal values in sorted order
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    dense = np.empty(n, dtype="<i4")
    dense[order] = np.cumsum(first, dtype="<i4") - 1
    starts = np.flatnonzero(first)
    return order, dense, starts, np.diff(starts, append=n)


def _midranks(scores: np.ndarray) -> np.ndarray:
    _, dense, starts, counts = _ranks(scores)
    return starts[dense] + (counts[dense] - 1) / 2


def fingerprint(scores: np.ndarray) -> Fingerprint:
    """The fingerprint of one upload's (M,) scores (row = ID).

    The same values as ``np.unique(scores, return_inverse=True, return_counts=True)``, for each of
    ``np.array_split(scores, BLOCKS)`` a blake2b of its IDs in a stable sort by score and of which neighbours in that
    order are equal, and ``scipy.stats.rankdata`` at :func:`sample_rows` would give (a test checks), from one
    sort."""
    scores = np.ascontiguousarray(scores, dtype="<f8")
    n = len(scores)
    order, dense, starts, counts = _ranks(scores)
    rank_sha = hashlib.sha256(dense.tobytes()).hexdigest()
    q, r = divmod(n, BLOCKS)                 # np.array_split's blocks: the first r hold one row more
    bounds = [i * q + min(i, r) for i in range(BLOCKS + 1)]
    block = np.repeat(np.arange(BLOCKS, dtype=np.int8), np.diff(bounds))
    # The global sort split by block keeps each block's rows in their order (a stable sort on the block number).
    ids = order[np.argsort(block[order], kind="stable")].astype("<i4")
    ties = np.zeros(n, dtype=bool)           # ties[k]: ids[k] scores the same as ids[k - 1]
    np.equal(dense[ids[1:]], dense[ids[:-1]], out=ties[1:])
    raw_ids, raw_ties = memoryview(ids).cast("B"), memoryview(ties).cast("B")
    sketch = b"".join(hashlib.blake2b(raw_ids[4 * a:4 * b].tobytes() + raw_ties[a + 1:b].tobytes(),
                                      digest_size=8).digest() for a, b in pairwise(bounds))
    sampled = dense[sample_rows(n)]
    mid = starts[sampled] + (counts[sampled] - 1) / 2
    sample = np.round(mid / max(n - 1, 1) * 65535).astype("<u2")
    return Fingerprint(rank_sha, int(len(starts)), float(counts.max() / n), sketch + sample.tobytes())


def rows_reordered(a: np.ndarray, b: np.ndarray) -> int:
    """The fewest rows that, left out, leave two (M,) score vectors with the same order of the rest (no pair of
    rows strictly in one order in ``a`` and strictly in the other in ``b``). Moving one row to the top is 1, a swap
    of two adjacent rows is 1, any increasing transform is 0. O(M log M)."""
    seq = b[np.lexsort((b, a))].tolist()     # b's values in a's order, a's ties broken by b
    tails: list[float] = []                  # longest non-decreasing run: patience sorting
    for x in seq:
        i = bisect_right(tails, x)
        if i == len(tails):
            tails.append(x)
        else:
            tails[i] = x
    return len(seq) - len(tails)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two (M,) score vectors (ties at their mid-rank); 0 when one is constant."""
    ra, rb = _midranks(np.asarray(a, float)), _midranks(np.asarray(b, float))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(np.sqrt((ra @ ra) * (rb @ rb)))
    return float(ra @ rb) / den if den else 0.0


def small_diff_threshold(n_rows: int) -> int:
    """At most this many changed rows is "a handful": 10, or 0.1% of a large test set."""
    return max(10, n_rows // 1000)


@dataclass(frozen=True)
class Signal:
    """One observation about one student's upload. ``kind``: ``small-diff`` (reorders a few rows of an earlier
    upload of theirs), ``near-constant``, ``same-file`` / ``same-ranks`` / ``similar-ranks`` (as another student's
    upload)."""
    student_id: int
    kind: str
    submission_id: int
    detail: str
    other_submission: int | None = None
    other_student: int | None = None


def _sketch(r: FingerprintRow) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(block hashes, standardised sampled ranks or None) of an upload's sketch; (None, None) without one."""
    if r.sketch is None or len(r.sketch) < 8 * BLOCKS:
        return None, None
    blocks = np.frombuffer(r.sketch[:8 * BLOCKS], "<u8")
    rest = r.sketch[8 * BLOCKS:]
    if not rest or len(rest) % 2:
        return blocks, None
    z = np.frombuffer(rest, "<u2").astype(float)
    z -= z.mean()
    norm = float(np.sqrt(z @ z))
    return blocks, (z / norm if norm else None)


def compute(rows: Sequence[FingerprintRow], *, n_rows: int, reordered: Callable[[int, int], int],
            correlation: Callable[[int, int], float]) -> list[Signal]:
    """All signals over ``rows`` (every counted upload, oldest first). ``reordered(a, b)`` is
    :func:`rows_reordered` and ``correlation(a, b)`` :func:`spearman` of uploads ``a`` and ``b`` (they read both
    files; called only for pairs the sketches bring near)."""
    out: list[Signal] = []
    handful = small_diff_threshold(n_rows)
    sketches = {r.id: _sketch(r) for r in rows}
    by_student: dict[int, list[FingerprintRow]] = {}
    for r in rows:
        by_student.setdefault(r.student_id, []).append(r)
    for sid, mine in sorted(by_student.items()):
        for k, r in enumerate(mine):
            if r.n_distinct is not None and (r.n_distinct <= 2 or (r.mode_share or 0) >= NEAR_CONSTANT_SHARE):
                out.append(Signal(sid, "near-constant", r.id,
                                  f"{r.n_distinct} distinct value(s); {100 * r.mode_share:.2f}% of rows share one"))
            blocks, z = sketches[r.id]
            if blocks is None or r.rank_sha is None:
                continue
            near = []        # (blocks differing, earlier upload) whose order may differ in a few rows only
            for j, e in enumerate(mine[:k]):
                e_blocks, e_z = sketches[e.id]
                if e_blocks is None or e.rank_sha in (None, r.rank_sha):
                    continue       # the same order: the same AUC on every split, nothing learnt
                d = int((blocks != e_blocks).sum())
                if d <= MAX_BLOCKS or (j == k - 1 and z is not None and e_z is not None
                                       and float(z @ e_z) >= SAMPLE_NEAR):
                    near.append((d, e))
            best = None
            for _, e in sorted(near, key=lambda x: (x[0], -x[1].id))[:MAX_COMPARED]:
                n = reordered(e.id, r.id)
                if 0 < n <= handful and (best is None or n < best[0]):
                    best = (n, e)
            if best:
                out.append(Signal(sid, "small-diff", r.id, f"reorders {best[0]} row(s) of #{best[1].id}",
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
    out += _similar_ranks(rows, sketches, correlation)
    return out


def _similar_ranks(rows: Sequence[FingerprintRow], sketches: dict, correlation: Callable[[int, int], float],
                   chunk: int = 512) -> list[Signal]:
    """Uploads of two students whose rankings differ (other rank hashes) but correlate at ``COPY_SPEARMAN`` or
    more: a copy with a few rows swapped or tiny noise added. The sampled ranks of every pair are correlated as
    one matrix product (1,000 uploads: ~3 ms), then the near pairs are read back (~10 ms a pair of 20,000 rows)."""
    have = [r for r in rows if sketches[r.id][1] is not None and r.rank_sha is not None]
    if len(have) < 2 or len({len(sketches[r.id][1]) for r in have}) != 1:
        return []
    z = np.stack([sketches[r.id][1] for r in have]).astype(np.float32)
    similar: dict[int, list[tuple[FingerprintRow, float]]] = {}
    for i0 in range(0, len(have), chunk):
        near = np.argwhere(z[i0:i0 + chunk] @ z.T >= SAMPLE_NEAR)
        for i, j in near + [i0, 0]:
            a, b = have[i], have[j]
            if i < j and a.student_id != b.student_id and a.rank_sha != b.rank_sha:
                rho = correlation(a.id, b.id)
                if rho >= COPY_SPEARMAN:
                    similar.setdefault(a.id, []).append((b, rho))
                    similar.setdefault(b.id, []).append((a, rho))
    out = []
    for r in have:
        if r.id in similar:
            others = sorted(similar[r.id], key=lambda x: x[0].id)
            first, rho = others[0]
            out.append(Signal(r.student_id, "similar-ranks", r.id,
                              f"ranks the rows almost as #{first.id} does (Spearman {rho:.6f})"
                              + (f" and {len(others) - 1} more" if len(others) > 1 else ""),
                              other_submission=first.id, other_student=first.student_id))
    return out


def summary(signals: Sequence[Signal]) -> dict[int, str]:
    """``{student_id: 'near-constant ×3; small-diff ×12; same-file ×1'}`` for the TA export."""
    counts: dict[int, dict[str, int]] = {}
    for s in signals:
        c = counts.setdefault(s.student_id, {})
        c[s.kind] = c.get(s.kind, 0) + 1
    return {sid: "; ".join(f"{k} ×{n}" for k, n in sorted(c.items())) for sid, c in counts.items()}
