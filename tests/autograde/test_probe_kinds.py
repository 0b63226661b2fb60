"""benchmarks/probe_kinds.py: its expectation and standard error are what the probes' AUC measures (the figures
themselves are not asserted)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks import probe_kinds as pk


def test_the_expected_auc_of_a_mixture_is_the_auc_of_a_test_set_drawn_by_its_shares():
    rng = np.random.default_rng(0)
    normal = rng.normal(0, 1, 200)
    kinds = {"far": rng.normal(1.5, 1, 300), "near": rng.normal(0.2, 1, 100), "odd": rng.normal(-0.3, 1, 200)}
    per_kind = {k: roc_auc_score(np.r_[np.zeros(200), np.ones(len(s))], np.r_[normal, s]) for k, s in kinds.items()}
    anomalous = np.concatenate(list(kinds.values()))
    direct = roc_auc_score(np.r_[np.zeros(200), np.ones(len(anomalous))], np.r_[normal, anomalous])
    shares = {k: len(s) / len(anomalous) for k, s in kinds.items()}
    assert abs(pk.expected_auc(per_kind, shares) - direct) < 1e-12
    # shares need not sum to one; equal weights are not the drawn test set's AUC
    assert abs(pk.expected_auc(per_kind, {k: 10 * v for k, v in shares.items()}) - direct) < 1e-12
    assert abs(pk.expected_auc(per_kind, dict.fromkeys(kinds, 1.0)) - direct) > 0.01


def test_the_standard_error_matches_the_spread_of_aucs_on_repeated_probe_sets():
    rng = np.random.default_rng(1)
    n0, n1, shift = 64, 64, 0.75
    y = np.r_[np.zeros(n0), np.ones(n1)]
    aucs = [roc_auc_score(y, np.r_[rng.normal(0, 1, n0), rng.normal(shift, 1, n1)]) for _ in range(1500)]
    se = pk.auc_standard_error(float(np.mean(aucs)), n0, n1)
    assert 0.85 < se / np.std(aucs) < 1.15, (se, np.std(aucs))
    assert pk.auc_standard_error(0.7, 4 * n0, 4 * n1) < se / 1.8      # four times the probes: about half the error
