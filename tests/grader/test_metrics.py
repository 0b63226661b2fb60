"""ROC-AUC: the slides' example, brute-force pair counting with ties, equality with scikit-learn, input checks."""
from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

import grader.metrics
from grader.metrics import roc_auc


def brute_force_auc(y, s) -> float:
    """P(anomaly scores above normal) + 0.5 P(tie), over all (anomaly, normal) pairs."""
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    pos, neg = s[y == 1], s[y == 0]
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def test_doctest_slides_example():
    assert doctest.testmod(grader.metrics).failed == 0


def test_slides_example():
    y = [0, 1, 1, 0, 0]
    s = [11383, 256676, 862365, 152435, 848171]
    assert round(roc_auc(y, s), 4) == 0.8333
    assert roc_auc(y, s) == pytest.approx(5 / 6, abs=1e-15)


def test_perfect_reversed_and_constant():
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y, [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc(y, [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert roc_auc(y, [7, 7, 7, 7]) == 0.5


def test_only_order_matters():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    y[:2] = (0, 1)
    s = rng.normal(size=200)
    a = roc_auc(y, s)
    assert roc_auc(y, np.exp(s)) == a
    assert roc_auc(y, 1000 * s - 3) == a
    assert roc_auc(y, -s) == pytest.approx(1 - a, abs=1e-15)


def test_bool_and_float_labels():
    s = [0.3, 0.1, 0.8, 0.5]
    assert roc_auc(np.array([False, False, True, True]), s) == roc_auc([0, 0, 1, 1], s) == roc_auc([0., 0., 1., 1.], s)


def test_negative_zero_ties_with_zero():
    assert roc_auc([0, 1], [0.0, -0.0]) == 0.5


def test_large_scores_and_many_rows_match_sklearn():
    rng = np.random.default_rng(1)
    n = 50_000
    y = (rng.random(n) < 0.3).astype(int)
    s = np.round(y + rng.normal(size=n), 2) * 1e300  # heavy ties, huge magnitudes
    assert abs(roc_auc(y, s) - roc_auc_score(y, s)) < 1e-12


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_matches_brute_force_and_sklearn_with_ties(data):
    n = data.draw(st.integers(2, 40))
    y = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    y[0], y[1] = 0, 1  # both classes present
    # Few distinct values so ties are common, or arbitrary floats.
    values = data.draw(st.one_of(
        st.lists(st.integers(-2, 2).map(float), min_size=n, max_size=n),
        st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=n, max_size=n)))
    got = roc_auc(y, values)
    assert got == pytest.approx(brute_force_auc(y, values), abs=1e-12)
    assert abs(got - roc_auc_score(y, values)) <= 1e-12
    assert 0.0 <= got <= 1.0


@pytest.mark.parametrize("y,s,words", [
    ([0, 1, 1], [0.1, 0.2], "differ in length"),
    ([[0, 1]], [[0.1, 0.2]], "1-D"),
    ([0, 1, 2], [0.1, 0.2, 0.3], "only 0 and 1"),
    ([1, 1, 1], [0.1, 0.2, 0.3], "only one class"),
    ([0, 0], [0.1, 0.2], "only one class"),
    ([], [], "only one class"),
    ([0, 1], [0.1, np.nan], "NaN or infinite"),
    ([0, 1], [np.inf, 0.2], "NaN or infinite"),
    (["a", "b"], [0.1, 0.2], "0/1 labels"),
    ([0, 1], ["x", "y"], "real numbers"),
])
def test_invalid_input_raises(y, s, words):
    with pytest.raises(ValueError, match=words):
        roc_auc(y, s)
