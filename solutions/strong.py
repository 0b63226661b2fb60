"""Strong baseline: a multi-encoder autoencoder (the slides' "multi-encoder autoencoder").

Several encoders look at the same face differently: a fully connected one (global layout), a convolutional one
with 4x4 kernels (local texture) and one with dilated 3x3 kernels (a wider receptive field at the same cost).
Their codes are concatenated and fused by a linear layer into one latent vector that a single decoder turns back
into the face. Anomaly score ('pixel_var'): the reconstruction error at each pixel divided by that pixel's error
variance on held-out normal faces, summed (``stages.error_scores``).

    from solutions import strong
    result = strong.run(train_images, test_images)          # result.scores: (M,) float64, higher = more anomalous
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from solutions.medium import ConvEncoder, Decoder, FCEncoder, ReconstructionAE
from solutions.stages import StageResult, error_variance, reconstruction_scores, split_reference
from starter_code import TrainConfig, build_and_fit
from starter_code.models import register_model

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
    score: str = field(default="pixel_var", metadata={
        "help": "Score function of the squared error (solutions.stages.SCORE_FUNCTIONS)."})
    smooth: int = field(default=1, metadata={"help": "Box-smoothing radius of the error map for 'pixel_var'."})
    patch: int = field(default=8, metadata={"help": "Window size of the 'patch_max' scores."})
    n_reference: int = field(default=2000, metadata={
        "help": "Training faces held out to measure the per-pixel error variance (at most a fifth of them)."})

    SMOKE_CHANGES: ClassVar[dict] = {"model_kwargs.hidden": (128,), "model_kwargs.channels": (8, 16),
                                     "model_kwargs.code_dim": 16, "model_kwargs.latent_dim": 16, "n_reference": 32}


CONFIG = StrongConfig()


def fit_and_score(train_images: np.ndarray, test_images: np.ndarray, cfg: StrongConfig, progress: bool = True):
    """Hold out ``cfg.n_reference`` training faces, train on the rest, measure the per-pixel error variance on
    the held-out faces (score 'pixel_var'), score both sets.

    Returns (model, history, test scores ``(M,)``, held-out reference scores ``(n_reference,)``)."""
    ref, fit_images = split_reference(train_images, cfg.n_reference, cfg.seed)
    model, history = build_and_fit(fit_images, cfg, progress=progress)
    pixel_var = error_variance(model, ref, smooth=cfg.smooth) if cfg.score == "pixel_var" else None
    kw = dict(score=cfg.score, patch=cfg.patch, pixel_var=pixel_var, smooth=cfg.smooth)
    return model, history, reconstruction_scores(model, test_images, **kw), reconstruction_scores(model, ref, **kw)


def run(train_images: np.ndarray, test_images: np.ndarray, config: StrongConfig | None = None, *,
        smoke: bool = False, progress: bool = True, **overrides) -> StageResult:
    """Train a ``MultiEncoderAE`` on uint8 ``train_images`` ``(N, 64, 64, 3)`` (less ``n_reference`` held-out faces
    for the error statistics); score ``test_images`` ``(M, 64, 64, 3)``.

    Returns a ``StageResult`` whose ``scores`` are float64 ``(M,)``, higher = more anomalous.
    """
    t0 = time.perf_counter()
    cfg = (config or CONFIG).resolve(smoke=smoke, **overrides)
    model, history, scores, _ = fit_and_score(train_images, test_images, cfg, progress)
    return StageResult(scores=scores, history=history, model=model.eval(), seconds=time.perf_counter() - t0,
                       config=cfg)
