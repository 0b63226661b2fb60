"""Probing and copying signals on ranks, against the evasions that defeat byte comparisons: probes that shift every
row by 1e-9·k while moving the one row they decode, copies with two adjacent ranks swapped or N(0, 1e-6) noise
added; and honest resubmissions (retrained models) that must stay unflagged. On a test set of the course's size
(20,000 rows), through :func:`signals.compute` with the files held in memory; the last test goes through the
service and the TA page."""
import hashlib
from itertools import pairwise

import numpy as np
import pytest

from grader.leaderboard import signals
from grader.leaderboard.signals import COPY_SPEARMAN, rows_reordered, spearman
from grader.leaderboard.store import FingerprintRow

from .conftest import T0, csv_bytes, noisy_scores
from .test_fairness import api

N = 20_000


def run(uploads: list[tuple[int, np.ndarray]]) -> list[signals.Signal]:
    """The signals over ``[(student id, scores), ...]`` in upload order (submission ids 1, 2, ...)."""
    files = {i: s for i, (_, s) in enumerate(uploads, 1)}
    rows = []
    for i, (student, scores) in enumerate(uploads, 1):
        fp = signals.fingerprint(scores)
        rows.append(FingerprintRow(i, student, T0, hashlib.sha256(scores.tobytes()).hexdigest(), fp.rank_sha,
                                   fp.n_distinct, fp.mode_share, fp.sketch, 0.5))
    return signals.compute(rows, n_rows=N, reordered=lambda a, b: rows_reordered(files[a], files[b]),
                           correlation=lambda a, b: spearman(files[a], files[b]))


def kinds(found: list[signals.Signal]) -> dict[tuple[int, str], list[int]]:
    out: dict[tuple[int, str], list[int]] = {}
    for s in found:
        out.setdefault((s.student_id, s.kind), []).append(s.submission_id)
    return out


@pytest.fixture(scope="module")
def model() -> tuple[np.ndarray, np.ndarray]:
    """(labels, a decent model's scores) on N rows."""
    rng = np.random.default_rng(3)
    labels = (rng.random(N) < 0.3).astype(float)
    return labels, labels + rng.standard_normal(N)


def test_reordered_rows_and_rank_correlation_by_hand():
    a = np.arange(10.0)
    assert rows_reordered(a, 3 * a + 1) == 0 and spearman(a, 3 * a + 1) == pytest.approx(1.0)
    swapped = a.copy()
    swapped[[4, 5]] = swapped[[5, 4]]
    assert rows_reordered(a, swapped) == 1
    top = a.copy()
    top[2] = 100
    assert rows_reordered(a, top) == rows_reordered(top, a) == 1
    assert rows_reordered(a, a[::-1].copy()) == 9 and spearman(a, a[::-1].copy()) == pytest.approx(-1.0)
    assert spearman(a, np.zeros(10)) == 0.0
    ties = np.array([0.0, 0, 0, 1, 1])
    assert rows_reordered(ties, np.array([0.0, 0, 1, 1, 1])) == 0           # ties broken one way: no conflict


def test_probes_that_shift_every_row_by_a_tiny_amount_are_flagged(model):
    """Every upload differs from the last in every byte (1e-9·k added to all rows), and each moves one more ID to
    the top to read its label off the public AUC."""
    _, base = model
    top = base.max() + 1
    uploads = [(1, base)]
    for k, row in enumerate([17, 4021, 9999, 12_345, 19_998], 1):
        probe = base + 1e-9 * k
        probe[row] = top
        uploads.append((1, probe))
    found = run(uploads)
    flagged = {s.submission_id: s for s in found if s.kind == "small-diff"}
    assert sorted(flagged) == [2, 3, 4, 5, 6]
    assert flagged[2].detail == "reorders 1 row(s) of #1"
    assert all(flagged[i].detail in (f"reorders 2 row(s) of #{i - 1}", "reorders 1 row(s) of #1")
               for i in range(3, 7))
    # A nudge just past one neighbour is a probe too, however small the change of value.
    order = np.argsort(base)
    nudged = base.copy()
    nudged[order[500]] = base[order[501]] + 1e-12
    assert [s.detail for s in run([(1, base), (1, nudged)]) if s.kind == "small-diff"] == ["reorders 1 row(s) of #1"]


def test_copies_with_a_swap_or_tiny_noise_are_flagged(model):
    labels, base = model
    rng = np.random.default_rng(11)
    order = np.argsort(base)
    swapped = base.copy()
    swapped[[order[7000], order[7001]]] = swapped[[order[7001], order[7000]]]
    noisy = base + rng.standard_normal(N) * 1e-6
    other = labels + np.random.default_rng(12).standard_normal(N)           # a classmate's own model
    assert rows_reordered(base, noisy) > 50                                  # the noise reorders many rows
    found = kinds(run([(1, base), (2, swapped), (3, noisy), (4, other)]))
    assert found[(2, "similar-ranks")] == [2] and found[(3, "similar-ranks")] == [3]
    assert found[(1, "similar-ranks")] == [1]                                # the original is named too
    assert not any(who == 4 for who, _ in found)
    assert not any(kind in ("same-file", "same-ranks") for _, kind in found)  # the exact checks miss them


def test_honest_resubmissions_are_not_flagged(model):
    """A student retraining: each model is the last one moved by fresh noise (a fine-tuning), or a new model."""
    labels, base = model
    rng = np.random.default_rng(21)
    mine = [base]
    for _ in range(4):
        mine.append(mine[-1] + 0.1 * rng.standard_normal(N))
    mine.append(labels + rng.standard_normal(N))
    for a, b in pairwise(mine):                                              # the premise: many rows move
        assert spearman(a, b) < COPY_SPEARMAN and rows_reordered(a, b) > 1000
    classmate = [labels + np.random.default_rng(30 + i).standard_normal(N) for i in range(3)]
    found = run([(1, s) for s in mine] + [(2, s) for s in classmate])
    assert found == []


def test_the_ta_sees_rank_signals_through_the_service(lb, key):
    lb.cfg.daily_limit = 100
    base = noisy_scores(key, 2.0, seed=5)
    order = np.argsort(base)
    swapped = base.copy()
    swapped[[order[50], order[51]]] = swapped[[order[51], order[50]]]
    probe = base + 1e-9
    probe[order[10]] = base.max() + 1
    lb.submit(lb.users["alice"], "mine.csv", csv_bytes(base))
    lb.submit(lb.users["alice"], "probe.csv", csv_bytes(probe))
    lb.submit(lb.users["bob"], "copy.csv", csv_bytes(swapped))
    got = {(lb.store.accounts.get(s.student_id).login, s.kind): s.detail for s in lb.signals()}
    assert got[("alice", "small-diff")] == "reorders 1 row(s) of #1"
    assert got[("bob", "similar-ranks")].startswith("ranks the rows almost as #1 does (Spearman 0.99")
    page = api(lb, "ta").get("/admin").text
    assert "similar-ranks" in page and "reorders 1 row(s) of #1" in page
    assert "similar-ranks ×1" in lb.export_leaderboard_csv()
