"""Classical detectors, reported beside the ladder (not a stage): PCA on downsampled pixels, and Gaussians on image
statistics (numpy + scikit-learn, no torch).

Every face is area-downsampled to ``size`` x ``size`` (32: 3,072 numbers), a PCA with ``components`` (128) is
fitted on at most ``n_fit`` training faces, and each test face gets three scores:

- ``pca``: the squared reconstruction error, ``|x - PCA^-1(PCA(x))|^2`` (what the space cannot express);
- ``mahalanobis``: the squared Mahalanobis distance inside the space, ``sum_i c_i^2 / var_i`` (a Gaussian on the
  PCA coefficients ``c``);
- ``knn``: the mean Euclidean distance of the whitened coefficients to the ``k`` nearest training faces.

and two shortcuts a ladder stage should beat, fitted on the same training faces (``StatGaussian``: each statistic
stabilised (``region_stats.stabilised``: log variances) and standardised on them, a Ledoit-Wolf shrunk covariance,
score = squared Mahalanobis distance):

- ``region_gaussian``: on ``data_tools.region_stats.region_features``, colour, intensity and texture statistics of
  the parts of the face (eye band, forehead, cheeks, mouth, lower face, top: ``FACE_BOXES``);
- ``grid_gaussian``: the same statistics on a plain 4 x 4 grid of cells (``grid_features``), no face knowledge.

``method`` picks the one returned as ``scores``; all five are in ``parts``. A tuned deep autoencoder should beat
these: a ladder stage that a 10-second linear model or a Gaussian on a few hundred region averages outscores
teaches the wrong lesson.

    from solutions import classical
    result = classical.run(train_images, test_images)              # result.scores: (M,) float64, higher = more anomalous
    result.parts["knn"]                                             # the other scores, same shape
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from data_tools import region_stats
from starter_code.config import Config

METHODS = ("pca", "mahalanobis", "knn", "region_gaussian", "grid_gaussian")


@dataclass
class ClassicalConfig(Config):
    """The classical detectors' settings (defaults for the demo and full presets; their scores beside the
    reference ladder: docs/results.md)."""
    method: str = field(default="pca", metadata={"help": f"The score returned as ``scores``: {', '.join(METHODS)}."})
    components: int = field(default=128, metadata={"help": "PCA components."})
    size: int = field(default=32, metadata={"help": "Side of the area-downsampled faces (divides 64)."})
    k: int = field(default=5, metadata={"help": "Neighbours averaged by the kNN distance."})
    n_fit: int = field(default=20_000, metadata={"help": "Training faces the PCA and the Gaussians are fitted on "
                                                         "(at most)."})
    seed: int = field(default=0, metadata={"help": "Seed of the fitting subsample and the randomized SVD."})

    SMOKE_CHANGES: ClassVar[dict] = {"components": 16, "n_fit": 512}

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"classical: unknown method {self.method!r}; valid: {', '.join(METHODS)}")
        if not 1 <= int(self.size) <= 64 or 64 % int(self.size):
            raise ValueError(f"classical: size must divide 64, got {self.size!r}")


CONFIG = ClassicalConfig()


@dataclass
class ClassicalResult:
    """What ``run`` returns (a stage's ``StageResult`` without the torch parts): ``scores`` float64 ``(M,)`` in
    row order, higher = more anomalous; ``parts``: every method's scores; ``seconds``: wall time of ``run``."""
    scores: np.ndarray
    seconds: float
    config: ClassicalConfig = field(default_factory=ClassicalConfig)
    parts: dict[str, np.ndarray] = field(default_factory=dict)


def downsample(images: np.ndarray, size: int = 32, batch: int = 5000) -> np.ndarray:
    """uint8 ``(N, 64, 64, 3)`` -> float32 ``(N, size * size * 3)`` in [0, 1]: the mean of each ``64 / size``
    square block (area downsampling), in batches (a memory-mapped 100k set is never loaded whole)."""
    images = images if hasattr(images, "shape") else np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (64, 64, 3):
        raise ValueError(f"images must have shape (N, 64, 64, 3), got {images.shape}")
    f = 64 // size
    out = np.empty((len(images), size * size * 3), np.float32)
    for i in range(0, len(images), batch):
        x = np.asarray(images[i:i + batch], np.float32) / 255.0
        out[i:i + len(x)] = x.reshape(len(x), size, f, size, f, 3).mean((2, 4)).reshape(len(x), -1)
    return out


@dataclass
class PCAModel:
    """A fitted PCA on downsampled faces with the statistics every score needs."""
    pca: object
    size: int
    train_coef: np.ndarray   # (n_fit, components) whitened coefficients of the fitting faces (for kNN)
    k: int

    @classmethod
    def fit(cls, train_images: np.ndarray, components: int = 128, size: int = 32, k: int = 5, n_fit: int = 20_000,
            seed: int = 0) -> "PCAModel":
        from sklearn.decomposition import PCA
        idx = fit_subsample(len(train_images), n_fit, seed)
        x = downsample(train_images[idx] if len(idx) < len(train_images) else train_images, size)
        n_comp = max(1, min(int(components), len(x) - 1, x.shape[1]))
        pca = PCA(n_comp, svd_solver="randomized", random_state=seed).fit(x)
        model = cls(pca=pca, size=size, train_coef=np.empty((0, n_comp)), k=int(k))
        model.train_coef = model.coefficients(x)
        return model

    def coefficients(self, x: np.ndarray) -> np.ndarray:
        """Downsampled faces ``(N, D)`` -> whitened PCA coefficients ``(N, components)``."""
        return self.pca.transform(x) / np.sqrt(self.pca.explained_variance_)

    def scores(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """uint8 ``(M, 64, 64, 3)`` -> ``{method: (M,) float64}`` for every method in ``METHODS``."""
        from sklearn.neighbors import NearestNeighbors
        x = downsample(images, self.size)
        c = self.coefficients(x)
        recon = self.pca.inverse_transform(c * np.sqrt(self.pca.explained_variance_))
        k = min(self.k, len(self.train_coef))
        dist, _ = NearestNeighbors(n_neighbors=k).fit(self.train_coef).kneighbors(c)
        return {"pca": ((x - recon) ** 2).sum(1).astype(np.float64),
                "mahalanobis": (c ** 2).sum(1).astype(np.float64),
                "knn": dist.mean(1).astype(np.float64)}


@dataclass
class StatGaussian:
    """A Gaussian on statistic vectors of normal faces: each column standardised (its mean and standard deviation
    on the fitting rows), covariance shrunk by Ledoit-Wolf (well conditioned with fewer rows than columns)."""
    mean: np.ndarray        # (F,)
    scale: np.ndarray       # (F,) standard deviations, floored
    precision: np.ndarray   # (F, F) inverse of the shrunk covariance of the standardised columns

    @classmethod
    def fit(cls, x: np.ndarray) -> "StatGaussian":
        """``x``: float (n, F) statistics of normal training faces only (no labels)."""
        from sklearn.covariance import LedoitWolf
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"StatGaussian needs a (n >= 2, F) array, got shape {x.shape}")
        mean, scale = x.mean(0), np.maximum(x.std(0), 1e-6)
        lw = LedoitWolf(assume_centered=True).fit((x - mean) / scale)
        return cls(mean=mean, scale=scale, precision=lw.precision_)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Statistics (M, F) -> squared Mahalanobis distances float64 (M,), higher = more anomalous."""
        z = (np.asarray(x, np.float64) - self.mean) / self.scale
        return np.einsum("ij,jk,ik->i", z, self.precision, z)


def fit_subsample(n: int, n_fit: int, seed: int) -> np.ndarray:
    """The sorted indices of the (at most) ``n_fit`` training faces every detector is fitted on."""
    idx = np.arange(n)
    if n > n_fit:
        idx = np.sort(np.random.default_rng(seed).choice(n, n_fit, replace=False))
    return idx


def statistic_scores(train_images: np.ndarray, test_images: np.ndarray, n_fit: int = 20_000,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """``region_gaussian`` and ``grid_gaussian``: Gaussians fitted on the statistics of (at most ``n_fit``)
    uint8 training faces, scored on ``test_images`` -> ``{name: (M,) float64}``. A test face's score depends on
    it alone: nothing is fitted on the test set."""
    idx = fit_subsample(len(train_images), n_fit, seed)
    train = train_images[idx] if len(idx) < len(train_images) else train_images
    fit = map(region_stats.stabilised, region_stats.region_and_grid_features(train))
    test = map(region_stats.stabilised, region_stats.region_and_grid_features(test_images))
    return {name: StatGaussian.fit(f).scores(t) for name, f, t in zip(("region_gaussian", "grid_gaussian"), fit, test)}


def run(train_images: np.ndarray, test_images: np.ndarray, config: ClassicalConfig | None = None, *,
        smoke: bool = False, progress: bool = True, **overrides) -> ClassicalResult:
    """Fit the PCA and the Gaussians on uint8 ``train_images`` ``(N, 64, 64, 3)``; score ``test_images``
    ``(M, 64, 64, 3)``.

    Returns a ``ClassicalResult``: ``scores`` float64 ``(M,)`` of ``method`` (higher = more anomalous), ``parts``
    with every method's. ``progress`` is accepted for the stages' call shape (a fit takes seconds)."""
    t0 = time.perf_counter()
    cfg = (config or CONFIG).resolve(smoke=smoke, **overrides)
    model = PCAModel.fit(train_images, cfg.components, cfg.size, cfg.k, cfg.n_fit, cfg.seed)
    parts = {**model.scores(test_images), **statistic_scores(train_images, test_images, cfg.n_fit, cfg.seed)}
    return ClassicalResult(scores=parts[cfg.method], seconds=time.perf_counter() - t0, config=cfg, parts=parts)


__all__ = ["CONFIG", "ClassicalConfig", "METHODS", "ClassicalResult", "PCAModel", "StatGaussian", "downsample",
           "fit_subsample", "run", "statistic_scores"]
