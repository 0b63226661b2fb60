"""ROC points and bootstrap intervals agree with the AUC the board shows."""
import numpy as np
import pytest

from grader.leaderboard import plots
from grader.metrics import roc_auc


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_points_integrate_to_the_auc_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    s = rng.integers(0, 8, 300).astype(float) + y   # many ties
    fpr, tpr = plots.roc_points(y, s)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, s), abs=1e-12)


def test_bootstrap_interval_brackets_the_auc_and_narrows_with_more_rows():
    rng = np.random.default_rng(0)
    widths = []
    for n in (100, 2000):
        y = rng.integers(0, 2, n)
        s = y + rng.standard_normal(n)
        lo, hi = plots.bootstrap_auc(y, s, n_boot=100, seed=1)
        assert lo <= roc_auc(y, s) <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2
    assert plots.bootstrap_auc(y, s, n_boot=50, seed=3) == plots.bootstrap_auc(y, s, n_boot=50, seed=3)
