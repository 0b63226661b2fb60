"""Per-submission figures and noise estimates: ROC curve PNG (matplotlib, Agg) and bootstrap AUC intervals."""
from __future__ import annotations

import io

import numpy as np

from grader.metrics import roc_auc


def roc_points(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr), each (K,), from (n,) labels 0/1 and (n,) scores (higher = more anomalous); tied scores make one
    diagonal step, as the AUC counts them."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(y_score, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # one point per distinct threshold
    tp = np.cumsum(y)[last_of_run]
    fp = (last_of_run + 1) - tp
    tpr = np.r_[0.0, tp / max(1, y.sum())]
    fpr = np.r_[0.0, fp / max(1, (~y).sum())]
    return fpr, tpr


def roc_png(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str = "ROC curve") -> bytes:
    """PNG bytes of one ROC curve per ``{label: (y_true (n,), y_score (n,))}``, AUC in the legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: thread-safe inside the web server

    fig = Figure(figsize=(4.2, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, (y, s) in curves.items():
        fpr, tpr = roc_points(y, s)
        ax.plot(fpr, tpr, lw=1.6, label=f"{label} (AUC {roc_auc(y, s):.4f})")
    ax.plot([0, 1], [0, 1], ls="--", c="0.6", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.005), title=title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def bootstrap_auc(y_true: np.ndarray, y_score: np.ndarray, *, n_boot: int = 200, level: float = 0.95,
                  seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the AUC: resample the (n,) rows with replacement ``n_boot`` times.

    Resamples that miss a class are redrawn (they have no AUC). Deterministic for a given ``seed``.
    """
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    rng = np.random.default_rng(seed)
    aucs = []
    while len(aucs) < n_boot:
        idx = rng.integers(0, len(y), len(y))
        yb = y[idx]
        if yb.min() == yb.max():
            continue
        aucs.append(roc_auc(yb, s[idx]))
    lo, hi = np.quantile(aucs, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)
