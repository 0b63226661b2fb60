"""Image statistics: the battery of trivial global statistics a near anomaly must not be separable by, and the
regions the semantic kinds are named after (for the faithfulness measure).

All statistics take uint8 images (n,64,64,3) and return float64 (n,). Regions are in pixels of the 64x64 DCGAN
faces, which are roughly centred: eyes near rows 22-32, mouth near rows 44-54 (seen on contact sheets). Statistics
per part of the face and per cell of a grid, which a regional edit moves far more than these global ones:
``region_stats`` (``EXTENDED_BATTERY``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def _float(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (64, 64, 3):
        raise ValueError(f"images must have shape (n, 64, 64, 3), got {images.shape}")
    return images.astype(np.float32) / 255.0


def _grey(images: np.ndarray) -> np.ndarray:
    return _float(images).mean(-1)


def _saturation(x: np.ndarray) -> np.ndarray:
    """HSV saturation of float images (n,64,64,3) in [0,1] -> (n,64,64)."""
    r, g, b = x[..., 0], x[..., 1], x[..., 2]  # elementwise over channels: same values as x.max(-1) / x.min(-1),
    v = np.maximum(np.maximum(r, g), b)         # several times faster than numpy's reduction over a length-3 axis
    return (v - np.minimum(np.minimum(r, g), b)) / np.maximum(v, 1e-3)


# -- the battery of trivial global statistics (issue: a near kind must stay <= 0.7 AUC on every one) -----------
def mean_brightness(images: np.ndarray) -> np.ndarray:
    return _float(images).mean((1, 2, 3)).astype(np.float64)


def mean_saturation(images: np.ndarray) -> np.ndarray:
    return _saturation(_float(images)).mean((1, 2)).astype(np.float64)


def image_std(images: np.ndarray) -> np.ndarray:
    return _float(images).std((1, 2, 3)).astype(np.float64)


def gradient_x(images: np.ndarray) -> np.ndarray:
    """Mean absolute horizontal difference of the grey image: edge energy across columns."""
    g = _grey(images)
    return np.abs(np.diff(g, axis=2)).mean((1, 2)).astype(np.float64)


def gradient_y(images: np.ndarray) -> np.ndarray:
    """Mean absolute vertical difference of the grey image (the statistic that exposed the old ``glasses``)."""
    g = _grey(images)
    return np.abs(np.diff(g, axis=1)).mean((1, 2)).astype(np.float64)


def laplacian_variance(images: np.ndarray) -> np.ndarray:
    """Variance of the 4-neighbour Laplacian of the grey image (interior pixels): the usual sharpness measure."""
    g = _grey(images)
    lap = g[:, :-2, 1:-1] + g[:, 2:, 1:-1] + g[:, 1:-1, :-2] + g[:, 1:-1, 2:] - 4 * g[:, 1:-1, 1:-1]
    return lap.var((1, 2)).astype(np.float64)


HIGH_FREQUENCY_CUTOFF = 0.25  # cycles/pixel (Nyquist is 0.5): detail finer than 4 pixels


def high_frequency_energy(images: np.ndarray) -> np.ndarray:
    """Share of the grey image's spectral power (mean removed) above ``HIGH_FREQUENCY_CUTOFF`` cycles/pixel."""
    g = _grey(images)
    g = g - g.mean((1, 2), keepdims=True)
    power = np.abs(np.fft.rfft2(g)) ** 2
    fy = np.fft.fftfreq(64)[:, None]
    fx = np.fft.rfftfreq(64)[None, :]
    high = np.hypot(fy, fx) > HIGH_FREQUENCY_CUTOFF
    return (power[:, high].sum(1) / np.maximum(power.sum((1, 2)), 1e-12)).astype(np.float64)


HISTOGRAM_BINS = 8  # per channel: 8x8x8 joint RGB bins


def colour_histogram(images: np.ndarray) -> np.ndarray:
    """uint8 images (n,64,64,3) -> joint RGB histograms (n, 512), each summing to 1."""
    images = np.asarray(images)
    _float(images[:1])  # shape check
    q = (images.astype(np.int32) * HISTOGRAM_BINS) // 256
    idx = (q[..., 0] * HISTOGRAM_BINS + q[..., 1]) * HISTOGRAM_BINS + q[..., 2]
    n = len(images)
    flat = idx.reshape(n, -1) + (np.arange(n) * HISTOGRAM_BINS ** 3)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n * HISTOGRAM_BINS ** 3).reshape(n, -1)
    return counts / counts.sum(1, keepdims=True)


def colour_histogram_distance(images: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Total-variation distance (0..1) of each image's colour histogram to the mean histogram of ``reference``
    (normal training images, uint8 (m,64,64,3))."""
    mean = colour_histogram(reference).mean(0)
    return (0.5 * np.abs(colour_histogram(images) - mean).sum(1)).astype(np.float64)


#: name -> statistic(images) for the statistics that need no reference set.
TRIVIAL_STATS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "brightness": mean_brightness, "saturation": mean_saturation, "std": image_std,
    "gradient_x": gradient_x, "gradient_y": gradient_y, "laplacian_var": laplacian_variance,
    "high_freq": high_frequency_energy,
}
BATTERY = (*TRIVIAL_STATS, "colour_hist")


def battery(images: np.ndarray, reference: np.ndarray) -> dict[str, np.ndarray]:
    """Every statistic of the battery (``BATTERY`` names) on uint8 ``images`` (n,64,64,3) -> name -> (n,).

    ``reference``: normal training images, for the colour-histogram distance to their mean histogram."""
    out = {name: f(images) for name, f in TRIVIAL_STATS.items()}
    out["colour_hist"] = colour_histogram_distance(images, reference)
    return out


def separability(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """ROC-AUC of a statistic used as a score either way round, ``max(auc, 1 - auc)``: a student may threshold it
    from either side. ``normal`` (n,), ``anomalous`` (m,)."""
    from sklearn.metrics import roc_auc_score
    normal, anomalous = np.asarray(normal, np.float64), np.asarray(anomalous, np.float64)
    auc = roc_auc_score(np.r_[np.zeros(len(normal)), np.ones(len(anomalous))], np.r_[normal, anomalous])
    return float(max(auc, 1 - auc))


def battery_separability(normal: np.ndarray, anomalous: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """``separability`` of every battery statistic between uint8 ``normal`` and ``anomalous`` images; the
    colour-histogram distance is measured to the mean histogram of ``reference`` (normal training images)."""
    a, b = battery(normal, reference), battery(anomalous, reference)
    return {name: separability(a[name], b[name]) for name in BATTERY}


# -- named regions (faithfulness of the semantic kinds) ----------------------------------------------------------
def region_mask(rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """bool (64,64): True on rows [r0, r1) and columns [c0, c1)."""
    m = np.zeros((64, 64), bool)
    m[rows[0]:rows[1], cols[0]:cols[1]] = True
    return m


def concentration(before: np.ndarray, after: np.ndarray, region: np.ndarray) -> np.ndarray:
    """How much of the change from ``before`` to ``after`` (uint8 (n,64,64,3) each) falls inside ``region``
    (bool (64,64)), relative to the region's share of the image: (share of the summed squared difference inside
    the region) / (region area / image area). 1 = the change is spread evenly; the largest possible value is
    ``image area / region area`` (all of it inside). -> float64 (n,)."""
    d = ((_float(after) - _float(before)) ** 2).sum(-1)
    inside = d[:, region].sum(1)
    total = np.maximum(d.sum((1, 2)), 1e-12)
    return (inside / total / region.mean()).astype(np.float64)


#: The parts of the face the near kinds are named after, as bool masks (64,64) (rows, columns in pixels; generous
#: because the faces are only roughly centred).
REGIONS: dict[str, np.ndarray] = {
    "eyes": region_mask((16, 36), (6, 58)),
    "top": region_mask((0, 18), (0, 64)),
    "mouth": region_mask((40, 60), (14, 50)),
    "lower_face": region_mask((32, 64), (8, 56)),
    "cheeks": region_mask((30, 52), (12, 52)),
}
