"""Figures for notebooks and reports. Each function returns a matplotlib ``Figure`` and saves a PNG if given a path.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot): nothing is shown twice in a notebook, no GUI
backend is needed (PNG output goes through Agg), and figures are freed when no longer referenced.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from starter_code.formats import check_images


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig


def plot_loss(history, path: str | Path | None = None, title: str | None = None) -> Figure:
    """Mean training loss per epoch. ``history``: a ``train.History`` or a sequence of floats."""
    losses = list(getattr(history, "losses", history))
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    epochs = np.arange(1, len(losses) + 1)
    ax.plot(epochs, losses, marker="o" if len(losses) <= 30 else None)
    if losses and min(losses) > 0 and max(losses) / min(losses) > 20:
        ax.set_yscale("log")  # VAE losses start orders of magnitude above where they end
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean training loss")
    model_type = getattr(history, "model_type", None)
    ax.set_title(title or (f"training loss ({model_type})" if model_type else "training loss"))
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_score_histogram(scores, labels=None, path: str | Path | None = None, bins: int = 50,
                         title: str = "anomaly scores") -> Figure:
    """Histogram of anomaly scores ``(M,)``; with ``labels`` ``(M,)`` (0 normal, 1 anomaly) one histogram each."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    edges = np.histogram_bin_edges(scores, bins=bins) if len(scores) else bins
    if labels is None:
        ax.hist(scores, bins=edges, color="tab:blue", alpha=0.8)
    else:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape != scores.shape:
            raise ValueError(f"labels {labels.shape} and scores {scores.shape} must have the same length")
        for value, name, color in ((0, "normal", "tab:blue"), (1, "anomaly", "tab:red")):
            ax.hist(scores[labels == value], bins=edges, alpha=0.6, color=color,
                    label=f"{name} ({int(np.sum(labels == value))})")
        ax.legend()
    ax.set_xlabel("anomaly score (higher = more anomalous)")
    ax.set_ylabel("images")
    ax.set_title(title)
    return _save(fig, path)


def plot_images(images, titles: Sequence[str] | None = None, ncols: int = 8, path: str | Path | None = None,
                title: str | None = None) -> Figure:
    """Grid of uint8 images ``(n, 64, 64, 3)`` with optional per-image ``titles``."""
    images = check_images(np.asarray(images), "plot_images: images")
    n = len(images)
    if titles is not None and len(titles) != n:
        raise ValueError(f"plot_images: {len(titles)} titles for {n} images")
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig = Figure(figsize=(1.5 * ncols, 1.6 * nrows + (0.4 if title else 0)))
    for i in range(nrows * ncols):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.axis("off")
        if i < n:
            ax.imshow(images[i])
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_reconstructions(images, recon, scores, k: int = 4, path: str | Path | None = None) -> Figure:
    """The ``k`` lowest- and ``k`` highest-scoring images (top row of each pair) over their reconstructions.

    ``images`` and ``recon``: uint8 ``(M, 64, 64, 3)``; ``scores``: ``(M,)``. Columns are ordered by score;
    titles give row index and score.
    """
    images = check_images(np.asarray(images), "plot_reconstructions: images")
    recon = check_images(np.asarray(recon), "plot_reconstructions: recon")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not (len(images) == len(recon) == len(scores)):
        raise ValueError(f"plot_reconstructions: {len(images)} images, {len(recon)} reconstructions and "
                         f"{len(scores)} scores must match")
    order = np.argsort(scores, kind="stable")
    k = max(1, min(k, len(order) // 2 if len(order) >= 2 else 1))
    groups = (("lowest scores (most normal)", order[:k]), ("highest scores (most anomalous)", order[::-1][:k]))
    fig = Figure(figsize=(1.6 * k, 7))
    subfigs = fig.subfigures(2, 1)
    for sub, (name, idx) in zip(subfigs, groups):
        sub.suptitle(name, fontsize=10)
        axes = sub.subplots(2, k, squeeze=False)
        for j, i in enumerate(idx):
            axes[0, j].imshow(images[i])
            axes[0, j].set_title(f"#{i}: {scores[i]:.3g}", fontsize=8)
            axes[1, j].imshow(recon[i])
            for ax in axes[:, j]:
                ax.set_xticks([])
                ax.set_yticks([])
        axes[0, 0].set_ylabel("input", fontsize=8)
        axes[1, 0].set_ylabel("reconstruction", fontsize=8)
    return _save(fig, path)
