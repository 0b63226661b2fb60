"""Seeded random streams and the Public/Private split of the test rows.

Every random decision in a build draws from its own named stream, derived from the build seed with
``np.random.SeedSequence``: train latents, test-normal latents, each anomaly kind, the test shuffle and the
split. A stream is keyed by its name (not by its position in a list), so adding an anomaly kind or changing
the mixture leaves every other stream — and hence the training set — unchanged.
"""
from __future__ import annotations

import zlib

import numpy as np

from common.answer_key import NORMAL_KIND, USAGES
from data_tools.io import DatasetError

DEFAULT_PUBLIC_FRACTION = 0.3


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator for stream ``name`` of build ``seed``; distinct names give independent streams."""
    # crc32 of the name as the spawn key: stable across Python runs (unlike hash()) and collision-free for our names.
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(name.encode()),)))


def check_public_fraction(public_fraction: float) -> float:
    f = float(public_fraction)
    if not 0.0 < f < 1.0:
        raise DatasetError(f"public_fraction must be strictly between 0 and 1, got {public_fraction}")
    return f


def stratified_usage(labels: np.ndarray, kinds: np.ndarray, public_fraction: float,
                     rng: np.random.Generator, private_only_kinds=()) -> np.ndarray:
    """Assign each test row to ``Public`` or ``Private``, stratified by (label, kind).

    labels (M,) 0/1, kinds (M,) str -> usage (M,) str. In every (label, kind) group of size g exactly
    ``round(public_fraction * g)`` rows are Public, chosen at random; groups are visited in sorted order so the
    result depends only on the rng's state. Rows of ``private_only_kinds`` are all Private (the private board then
    measures kinds the public board could not be tuned to); every other group is split as before, from the same
    rng draws. Raises ``DatasetError`` if a split would lack normal or anomalous rows.
    """
    f = check_public_fraction(public_fraction)
    labels, kinds = np.asarray(labels), np.asarray(kinds).astype(str)
    if labels.shape != kinds.shape or labels.ndim != 1:
        raise DatasetError(f"labels {labels.shape} and kinds {kinds.shape} must be 1-D and of equal length")
    private_only = set(private_only_kinds)
    if NORMAL_KIND in private_only:
        raise DatasetError(f"private-only kinds must be anomaly kinds, not {NORMAL_KIND!r}: the public board needs "
                           f"normal rows")
    usage = np.full(len(labels), USAGES[1], dtype=object)
    for label, kind in sorted({(int(a), str(b)) for a, b in zip(labels, kinds)}):
        idx = np.flatnonzero((labels == label) & (kinds == kind))
        n_public = int(np.floor(f * len(idx) + 0.5))  # round half up: np.round's half-to-even is surprising here
        chosen = rng.permutation(idx)[:n_public]  # drawn for every group, so other groups do not depend on the option
        if kind not in private_only:
            usage[chosen] = USAGES[0]
    usage = usage.astype(str)
    for split in USAGES:
        part = labels[usage == split]
        if len(np.unique(part)) < 2:
            hint = (f"; private-only kinds {sorted(private_only)} leave the public board no anomalies"
                    if split == USAGES[0] and private_only else "")
            raise DatasetError(f"the {split} split would have no {'normal' if 0 not in part else 'anomalous'} rows "
                               f"({len(labels)} test rows, public_fraction={f}): use more test rows or another "
                               f"public fraction{hint}")
    return usage


def kinds_from_labels(labels: np.ndarray) -> np.ndarray:
    """When only labels are known: kind 'normal' for 0, 'anomaly' for 1."""
    return np.where(np.asarray(labels) == 0, NORMAL_KIND, "anomaly")


def split_counts(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Split ``total`` rows among ``shares`` (summing to 1) by largest remainder; ties broken by name order.

    >>> split_counts(10, {"a": 0.55, "b": 0.45})
    {'a': 6, 'b': 4}
    """
    names = sorted(shares)
    exact = np.array([shares[k] * total for k in names])
    counts = np.floor(exact).astype(int)
    # a stable sort keeps name order among equal remainders, so the result is deterministic
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:total - counts.sum()]] += 1
    by_name = dict(zip(names, counts))
    return {k: int(by_name[k]) for k in shares}  # in the caller's order
