"""What every anomaly kind is built from: what a normal face is (the held-out latent slabs, and the limits normal
latents keep along them), the ``AnomalyKind`` type, and the helpers that draw onto a face.

``anomalies`` (version 1's kinds and the registry, ``get_kind``) and ``near_v2`` (version 2's near kinds) are built
on it; everything public here is also ``anomalies``' (``anomalies.AnomalyKind``, ``anomalies.HELD_OUT``, ...), the
names the rest of the kit uses. Why the limits and bands are where they are: ``anomalies``' docstring.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

from data_tools import anomaly_stats
from data_tools.anomaly_directions import DIRECTIONS, LABEL_MODELS
from data_tools.faces import NZ, FaceGenerator

Generate = Callable[[FaceGenerator, int, np.random.Generator], np.ndarray]
Edit = Callable[[FaceGenerator, int, np.random.Generator], "tuple[np.ndarray, np.ndarray]"]
FAMILIES = ("imitable", "semantic")   # the answer key's order (``answer_key.FAMILIES``)
NORMAL_LIMIT = 0.5            # normal latents keep z.d below this along every held-out direction ...
NORMAL_MAX_PROBABILITY = 0.05 # ... and the label models give them each attribute with P below this
# near semantic anomalies: z.d uniform in this band (why: ``HELD_OUT``)
ANOMALY_RANGES: dict[str, tuple[float, float]] = {"glasses": (2.0, 3.0), "headwear": (3.0, 4.0),
                                                  "open_mouth": (2.0, 3.0)}


@dataclass(frozen=True)
class AnomalyKind:
    """One kind of anomalous test image."""
    name: str = field(metadata={"help": "registry key; written to the answer key's `kind` column"})
    distance: str = field(metadata={"help": "'near' (subtle, same faces with a held-out attribute) or 'far'"})
    family: str = field(metadata={"help": "'imitable' (a local pixel edit a corruption recipe can mimic) or "
                                          "'semantic' (the face itself differs, or another real thing); written "
                                          "to the answer key's `family` column"})
    description: str = field(metadata={"help": "one line for the README and the build report"})
    generate: Generate = field(repr=False, metadata={
        "help": "generate(faces, n, rng) -> uint8 (n,64,64,3); deterministic given rng's state"})
    edit: Edit | None = field(default=None, repr=False, metadata={
        "help": "kinds made from a normal face: edit(faces, n, rng) -> (before, after), both uint8 (n,64,64,3); "
                "`after` equals generate() for the same rng state"})
    region: str | None = field(default=None, metadata={
        "help": "the part of the face the kind is named after (a key of anomaly_stats.REGIONS)"})

    def __post_init__(self):
        if self.distance not in ("near", "far"):
            raise ValueError(f"anomaly kind {self.name!r}: distance must be 'near' or 'far', got {self.distance!r}")
        if self.family not in FAMILIES:
            raise ValueError(f"anomaly kind {self.name!r}: family must be one of {FAMILIES}, got {self.family!r}")
        if self.region is not None and self.region not in anomaly_stats.REGIONS:
            raise ValueError(f"anomaly kind {self.name!r}: unknown region {self.region!r}; valid: "
                             f"{', '.join(anomaly_stats.REGIONS)}")


@dataclass(frozen=True)
class LatentRegion:
    """A held-out slab {z : low <= z.direction <= high} of the generator's latent space."""
    direction: np.ndarray = field(metadata={"help": "unit vector (100,) in z-space"})
    low: float = field(metadata={"help": "anomalies have z.d >= low"})
    high: float = field(metadata={"help": "anomalies have z.d <= high"})

    def move(self, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """z (n,100) with its component along ``direction`` replaced by U(low, high); the rest unchanged."""
        t = rng.uniform(self.low, self.high, len(z)).astype(np.float32)
        return (z + np.outer(t - z @ self.direction, self.direction)).astype(np.float32)

    def sample(self, faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
        """z (n,100): normal latents (``sample_normal_latents``) moved into the slab (``move``)."""
        return self.move(sample_normal_latents(faces, n, rng), rng)


# Why these bands and limits (benchmarks/calibrate_anomalies.py: 1,000 normal faces vs 500 per kind, and contact
# sheets): with NORMAL_LIMIT 0.5 and P < 0.05 the label models give normal faces each attribute with P ~0.01;
# anomalies get mean P 0.87 (glasses), 0.87 (headwear), 0.95 (open mouth) and no battery statistic separates a
# kind above 0.62. Bolder attributes are sharper images: glasses at 2.5-3.5 reach Laplacian variance 0.73 (0.85
# before the directions were made orthogonal to the statistics). Headwear needs 3-4: orthogonalising its direction
# (cos 0.78 with the label model's: hats come with sharp brims) weakened it, and at 2-3 a third are only hair.
HELD_OUT: dict[str, LatentRegion] = {
    k: LatentRegion(np.asarray(v, dtype=np.float32) / np.linalg.norm(v), *ANOMALY_RANGES[k])
    for k, v in DIRECTIONS.items()}


_D = np.stack([r.direction for r in HELD_OUT.values()], 1)  # (100, k)
_W = np.stack([np.asarray(LABEL_MODELS[k][0], np.float64) for k in HELD_OUT], 1)  # (100, k) label models
_B = np.array([LABEL_MODELS[k][1] for k in HELD_OUT])
_MAX_LOGIT = float(np.log(NORMAL_MAX_PROBABILITY / (1 - NORMAL_MAX_PROBABILITY)))


def normal_latent_mask(z: np.ndarray) -> np.ndarray:
    """z (n,100) -> bool (n,): True where the latent may be rendered as a normal face: z.d < ``NORMAL_LIMIT``
    along every held-out direction and P(attribute) < ``NORMAL_MAX_PROBABILITY`` by every label model (the
    directions are orthogonalised, so the second test removes the faces the labeller would still call a hat).
    Rejection in z costs no rendering."""
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] != NZ:
        raise ValueError(f"latents must have shape (n, {NZ}), got {z.shape}")
    return (z @ _D < NORMAL_LIMIT).all(1) & (z.astype(np.float64) @ _W + _B < _MAX_LOGIT).all(1)


def sample_normal_latents(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    """z (n,100) ~ N(0,I) restricted to ``normal_latent_mask`` (rejection sampling in z: nothing is rendered)."""
    out = np.empty((0, NZ), np.float32)
    while len(out) < n:
        z = faces.sample_latents(max(64, int((n - len(out)) * 10)), rng)  # ~12% accepted
        out = np.concatenate([out, z[normal_latent_mask(z)]])
    return out[:n]


def attribute_probability(name: str, z: np.ndarray) -> np.ndarray:
    """P(face has attribute ``name``) (n,) for latents z (n,100), by the logistic model fitted on the labelled
    faces (``anomaly_directions.LABEL_MODELS``: the labeller's judgement, before any orthogonalisation)."""
    w, b = LABEL_MODELS[name]
    return 1.0 / (1.0 + np.exp(-(np.asarray(z, np.float64) @ np.asarray(w) + b)))


def _check(images: np.ndarray, n: int) -> np.ndarray:
    assert images.dtype == np.uint8 and images.shape == (n, 64, 64, 3), (images.dtype, images.shape)
    return images


def _normal_faces(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    """Normal faces (n,64,64,3) uint8 as the normal set has them."""
    return _check(faces.render(sample_normal_latents(faces, n, rng)), n)


def _generate_from(edit: Edit) -> Generate:
    def generate(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
        return _check(edit(faces, n, rng)[1], n)
    return generate


def _soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Blur a float mask (64,64) in [0,1] for soft edges."""
    im = Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(sigma))
    return np.asarray(im, np.float32) / 255.0


def _shading(face: np.ndarray) -> np.ndarray:
    """(64,64,3) uint8 -> (64,64) relative brightness of the face, smoothed: drawn items follow its lighting."""
    g = face.astype(np.float32).mean(-1)
    g = np.asarray(Image.fromarray(g.astype(np.uint8)).filter(ImageFilter.GaussianBlur(2.0)), np.float32)
    return np.clip(g / max(g[20:56, 16:48].mean(), 1.0), 0.55, 1.35) ** 0.6


def _blend(face: np.ndarray, alpha: np.ndarray, colour: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """face (64,64,3) uint8, alpha (64,64), colour (3,), texture (64,64) -> uint8 face with the item worn."""
    item = colour[None, None, :] * texture[..., None]
    out = face.astype(np.float32) * (1 - alpha[..., None]) + item * alpha[..., None]
    return np.clip(out, 0, 255).round().astype(np.uint8)


_YY, _XX = np.mgrid[0:64, 0:64].astype(np.float32)


def _near(name: str, family: str, region: str, description: str, edit: Edit) -> AnomalyKind:
    return AnomalyKind(name, "near", family, description, _generate_from(edit), edit=edit, region=region)
