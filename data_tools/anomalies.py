"""Anomaly kinds for the face anomaly-detection data set, and the filter that defines "normal".

Interface (stable; ``data_tools/build.py`` builds against it):

- ``AnomalyKind``: a named generator ``generate(faces, n, rng) -> uint8 (n,64,64,3)``, tagged ``near`` or ``far``.
- ``KINDS``: name -> kind; ``get_kind(name)`` raises ``KeyError`` listing the valid names.
- ``DEFAULT_MIXTURE``: kind name -> share of the anomalous test rows (sums to 1).
- ``normal_latent_mask(z)``: which latents (n,100) may be rendered as normal faces (train and normal test).
- ``normal_image_mask(images)``: post-render filter on image statistics for normal faces.
- ``sample_normal_latents(faces, n, rng)``: z (n,100) drawn from N(0,I) restricted to ``normal_latent_mask``.

Design (the course's test set is half normal faces, half near anomalies such as faces wearing hats):

*Near* kinds are faces of the same generator that differ in one attribute.
  - Held-out latent half-spaces (``HELD_OUT``): for each semantic direction d (unit, in z-space, fitted by
    ``benchmarks/calibrate_anomalies.py --write-directions`` by regressing a local image statistic on z and
    made orthogonal to the directions that move mean brightness / saturation / contrast), normal faces keep
    z.d < ``NORMAL_LIMIT`` (2.0: 2.3% of N(0,I) per direction) and anomalies have z.d drawn from
    ``ANOMALY_RANGE`` (2.5-3.5), the other 99 components N(0,I). The gap is the difficulty knob.
    ``coloured_headwear`` (top-third saturation excess), ``glasses`` (dark eye band), ``open_mouth``.
  - Held-out image attribute: ``normal_image_mask`` also drops faces whose top-third saturation excess is in
    the top ~2% (strongly coloured headwear), and ``coloured_headwear`` anomalies are drawn above that line.
  - Drawn attributes the generator never makes: ``face_mask`` (cloth masks), ``face_paint`` (cheek stripes),
    alpha-blended with soft edges and shaded by the face's own brightness so they look worn.
*Far* kinds: ``out_of_prior`` (z x2.5), ``corrupted`` (occluding patch or heavy blur), ``inverted``,
``cartoon`` (DiceBear avatars rasterised offline), ``photo`` (crops of the photos bundled in scikit-image).

Nothing here touches the network: DiceBear styles are JSON files inside ``dicebear-styles``; the scikit-image
photos are read from files inside the installed package (never through ``skimage.data``'s fetchers).
"""
from __future__ import annotations

import importlib.resources
import io
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

from data_tools import anomaly_stats
from data_tools.anomaly_directions import DIRECTIONS, TOP_SATURATION_EXCESS_MAX
from data_tools.faces import NZ, FaceGenerator

Generate = Callable[[FaceGenerator, int, np.random.Generator], np.ndarray]

NORMAL_LIMIT = 2.0            # normal latents keep z.d below this along every held-out direction
ANOMALY_RANGE = (2.5, 3.5)    # near anomalies: z.d uniform in this band (measured: 2.5-3.5 keeps global stats < 0.7)
OUT_OF_PRIOR_SCALE = 2.5      # brief: image std alone separates x2.5 at 0.89 AUC
# DiceBear styles used by ``cartoon``, with their licences (the README credits them). Only CC0 styles, so no
# attribution requirement falls on people who redistribute the data set.
DICEBEAR_STYLES = {"lorelei": "CC0 1.0 (Lisa Wischofsky)", "notionists": "CC0 1.0 (Zoish)",
                   "open-peeps": "CC0 1.0 (Pablo Stanley)"}
# Photos bundled inside scikit-image (files in skimage/data, no download); lfw_subset.npy: 100 25x25 grey
# face crops then 100 non-faces (Labeled Faces in the Wild).
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                  "hubble_deep_field.jpg", "ihc.png", "retina.jpg", "camera.png", "coins.png", "page.png",
                  "brick.png", "grass.png", "gravel.png", "moon.png")


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


@dataclass(frozen=True)
class LatentRegion:
    """A held-out half-space {z : z.direction >= low} of the generator's latent space."""
    direction: np.ndarray = field(metadata={"help": "unit vector (100,) in z-space"})
    low: float = field(default=ANOMALY_RANGE[0], metadata={"help": "anomalies have z.d >= low"})
    high: float = field(default=ANOMALY_RANGE[1], metadata={"help": "anomalies have z.d <= high"})

    def sample(self, faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
        """z (n,100): N(0,I) with the component along ``direction`` replaced by U(low, high)."""
        z = faces.sample_latents(n, rng)
        t = rng.uniform(self.low, self.high, n).astype(np.float32)
        return z + np.outer(t - z @ self.direction, self.direction).astype(np.float32)


HELD_OUT: dict[str, LatentRegion] = {
    k: LatentRegion(np.asarray(v, dtype=np.float32) / np.linalg.norm(v)) for k, v in DIRECTIONS.items()}
_D = np.stack([r.direction for r in HELD_OUT.values()], 1)  # (100, k)


def normal_latent_mask(z: np.ndarray) -> np.ndarray:
    """z (n,100) -> bool (n,): True where the latent may be rendered as a normal face (~93% of N(0,I))."""
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] != NZ:
        raise ValueError(f"latents must have shape (n, {NZ}), got {z.shape}")
    return (z @ _D < NORMAL_LIMIT).all(1)


def normal_image_mask(images: np.ndarray) -> np.ndarray:
    """uint8 images (n,64,64,3) -> bool (n,): True where a rendered face may be kept as normal.

    Drops the ~2% of faces with the most strongly coloured top third (see ``TOP_SATURATION_EXCESS_MAX``)."""
    return anomaly_stats.top_saturation_excess(images) <= TOP_SATURATION_EXCESS_MAX


def sample_normal_latents(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    """z (n,100) ~ N(0,I) restricted to ``normal_latent_mask`` (rejection sampling in z: nothing is rendered)."""
    out = np.empty((0, NZ), np.float32)
    while len(out) < n:
        z = faces.sample_latents(max(16, int((n - len(out)) * 1.1)), rng)
        out = np.concatenate([out, z[normal_latent_mask(z)]])
    return out[:n]


def _check(images: np.ndarray, n: int) -> np.ndarray:
    assert images.dtype == np.uint8 and images.shape == (n, 64, 64, 3), (images.dtype, images.shape)
    return images


def _normal_faces(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    """Normal faces (n,64,64,3) uint8 as the normal set has them: latent mask, then image mask."""
    out = np.empty((0, 64, 64, 3), np.uint8)
    while len(out) < n:
        x = faces.render(sample_normal_latents(faces, max(8, int((n - len(out)) * 1.05)), rng))
        out = np.concatenate([out, x[normal_image_mask(x)]])
    return out[:n]


# -- near kinds: held-out latent regions ----------------------------------------------------------------------
def _latent_kind(name: str) -> Generate:
    def generate(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
        return _check(faces.render(HELD_OUT[name].sample(faces, n, rng)), n)
    return generate


def _coloured_headwear(faces: FaceGenerator, n: int, rng: np.random.Generator, max_rounds: int = 20) -> np.ndarray:
    # Latent half-space first (the statistic's direction), then keep the renders that the image filter would
    # have dropped from the normal set (~1 in 3 inside the half-space), so both held-out definitions agree.
    keep = np.empty((0, 64, 64, 3), np.uint8)
    best = keep
    for _ in range(max_rounds):
        x = faces.render(HELD_OUT["coloured_headwear"].sample(faces, max(16, 3 * (n - len(keep))), rng))
        hit = ~normal_image_mask(x)
        keep = np.concatenate([keep, x[hit]])
        best = np.concatenate([best, x[~hit]])
        if len(keep) >= n:
            return _check(keep[:n], n)
    # Never reached in practice; kept so a bad threshold cannot loop forever.
    return _check(np.concatenate([keep, best])[:n], n)


# -- near kinds: drawn attributes ------------------------------------------------------------------------------
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
_MASK_COLOURS = np.array([[150, 200, 235], [235, 235, 235], [35, 35, 40], [230, 170, 190], [120, 130, 140],
                          [60, 90, 160]], np.float32)


def _face_mask(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    x = _normal_faces(faces, n, rng)
    for i in range(n):
        cx = 32 + rng.uniform(-2.5, 2.5)
        top = 39 + rng.uniform(-2, 2)          # just under the nose
        w = 15 + rng.uniform(-2, 2.5)          # half width: cheek to cheek
        h = 20 + rng.uniform(-2, 2)            # down past the chin
        u = (_XX - cx) / w
        # lower half-ellipse whose top edge rises towards the nose bridge
        top_edge = top - 3.5 * np.clip(1 - u ** 2, 0, 1)
        inside = (u ** 2 + ((_YY - top) / h) ** 2 <= 1) | ((_YY >= top_edge) & (_YY < top) & (np.abs(u) <= 1))
        inside &= _YY >= top_edge
        alpha = _soft(inside.astype(np.float32), 0.8) * 0.97
        # ear loops: thin lines from the mask's sides up to the ears
        for side in (-1, 1):
            x0, y0 = cx + side * w * 0.95, top + 2
            x1, y1 = cx + side * (w + 4), top - 6
            t = np.clip(((_XX - x0) * (x1 - x0) + (_YY - y0) * (y1 - y0)) / ((x1 - x0) ** 2 + (y1 - y0) ** 2), 0, 1)
            dist = np.hypot(_XX - (x0 + t * (x1 - x0)), _YY - (y0 + t * (y1 - y0)))
            alpha = np.maximum(alpha, 0.8 * np.clip(1.2 - dist, 0, 1))
        pleats = 1 + 0.06 * np.sin((_YY - top) * rng.uniform(0.9, 1.3))  # horizontal folds of a cloth mask
        colour = _MASK_COLOURS[rng.integers(len(_MASK_COLOURS))] * rng.uniform(0.9, 1.05)
        x[i] = _blend(x[i], alpha, colour, _shading(x[i]) * pleats)
    return _check(x, n)


_PAINT_COLOURS = np.array([[220, 30, 40], [30, 60, 220], [250, 250, 250], [20, 20, 20], [240, 200, 30],
                           [30, 170, 60]], np.float32)


def _face_paint(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    x = _normal_faces(faces, n, rng)
    for i in range(n):
        cx = 32 + rng.uniform(-2, 2)
        y0 = 37 + rng.uniform(-2, 2)
        stroke = np.zeros((64, 64), np.float32)
        n_stripes = rng.integers(2, 4)
        slope = rng.uniform(-0.25, 0.25)
        for side in (-1, 1):
            for k in range(n_stripes):
                y = y0 + 3.2 * k + slope * side * (_XX - cx)
                xs = np.abs(_XX - cx)
                on = (np.abs(_YY - y) < 0.9) & (xs > 7) & (xs < 7 + rng.uniform(6, 9))
                stroke = np.maximum(stroke, on.astype(np.float32))
        alpha = _soft(stroke, 0.6) * rng.uniform(0.65, 0.85)
        colour = _PAINT_COLOURS[rng.integers(len(_PAINT_COLOURS))]
        x[i] = _blend(x[i], alpha, colour, _shading(x[i]))
    return _check(x, n)


# -- far kinds -------------------------------------------------------------------------------------------------
def _out_of_prior(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    z = faces.sample_latents(n, rng) * OUT_OF_PRIOR_SCALE
    return _check(faces.render(z), n)


def _inverted(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    # Colour negative of a normal face: the crudest corruption, any detector should catch it.
    return _check(255 - _normal_faces(faces, n, rng), n)


def _corrupted(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    x = _normal_faces(faces, n, rng)
    for i in range(n):
        if rng.random() < 0.5:   # occluding patch: flat colour or noise, 16-28 px, anywhere on the face
            s = int(rng.integers(16, 29))
            r0, c0 = rng.integers(8, 64 - s - 4, 2)
            if rng.random() < 0.5:
                x[i, r0:r0 + s, c0:c0 + s] = rng.integers(0, 256, 3, dtype=np.uint8)
            else:
                x[i, r0:r0 + s, c0:c0 + s] = rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
        else:                    # heavy blur
            im = Image.fromarray(x[i]).filter(ImageFilter.GaussianBlur(rng.uniform(2.5, 4.0)))
            x[i] = np.asarray(im)
    return _check(x, n)


@lru_cache(maxsize=None)
def _dicebear_style(name: str):
    from dicebear import Style
    raw = (importlib.resources.files("dicebear_styles") / f"{name}.json").read_text()
    return Style.from_json(raw)


def _cartoon(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    from dicebear import Avatar
    import resvg_py
    styles = sorted(DICEBEAR_STYLES)
    out = np.empty((n, 64, 64, 3), np.uint8)
    for i in range(n):
        style = styles[rng.integers(len(styles))]
        svg = Avatar(_dicebear_style(style), {"seed": f"hw8-{rng.integers(2**31)}"}).to_string()
        rgba = Image.open(io.BytesIO(bytes(resvg_py.svg_to_bytes(svg_string=svg, width=64, height=64))))
        bg = Image.new("RGBA", (64, 64), tuple(int(c) for c in rng.integers(120, 256, 3)) + (255,))
        out[i] = np.asarray(Image.alpha_composite(bg, rgba.convert("RGBA")).convert("RGB"))
    return _check(out, n)


def _skimage_dir() -> Path:
    import skimage
    return Path(skimage.__file__).parent / "data"


@lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    with Image.open(_skimage_dir() / name) as im:
        return np.asarray(im.convert("RGB"))


@lru_cache(maxsize=None)
def _lfw() -> np.ndarray:
    return np.load(_skimage_dir() / "lfw_subset.npy")  # (200,25,25) float in [0,1]


def _photo_crops(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((n, 64, 64, 3), np.uint8)
    sources = ("lfw",) + SKIMAGE_PHOTOS
    for i in range(n):
        src = sources[rng.integers(len(sources))]
        if src == "lfw":       # real grey face crops (first 100 of the file), upscaled
            im = Image.fromarray((_lfw()[rng.integers(100)] * 255).astype(np.uint8)).convert("RGB")
            out[i] = np.asarray(im.resize((64, 64), Image.BICUBIC))
            continue
        p = _photo(src)
        s = int(rng.integers(64, max(65, min(p.shape[:2]) // 2)))
        r0 = int(rng.integers(0, p.shape[0] - s + 1))
        c0 = int(rng.integers(0, p.shape[1] - s + 1))
        im = Image.fromarray(p[r0:r0 + s, c0:c0 + s]).resize((64, 64), Image.BILINEAR)
        out[i] = np.asarray(im)
    return _check(out, n)


KINDS: dict[str, AnomalyKind] = {k.name: k for k in [
    AnomalyKind("coloured_headwear", "near", "faces from a held-out latent half-space of strongly coloured "
                "tops of the head (hats, caps, dyed hair), also above the normal set's image filter",
                _coloured_headwear),
    AnomalyKind("glasses", "near", "faces from a held-out latent half-space of dark eye regions "
                "(glasses, dark lenses, shadowed eyes)", _latent_kind("glasses")),
    AnomalyKind("open_mouth", "near", "faces from a held-out latent half-space of dark mouth regions "
                "(open mouths, moustaches)", _latent_kind("open_mouth")),
    AnomalyKind("face_mask", "near", "normal faces wearing a drawn cloth face mask with ear loops", _face_mask),
    AnomalyKind("face_paint", "near", "normal faces with drawn stripes of face paint on both cheeks", _face_paint),
    AnomalyKind("out_of_prior", "far", f"faces from latents scaled x{OUT_OF_PRIOR_SCALE} "
                "(outside the N(0,I) prior)", _out_of_prior),
    AnomalyKind("corrupted", "far", "normal faces with an occluding patch or heavy blur", _corrupted),
    AnomalyKind("inverted", "far", "colour-inverted normal faces", _inverted),
    AnomalyKind("cartoon", "far", "DiceBear cartoon avatars (CC0 styles: " + ", ".join(DICEBEAR_STYLES) + ")",
                _cartoon),
    AnomalyKind("photo", "far", "crops of scikit-image's bundled photos and LFW face crops", _photo_crops),
]}

# Most mass is near, as in the course (64%). Shares calibrated so the reference ladder reproduces the course's
# (sample VAE lowest, a plain fc AE near 0.70, a good method >= 0.90): a stage's overall AUC is the share-weighted
# mean of its per-kind AUCs, so `python -m kit ladder --from-json FILE --mixture ...` predicts any mixture from one
# ladder run. Per-kind difficulty itself is measured by benchmarks/calibrate_anomalies.py.
DEFAULT_MIXTURE: dict[str, float] = {
    "coloured_headwear": 0.10, "glasses": 0.08, "open_mouth": 0.04, "face_mask": 0.20, "face_paint": 0.22,
    "out_of_prior": 0.05, "corrupted": 0.16, "inverted": 0.04, "cartoon": 0.03, "photo": 0.08,
}


def get_kind(name: str) -> AnomalyKind:
    """The registered kind called ``name``; ``KeyError`` naming the valid kinds otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown anomaly kind {name!r}; valid kinds: {', '.join(sorted(KINDS))}") from None
