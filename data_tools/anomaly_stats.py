"""Image statistics used to find semantic latent directions, filter normal faces, and audit anomaly kinds.

All functions take uint8 images (n,64,64,3) and return float64 (n,). Regions are in pixels of the 64x64
DCGAN faces, which are roughly centred: eyes near rows 22-32, mouth near rows 45-55 (seen on contact sheets).
"""
from __future__ import annotations

import numpy as np


def _float(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (64, 64, 3):
        raise ValueError(f"images must have shape (n, 64, 64, 3), got {images.shape}")
    return images.astype(np.float32) / 255.0


def _saturation(x: np.ndarray) -> np.ndarray:
    """HSV saturation of float images (n,64,64,3) in [0,1] -> (n,64,64)."""
    r, g, b = x[..., 0], x[..., 1], x[..., 2]  # elementwise over channels: same values as x.max(-1) / x.min(-1),
    v = np.maximum(np.maximum(r, g), b)         # several times faster than numpy's reduction over a length-3 axis
    return (v - np.minimum(np.minimum(r, g), b)) / np.maximum(v, 1e-3)


# -- trivial global statistics: what a near anomaly must NOT be separable by (brief: AUC <= ~0.7) -------------
def mean_brightness(images: np.ndarray) -> np.ndarray:
    return _float(images).mean((1, 2, 3)).astype(np.float64)


def mean_saturation(images: np.ndarray) -> np.ndarray:
    return _saturation(_float(images)).mean((1, 2)).astype(np.float64)


def image_std(images: np.ndarray) -> np.ndarray:
    return _float(images).std((1, 2, 3)).astype(np.float64)


TRIVIAL_STATS = {"mean_brightness": mean_brightness, "mean_saturation": mean_saturation, "image_std": image_std}


# -- local, structural statistics: one per held-out attribute ------------------------------------------------
def top_saturation_excess(images: np.ndarray) -> np.ndarray:
    """Saturation of the top third (rows 0-13) minus the whole image's: coloured headwear or hair.

    Relative, so a global colour cast does not move it (the plain top-third saturation does; see brief)."""
    s = _saturation(_float(images))
    return (s[:, :14].mean((1, 2)) - s.mean((1, 2))).astype(np.float64)


def eye_darkness(images: np.ndarray) -> np.ndarray:
    """Cheek band (rows 34-43) minus eye band (rows 22-31) grey level, cols 14-49: glasses, dark lenses."""
    g = _float(images).mean(-1)
    return (g[:, 34:44, 14:50].mean((1, 2)) - g[:, 22:32, 14:50].mean((1, 2))).astype(np.float64)


def mouth_darkness(images: np.ndarray) -> np.ndarray:
    """Upper cheeks (rows 34-41, cols 20-43) minus mouth box (rows 45-54, cols 22-41) grey level: open mouth."""
    g = _float(images).mean(-1)
    return (g[:, 34:42, 20:44].mean((1, 2)) - g[:, 45:55, 22:42].mean((1, 2))).astype(np.float64)


STRUCTURAL_STATS = {"top_saturation_excess": top_saturation_excess, "eye_darkness": eye_darkness,
                    "mouth_darkness": mouth_darkness}
