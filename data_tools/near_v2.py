"""The near kinds of version 2 (``BuildConfig.kinds_version = 2``, the default; version 1's are ``anomalies.KINDS``).
``NEAR_KINDS_V2``: name -> kind; ``anomalies.KINDS_V2`` adds the far kind version 2 changes
(``corrupted``), and ``anomalies.get_kind(name, kinds_version)`` returns the kind a build of that version uses.
Built on ``kind_parts``, as ``anomalies`` is.

Version 1's near kinds were found by statistics of parts of the face (``region_stats``): the drawn items sat at
fixed pixels (beside a turned face), in colours a region mean finds, one appearance per kind, and an open mouth
made the mouth the darkest region. Version 2 changes only the near kinds (normal faces and far kinds are
byte-identical), four ways:

1. Located: each face's inner features (eyes, nose, mouth) are found by matching its high-pass grey image to
   the mean of reference normal faces (``_locate``: a shift of up to ``_V2_MAX_SHIFT`` pixels each way); masks
   and paint are drawn at that shift, so they sit on the face, turned or not.
2. Matched and varied: masks in three shapes (surgical with pleats, cloth with a seam, neck gaiter) and three
   colour schemes (the face's own skin tone, the mean colour of what they cover, a cloth colour at that part's
   brightness, up to half desaturated); paint in three patterns (stripes, dots, a round patch; on both cheeks or
   one), recolouring the skin while keeping part of its brightness and all of its texture, and drawn again where
   it would barely show (``_V2_PAINT_FLOOR``).
3. Latent directions: open_mouth's is made orthogonal to the directions in z that predict the mouth's brightness
   (``_V2_ORTHO``: open mouths show teeth rather than the darkest hole of the face); headwear's is moved half
   way back towards the labeller's (``_V2_LABEL_DIRECTION``: more hats, fewer heads of hair); glasses and
   headwear get bolder bands (``_V2_RANGES``); a latent is kept only where the label model gives it the attribute
   with P >= ``_V2_MIN_PROBABILITY`` (a person sees it).
4. Selected: every near kind draws ``_V2_CANDIDATES`` candidates per image and keeps one in proportion to how normal
   its statistics look (``_Discriminant``: a shrunk linear discriminant of ``region_stats``' region and grid
   statistics and the global battery, and the Mahalanobis distances of the region and of the grid statistics, all
   fitted once per kind on fixed reference and calibration samples and shipped, ``FIT_FILE``; Gumbel top-k by the
   density ratio, within strata of brightness so that dark faces are not preferred: the unedited face's for drawn
   kinds, the edited face's for latent kinds, whose unedited faces are rendered only for the rows kept). What a
   student's statistic or Gaussian on them finds is thus matched as far as the candidates allow; every kept image
   still carries the edit (no candidate is unedited).
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

from data_tools import anomaly_stats
from data_tools.kind_parts import (_XX, _YY, HELD_OUT, AnomalyKind, Edit, LatentRegion, _blend, _check, _near,
                                   _normal_faces, _shading, _soft, attribute_probability, sample_normal_latents)
from data_tools.anomaly_directions import LABEL_MODELS
from data_tools.faces import NZ, FaceGenerator

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
#: paint must show: a drawing changing fewer than ``_V2_PAINT_FLOOR`` pixels by ``_V2_VISIBLE`` grey levels or more
#: (in some channel) is drawn again, up to ``_V2_REDRAWS`` times. On the calibration build's rating pages, 10 of the
#: 12 paint images answered no or unsure changed fewer than 40 such pixels (dots of a pixel or two, dark paint on a
#: dark face), against 18 of the 52 answered yes
_V2_VISIBLE, _V2_PAINT_FLOOR, _V2_REDRAWS = 32, 40, 8
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


# --- The shipped fit -------------------------------------------------------------------------------------------
# Fitting the selection's models renders ~9,000 faces (the reference faces and each kind's calibration
# candidates): about as long as a whole demo build's anomalies. They depend only on the constants above, the code
# and the generator's weights, so they are fitted once and shipped: ``FIT_FILE``, written by ``python -m data_tools
# refit`` (``write_fit``). A build reads it when its key (``fit_key``: the constants and the weights' sha256)
# matches, and fits in memory otherwise. A change to how candidates are drawn or statistics computed does not
# change the key: refit after one (``tests/data_tools/test_near_v2_fit.py`` refits and compares, in the slow tier).

#: The selection's fitted models, as ``write_fit`` stores them.
FIT_FILE = Path(__file__).with_name("near_v2_fit.npz")
_REFERENCE_FIELDS = ("template", "mean", "std", "brightness_edges")
_FITTING: set[int] = set()     # ids of generators being fitted from scratch (``fit``): the shipped file unread
_SHIPPED: dict[str, object] = {}


def fit_key() -> str:
    """sha256 of what the fit is made from: the selection's constants and the generator's weights."""
    from data_tools.faces import weights_sha256
    constants = (_V2_MAX_SHIFT, _V2_REFERENCE_SEED, _V2_N_REFERENCE, _V2_CALIBRATION_SEED, _V2_N_CALIBRATION,
                 _V2_STRATA, _V2_SHRINK, _V2_GAUSS_SHRINK, _V2_ORTHO, _V2_ORTHO_STATS, _V2_RANGES,
                 _V2_MIN_PROBABILITY, _V2_LABEL_DIRECTION, _V2_ORDER, _INNER, _V2_VISIBLE, _V2_PAINT_FLOOR,
                 _V2_REDRAWS)
    return hashlib.sha256(f"{constants!r} {weights_sha256()}".encode()).hexdigest()


def _fitted(faces: FaceGenerator, key: str, make: Callable[[], object]):
    """``_cached``, read from ``FIT_FILE`` where it holds ``key`` for today's ``fit_key``."""
    def shipped_or_make():
        if id(faces) not in _FITTING:
            if not _SHIPPED:
                _SHIPPED.update(_read_fit(FIT_FILE))
            if key in _SHIPPED:
                return _SHIPPED[key]
        return make()
    return _cached(faces, key, shipped_or_make)


def _read_fit(path: Path) -> dict[str, object]:
    """key -> value of a file ``write_fit`` wrote; {"key": ...} alone when it is missing or made from something
    else (another generator, other constants)."""
    if not path.is_file():
        return {"key": None}
    with np.load(path) as f:
        a = {k: f[k] for k in f.files}
    if str(a.pop("key")) != fit_key():
        return {"key": None}
    reference = {k: a[f"reference/{k}"] for k in _REFERENCE_FIELDS}
    out: dict[str, object] = {"key": True, "reference": reference}
    blocks = tuple((a[f"block{i}/columns"], a[f"block{i}/precision"]) for i in range(2))
    for name in _V2_ORDER:
        p = f"discriminant/{name}/"
        out[f"discriminant/{name}"] = _Discriminant(
            reference["mean"], reference["std"], a[f"{p}w"], blocks, (a[f"{p}normal/mean"], a[f"{p}normal/cov"]),
            (a[f"{p}anomalous/mean"], a[f"{p}anomalous/cov"]))
    for name, (low, high) in _V2_RANGES.items():
        out[f"direction/{name}"] = LatentRegion(a[f"direction/{name}"], low, high)
    return out


def _highpass(images: np.ndarray) -> np.ndarray:
    """uint8 (n,64,64,3) -> float32 (n,64,64): grey minus its Gaussian blur (sigma 3 px; in the Fourier domain)."""
    g = images.astype(np.float32).mean(-1) / 255.0
    f = np.hypot(np.fft.fftfreq(64)[:, None], np.fft.fftfreq(64)[None, :])
    low = np.exp(-2 * (np.pi * 3.0 * f) ** 2)
    return (g - np.fft.ifft2(np.fft.fft2(g) * low).real).astype(np.float32)


def _reference_sample(faces: FaceGenerator) -> dict:
    """The reference normal faces themselves (fixed seed): latents, images and statistics, what the fits read."""
    def make():
        z = sample_normal_latents(faces, _V2_N_REFERENCE, np.random.default_rng(_V2_REFERENCE_SEED))
        images = _check(faces.render(z), _V2_N_REFERENCE)
        return {"z": z, "images": images, "features": _v2_features(images)}
    return _cached(faces, "reference_sample", make)


def _reference(faces: FaceGenerator) -> dict:
    """What a build reads of the reference normal faces: the locator's template, the statistics' scale and the
    selection's brightness strata."""
    def make():
        sample = _reference_sample(faces)
        images, feats = sample["images"], sample["features"]
        template = np.zeros((64, 64), np.float32)
        template[_INNER] = _highpass(images).mean(0)[_INNER]
        template[_INNER] -= template[_INNER].mean()
        mean, std = feats.mean(0), feats.std(0) + 1e-6
        edges = np.quantile(anomaly_stats.mean_brightness(images), np.linspace(0, 1, _V2_STRATA + 1)[1:-1])
        return {"template": template, "mean": mean, "std": std, "brightness_edges": edges}
    return _fitted(faces, "reference", make)


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


def _discriminant(faces: FaceGenerator, name: str, candidates: Candidates) -> _Discriminant:
    def make():
        from data_tools import region_stats
        ref = _reference(faces)
        rng = np.random.default_rng(_V2_CALIBRATION_SEED + _V2_ORDER.index(name))
        a = (_v2_features(candidates(faces, 2 * _V2_N_CALIBRATION, rng)[1]) - ref["mean"]) / ref["std"]
        b = (_reference_sample(faces)["features"] - ref["mean"]) / ref["std"]
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
    return _fitted(faces, f"discriminant/{name}", make)


#: A kind's candidates: (faces, n, rng) -> (before, after, brightness): ``after`` (n,64,64,3) the edited images,
#: ``brightness`` (n,) what the selection's strata are taken on, and ``before(rows)`` the unedited faces of those
#: rows (rendered only for the rows kept, where rendering is what costs)
Candidates = Callable[[FaceGenerator, int, np.random.Generator],
                      tuple[Callable[[np.ndarray], np.ndarray], np.ndarray, np.ndarray]]


def _selected(name: str, candidates: Candidates) -> Edit:
    """``candidates`` drawn ``_V2_CANDIDATES`` times over, keeping n by Gumbel top-k sampling with weights
    proportional to the density ratio normal / candidate of ``_discriminant``'s triples, within ``_V2_STRATA``
    strata of brightness that each keep the share normal faces have (so the selection cannot prefer dark faces,
    where an edit shows least). Rows keep their order."""
    def selected(faces: FaceGenerator, n: int, rng: np.random.Generator):
        before, after, brightness = candidates(faces, n * _V2_CANDIDATES, rng)
        keys = _discriminant(faces, name, candidates).log_ratio(after) + rng.gumbel(size=len(after))
        stratum = np.searchsorted(_reference(faces)["brightness_edges"], brightness)
        quota = np.full(_V2_STRATA, n // _V2_STRATA)
        quota[rng.choice(_V2_STRATA, n % _V2_STRATA, replace=False)] += 1
        order = np.argsort(-keys, kind="stable")
        keep = np.concatenate([order[stratum[order] == s][:q] for s, q in enumerate(quota)]).astype(int)
        if len(keep) < n:            # a stratum short of candidates: the best of the rest
            keep = np.r_[keep, order[~np.isin(order, keep)][:n - len(keep)]]
        keep = np.sort(keep)
        return _check(before(keep), n), _check(after[keep], n)
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
            ref = _reference_sample(faces)
            z = ref["z"].astype(np.float64)
            stats = region_stats.features(ref["images"], {region: region_stats.FACE_BOXES[region]})
            cols = [region_stats.STATS.index(s) for s in _V2_ORTHO_STATS]
            y = stats[:, cols] - stats[:, cols].mean(0)
            coef = np.linalg.solve(z.T @ z + 10.0 * np.eye(NZ), z.T @ y)      # (100, k)
            q, _ = np.linalg.qr(coef)
            d = d - q @ (q.T @ d)
        d = (d / np.linalg.norm(d)).astype(np.float32)
        return LatentRegion(d, *_V2_RANGES[name])
    return _fitted(faces, f"direction/{name}", make)


def _latent_candidates(name: str) -> Candidates:
    """Normal latents moved into the kind's version 2 slab, keeping only those the label model gives the attribute
    with P >= ``_V2_MIN_PROBABILITY`` (rejection in z: nothing is rendered twice). The strata are taken on the
    edited faces' brightness, so the unedited faces are rendered only for the rows kept."""
    def candidates(faces: FaceGenerator, n: int, rng: np.random.Generator):
        region = _v2_direction(faces, name)
        before = np.empty((0, NZ), np.float32)
        after = np.empty((0, NZ), np.float32)
        while len(after) < n:
            z = sample_normal_latents(faces, max(16, 2 * (n - len(after))), rng)
            moved = region.move(z, rng)
            keep = attribute_probability(name, moved) >= _V2_MIN_PROBABILITY
            before, after = np.concatenate([before, z[keep]]), np.concatenate([after, moved[keep]])
        images = _check(faces.render(after[:n]), n)
        return (lambda rows: faces.render(before[rows])), images, anomaly_stats.mean_brightness(images)
    return candidates


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


def _changed(before: np.ndarray, after: np.ndarray) -> int:
    """How many pixels an edit changes by ``_V2_VISIBLE`` grey levels or more in some channel."""
    return int((np.abs(after.astype(np.int16) - before).max(-1) >= _V2_VISIBLE).sum())


def _located_candidates(draw: Callable[[np.ndarray, np.random.Generator, int, int], np.ndarray],
                        floor: int = 0) -> Candidates:
    """A drawn edit of normal faces at each face's own position (``_locate``); the strata are taken on the unedited
    faces' brightness. With a ``floor``, a drawing that changes fewer than ``floor`` pixels by ``_V2_VISIBLE``
    grey levels or more in some channel is drawn again (up to ``_V2_REDRAWS`` times; the most visible is kept)."""
    def candidates(faces: FaceGenerator, n: int, rng: np.random.Generator):
        before = _normal_faces(faces, n, rng)
        dy, dx = _locate(before, _reference(faces)["template"])
        after = before.copy()
        for i in range(n):
            after[i] = draw(before[i].copy(), rng, int(dy[i]), int(dx[i]))
            if not floor:
                continue
            shown = _changed(before[i], after[i])
            for _ in range(_V2_REDRAWS - 1):
                if shown >= floor:
                    break
                drawn = draw(before[i].copy(), rng, int(dy[i]), int(dx[i]))
                changed = _changed(before[i], drawn)
                if changed > shown:
                    after[i], shown = drawn, changed
        return (lambda rows: before[rows]), after, anomaly_stats.mean_brightness(before)
    return candidates


#: name -> (family, region): version 1's (``anomalies.KINDS``; a test holds them equal)
_FAMILY_REGION = {"glasses": ("semantic", "eyes"), "headwear": ("semantic", "top"),
                  "open_mouth": ("semantic", "mouth"), "face_mask": ("imitable", "lower_face"),
                  "face_paint": ("imitable", "cheeks")}


#: name -> how its candidates are drawn (``_selected`` keeps some of them)
_CANDIDATES: dict[str, Candidates] = {
    **{name: _latent_candidates(name) for name in ("glasses", "headwear", "open_mouth")},
    "face_mask": _located_candidates(_draw_face_mask_v2),
    "face_paint": _located_candidates(_draw_face_paint_v2, floor=_V2_PAINT_FLOOR)}


def _near_v2(name: str, description: str) -> AnomalyKind:
    return _near(name, *_FAMILY_REGION[name], description, _selected(name, _CANDIDATES[name]))


#: The near kinds as version 2 builds them (``anomalies.KINDS_V2``, with ``corrupted``).
NEAR_KINDS_V2: dict[str, AnomalyKind] = {k.name: k for k in [
    _near_v2("glasses", "faces wearing glasses: the version 1 latent direction where the label model is sure of "
             "them, candidates selected to match normal faces' region statistics"),
    _near_v2("headwear", "faces wearing a hat, cap, helmet, hood or headband: the version 1 latent slab where the "
             "label model is sure of it, candidates selected to match normal faces' region statistics"),
    _near_v2("open_mouth", "faces with the mouth open: the version 1 latent slab where the label model is sure of "
             "it, candidates selected to match normal faces' region statistics"),
    _near_v2("face_mask", "normal faces wearing a drawn face mask (surgical, cloth or gaiter; skin-toned, "
             "matching or cloth-coloured) placed on the located face"),
    _near_v2("face_paint", "normal faces with drawn face paint (stripes, dots or a patch, one or both cheeks) "
             "recolouring the skin of the located face"),
]}


def fit(faces: FaceGenerator) -> dict[str, object]:
    """Every model the selection reads, fitted from scratch on ``faces`` (``FIT_FILE`` unread): key -> value
    (``reference``, ``discriminant/<kind>``, ``direction/<latent kind>``)."""
    for k in [k for k in _V2_CACHE if k[0] == id(faces)]:
        del _V2_CACHE[k]
    _FITTING.add(id(faces))
    try:
        out: dict[str, object] = {"reference": _reference(faces)}
        out.update({f"discriminant/{n}": _discriminant(faces, n, _CANDIDATES[n]) for n in _V2_ORDER})
        out.update({f"direction/{n}": _v2_direction(faces, n) for n in _V2_RANGES})
        return out
    finally:
        _FITTING.discard(id(faces))


def write_fit(path: Path = FIT_FILE, faces: FaceGenerator | None = None) -> Path:
    """Fit (``fit``) and write the models to ``path`` with today's ``fit_key`` (float64 as fitted: a build that
    reads them is byte-identical to one that fits them)."""
    fitted = fit(faces or FaceGenerator())
    a: dict[str, np.ndarray] = {"key": np.array(fit_key())}
    a.update({f"reference/{k}": fitted["reference"][k] for k in _REFERENCE_FIELDS})
    # every kind's discriminant shares the reference's scale and Gaussians (fitted on the same reference faces):
    # stored once
    blocks = fitted[f"discriminant/{_V2_ORDER[0]}"].blocks
    for i, (columns, precision) in enumerate(blocks):
        a.update({f"block{i}/columns": columns, f"block{i}/precision": precision})
    for name in _V2_ORDER:
        d, p = fitted[f"discriminant/{name}"], f"discriminant/{name}/"
        assert d.mean is fitted["reference"]["mean"] and d.std is fitted["reference"]["std"]
        assert all(np.array_equal(x, y) for b, c in zip(d.blocks, blocks) for x, y in zip(b, c))
        a.update({f"{p}w": d.w, f"{p}normal/mean": d.normal[0], f"{p}normal/cov": d.normal[1],
                  f"{p}anomalous/mean": d.anomalous[0], f"{p}anomalous/cov": d.anomalous[1]})
    a.update({f"direction/{n}": fitted[f"direction/{n}"].direction for n in _V2_RANGES})
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **a)
    tmp.replace(path)
    _SHIPPED.clear()
    return path
