"""Anomaly kinds for the face anomaly-detection data set, and what "normal" means.

Interface (stable; ``data_tools/build.py`` builds against it):

- ``AnomalyKind``: a named generator ``generate(faces, n, rng) -> uint8 (n,64,64,3)``, tagged ``near`` or
  ``far`` and ``imitable`` or ``semantic`` (its family, written to the answer key next to the kind);
  near kinds made from a normal face also have ``edit(faces, n, rng) -> (before, after)`` and the ``region``
  of the face they are named after (the faithfulness measure: ``faithfulness``).
- ``KINDS``: name -> kind; ``get_kind(name)`` raises ``KeyError`` listing the valid names.
- ``DEFAULT_MIXTURE``: kind name -> share of the anomalous test rows (sums to 1).
- ``KINDS_V2``: the near kinds as ``BuildConfig(near_version=2)`` builds them (opt-in; see "near kinds, version 2"
  below); ``get_kind(name, near_version)`` returns the kind a build of that version uses.
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

import dataclasses
import importlib.resources
import io
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
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


def _near(name: str, family: str, region: str, description: str, edit: Edit) -> AnomalyKind:
    return AnomalyKind(name, "near", family, description, _generate_from(edit), edit=edit, region=region)


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
    AnomalyKind("corrupted", "far", "imitable", "normal faces with an occluding patch or heavy blur", _corrupted),
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


# -- near kinds, version 2 (opt-in: ``BuildConfig.near_version = 2``; version 1 above is what builds use by default) --
# Version 1's near kinds were found by statistics of parts of the face (``region_stats``): the drawn items sat at
# fixed pixels (beside a turned face), in colours a region mean finds, one appearance per kind, and an open mouth
# made the mouth the darkest region. Version 2 changes only the near kinds (normal faces and far kinds are
# byte-identical), four ways:
#
# 1. Located: each face's inner features (eyes, nose, mouth) are found by matching its high-pass grey image to
#    the mean of reference normal faces (``_locate``: a shift of up to ``_V2_MAX_SHIFT`` pixels each way); masks
#    and paint are drawn at that shift, so they sit on the face, turned or not.
# 2. Matched and varied: masks in three shapes (surgical with pleats, cloth with a seam, neck gaiter) and three
#    colour schemes (the face's own skin tone, the mean colour of what they cover, a cloth colour at that part's
#    brightness, up to half desaturated); paint in three patterns (stripes, dots, a round patch; on both cheeks or
#    one), recolouring the skin while keeping part of its brightness and all of its texture.
# 3. Latent directions: open_mouth's is made orthogonal to the directions in z that predict the mouth's brightness
#    (``_V2_ORTHO``: open mouths show teeth rather than the darkest hole of the face); headwear's is moved half
#    way back towards the labeller's (``_V2_LABEL_DIRECTION``: more hats, fewer heads of hair); glasses and
#    headwear get bolder bands (``_V2_RANGES``); a latent is kept only where the label model gives it the attribute
#    with P >= ``_V2_MIN_PROBABILITY`` (a person sees it).
# 4. Selected: every near kind draws ``_V2_CANDIDATES`` candidates per image and keeps one in proportion to how
#    normal its statistics look (``_Discriminant``: a shrunk linear discriminant of ``region_stats``' region and
#    grid statistics and the global battery, and the Mahalanobis distances of the region and of the grid
#    statistics, all fitted once per kind on fixed reference and calibration samples; Gumbel top-k by the density
#    ratio, within strata of the unedited face's brightness so that dark faces are not preferred). What a
#    student's statistic or Gaussian on them finds is thus matched as far as the candidates allow; every kept image
#    still carries the edit (no candidate is unedited).
NEAR_VERSIONS = (1, 2)
_V2_MAX_SHIFT = 7             # pixels, each way: how far the inner features may sit from the mean face's
_V2_REFERENCE_SEED = 5_000_001   # the reference normal faces: fixed, so no build seed changes the locator
_V2_N_REFERENCE = 1000         # half fit the selection's models, half measure normal faces' scores
_V2_CALIBRATION_SEED = 5_000_002  # each kind's calibration sample (+ its index in ``_V2_ORDER``)
_V2_N_CALIBRATION = 400       # candidates per kind and half: fit, then measure
_V2_CANDIDATES = 4            # candidates per kept image
_V2_STRATA = 5                # brightness strata of the selection (equal shares of normal faces)
_V2_SHRINK = 1.0              # ridge added to the discriminant's pooled covariance (standardised statistics)
_V2_GAUSS_SHRINK = 0.2        # weight of the identity in the reference Gaussians' correlation matrices
#: latent kind -> the part of the face whose brightness its version 2 direction is made orthogonal to, and which
#: statistics of that part (``region_stats.STATS``)
_V2_ORTHO = {"open_mouth": "mouth"}
_V2_ORTHO_STATS = ("mean_r", "mean_g", "mean_b", "lo_r", "lo_g", "lo_b", "grey_mean", "grey_var")
#: latent kind -> its band along the direction in version 2: bolder than version 1's (``ANOMALY_RANGES``) where
#: the selection keeps the statistics matched
_V2_RANGES = {"glasses": (2.5, 3.5), "headwear": (2.5, 3.5), "open_mouth": (2.0, 3.0)}
#: the label model's P(attribute) a version 2 latent anomaly must reach (``attribute_probability``): on contact
#: sheets of the slab sorted by it, the lowest 32 of 400 showed glasses or headwear in about 3 of 4 (dark or turned
#: faces, heads of hair), the highest 32 in all; 60-70% of the slab's latents pass
_V2_MIN_PROBABILITY = 0.95
#: latent kinds whose version 2 direction is half way between version 1's and the label model's (``LABEL_MODELS``):
#: headwear's orthogonalised direction keeps only cos 0.78 of it, and a third of its faces showed hair, not a hat
_V2_LABEL_DIRECTION = ("headwear",)
_V2_ORDER = ("glasses", "headwear", "open_mouth", "face_mask", "face_paint")
# the mean face's inner features: rows 18-60, columns 14-50 (eyes ~27, nose ~38, lips ~51, centre column 32)
_INNER = (slice(18, 60), slice(14, 50))
_EYE_ROW, _NOSE_ROW, _MOUTH_ROW, _CENTRE = 27.5, 38.0, 51.0, 32.0

_V2_CACHE: dict[tuple, object] = {}


def _cached(faces: FaceGenerator, key: str, make: Callable[[], object]):
    """One value per generator object and key (the object is kept alive with it, so its id is never reused)."""
    k = (id(faces), key)
    if k not in _V2_CACHE:
        _V2_CACHE[k] = (faces, make())
    return _V2_CACHE[k][1]


def _highpass(images: np.ndarray) -> np.ndarray:
    """uint8 (n,64,64,3) -> float32 (n,64,64): grey minus its Gaussian blur (sigma 3 px; in the Fourier domain)."""
    g = images.astype(np.float32).mean(-1) / 255.0
    f = np.hypot(np.fft.fftfreq(64)[:, None], np.fft.fftfreq(64)[None, :])
    low = np.exp(-2 * (np.pi * 3.0 * f) ** 2)
    return (g - np.fft.ifft2(np.fft.fft2(g) * low).real).astype(np.float32)


def _reference(faces: FaceGenerator) -> dict:
    """Reference normal faces (fixed seed): the locator's template and the statistics' scale."""
    def make():
        z = sample_normal_latents(faces, _V2_N_REFERENCE, np.random.default_rng(_V2_REFERENCE_SEED))
        images = _check(faces.render(z), _V2_N_REFERENCE)
        template = np.zeros((64, 64), np.float32)
        template[_INNER] = _highpass(images).mean(0)[_INNER]
        template[_INNER] -= template[_INNER].mean()
        feats = _v2_features(images)
        mean, std = feats.mean(0), feats.std(0) + 1e-6
        edges = np.quantile(anomaly_stats.mean_brightness(images), np.linspace(0, 1, _V2_STRATA + 1)[1:-1])
        return {"template": template, "mean": mean, "std": std, "features": (feats - mean) / std, "z": z,
                "images": images, "brightness_edges": edges}
    return _cached(faces, "reference", make)


def _locate(images: np.ndarray, template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift (dy, dx) (n,) int each of every face's inner features from the mean face's: the shift, within
    ``_V2_MAX_SHIFT`` each way, at which the face's high-pass grey image best matches ``template``."""
    corr = np.fft.ifft2(np.fft.fft2(_highpass(images)) * np.conj(np.fft.fft2(template))[None]).real
    s = _V2_MAX_SHIFT
    shifts = np.r_[0:s + 1, -s:0]
    window = corr[:, shifts][:, :, shifts].reshape(len(images), -1)
    best = window.argmax(1)
    return shifts[best // len(shifts)], shifts[best % len(shifts)]


def _v2_features(images: np.ndarray) -> np.ndarray:
    """The statistics the selection matches: ``region_stats`` of the face's parts and of the grid (stabilised)
    and the global battery's reference-free statistics -> float64 (n, k)."""
    from data_tools import region_stats
    regions, grid = region_stats.region_and_grid_features(images)
    glob = np.stack([f(images) for f in anomaly_stats.TRIVIAL_STATS.values()], 1)
    return np.concatenate([region_stats.stabilised(regions), region_stats.stabilised(grid), glob], 1)


def _log_gaussian(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """log N(x; mean, cov) up to a constant shared by every Gaussian of the same dimension; x (n,k)."""
    d = x - mean
    sign, logdet = np.linalg.slogdet(cov)
    return -0.5 * (np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d) + logdet)


@dataclass(frozen=True)
class _Discriminant:
    """How normal a candidate's statistics look, as three numbers: a shrunk linear discriminant between reference
    normal faces and the kind's unselected candidates, and the log squared Mahalanobis distances of its region and
    of its grid statistics under Gaussians of reference normal faces (shrunk covariance: what a student's Gaussian
    on these statistics scores). Normal faces' and candidates' triples are taken as Gaussian (each fitted on rows
    the discriminant and the Gaussians were not fitted on); ``log_ratio``: log density normal / candidate."""
    mean: np.ndarray
    std: np.ndarray
    w: np.ndarray
    blocks: tuple            # ((columns, precision), ...) of the region and the grid statistics
    normal: tuple            # (mean (3,), covariance (3,3)) of normal faces' triples
    anomalous: tuple         # the same for the unselected candidates

    def triples(self, standardised: np.ndarray) -> np.ndarray:
        out = [standardised @ self.w]
        for cols, precision in self.blocks:
            x = standardised[:, cols]
            out.append(np.log(np.einsum("ij,jk,ik->i", x, precision, x) + 1e-9))
        return np.stack(out, 1)

    def log_ratio(self, images: np.ndarray) -> np.ndarray:
        t = self.triples((_v2_features(images) - self.mean) / self.std)
        return _log_gaussian(t, *self.normal) - _log_gaussian(t, *self.anomalous)


def _discriminant(faces: FaceGenerator, name: str, edit: Edit) -> _Discriminant:
    def make():
        from data_tools import region_stats
        ref = _reference(faces)
        rng = np.random.default_rng(_V2_CALIBRATION_SEED + _V2_ORDER.index(name))
        a = (_v2_features(edit(faces, 2 * _V2_N_CALIBRATION, rng)[1]) - ref["mean"]) / ref["std"]
        b = ref["features"]
        (a_fit, a_eval), (b_fit, b_eval) = np.split(a, 2), np.split(b, 2)
        cov = 0.5 * (np.cov(a_fit, rowvar=False) + np.cov(b_fit, rowvar=False)) + _V2_SHRINK * np.eye(a.shape[1])
        w = np.linalg.solve(cov, a_fit.mean(0) - b_fit.mean(0))
        n_region = len(region_stats.REGION_FEATURES)
        blocks = []
        for cols in (np.arange(n_region), np.arange(n_region, n_region + len(region_stats.GRID_FEATURES))):
            x = b_fit[:, cols]
            c = (1 - _V2_GAUSS_SHRINK) * (x.T @ x) / len(x) + _V2_GAUSS_SHRINK * np.eye(len(cols))
            blocks.append((cols, np.linalg.inv(c)))
        d = _Discriminant(ref["mean"], ref["std"], w, tuple(blocks), (), ())
        ta, tb = d.triples(a_eval), d.triples(b_eval)
        return dataclasses.replace(d, normal=(tb.mean(0), np.cov(tb, rowvar=False)),
                                   anomalous=(ta.mean(0), np.cov(ta, rowvar=False)))
    return _cached(faces, f"discriminant/{name}", make)


def _selected(name: str, edit: Edit) -> Edit:
    """``edit`` drawn ``_V2_CANDIDATES`` times over, keeping n candidates by Gumbel top-k sampling with weights
    proportional to the density ratio normal / candidate of ``_discriminant``'s triples, within ``_V2_STRATA``
    strata of the unedited face's brightness that each keep the share normal faces have (so the selection cannot
    prefer dark faces, where an edit shows least). Rows keep their order."""
    def selected(faces: FaceGenerator, n: int, rng: np.random.Generator):
        before, after = edit(faces, n * _V2_CANDIDATES, rng)
        keys = _discriminant(faces, name, edit).log_ratio(after) + rng.gumbel(size=len(after))
        stratum = np.searchsorted(_reference(faces)["brightness_edges"], anomaly_stats.mean_brightness(before))
        quota = np.full(_V2_STRATA, n // _V2_STRATA)
        quota[rng.choice(_V2_STRATA, n % _V2_STRATA, replace=False)] += 1
        order = np.argsort(-keys, kind="stable")
        keep = np.concatenate([order[stratum[order] == s][:q] for s, q in enumerate(quota)]).astype(int)
        if len(keep) < n:            # a stratum short of candidates: the best of the rest
            keep = np.r_[keep, order[~np.isin(order, keep)][:n - len(keep)]]
        keep = np.sort(keep)
        return _check(before[keep], n), _check(after[keep], n)
    return selected


def _v2_direction(faces: FaceGenerator, name: str) -> LatentRegion:
    """The held-out slab of a latent kind in version 2: version 1's direction, for the kinds in ``_V2_ORTHO`` less
    its components along the directions in z that predict the brightness of the part of the face the kind is named
    after (ridge regressions on the reference faces), renormalised; the band ``_V2_RANGES``."""
    def make():
        from data_tools import region_stats
        d = HELD_OUT[name].direction.astype(np.float64)
        if name in _V2_LABEL_DIRECTION:   # half way to the labeller's own direction (not orthogonalised)
            w = np.asarray(LABEL_MODELS[name][0], np.float64)
            d = d + w / np.linalg.norm(w)
        region = _V2_ORTHO.get(name)
        if region is not None:
            ref = _reference(faces)
            z = ref["z"].astype(np.float64)
            stats = region_stats.features(ref["images"], {region: region_stats.FACE_BOXES[region]})
            cols = [region_stats.STATS.index(s) for s in _V2_ORTHO_STATS]
            y = stats[:, cols] - stats[:, cols].mean(0)
            coef = np.linalg.solve(z.T @ z + 10.0 * np.eye(NZ), z.T @ y)      # (100, k)
            q, _ = np.linalg.qr(coef)
            d = d - q @ (q.T @ d)
        d = (d / np.linalg.norm(d)).astype(np.float32)
        return LatentRegion(d, *_V2_RANGES[name])
    return _cached(faces, f"direction/{name}", make)


def _latent_edit_v2(name: str) -> Edit:
    """Normal latents moved into the kind's version 2 slab, keeping only those the label model gives the attribute
    with P >= ``_V2_MIN_PROBABILITY`` (rejection in z: nothing is rendered twice)."""
    def edit(faces: FaceGenerator, n: int, rng: np.random.Generator):
        region = _v2_direction(faces, name)
        before = np.empty((0, NZ), np.float32)
        after = np.empty((0, NZ), np.float32)
        while len(after) < n:
            z = sample_normal_latents(faces, max(16, 2 * (n - len(after))), rng)
            moved = region.move(z, rng)
            keep = attribute_probability(name, moved) >= _V2_MIN_PROBABILITY
            before, after = np.concatenate([before, z[keep]]), np.concatenate([after, moved[keep]])
        return _check(faces.render(before[:n]), n), _check(faces.render(after[:n]), n)
    return edit


def _skin(face: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The face's skin colour (3,) float32: the median of the cheeks and nose below the eyes, at the face's shift."""
    r0, c0 = int(_NOSE_ROW + dy) - 4, int(_CENTRE + dx) - 9
    patch = face[max(r0, 0):min(r0 + 9, 64), max(c0, 0):min(c0 + 18, 64)].reshape(-1, 3).astype(np.float32)
    return np.median(patch, 0)


def _luma(c: np.ndarray) -> float:
    return float(c @ np.array([0.299, 0.587, 0.114], np.float32))


_MASK_V2_CLOTH = np.array([[150, 200, 235], [215, 215, 215], [60, 60, 70], [230, 170, 190], [120, 130, 140],
                           [60, 90, 160], [90, 120, 80], [170, 60, 60], [200, 180, 140], [40, 40, 40]], np.float32)


def _draw_face_mask_v2(face: np.ndarray, rng: np.random.Generator, dy: int, dx: int) -> np.ndarray:
    cx = _CENTRE + dx + rng.uniform(-1, 1)
    nose, mouth = _NOSE_ROW + dy, _MOUTH_ROW + dy
    style = rng.choice(("surgical", "cloth", "gaiter"), p=(0.4, 0.35, 0.25))
    w = rng.uniform(12.5, 16.5) + (2.5 if style == "gaiter" else 0)   # half width: cheek to cheek
    top = nose + rng.uniform(-1.5, 1.5) + (0 if style != "cloth" else 1.5)
    u = (_XX - cx) / w
    if style == "surgical":      # a rounded rectangle from the nose to below the chin
        bottom = mouth + rng.uniform(8, 12)
        inside = (np.abs(u) <= 1) & (_YY >= top - 1.5 * np.clip(1 - u ** 2, 0, 1)) & \
                 (_YY <= bottom - 4 * u ** 2)
    elif style == "cloth":       # version 1's shape: a half ellipse whose top rises to the nose bridge
        h = rng.uniform(15, 20)
        top_edge = top - 3.5 * np.clip(1 - u ** 2, 0, 1)
        inside = ((u ** 2 + ((_YY - top) / h) ** 2 <= 1) | ((_YY < top) & (np.abs(u) <= 1))) & (_YY >= top_edge)
    else:                        # a neck gaiter: everything below the nose, down to the image's edge
        inside = (np.abs(u) <= 1 + (_YY - top).clip(0) / 40) & (_YY >= top - 1.0 * np.clip(1 - u ** 2, 0, 1))
    alpha = _soft(inside.astype(np.float32), rng.uniform(0.8, 1.6)) * rng.uniform(0.86, 0.97)
    if style != "gaiter":        # ear loops
        for side in (-1, 1):
            x0, y0 = cx + side * w * 0.95, top + 2
            x1, y1 = cx + side * (w + 4), top - 6
            t = np.clip(((_XX - x0) * (x1 - x0) + (_YY - y0) * (y1 - y0)) / ((x1 - x0) ** 2 + (y1 - y0) ** 2), 0, 1)
            dist = np.hypot(_XX - (x0 + t * (x1 - x0)), _YY - (y0 + t * (y1 - y0)))
            alpha = np.maximum(alpha, rng.uniform(0.3, 0.6) * np.clip(1.2 - dist, 0, 1))
    covered = face[inside].astype(np.float32) if inside.any() else face.reshape(-1, 3).astype(np.float32)
    scheme = rng.choice(("skin", "covered", "cloth"), p=(0.35, 0.3, 0.35))
    if scheme == "skin":         # the face's own skin tone, a shade lighter or darker
        colour = _skin(face, dy, dx) * rng.uniform(0.85, 1.2)
    elif scheme == "covered":    # the mean colour of what it covers
        colour = covered.mean(0) * rng.uniform(0.9, 1.15)
    else:                        # a cloth colour at the covered part's brightness, half way to grey
        c = _MASK_V2_CLOTH[rng.integers(len(_MASK_V2_CLOTH))]
        c = c * (_luma(covered.mean(0)) * rng.uniform(0.8, 1.3) / max(_luma(c), 1.0))
        colour = c + rng.uniform(0.0, 0.5) * (_luma(c) - c)
    colour = np.clip(colour * rng.uniform(0.95, 1.05, 3), 0, 255).astype(np.float32)
    # folds (pleats of a surgical mask, creases of cloth) and the weave: the lips' edges are gone under a mask,
    # the folds' edges take their place
    period = rng.uniform(3.5, 6.0)
    phase = ((_YY - top) / period + rng.uniform(0, 1)) % 1.0
    crease = np.clip(1 - np.abs(phase - 0.5) * period / 0.9, 0, 1)          # a line ~2 px wide per fold
    folds = (1 + rng.uniform(0.03, 0.1) * np.sin((_YY - top) * 2 * np.pi / period)) * \
        (1 - rng.uniform(0.12, 0.3) * crease)
    if style == "cloth":         # the seam down the middle
        folds = folds * (1 - rng.uniform(0.05, 0.15) * np.clip(1 - np.abs(_XX - cx), 0, 1))
    noise = rng.normal(0, 1, (64, 64)).astype(np.float32)
    weave = np.asarray(Image.fromarray(np.clip(noise * 40 + 128, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(0.7)), np.float32) / 18 - 7.1   # std ~1
    grain = 1 + rng.uniform(0.02, 0.06) * weave
    return _blend(face, alpha, colour, _shading(face) * folds * grain)


_PAINT_V2 = np.array([[220, 30, 40], [30, 60, 220], [250, 250, 250], [20, 20, 20], [240, 200, 30], [30, 170, 60],
                      [150, 90, 50], [200, 80, 180]], np.float32)


def _draw_face_paint_v2(face: np.ndarray, rng: np.random.Generator, dy: int, dx: int) -> np.ndarray:
    cx, y0 = _CENTRE + dx + rng.uniform(-1, 1), _NOSE_ROW + dy + rng.uniform(-2.5, 1.5)
    pattern = rng.choice(("stripes", "dots", "patch"), p=(0.45, 0.3, 0.25))
    sides = (-1, 1) if rng.random() < 0.7 else (int(rng.choice((-1, 1))),)
    stroke = np.zeros((64, 64), np.float32)
    for side in sides:
        xc = cx + side * rng.uniform(9.5, 12.5)      # the cheek's centre, beside the nose
        if pattern == "stripes":
            slope, width = rng.uniform(-0.3, 0.3), rng.uniform(0.6, 1.3)
            for k in range(int(rng.integers(1, 4))):
                y = y0 + rng.uniform(2.6, 3.6) * k + slope * side * (_XX - cx)
                on = (np.abs(_YY - y) < width) & (np.abs(_XX - xc) < rng.uniform(3.5, 6))
                stroke = np.maximum(stroke, on.astype(np.float32))
        elif pattern == "dots":
            for _ in range(int(rng.integers(2, 6))):
                px, py = xc + rng.uniform(-4, 4), y0 + rng.uniform(-1, 6)
                stroke = np.maximum(stroke, (np.hypot(_XX - px, _YY - py) < rng.uniform(0.9, 1.7)).astype(np.float32))
        else:                                         # a round patch (a flag, a heart, a sun)
            r = rng.uniform(3, 5)
            stroke = np.maximum(stroke, (np.hypot(_XX - xc, _YY - (y0 + 2)) < r).astype(np.float32))
    alpha = _soft(stroke, rng.uniform(0.5, 0.9)) * rng.uniform(0.6, 0.9)
    colour = _PAINT_V2[rng.integers(len(_PAINT_V2))]
    # the paint recolours the skin: its hue, with the skin's own shading and texture and a share of its brightness
    g = face.astype(np.float32).mean(-1, keepdims=True)
    level = rng.uniform(0.4, 0.9)                     # how far the paint's own brightness replaces the skin's
    lum = g * (1 - level) + _luma(colour) * level
    item = colour[None, None, :] / max(_luma(colour), 20.0) * lum
    out = face.astype(np.float32) * (1 - alpha[..., None]) + item * alpha[..., None]
    return np.clip(out, 0, 255).round().astype(np.uint8)


def _located_edit(draw: Callable[[np.ndarray, np.random.Generator, int, int], np.ndarray]) -> Edit:
    """A drawn edit of normal faces at each face's own position (``_locate``)."""
    def edit(faces: FaceGenerator, n: int, rng: np.random.Generator):
        before = _normal_faces(faces, n, rng)
        dy, dx = _locate(before, _reference(faces)["template"])
        after = before.copy()
        for i in range(n):
            after[i] = draw(after[i], rng, int(dy[i]), int(dx[i]))
        return before, after
    return edit


def _near_v2(name: str, description: str, edit: Edit) -> AnomalyKind:
    v1 = KINDS[name]
    return _near(name, v1.family, v1.region, description, _selected(name, edit))


#: The near kinds as version 2 builds them (``get_kind(name, near_version=2)``); the other kinds are ``KINDS``'s.
KINDS_V2: dict[str, AnomalyKind] = {k.name: k for k in [
    _near_v2("glasses", "faces wearing glasses: the version 1 latent direction where the label model is sure of "
             "them, candidates selected to match normal faces' region statistics", _latent_edit_v2("glasses")),
    _near_v2("headwear", "faces wearing a hat, cap, helmet, hood or headband: the version 1 latent slab where the "
             "label model is sure of it, candidates selected to match normal faces' region statistics",
             _latent_edit_v2("headwear")),
    _near_v2("open_mouth", "faces with the mouth open: the version 1 latent slab where the label model is sure of "
             "it, candidates selected to match normal faces' region statistics", _latent_edit_v2("open_mouth")),
    _near_v2("face_mask", "normal faces wearing a drawn face mask (surgical, cloth or gaiter; skin-toned, "
             "matching or cloth-coloured) placed on the located face", _located_edit(_draw_face_mask_v2)),
    _near_v2("face_paint", "normal faces with drawn face paint (stripes, dots or a patch, one or both cheeks) "
             "recolouring the skin of the located face", _located_edit(_draw_face_paint_v2)),
]}


def faithfulness(kind: str, faces: FaceGenerator, n: int, rng: np.random.Generator,
                 near_version: int = 1) -> np.ndarray:
    """How much of each edit falls in the part of the face ``kind`` is named after: ``anomaly_stats.concentration``
    of (before, after) from ``kind.edit`` inside ``kind.region`` -> float64 (n,). 1 = spread evenly over the image;
    higher = concentrated there (the largest possible value is image area / region area)."""
    k = get_kind(kind, near_version)
    if k.edit is None or k.region is None:
        raise ValueError(f"anomaly kind {kind!r} is not an edit of a normal face with a named region")
    before, after = k.edit(faces, n, rng)
    return anomaly_stats.concentration(before, after, anomaly_stats.REGIONS[k.region])


def get_kind(name: str, near_version: int = 1) -> AnomalyKind:
    """The registered kind called ``name``, as ``near_version`` builds it (``NEAR_VERSIONS``: the near kinds of
    version 2 are ``KINDS_V2``'s; every other kind is the same in both); ``KeyError`` naming the valid kinds
    otherwise, ``ValueError`` for an unknown version."""
    check_near_version(near_version)
    if near_version == 2 and name in KINDS_V2:
        return KINDS_V2[name]
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown anomaly kind {name!r}; valid kinds: {', '.join(sorted(KINDS))}") from None


def check_near_version(near_version) -> int:
    """``near_version`` if it is one of ``NEAR_VERSIONS``; ``ValueError`` otherwise."""
    if isinstance(near_version, bool) or near_version not in NEAR_VERSIONS:
        raise ValueError(f"near_version must be one of {', '.join(map(str, NEAR_VERSIONS))}, got {near_version!r}")
    return int(near_version)
