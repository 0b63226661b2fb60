"""Strong baseline: a multi-encoder autoencoder (the slides' "multi-encoder autoencoder").

Several encoders look at the same face differently: a fully connected one (global layout), a convolutional one
with 4x4 kernels (local texture) and one with dilated 3x3 kernels (a wider receptive field at the same cost).
Their codes are concatenated and fused by a linear layer into one latent vector that a single decoder turns back
into the face. Anomaly score ('residual'): the reconstruction residual (reconstruction - face) averaged over 4 x 4
cells per colour channel, with the log energy of the residual's gradient per cell (``stages.residual_features``),
scored by its Mahalanobis distance under a Gaussian fitted on training faces: where and in which colour a face
differs from what the model makes of it, and where it has edges the model does not draw, against how normal faces'
residuals vary and go together. It beats 'pixel_var' (the error at each pixel over its variance on held-out faces)
on the calibration build and in smoke mode on the tiny preset (where it keeps 8 x 8 cells and no edges):
docs/results.md, "The strong stage's score".

    from solutions import strong
    result = strong.run(train_images, test_images)          # result.scores: (M,) float64, higher = more anomalous
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, ClassVar, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from solutions.medium import ConvEncoder, Decoder, FCEncoder, ReconstructionAE
from solutions.stages import (SCORE_FUNCTIONS, Gaussian, StageResult, error_variance, reconstruction_scores,
                              residual_features, split_reference, subsample)
from starter_code import TrainConfig, build_and_fit
from starter_code.models import register_model
from starter_code.train import History

#: Encoder specs ``MultiEncoderAE`` understands: name -> (kind, options).
ENCODER_SPECS: dict[str, dict] = {
    "fc": {"kind": "fc"},
    "conv": {"kind": "conv", "kernel": 4, "dilation": 1},
    "conv_dilated": {"kind": "conv", "kernel": 3, "dilation": 2},
    "conv_wide": {"kind": "conv", "kernel": 7, "dilation": 1},
}


class MultiEncoderAE(ReconstructionAE):
    """Several encoders, one decoder.

    ``(B, 3, 64, 64)`` -> each encoder -> ``(B, code_dim)`` -> concatenated ``(B, code_dim * len(encoders))``
    -> linear fusion -> ``z`` ``(B, latent_dim)`` -> decoder -> ``(B, 3, 64, 64)`` in [-1, 1].
    ``encoders``: names from ``ENCODER_SPECS``. Follows the kit's model convention.
    """

    def __init__(self, encoders: tuple[str, ...] = ("fc", "conv", "conv_dilated"), code_dim: int = 64,
                 latent_dim: int = 64, hidden: tuple[int, ...] = (1024, 256),
                 channels: tuple[int, ...] = (16, 32, 64, 64), decoder: str = "fc", loss: str = "mse"):
        super().__init__()
        unknown = [e for e in encoders if e not in ENCODER_SPECS]
        if unknown or not encoders:
            raise ValueError(f"unknown encoder(s) {unknown or encoders}; valid: {', '.join(ENCODER_SPECS)}")
        mods = {}
        for name in encoders:
            spec = ENCODER_SPECS[name]
            if spec["kind"] == "fc":
                mods[name] = FCEncoder(code_dim, tuple(hidden))
            else:
                mods[name] = ConvEncoder(code_dim, tuple(channels), kernel=spec["kernel"], dilation=spec["dilation"])
        self.encoders = nn.ModuleDict(mods)
        self.fuse = nn.Linear(code_dim * len(encoders), latent_dim)
        self.decoder = Decoder(latent_dim, decoder, tuple(hidden), tuple(channels))
        if loss not in ("mse", "l1"):
            raise ValueError(f"loss must be 'mse' or 'l1', got {loss!r}")
        self.loss_type = loss
        self.latent_dim = latent_dim

    def codes(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each encoder's code ``(B, code_dim)``, by name."""
        return {name: enc(x) for name, enc in self.encoders.items()}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 64, 64)`` -> fused ``z`` ``(B, latent_dim)``."""
        return self.fuse(F.leaky_relu(torch.cat(list(self.codes(x).values()), 1), 0.2))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


register_model("multi_encoder_ae", MultiEncoderAE)


@dataclass
class StrongConfig(TrainConfig):
    """``TrainConfig`` with the strong stage's defaults (a ``MultiEncoderAE``) and its score's keys."""
    model_type: str = TrainConfig.default_field("model_type", "multi_encoder_ae")
    # Three light encoders (fc 256 wide; two convolutional ones of 8-16-32-64 channels) keep the stage cheap on
    # CPU. Longer training lets the autoencoder reconstruct the anomalies too: on the demo preset 5 or 8 epochs
    # scored below 3; on the full preset more epochs help (docs/results.md, "Reference ladder, full preset").
    model_kwargs: dict = TrainConfig.default_field("model_kwargs", {
        "encoders": ("fc", "conv", "conv_dilated"), "code_dim": 32, "latent_dim": 32, "hidden": (256,),
        "channels": (8, 16, 32, 64), "decoder": "fc", "loss": "mse"})
    epochs: int = TrainConfig.default_field("epochs", 3)
    batch_size: int = TrainConfig.default_field("batch_size", 128)
    schedule: str = TrainConfig.default_field("schedule", "cosine")
    score: str = field(default="residual", metadata={
        "help": "Score: 'residual' (a Gaussian on the cell-averaged signed residual) or a score function of the "
                "squared error (solutions.stages.SCORE_FUNCTIONS)."})
    cell: int = field(default=4, metadata={"help": "Cell size (pixels) of the 'residual' score's averages."})
    edges: bool = field(default=True, metadata={
        "help": "'residual' score: also the log energy of the residual's gradient per cell (edges in the face "
                "that its reconstruction does not draw there)."})
    n_residual: int = field(default=5000, metadata={
        "help": "Training faces the 'residual' score's Gaussian is fitted on."})
    smooth: int = field(default=1, metadata={"help": "Box-smoothing radius of the error map for 'pixel_var'."})
    patch: int = field(default=8, metadata={"help": "Window size of the 'patch_max' scores."})
    n_reference: int = field(default=2000, metadata={
        "help": "Training faces held out from training: normal faces no model has seen, for the per-pixel error "
                "variance of 'pixel_var' and the reference scores (at most a fifth of them)."})

    # Smoke mode fits the residual Gaussian on a few hundred faces: the 192 numbers of 8 x 8 cells, not the 1,024 of
    # 4 x 4 cells and edges (docs/results.md, "The strong stage's score").
    SMOKE_CHANGES: ClassVar[dict] = {"model_kwargs.hidden": (128,), "model_kwargs.channels": (8, 16),
                                     "model_kwargs.code_dim": 16, "model_kwargs.latent_dim": 16, "n_reference": 32,
                                     "cell": 8, "edges": False}


CONFIG = StrongConfig()


#: The strong stage's scores: its own 'residual' and the squared-error ones every stage has.
SCORES = ("residual", *SCORE_FUNCTIONS)


def check_score(cfg: StrongConfig) -> None:
    """``ValueError`` naming the valid scores unless ``cfg.score`` is one of ``SCORES`` (before any training)."""
    if cfg.score not in SCORES:
        raise ValueError(f"unknown score {cfg.score!r}; valid: {', '.join(SCORES)}")


def make_scorer(model: nn.Module, reference: np.ndarray, fit_images: np.ndarray,
                cfg: StrongConfig) -> Callable[[np.ndarray], np.ndarray]:
    """The function that scores uint8 images ``(P, 64, 64, 3)`` with ``model`` by ``cfg.score`` -> float64
    ``(P,)``, higher = more anomalous. Its statistics come from normal faces: for 'residual' a ``Gaussian`` on
    ``residual_features`` of ``cfg.n_residual`` of ``fit_images`` (the faces the model was trained on, so that the
    held-out ``reference`` faces score as any unseen normal face does); for 'pixel_var' the per-pixel error
    variance on ``reference``. Both come from ``split_reference(train_images, cfg.n_reference, cfg.seed)``."""
    check_score(cfg)
    if cfg.score == "residual":
        features = partial(residual_features, model, cell=cfg.cell, edges=cfg.edges)
        gauss = Gaussian.fit(features(subsample(fit_images, cfg.n_residual, cfg.seed)))
        return lambda images: gauss.distance(features(images))
    pixel_var = error_variance(model, reference, smooth=cfg.smooth) if cfg.score == "pixel_var" else None
    return partial(reconstruction_scores, model, score=cfg.score, patch=cfg.patch, pixel_var=pixel_var,
                   smooth=cfg.smooth)


class Fitted(NamedTuple):
    """What ``fit_and_score`` returns: the trained model and its history, the test and held-out reference faces'
    scores, and ``score``, the function that scored them (``make_scorer``), for any other images."""
    model: nn.Module
    history: History
    test_scores: np.ndarray
    reference_scores: np.ndarray
    score: Callable[[np.ndarray], np.ndarray]


def fit_and_score(train_images: np.ndarray, test_images: np.ndarray, cfg: StrongConfig,
                  progress: bool = True) -> Fitted:
    """Hold out ``cfg.n_reference`` training faces, train on the rest, fit the score's statistics
    (``make_scorer``), score both sets: a ``Fitted`` (test scores ``(M,)``, reference scores ``(n_reference,)``)."""
    check_score(cfg)
    ref, fit_images = split_reference(train_images, cfg.n_reference, cfg.seed)
    model, history = build_and_fit(fit_images, cfg, progress=progress)
    score = make_scorer(model, ref, fit_images, cfg)
    return Fitted(model, history, score(test_images), score(ref), score)


def run(train_images: np.ndarray, test_images: np.ndarray, config: StrongConfig | None = None, *,
        smoke: bool = False, progress: bool = True, **overrides) -> StageResult:
    """Train a ``MultiEncoderAE`` on uint8 ``train_images`` ``(N, 64, 64, 3)`` (less ``n_reference`` held-out faces
    for the error statistics); score ``test_images`` ``(M, 64, 64, 3)``.

    Returns a ``StageResult`` whose ``scores`` are float64 ``(M,)``, higher = more anomalous.
    """
    t0 = time.perf_counter()
    cfg = (config or CONFIG).resolve(smoke=smoke, **overrides)
    fitted = fit_and_score(train_images, test_images, cfg, progress)
    return StageResult(scores=fitted.test_scores, history=fitted.history, model=fitted.model.eval(),
                       seconds=time.perf_counter() - t0, config=cfg, score_images=fitted.score)
