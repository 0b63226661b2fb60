"""Region statistics: per part of the face (and per cell of a plain grid) the colour, intensity and texture figures
a near anomaly must not be separable by, beside the global battery of ``anomaly_stats``.

A kind that edits one part of the face moves that part's statistics far more than the whole image's: a mask
darkens the lower face, paint saturates the cheeks, glasses add edges to the eye band. The global battery averages
those changes away; these statistics do not. Each is a function of one image alone (no labels, no reference set).

Per region, ``STATS`` (18 numbers): the channel means, robust minima and maxima (the 5th and 95th percentiles,
nearest rank) and variances; the grey intensity's mean and variance; the mean HSV saturation; and texture: the
mean grey gradient magnitude and the fraction of pixels whose gradient exceeds ``EDGE`` and ``STRONG_EDGE``.

Two sets of regions:

- ``FACE_BOXES``: the parts of the face, fixed boxes on the generator's mean face (the mean of 5,000 demo training
  faces: the eyes' darkest rows are 26-29 at columns 22-28 and 36-42, the nose's brightest rows 36-39, the lips'
  darkest row 51, the face spans columns ~12-52); ``region_features``;
- ``GRID`` x ``GRID`` equal cells with no knowledge of faces; ``grid_features``.

    from data_tools import region_stats as rs
    x = rs.region_features(images)            # float64 (n, len(rs.REGION_FEATURES))
    g = rs.grid_features(images)              # float64 (n, len(rs.GRID_FEATURES))
    sep = rs.extended_separability(normal, anomalous, reference)   # name -> max(auc, 1 - auc), every statistic
"""
from __future__ import annotations

import numpy as np

from data_tools import anomaly_stats

Box = tuple[int, int, int, int]   # rows r0:r1, columns c0:c1 (half-open), pixels of the 64x64 faces

#: The parts of the face, each a union of boxes (rows r0:r1, columns c0:c1) on the generator's mean face.
FACE_BOXES: dict[str, tuple[Box, ...]] = {
    "top": ((0, 8, 8, 56),),                          # hair, or a hat, above the forehead
    "forehead": ((8, 21, 14, 50),),
    "eyes": ((21, 35, 12, 52),),                      # the eye band: brows and both eyes
    "cheeks": ((33, 48, 10, 24), (33, 48, 40, 54)),   # left and right of the nose
    "mouth": ((45, 58, 20, 44),),                     # lips at row ~51
    "lower_face": ((40, 64, 12, 52),),                # mouth, jaw and chin
}
GRID = 4  # cells per side of the plain grid (16 cells of 16 x 16 pixels)

EDGE, STRONG_EDGE = 0.08, 0.2   # grey gradient magnitude (image in [0, 1]) counted as an edge, a strong edge
LOW, HIGH = 0.05, 0.95          # the robust minimum and maximum: these quantiles (nearest rank)
STATS = (*(f"mean_{c}" for c in "rgb"), *(f"lo_{c}" for c in "rgb"), *(f"hi_{c}" for c in "rgb"),
         *(f"var_{c}" for c in "rgb"), "grey_mean", "grey_var", "saturation", "gradient", "edges", "strong_edges")


def boxes_mask(boxes: tuple[Box, ...]) -> np.ndarray:
    """bool (64,64): True inside any of ``boxes``."""
    m = np.zeros((64, 64), bool)
    for r0, r1, c0, c1 in boxes:
        m[r0:r1, c0:c1] = True
    return m


def grid_boxes(cells: int = GRID) -> dict[str, tuple[Box, ...]]:
    """``cells`` x ``cells`` equal boxes named ``cell<row><col>`` (``cells`` divides 64)."""
    if cells < 1 or 64 % cells:
        raise ValueError(f"grid: cells must divide 64, got {cells!r}")
    s = 64 // cells
    return {f"cell{i}{j}": ((i * s, (i + 1) * s, j * s, (j + 1) * s),) for i in range(cells) for j in range(cells)}


def feature_names(regions: dict[str, tuple[Box, ...]]) -> list[str]:
    """``<region>.<stat>`` for every region and every name in ``STATS``, in the columns' order."""
    return [f"{r}.{s}" for r in regions for s in STATS]


REGION_FEATURES = feature_names(FACE_BOXES)
GRID_FEATURES = feature_names(grid_boxes())


def _maps(images: np.ndarray):
    """uint8 (n,64,64,3) -> float32 colour (n,4096,3), grey, saturation and gradient magnitude (n,4096) each."""
    x = anomaly_stats._float(images)
    grey = x.mean(-1)
    sat = anomaly_stats._saturation(x)
    gx = np.zeros_like(grey)
    gy = np.zeros_like(grey)
    gx[:, :, :-1] = np.diff(grey, axis=2)   # forward differences; the last column / row has none
    gy[:, :-1] = np.diff(grey, axis=1)
    grad = np.sqrt(gx * gx + gy * gy)
    n = len(x)
    return x.reshape(n, -1, 3), grey.reshape(n, -1), sat.reshape(n, -1), grad.reshape(n, -1)


def _stats(x: np.ndarray, grey: np.ndarray, sat: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """The pixels of one region, colour (n,p,3) and grey / saturation / gradient (n,p) -> (n, len(STATS))."""
    p = x.shape[1]
    lo, hi = int(round(LOW * (p - 1))), int(round(HIGH * (p - 1)))
    part = np.partition(x, (lo, hi), axis=1)
    f8 = np.float64  # accumulate in double: a row's figures do not depend on the batch it came in
    return np.concatenate([x.mean(1, dtype=f8), part[:, lo], part[:, hi], x.var(1, dtype=f8),
                           np.stack([grey.mean(1, dtype=f8), grey.var(1, dtype=f8), sat.mean(1, dtype=f8),
                                     grad.mean(1, dtype=f8), (grad > EDGE).mean(1), (grad > STRONG_EDGE).mean(1)],
                                    1)], 1)


def features(images: np.ndarray, regions: dict[str, tuple[Box, ...]], batch: int = 2000) -> np.ndarray:
    """uint8 ``images`` (n,64,64,3) -> float64 (n, len(regions) * len(STATS)): ``STATS`` of each region in turn
    (columns named by ``feature_names(regions)``), in batches (a memory-mapped set is never loaded whole)."""
    images = images if hasattr(images, "shape") else np.asarray(images)
    anomaly_stats._float(images[:1])  # shape check
    index = [np.flatnonzero(boxes_mask(b)) for b in regions.values()]
    out = np.empty((len(images), len(regions) * len(STATS)), np.float64)
    for i in range(0, len(images), batch):
        x, grey, sat, grad = _maps(np.asarray(images[i:i + batch]))
        out[i:i + len(x)] = np.concatenate([_stats(x[:, j], grey[:, j], sat[:, j], grad[:, j]) for j in index], 1)
    return out


def region_and_grid_features(images: np.ndarray, cells: int = GRID) -> tuple[np.ndarray, np.ndarray]:
    """``region_features`` and ``grid_features`` in one pass over the images (the pixel maps are shared)."""
    grid = grid_boxes(cells)
    both = features(images, {**FACE_BOXES, **grid})  # names never collide: cells are cell<row><col>
    return both[:, :len(FACE_BOXES) * len(STATS)], both[:, len(FACE_BOXES) * len(STATS):]


def region_features(images: np.ndarray) -> np.ndarray:
    """``STATS`` of every part of the face in ``FACE_BOXES`` -> float64 (n, len(REGION_FEATURES))."""
    return features(images, FACE_BOXES)


def grid_features(images: np.ndarray, cells: int = GRID) -> np.ndarray:
    """``STATS`` of every cell of a ``cells`` x ``cells`` grid -> float64 (n, cells * cells * len(STATS))."""
    return features(images, grid_boxes(cells))


def stabilised(values: np.ndarray) -> np.ndarray:
    """Columns of ``features`` (n, k * len(STATS)) made closer to Gaussian for a model that assumes one: the
    variances' logarithms (``log(var + 1e-4)``) and the texture figures' square roots; the rest as they are.
    Monotone per column, so no single statistic's separability changes; a Gaussian on the stabilised columns
    scores better (measured on the tiny preset: all rows 0.895 -> 0.898 on the regions, 0.833 -> 0.865 on the grid),
    because a heavy tail of normal faces no longer dominates the Mahalanobis distance."""
    values = np.array(values, np.float64)
    if values.ndim != 2 or values.shape[1] % len(STATS):
        raise ValueError(f"expected (n, k * {len(STATS)}) statistics, got shape {values.shape}")
    stat = np.resize(np.arange(len(STATS)), values.shape[1])
    log = np.isin(stat, [i for i, s in enumerate(STATS) if "var" in s])
    root = np.isin(stat, [STATS.index(s) for s in ("gradient", "edges", "strong_edges")])
    values[:, log] = np.log(values[:, log] + 1e-4)
    values[:, root] = np.sqrt(values[:, root])
    return values


#: Every statistic of the extended battery: the global battery's, then the regions', then the grid's.
EXTENDED_BATTERY = (*anomaly_stats.BATTERY, *REGION_FEATURES, *GRID_FEATURES)


def extended_battery(images: np.ndarray, reference: np.ndarray) -> dict[str, np.ndarray]:
    """Every statistic of ``EXTENDED_BATTERY`` on uint8 ``images`` (n,64,64,3) -> name -> float64 (n,).
    ``reference``: normal training images, for the global colour-histogram distance (the only statistic that
    needs them)."""
    out = anomaly_stats.battery(images, reference)
    for names, values in zip((REGION_FEATURES, GRID_FEATURES), region_and_grid_features(images)):
        out.update(zip(names, values.T))
    return out


def separability_columns(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``anomaly_stats.separability`` of every column at once: ``values`` (m, F), ``labels`` (m,) 0 = normal,
    1 = anomalous -> float64 (F,) of max(auc, 1 - auc) (ties count one half, as ``roc_auc_score``)."""
    from scipy.stats import rankdata
    values, labels = np.asarray(values, np.float64), np.asarray(labels).astype(bool)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    if not n0 or not n1:
        raise ValueError("separability needs normal and anomalous rows")
    ranks = rankdata(values, axis=0)
    auc = (ranks[labels].sum(0) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return np.maximum(auc, 1 - auc)


def extended_separability(normal: np.ndarray, anomalous: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """``separability`` of every ``EXTENDED_BATTERY`` statistic between uint8 ``normal`` and ``anomalous`` images
    (``reference``: normal training images, for the colour-histogram distance) -> name -> float."""
    a, b = extended_battery(normal, reference), extended_battery(anomalous, reference)
    names = list(EXTENDED_BATTERY)
    values = np.r_[np.stack([a[k] for k in names], 1), np.stack([b[k] for k in names], 1)]
    sep = separability_columns(values, np.r_[np.zeros(len(normal)), np.ones(len(anomalous))])
    return dict(zip(names, sep.tolist()))


def best(separabilities: dict[str, float]) -> tuple[str, float]:
    """The statistic that separates best, and its separability."""
    name = max(separabilities, key=separabilities.get)
    return name, separabilities[name]


__all__ = ["Box", "EDGE", "EXTENDED_BATTERY", "FACE_BOXES", "GRID", "GRID_FEATURES", "HIGH", "LOW",
           "REGION_FEATURES", "STATS", "STRONG_EDGE", "best", "boxes_mask", "extended_battery",
           "extended_separability", "feature_names", "features", "grid_boxes", "grid_features",
           "region_and_grid_features", "region_features", "separability_columns", "stabilised"]
