"""What every reference stage shares: its result type, the stage registry and the score functions built on
``starter_code``'s engine.

A stage module (``solutions.simple``, ``medium``, ``strong``, ``boss``) exposes

- ``CONFIG``: its default config, a dataclass in ``TrainConfig``'s vocabulary (``TrainConfig`` itself for the
  simple stage, a subclass with the stage's own keys for the others; ``help_table()`` lists them);
- ``run(train_images, test_images, config=None, *, smoke=False, progress=True, **overrides) -> StageResult``:
  ``config`` (default ``CONFIG``), in smoke mode ``.smoke()``, then ``overrides`` (unknown keys raise
  ``ConfigKeyError``; ``"model_kwargs.latent_dim"`` or ``classifier={"epochs": 1}`` change one nested key).

Every stage trains with ``starter_code.fit`` / ``build_and_fit`` and scores through
``starter_code.eval_batches`` / ``anomaly_scores``, the calls students have. ``STAGES``
(``starter_code.formats``) lists them in ladder order; ``get_stage(name)`` imports one and raises listing the
valid names. Score contract (as everywhere in the kit): ``StageResult.scores[i]`` belongs to test row ``i`` and
**the higher, the more anomalous**.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import partial
from types import ModuleType
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common.errors import KitError
from starter_code.config import Config
from starter_code.formats import STAGES
from starter_code.scoring import anomaly_scores, eval_batches, l2_score, squared_error
from starter_code.train import History, reconstruct_batch

__all__ = ["STAGES", "UnknownStageError", "get_stage", "StageResult", "SCORE_FUNCTIONS", "error_scores",
           "error_variance", "reconstruction_scores", "residual_features", "split_reference", "standardise",
           "subsample", "Gaussian", "knn_distance"]


class UnknownStageError(KitError, ValueError):
    """A stage name that is not in ``STAGES``; the message lists the valid names."""


def get_stage(name: str) -> ModuleType:
    """The stage module ``solutions.<name>`` for ``name`` in ``STAGES``."""
    if name not in STAGES:
        raise UnknownStageError(f"unknown stage {name!r}; valid stages: {', '.join(STAGES)}")
    return importlib.import_module(f"solutions.{name}")


@dataclass
class StageResult:
    """What a stage's ``run`` returns.

    ``scores``: float64 ``(M,)``, one per test image in row order, higher = more anomalous.
    ``history``: the training history (``starter_code.History``; for stages with several trained parts, the
    main part's, the others in ``extra_histories``). ``model``: the trained model (in eval mode, on its training
    device). ``seconds``: wall time of ``run`` (training and scoring). ``config``: the resolved config used.
    ``parts``: named component scores ``(M,)`` for stages that combine several (e.g. boss: reconstruction and
    classifier), for reports. ``score_images``: where the stage sets it, the function that scored the test images,
    for any other uint8 images ``(P, 64, 64, 3)`` -> ``(P,)`` (its statistics already fitted).
    """
    scores: np.ndarray
    history: History
    model: nn.Module
    seconds: float
    config: Config
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    extra_histories: dict[str, History] = field(default_factory=dict)
    score_images: Callable[[np.ndarray], np.ndarray] | None = None


# -- scoring -------------------------------------------------------------------------------------------------------
#: Score functions on the squared reconstruction error ``e = (recon - x)**2`` ``(B, 3, 64, 64)``.
SCORE_FUNCTIONS = ("l2", "mse", "pixel_var", "patch_max", "l2+patch_max")


def _smoothed_error(err: torch.Tensor, smooth: int) -> torch.Tensor:
    """``(B, 3, 64, 64)`` -> channel-mean error ``(B, 1, 64, 64)``, box-smoothed over ``2 * smooth + 1`` pixels."""
    e = err.mean(1, keepdim=True)
    return F.avg_pool2d(e, 2 * smooth + 1, stride=1, padding=smooth, count_include_pad=False) if smooth else e


def error_scores(err: torch.Tensor, score: str, patch: int = 8, pixel_var: torch.Tensor | None = None,
                 smooth: int = 1) -> torch.Tensor:
    """``(B, 3, 64, 64)`` squared errors -> ``(B,)`` scores.

    'l2': the course's ``sqrt(sum e)``; 'mse': ``mean e`` (same order as 'l2'); 'pixel_var': the error at each
    pixel divided by that pixel's error variance on normal faces (``pixel_var`` ``(1, 1, 64, 64)`` from
    ``error_variance``), summed: hair and background are hard to reconstruct for every face, so their error is
    noise; a small error on the cheeks, mouth or eyes, where normal faces reconstruct well, is evidence
    (measured on demo data, 5,000 faces, fc AE: 0.71 -> 0.75 AUC); 'patch_max': the largest mean error over
    ``patch`` x ``patch`` windows (stride ``patch // 2``); 'l2+patch_max': the sum of both logs. (Measured:
    patch_max alone 0.64, worse than l2: normal faces have large local errors too.)
    """
    if score == "l2":
        return l2_score(err)
    if score == "mse":
        return err.mean(dim=(1, 2, 3))
    if score == "pixel_var":
        if pixel_var is None:
            raise ValueError("score 'pixel_var' needs the per-pixel error variance (stages.error_variance)")
        return (_smoothed_error(err, smooth) / pixel_var.to(err.device)).sum(dim=(1, 2, 3))
    pm = F.avg_pool2d(err.mean(1, keepdim=True), patch, stride=max(1, patch // 2)).flatten(1).amax(1)
    if score == "patch_max":
        return pm
    if score == "l2+patch_max":
        return torch.log(err.mean(dim=(1, 2, 3)) + 1e-8) + torch.log(pm + 1e-8)
    raise ValueError(f"unknown score function {score!r}; valid: {', '.join(SCORE_FUNCTIONS)}")


def error_variance(model: nn.Module, images, *, smooth: int = 1, batch_size: int = 200) -> torch.Tensor:
    """Per-pixel variance ``(1, 1, 64, 64)`` of the (smoothed, channel-mean) squared reconstruction error over
    normal uint8 ``images`` ``(N, 64, 64, 3)`` (faces the model was not trained on), for score 'pixel_var'."""
    maps = [_smoothed_error(squared_error(model, x), smooth).float().cpu()
            for x in eval_batches(model, images, batch_size)]
    maps = torch.cat(maps) if maps else torch.zeros(0, 1, 64, 64)
    if len(maps) < 2:
        raise ValueError(f"error_variance needs at least 2 images, got {len(maps)}")
    var = maps.var(0, keepdim=True)
    return var + 1e-3 * var.mean()  # floor: a pixel that never errs must not divide by ~0


def reconstruction_scores(model: nn.Module, images, *, score: str = "l2", batch_size: int = 200,
                          patch: int = 8, pixel_var: torch.Tensor | None = None, smooth: int = 1,
                          seed: int | None = 0) -> np.ndarray:
    """float64 ``(M,)`` anomaly scores of uint8 ``images`` ``(M, 64, 64, 3)``: ``starter_code.anomaly_scores``
    with the score function ``score`` (see ``error_scores`` for ``score``, ``pixel_var`` and ``smooth``)."""
    score_fn = partial(error_scores, score=score, patch=patch, pixel_var=pixel_var, smooth=smooth)
    return anomaly_scores(model, images, batch_size, seed=seed, score_fn=score_fn)


def residual_features(model: nn.Module, images, *, cell: int = 8, edges: bool = False,
                      batch_size: int = 200) -> np.ndarray:
    """float64 ``(M, 3 * (64 // cell) ** 2)``: the signed residual (reconstruction - image, in the model's [-1, 1]
    units) of uint8 ``images`` ``(M, 64, 64, 3)`` averaged over ``cell`` x ``cell`` pixels, per channel: where, and
    in which colour, each image differs from what the model makes of it. A Gaussian on these of normal faces
    (``Gaussian``) knows which cells a face reconstructs well and how their errors go together: a colour the
    decoder never draws, there, is evidence even when it is small beside the hair's error.

    ``edges``: then ``(64 // cell) ** 2`` more columns, the log of the residual's squared gradient (the image's
    edges less the reconstruction's, channels averaged) per cell: edges in the image the model does not draw there
    (a glasses frame, a hat's brim, the seams of a moved tile, a photograph's texture), apart from how far the
    colours differ."""
    if 64 % int(cell):
        raise ValueError(f"cell must divide 64, got {cell}")
    cell, out = int(cell), []
    for x in eval_batches(model, images, batch_size):
        d = reconstruct_batch(model, x) - x
        parts = [F.avg_pool2d(d, cell).flatten(1)]
        if edges:
            gx = F.pad(d[..., :, 1:] - d[..., :, :-1], (0, 1, 0, 0), mode="replicate")
            gy = F.pad(d[..., 1:, :] - d[..., :-1, :], (0, 0, 0, 1), mode="replicate")
            energy = (gx ** 2 + gy ** 2).mean(1, keepdim=True)
            parts.append(torch.log(F.avg_pool2d(energy, cell) + 1e-5).flatten(1))
        out.append(torch.cat(parts, 1).double().cpu())
    width = (3 + bool(edges)) * (64 // cell) ** 2
    return torch.cat(out).numpy() if out else np.zeros((0, width))


def split_reference(images: np.ndarray, n_reference: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """-> (reference, rest): ``n_reference`` (at most a fifth) of ``images`` held out from training, to measure
    what scores normal faces get from a model that has not seen them. Both keep row order."""
    n_ref = min(int(n_reference), len(images) // 5)
    perm = np.random.default_rng(seed).permutation(len(images))
    return images[np.sort(perm[:n_ref])], images[np.sort(perm[n_ref:])]


def standardise(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(scores - median(reference)) / IQR-scale(reference)``: puts component scores on one scale so they can be
    summed; ``reference`` are the same component's scores on normal (training) images."""
    reference = np.asarray(reference, np.float64)
    med = np.median(reference)
    q75, q25 = np.percentile(reference, [75, 25])
    scale = (q75 - q25) / 1.349 if q75 > q25 else (reference.std() or 1.0)
    return (np.asarray(scores, np.float64) - med) / scale


def subsample(images: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most ``n`` rows of ``images``, drawn without replacement (for reference statistics)."""
    if len(images) <= n:
        return images
    idx = np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))
    return images[idx]


# -- Gaussian density on features (Mahalanobis distance) ----------------------------------------------------------
@dataclass
class Gaussian:
    """A Gaussian fitted to normal features ``(N, D)``: ``mean`` ``(D,)`` and ``precision`` ``(D, D)`` (inverse of
    the covariance shrunk towards its average variance, so it stays invertible with few samples)."""
    mean: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, shrink: float = 0.01) -> "Gaussian":
        f = np.asarray(features, np.float64)
        if f.ndim != 2 or len(f) < 2:
            raise ValueError(f"features must be (N >= 2, D), got {f.shape}")
        cov = np.atleast_2d(np.cov(f, rowvar=False))
        cov = (1 - shrink) * cov + shrink * (np.trace(cov) / len(cov)) * np.eye(len(cov))
        return cls(f.mean(0), np.linalg.inv(cov))

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance ``(M,)`` of ``features`` ``(M, D)``: higher = less like the normal ones."""
        d = np.asarray(features, np.float64) - self.mean
        return np.einsum("ij,jk,ik->i", d, self.precision, d)


def knn_distance(reference: np.ndarray, queries: list[np.ndarray], k: int = 5) -> list[np.ndarray]:
    """Mean Euclidean distance ``(M,)`` of each row of each array in ``queries`` to its ``k`` nearest rows of
    ``reference`` ``(N, D)`` (normal features), every column standardised by ``reference``'s mean and spread:
    higher = less like any normal face."""
    from sklearn.neighbors import NearestNeighbors
    ref = np.asarray(reference, np.float64)
    if ref.ndim != 2 or len(ref) < 1:
        raise ValueError(f"reference features must be (N >= 1, D), got {ref.shape}")
    mu, sd = ref.mean(0), ref.std(0) + 1e-6
    index = NearestNeighbors(n_neighbors=min(int(k), len(ref))).fit((ref - mu) / sd)
    return [index.kneighbors((np.asarray(q, np.float64) - mu) / sd)[0].mean(1) for q in queries]
