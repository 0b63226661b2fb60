"""Anomaly kinds for the face anomaly-detection data set, and the filter that defines "normal".

Interface (stable; ``data_tools/build.py`` builds against it):

- ``AnomalyKind``: a named generator ``generate(faces, n, rng) -> uint8 (n,64,64,3)``, tagged ``near`` or ``far``.
- ``KINDS``: name -> kind; ``get_kind(name)`` raises ``KeyError`` listing the valid names.
- ``DEFAULT_MIXTURE``: kind name -> share of the anomalous test rows (sums to 1).
- ``normal_latent_mask(z)``: which latents (n,100) may be rendered as normal faces (train and normal test).
- ``normal_image_mask(images)``: post-render filter on image statistics for normal faces.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from data_tools.faces import NZ, FaceGenerator

Generate = Callable[[FaceGenerator, int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class AnomalyKind:
    """One kind of anomalous test image."""
    name: str = field(metadata={"help": "registry key; written to the answer key's `kind` column"})
    distance: str = field(metadata={"help": "'near' (subtle, same faces with a held-out attribute) or 'far'"})
    description: str = field(metadata={"help": "one line for the README and the build report"})
    generate: Generate = field(repr=False, metadata={
        "help": "generate(faces, n, rng) -> uint8 (n,64,64,3); deterministic given rng's state"})

    def __post_init__(self):
        if self.distance not in ("near", "far"):
            raise ValueError(f"anomaly kind {self.name!r}: distance must be 'near' or 'far', got {self.distance!r}")


def _check(images: np.ndarray, n: int) -> np.ndarray:
    assert images.dtype == np.uint8 and images.shape == (n, 64, 64, 3), (images.dtype, images.shape)
    return images


def _out_of_prior(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    # z scaled x2.5: far from the prior the generator was trained on (image std alone separates it at ~0.89 AUC).
    z = faces.sample_latents(n, rng) * 2.5
    return _check(faces.render(z), n)


def _inverted(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    # Colour negative of a normal face: the crudest corruption, any detector should catch it.
    z = faces.sample_latents(n, rng)
    return _check(255 - faces.render(z), n)


KINDS: dict[str, AnomalyKind] = {k.name: k for k in [
    AnomalyKind("out_of_prior", "far", "faces from latents scaled x2.5 (outside the N(0,I) prior)", _out_of_prior),
    AnomalyKind("inverted", "far", "colour-inverted normal faces", _inverted),
]}

DEFAULT_MIXTURE: dict[str, float] = {"out_of_prior": 0.5, "inverted": 0.5}


def get_kind(name: str) -> AnomalyKind:
    """The registered kind called ``name``; ``KeyError`` naming the valid kinds otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown anomaly kind {name!r}; valid kinds: {', '.join(sorted(KINDS))}") from None


def normal_latent_mask(z: np.ndarray) -> np.ndarray:
    """z (n,100) -> bool (n,): True where the latent may be rendered as a normal face."""
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] != NZ:
        raise ValueError(f"latents must have shape (n, {NZ}), got {z.shape}")
    return np.ones(len(z), dtype=bool)


def normal_image_mask(images: np.ndarray) -> np.ndarray:
    """uint8 images (n,64,64,3) -> bool (n,): True where a rendered face may be kept as normal."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (64, 64, 3):
        raise ValueError(f"images must have shape (n, 64, 64, 3), got {images.shape}")
    return np.ones(len(images), dtype=bool)
