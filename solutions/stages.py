"""What every reference stage shares: its result type, its config handling, a training loop and score functions.

A stage module (``solutions.simple``, ``medium``, ``strong``, ``boss``) exposes

- ``CONFIG: dict``: default hyperparameters (demo and full presets);
- ``SMOKE_CONFIG: dict``: overrides for smoke mode (tiny data, seconds);
- ``build_model(**overrides) -> nn.Module``;
- ``run(train_images, test_images, *, smoke=False, progress=True, **overrides) -> StageResult``.

``STAGES`` lists them in ladder order; ``get_stage(name)`` imports one and raises listing the valid names.
Score contract (as everywhere in the kit): ``StageResult.scores[i]`` belongs to test row ``i`` and
**the higher, the more anomalous**.
"""
from __future__ import annotations

import importlib
import math
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from starter_code.config import ConfigKeyError
from starter_code.data import FaceDataset, make_loader
from starter_code.train import History, reconstruct_batch
from starter_code.utils import seed_everything, select_device

#: The ladder, easiest first: each stage must beat the previous one by >= 0.03 AUC (public and private).
STAGES: tuple[str, ...] = ("simple", "medium", "strong", "boss")


class UnknownStageError(ValueError):
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
    main part's, the others in ``parts``). ``model``: the trained model (in eval mode, on its training device).
    ``seconds``: wall time of ``run`` (training and scoring). ``config``: the resolved config used.
    ``parts``: named component scores ``(M,)`` for stages that combine several (e.g. boss: reconstruction and
    classifier), for reports.
    """
    scores: np.ndarray
    history: History
    model: nn.Module
    seconds: float
    config: dict = field(default_factory=dict)
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    extra_histories: dict[str, History] = field(default_factory=dict)


def resolve_config(stage: str, config: dict, smoke_config: dict, smoke: bool, overrides: dict) -> dict:
    """``config``, then ``smoke_config`` if ``smoke``, then ``overrides``; unknown keys raise ``ConfigKeyError``."""
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        raise ConfigKeyError(f"{stage}: unknown config key(s) {', '.join(unknown)}; "
                             f"known keys: {', '.join(sorted(config))}")
    bad = sorted(set(smoke_config) - set(config))
    if bad:  # a programming error in the stage module itself
        raise ConfigKeyError(f"{stage}: SMOKE_CONFIG has key(s) {', '.join(bad)} that CONFIG lacks")
    return {**config, **(smoke_config if smoke else {}), **overrides}


def split_kwargs(cfg: dict, keys) -> dict:
    """The entries of ``cfg`` whose names are in ``keys`` (model-building keys out of a stage config)."""
    return {k: cfg[k] for k in keys if k in cfg}


# -- training ------------------------------------------------------------------------------------------------------
def _lr_at(step: int, total: int, lr: float, schedule: str, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    if schedule == "constant":
        return lr
    if schedule == "cosine":
        t = (step - warmup) / max(1, total - warmup)
        return lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))
    raise ValueError(f"unknown lr schedule {schedule!r}; use 'constant' or 'cosine'")


def train_model(model: nn.Module, images, *, epochs: int, batch_size: int, lr: float, seed: int,
                weight_decay: float = 0.0, schedule: str = "cosine", warmup_steps: int = 0,
                loss_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None, device="auto",
                progress: bool = True, desc: str = "train", model_type: str | None = None) -> History:
    """Train ``model`` in place on uint8 ``images`` ``(N, 64, 64, 3)``; return its ``History``.

    Like ``starter_code.fit`` (Adam, per-epoch reshuffle from ``seed``, normalisation on the device, one tqdm bar)
    plus a learning-rate ``schedule`` ('constant' or 'cosine' decay to 2% of ``lr``, after ``warmup_steps`` linear
    warm-up steps) and an optional ``loss_fn(model, x)``; without it ``model.loss(x)`` is used.
    The model is left in eval mode on the training device.
    """
    dataset = images if isinstance(images, FaceDataset) else FaceDataset(images, "training images")
    if len(dataset) == 0:
        raise ValueError("train_model: no training images")
    seed_everything(seed)
    dev = select_device(device)
    model.to(dev).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loader = make_loader(dataset, batch_size, shuffle=True, device=dev, seed=seed)
    total_steps = epochs * len(loader)
    history = History(model_type=model_type or type(model).__name__)
    loss_fn = loss_fn or (lambda m, x: m.loss(x))
    bar = tqdm(total=total_steps, unit="step", desc=desc, disable=not progress, dynamic_ncols=True)
    step = 0
    try:
        for epoch in range(epochs):
            start = time.perf_counter()
            total = torch.zeros((), device=dev)
            for x in loader:
                for g in opt.param_groups:
                    g["lr"] = _lr_at(step, total_steps, lr, schedule, warmup_steps)
                loss = loss_fn(model, x)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach()
                step += 1
                bar.update(1)
            mean = total.item() / len(loader)
            history.seconds += time.perf_counter() - start
            history.images_seen += len(dataset)
            if not math.isfinite(mean):
                raise FloatingPointError(f"{desc}: training loss became {mean} in epoch {epoch + 1}; "
                                         f"try a lower lr (currently {lr})")
            history.losses.append(mean)
            bar.set_postfix(epoch=epoch + 1, loss=f"{mean:.5f}")
    finally:
        bar.close()
    model.eval()
    return history


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
        return err.sum(dim=(1, 2, 3)).sqrt()
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


@torch.inference_mode()
def _error_batches(model: nn.Module, images, batch_size: int, seed: int | None):
    """Yield squared reconstruction errors ``(B, 3, 64, 64)`` of uint8 ``images`` in row order (eval mode)."""
    p = next(iter(model.parameters()), None)
    dev = p.device if p is not None else torch.device("cpu")
    was = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            for x in make_loader(FaceDataset(images, "images to score"), batch_size, shuffle=False, device=dev):
                yield (reconstruct_batch(model, x) - x).pow(2)
    finally:
        model.train(was)


@torch.inference_mode()
def error_variance(model: nn.Module, images, *, smooth: int = 1, batch_size: int = 200) -> torch.Tensor:
    """Per-pixel variance ``(1, 1, 64, 64)`` of the (smoothed, channel-mean) squared reconstruction error over
    normal uint8 ``images`` ``(N, 64, 64, 3)`` (faces the model was not trained on), for score 'pixel_var'."""
    maps = torch.cat([_smoothed_error(e, smooth).float().cpu() for e in _error_batches(model, images, batch_size, 0)])
    if len(maps) < 2:
        raise ValueError(f"error_variance needs at least 2 images, got {len(maps)}")
    var = maps.var(0, keepdim=True)
    return var + 1e-3 * var.mean()  # floor: a pixel that never errs must not divide by ~0


@torch.inference_mode()
def reconstruction_scores(model: nn.Module, images, *, score: str = "l2", batch_size: int = 200,
                          patch: int = 8, pixel_var: torch.Tensor | None = None, smooth: int = 1,
                          seed: int | None = 0) -> np.ndarray:
    """float64 ``(M,)`` anomaly scores of uint8 ``images`` ``(M, 64, 64, 3)`` from ``model.reconstruct``, row order
    kept, higher = more anomalous (see ``error_scores`` for ``score``, ``pixel_var`` and ``smooth``). Runs in
    eval mode where the model is."""
    out = [error_scores(e, score, patch, pixel_var, smooth).float().cpu()
           for e in _error_batches(model, images, batch_size, seed)]
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)


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
