"""ROC-AUC, the competition's metric, in numpy only (the grader never imports torch or scikit-learn at scoring time).

Follows scikit-learn's shape: ``roc_auc`` validates its inputs, ``_binary_roc_auc`` does the maths. The maths is the
Mann-Whitney form: AUC = P(score of a random anomaly > score of a random normal) + 0.5 * P(tie), which is exactly
the area under the ROC curve that ``sklearn.metrics.roc_auc_score`` integrates, ties included (a tie is a diagonal
step of the curve, worth half a pair).
"""
from __future__ import annotations

import numpy as np


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve of ``y_score`` for the binary labels ``y_true``.

    Args:
        y_true: (n,) labels, 1 = anomaly (positive), 0 = normal; bools or integers/floats equal to 0 or 1.
        y_score: (n,) finite real scores, **the higher, the more abnormal**.

    Returns:
        The AUC in [0, 1]: 1.0 when every anomaly scores above every normal, 0.5 for constant scores.

    Raises:
        ValueError: shapes differ or are not 1-D, labels other than 0/1, a single class, or a NaN/inf score.

    The slides' worked example (HW8, "Evaluation - ROC AUC score Example"):

    >>> roc_auc([0, 1, 1, 0, 0], [11383, 256676, 862365, 152435, 848171])
    0.8333333333333334
    >>> round(roc_auc([0, 1, 1, 0, 0], [11383, 256676, 862365, 152435, 848171]), 4)
    0.8333
    """
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    if y_true.ndim != 1 or y_score.ndim != 1:
        raise ValueError(f"y_true and y_score must be 1-D, got shapes {y_true.shape} and {y_score.shape}")
    if len(y_true) != len(y_score):
        raise ValueError(f"y_true and y_score differ in length: {len(y_true)} != {len(y_score)}")
    if y_true.dtype == bool:
        labels = y_true
    else:
        if not (np.issubdtype(y_true.dtype, np.number)):
            raise ValueError(f"y_true must hold 0/1 labels, got dtype {y_true.dtype}")
        labels = y_true == 1
        if not np.all(labels | (y_true == 0)):
            bad = np.unique(y_true[~(labels | (y_true == 0))])[:5]
            raise ValueError(f"y_true must hold only 0 and 1, found {bad.tolist()}")
    n_pos = int(labels.sum())
    if n_pos == 0 or n_pos == len(labels):
        raise ValueError("ROC AUC is undefined when y_true holds only one class "
                         f"({n_pos} positives among {len(labels)} rows)")
    if not np.issubdtype(y_score.dtype, np.number) or np.issubdtype(y_score.dtype, np.complexfloating):
        raise ValueError(f"y_score must be real numbers, got dtype {y_score.dtype}")
    y_score = y_score.astype(np.float64, copy=False)
    if not np.all(np.isfinite(y_score)):
        raise ValueError(f"y_score holds {int((~np.isfinite(y_score)).sum())} NaN or infinite value(s)")
    return _binary_roc_auc(labels, y_score)


def _binary_roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """AUC from mid-ranks, O(n log n). ``positive``: (n,) bool with both classes; ``score``: (n,) finite float64.

    Mid-ranks are halves, so twice the rank sum is an integer: the Mann-Whitney U is computed exactly in int64
    and divided once, giving the correctly rounded AUC (sklearn's trapezoid sums agree to ~1e-16).
    """
    n = len(score)
    order = np.argsort(score, kind="stable")
    s = score[order]
    # Tie groups of the sorted scores: [starts[g], ends[g]] (0-based, inclusive).
    change = np.flatnonzero(s[1:] != s[:-1])
    starts = np.concatenate(([0], change + 1))
    ends = np.concatenate((change, [n - 1]))
    pos_cum = np.cumsum(positive[order], dtype=np.int64)
    pos_in_group = np.diff(np.concatenate(([0], pos_cum[ends])))
    # Each positive in a group gets the group's mid-rank (starts+1 + ends+1) / 2 (1-based).
    twice_rank_sum = int(np.dot(pos_in_group, starts + ends + 2))
    n_pos = int(pos_cum[-1])
    n_neg = n - n_pos
    twice_u = twice_rank_sum - n_pos * (n_pos + 1)
    return twice_u / (2 * n_pos * n_neg)
