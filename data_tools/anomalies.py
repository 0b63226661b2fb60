"""Anomaly kinds for the face anomaly-detection data set, and what "normal" means.

Interface (stable; ``data_tools/build.py`` builds against it):

- ``AnomalyKind``: a named generator ``generate(faces, n, rng) -> uint8 (n,64,64,3)``, tagged ``near`` or
  ``far`` and ``imitable`` or ``semantic`` (its family, written to the answer key next to the kind);
  near kinds made from a normal face also have ``edit(faces, n, rng) -> (before, after)`` and the ``region``
  of the face they are named after (the faithfulness measure: ``faithfulness``).
- ``KINDS``: name -> kind as version 1 makes it; ``KINDS_V2``: the kinds version 2 makes differently, the near
  kinds (``data_tools/near_v2.py``) and ``corrupted`` (a swapped tile instead of a blur). Builds make version
  ``DEFAULT_KINDS_VERSION`` (2) unless told otherwise (``BuildConfig.kinds_version``); ``get_kind(name,
  kinds_version)`` returns the kind a build of that version uses and raises ``KeyError`` listing the valid names.
- ``DEFAULT_MIXTURE``: kind name -> share of the anomalous test rows (sums to 1) of version 1 builds,
  ``DEFAULT_MIXTURE_V2`` that of version 2; ``default_mixture(kinds_version)`` returns the one a build uses unless
  given one.
- The types and the definition of a normal face live in ``data_tools/kind_parts.py``, on which this module and
  ``near_v2`` are built; their public names are this module's too.
- ``normal_latent_mask(z)``: which latents (n,100) may be rendered as normal faces (train and normal test).
- ``sample_normal_latents(faces, n, rng)``: z (n,100) drawn from N(0,I) restricted to ``normal_latent_mask``.

Families: *imitable* kinds are local pixel edits that a corruption recipe can mimic (a drawn mask,
drawn face paint, a pasted patch or blur, a colour negative); a classifier trained on self-made corruptions
catches them without learning what a face is. *Semantic* kinds are faces that differ in themselves, or other
real things: a face attribute held out of training, faces from outside the generator's prior, cartoons, photos.

*Near* semantic kinds are held-out attributes of the generator's own faces: glasses, headwear, an open mouth.
Each is a unit direction d in z-space (``anomaly_directions.py``), fitted by logistic regression on faces whose
attributes were labelled by eye (``face_attribute_labels.csv``, 832 faces) and made orthogonal to the directions
that move the trivial global statistics (``anomaly_stats.TRIVIAL_STATS``), so a slab along d changes the named
part of the face and not the image's brightness, colour or sharpness. Normal faces keep z.d < ``NORMAL_LIMIT``
along every held-out direction (the label model gives them the attribute ~2-7% of the time: the DCGAN's own
faces wear glasses ~15% of the time, so the limit sits well below the middle); an anomaly is a normal latent
with its component along d moved into ``ANOMALY_RANGE``: the same face, now wearing glasses (or a hat, or with
its mouth open). Seen on contact sheets: every face there has the attribute, and the rest of it barely changes.
*Near* imitable kinds draw an item onto a normal face (``face_mask``, ``face_paint``), alpha-blended with soft
edges and shaded by the face's own brightness. *Far* kinds: ``out_of_prior`` (z x2.5), ``corrupted`` (an
occluding patch or heavy blur), ``inverted``, ``cartoon`` (DiceBear avatars rasterised offline), ``photo``
(crops of the photos bundled in scikit-image).

Nothing here touches the network: DiceBear styles are JSON files inside ``dicebear-styles``; the scikit-image
photos are read from files inside the installed package (never through ``skimage.data``'s fetchers).
"""
from __future__ import annotations

import importlib.resources
import io
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

from data_tools import anomaly_stats
from data_tools.faces import FaceGenerator
from data_tools.kind_parts import (_XX, _YY, ANOMALY_RANGES, FAMILIES, HELD_OUT, NORMAL_LIMIT, NORMAL_MAX_PROBABILITY,
                                   AnomalyKind, Edit, Generate, LatentRegion, _blend, _check, _near, _normal_faces,
                                   _shading, _soft, attribute_probability, normal_latent_mask, sample_normal_latents)
from data_tools.near_v2 import NEAR_KINDS_V2

__all__ = ["AnomalyKind", "LatentRegion", "Generate", "Edit", "FAMILIES", "NORMAL_LIMIT", "NORMAL_MAX_PROBABILITY",
           "ANOMALY_RANGES", "HELD_OUT", "normal_latent_mask", "sample_normal_latents", "attribute_probability",
           "OUT_OF_PRIOR_SCALE", "DICEBEAR_STYLES", "SKIMAGE_PHOTOS", "occluding_patch", "heavy_blur", "swapped_tile",
           "KINDS", "DEFAULT_MIXTURE", "DEFAULT_MIXTURE_V2", "default_mixture", "KINDS_V2", "KINDS_VERSIONS",
           "DEFAULT_KINDS_VERSION", "faithfulness", "get_kind", "check_kinds_version"]


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


# -- near semantic kinds: held-out attributes of the generator's own faces --------------------------------------
def _latent_edit(name: str) -> Edit:
    def edit(faces: FaceGenerator, n: int, rng: np.random.Generator):
        z = sample_normal_latents(faces, n, rng)
        return _check(faces.render(z), n), _check(faces.render(HELD_OUT[name].move(z, rng)), n)
    return edit


# -- near imitable kinds: drawn attributes -------------------------------------------------------------------------
def _drawn_edit(draw: Callable[[np.ndarray, np.random.Generator], np.ndarray]) -> Edit:
    def edit(faces: FaceGenerator, n: int, rng: np.random.Generator):
        before = _normal_faces(faces, n, rng)
        after = before.copy()
        for i in range(n):
            after[i] = draw(after[i], rng)
        return before, after
    return edit


# Mid-tone cloth colours: pure white or black masks raise the image's contrast (std) enough to give them away.
_MASK_COLOURS = np.array([[150, 200, 235], [215, 215, 215], [60, 60, 70], [230, 170, 190], [120, 130, 140],
                          [60, 90, 160]], np.float32)
# Why the soft edge, faint pleats and loops, fabric grain and this size (benchmarks/calibrate_anomalies.py, 600
# normal faces vs 400 masks): crisp edges and bold pleats made masks sharper than faces (Laplacian variance 0.71),
# a flat mask of another size smoother than faces (high-frequency energy 0.70-0.73); as made, every statistic <= 0.68.
_MASK_EDGE, _MASK_PLEATS, _MASK_LOOPS, _MASK_GRAIN = 1.2, 0.03, 0.5, 0.03


def _draw_face_mask(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cx = 32 + rng.uniform(-2.5, 2.5)
    top = 39 + rng.uniform(-2, 2)          # just under the nose
    w = 14 + rng.uniform(-2, 2.5)          # half width: cheek to cheek
    h = 18 + rng.uniform(-2, 2)            # down past the chin
    u = (_XX - cx) / w
    # lower half-ellipse whose top edge rises towards the nose bridge
    top_edge = top - 3.5 * np.clip(1 - u ** 2, 0, 1)
    inside = (u ** 2 + ((_YY - top) / h) ** 2 <= 1) | ((_YY >= top_edge) & (_YY < top) & (np.abs(u) <= 1))
    inside &= _YY >= top_edge
    alpha = _soft(inside.astype(np.float32), _MASK_EDGE) * 0.93
    # ear loops: thin lines from the mask's sides up to the ears
    for side in (-1, 1):
        x0, y0 = cx + side * w * 0.95, top + 2
        x1, y1 = cx + side * (w + 4), top - 6
        t = np.clip(((_XX - x0) * (x1 - x0) + (_YY - y0) * (y1 - y0)) / ((x1 - x0) ** 2 + (y1 - y0) ** 2), 0, 1)
        dist = np.hypot(_XX - (x0 + t * (x1 - x0)), _YY - (y0 + t * (y1 - y0)))
        alpha = np.maximum(alpha, _MASK_LOOPS * np.clip(1.2 - dist, 0, 1))
    pleats = 1 + _MASK_PLEATS * np.sin((_YY - top) * rng.uniform(0.9, 1.3))  # horizontal folds of a cloth mask
    colour = _MASK_COLOURS[rng.integers(len(_MASK_COLOURS))] * rng.uniform(0.9, 1.05)
    grain = 1 + rng.normal(0, _MASK_GRAIN, (64, 64)).astype(np.float32)  # the cloth's weave
    return _blend(face, alpha, colour, _shading(face) * pleats * grain)


_PAINT_COLOURS = np.array([[220, 30, 40], [30, 60, 220], [250, 250, 250], [20, 20, 20], [240, 200, 30],
                           [30, 170, 60]], np.float32)


def _draw_face_paint(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
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
    return _blend(face, alpha, colour, _shading(face))


# -- far kinds -------------------------------------------------------------------------------------------------
def _out_of_prior(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    z = faces.sample_latents(n, rng) * OUT_OF_PRIOR_SCALE
    return _check(faces.render(z), n)


def _inverted(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    # Colour negative of a normal face: the crudest corruption, any detector should catch it.
    return _check(255 - _normal_faces(faces, n, rng), n)


def occluding_patch(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``corrupted``'s first half: a copy of uint8 ``face`` (64,64,3) with a square of 16-28 pixels, anywhere on the
    face, in one flat colour or in noise."""
    x = face.copy()
    s = int(rng.integers(16, 29))
    r0, c0 = rng.integers(8, 64 - s - 4, 2)
    if rng.random() < 0.5:
        x[r0:r0 + s, c0:c0 + s] = rng.integers(0, 256, 3, dtype=np.uint8)
    else:
        x[r0:r0 + s, c0:c0 + s] = rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
    return x


def heavy_blur(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``corrupted``'s second half: uint8 ``face`` (64,64,3) Gaussian-blurred with a radius of 2.5-4 pixels."""
    return np.asarray(Image.fromarray(face).filter(ImageFilter.GaussianBlur(rng.uniform(2.5, 4.0))))


def swapped_tile(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``corrupted``'s second half in version 2: a copy of uint8 ``face`` (64,64,3) cut into a 4 x 4 grid of 16-pixel
    tiles, one of the six over the eyes, nose and mouth (rows 1-3, columns 1-2) swapped with a tile of another row
    (so never with its mirror image across the nose). Every pixel is the face's own: a statistic of colour or
    texture barely moves, a model of where a face's parts lie sees it."""
    x = face.copy()
    a = (int(rng.integers(1, 4)), int(rng.integers(1, 3)))
    b = a
    while b[0] == a[0]:
        b = divmod(int(rng.integers(16)), 4)
    (i, j), (k, m) = a, b
    tile = x[16 * i:16 * i + 16, 16 * j:16 * j + 16].copy()
    x[16 * i:16 * i + 16, 16 * j:16 * j + 16] = x[16 * k:16 * k + 16, 16 * m:16 * m + 16]
    x[16 * k:16 * k + 16, 16 * m:16 * m + 16] = tile
    return x


def _corrupting(second_half: Callable[[np.ndarray, np.random.Generator], np.ndarray]) -> Generate:
    def generate(faces: FaceGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
        x = _normal_faces(faces, n, rng)
        for i in range(n):
            x[i] = occluding_patch(x[i], rng) if rng.random() < 0.5 else second_half(x[i], rng)
        return _check(x, n)
    return generate


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
    _near("glasses", "semantic", "eyes", "faces wearing glasses, sunglasses or goggles: a held-out latent slab "
          "along a direction fitted on faces labelled by eye", _latent_edit("glasses")),
    _near("headwear", "semantic", "top", "faces wearing a hat, cap, helmet, hood or headband: a held-out latent "
          "slab along a direction fitted on faces labelled by eye", _latent_edit("headwear")),
    _near("open_mouth", "semantic", "mouth", "faces with the mouth open (teeth or its inside showing): a held-out "
          "latent slab along a direction fitted on faces labelled by eye", _latent_edit("open_mouth")),
    _near("face_mask", "imitable", "lower_face", "normal faces wearing a drawn cloth face mask with ear loops",
          _drawn_edit(_draw_face_mask)),
    _near("face_paint", "imitable", "cheeks", "normal faces with drawn stripes of face paint on both cheeks",
          _drawn_edit(_draw_face_paint)),
    AnomalyKind("out_of_prior", "far", "semantic", f"faces from latents scaled x{OUT_OF_PRIOR_SCALE} "
                "(outside the N(0,I) prior)", _out_of_prior),
    AnomalyKind("corrupted", "far", "imitable", "normal faces with an occluding patch or heavy blur",
                _corrupting(heavy_blur)),
    AnomalyKind("inverted", "far", "imitable", "colour-inverted normal faces", _inverted),
    AnomalyKind("cartoon", "far", "semantic", "DiceBear cartoon avatars (CC0 styles: "
                + ", ".join(DICEBEAR_STYLES) + ")", _cartoon),
    AnomalyKind("photo", "far", "semantic", "crops of scikit-image's bundled photos and LFW face crops",
                _photo_crops),
]}

# Most mass is near, as in the course (64%). Shares calibrated on a calibration build (seed 1, not the reported
# seed 0) so the reference ladder reproduces the course's: a stage's overall AUC is the share-weighted mean of its
# per-kind AUCs (``kit.ladder.mixture_auc``), so `python -m kit ladder --from-json FILE --mixture ...` predicts
# any mixture from one ladder run. Per-kind difficulty itself: benchmarks/calibrate_anomalies.py.
DEFAULT_MIXTURE: dict[str, float] = {
    "glasses": 0.10, "headwear": 0.10, "open_mouth": 0.08, "face_mask": 0.18, "face_paint": 0.18,
    "out_of_prior": 0.05, "corrupted": 0.14, "inverted": 0.04, "cartoon": 0.05, "photo": 0.08,
}
#: The mixture of version 2 builds (63% near), chosen the same way on version 2's calibration build with one more
#: constraint: the strong stage at least 0.02 above every classical row, overall and on the semantic family
#: (``benchmarks/calibrate_anomalies.py --choose-mixture LADDER --beat-shortcuts``; docs/results.md, "Kinds,
#: version 2"). Photos, which the region Gaussian finds by their colours and texture and no reconstruction does,
#: keep the least share, and masks, which region statistics find better than the strong stage, little; swapped
#: tiles and glasses, which the strong stage sees and statistics do not, the most.
DEFAULT_MIXTURE_V2: dict[str, float] = {
    "glasses": 0.22, "headwear": 0.13, "open_mouth": 0.05, "face_mask": 0.08, "face_paint": 0.15,
    "out_of_prior": 0.04, "corrupted": 0.24, "inverted": 0.03, "cartoon": 0.03, "photo": 0.03,
}


#: The version of the kinds a build makes unless told otherwise (``BuildConfig.kinds_version``): version 2's near
#: kinds are as hard for statistics of the face's parts as for a weak autoencoder, and on its builds the strong
#: stage leads every classical shortcut (docs/results.md, "Kinds, version 2"). Version 1 builds what it always
#: built (the autograder's grading data uses it: ``grader.autograde.probes.GRADING_KINDS_VERSION``).
DEFAULT_KINDS_VERSION = 2


def default_mixture(kinds_version: int = DEFAULT_KINDS_VERSION) -> dict[str, float]:
    """A copy of the mixture a build of ``kinds_version`` uses unless given one."""
    return dict(DEFAULT_MIXTURE_V2 if check_kinds_version(kinds_version) == 2 else DEFAULT_MIXTURE)


#: The kinds version 2 builds differently (``get_kind(name, kinds_version=2)``): the near kinds of ``near_v2`` and
#: ``corrupted``, whose blurred half becomes a swapped tile (a blur makes a face easier to reconstruct, so no
#: reconstruction error finds it, while every statistic of texture does); the other kinds are ``KINDS``'s.
KINDS_V2: dict[str, AnomalyKind] = {**NEAR_KINDS_V2, "corrupted": AnomalyKind(
    "corrupted", "far", "imitable", "normal faces with an occluding patch or a tile of the face swapped with "
    "one of another row", _corrupting(swapped_tile))}

#: The versions of the kinds a build can make: 1 (``KINDS``) and 2 (``KINDS_V2``).
KINDS_VERSIONS = (1, 2)

def faithfulness(kind: str, faces: FaceGenerator, n: int, rng: np.random.Generator,
                 kinds_version: int = DEFAULT_KINDS_VERSION) -> np.ndarray:
    """How much of each edit falls in the part of the face ``kind`` is named after: ``anomaly_stats.concentration``
    of (before, after) from ``kind.edit`` inside ``kind.region`` -> float64 (n,). 1 = spread evenly over the image;
    higher = concentrated there (the largest possible value is image area / region area)."""
    k = get_kind(kind, kinds_version)
    if k.edit is None or k.region is None:
        raise ValueError(f"anomaly kind {kind!r} is not an edit of a normal face with a named region")
    before, after = k.edit(faces, n, rng)
    return anomaly_stats.concentration(before, after, anomaly_stats.REGIONS[k.region])


def get_kind(name: str, kinds_version: int = DEFAULT_KINDS_VERSION) -> AnomalyKind:
    """The registered kind called ``name``, as ``kinds_version`` builds it (``KINDS_VERSIONS``: version 2 builds the
    kinds of ``KINDS_V2`` its own way, every other kind as version 1 does); ``KeyError`` naming the valid kinds
    otherwise, ``ValueError`` for an unknown version."""
    check_kinds_version(kinds_version)
    if kinds_version == 2 and name in KINDS_V2:
        return KINDS_V2[name]
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown anomaly kind {name!r}; valid kinds: {', '.join(sorted(KINDS))}") from None


def check_kinds_version(kinds_version) -> int:
    """``kinds_version`` if it is one of ``KINDS_VERSIONS``; ``ValueError`` otherwise."""
    if isinstance(kinds_version, bool) or kinds_version not in KINDS_VERSIONS:
        raise ValueError(f"kinds_version must be one of {', '.join(map(str, KINDS_VERSIONS))}, "
                         f"got {kinds_version!r}")
    return int(kinds_version)
