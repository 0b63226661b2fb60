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

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from solutions.medium import ConvEncoder, Decoder, FCEncoder, ReconstructionAE
from solutions.stages import (StageResult, error_variance, reconstruction_scores, resolve_config, split_kwargs,
                              split_reference, train_model)
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

MODEL_KEYS = ("encoders", "code_dim", "latent_dim", "hidden", "channels", "decoder", "loss")

#: Demo/full defaults. Three light encoders (fc 256 wide; two convolutional ones of 8-16-32-64 channels) keep the
#: stage cheap on CPU. Measured on the demo preset with the first anomaly mixture (public / private AUC, 1 thread
#: on 2 shared cores; README.md has the current ladder): 3 epochs 0.760 / 0.769 (164 s); 5 epochs 0.758 / 0.768;
#: 8 epochs 0.751 / 0.762 (a longer-trained autoencoder also reconstructs the anomalies better); fc (512, 128) +
#: latent 16, 6 epochs: 0.760 / 0.772 (556 s).
CONFIG: dict = {
    "encoders": ("fc", "conv", "conv_dilated"),
    "code_dim": 32,
    "latent_dim": 32,
    "hidden": (256,),
    "channels": (8, 16, 32, 64),
    "decoder": "fc",
    "loss": "mse",
    "epochs": 3,
    "batch_size": 128,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "schedule": "cosine",
    "score": "pixel_var",
    "smooth": 1,
    "patch": 8,
    "n_reference": 2000,
    "seed": 48763,
    "device": "auto",
}
SMOKE_CONFIG: dict = {"epochs": 1, "hidden": (128,), "channels": (8, 16), "code_dim": 16, "latent_dim": 16,
                      "batch_size": 64, "n_reference": 32}


def build_model(**overrides) -> nn.Module:
    """A ``MultiEncoderAE`` from ``CONFIG``'s model keys with ``overrides`` (unknown keys raise)."""
    cfg = resolve_config("strong", CONFIG, SMOKE_CONFIG, False, overrides)
    return MultiEncoderAE(**split_kwargs(cfg, MODEL_KEYS))


def train(train_images: np.ndarray, cfg: dict, progress: bool = True):
    """Build and train the multi-encoder AE of resolved config ``cfg``; return (model, history)."""
    torch.manual_seed(cfg["seed"])
    model = MultiEncoderAE(**split_kwargs(cfg, MODEL_KEYS))
    history = train_model(model, train_images, epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                          weight_decay=cfg["weight_decay"], schedule=cfg["schedule"], seed=cfg["seed"],
                          device=cfg["device"], progress=progress, desc="strong multi-encoder AE",
                          model_type="multi_encoder_ae")
    return model, history


def fit_and_score(train_images: np.ndarray, test_images: np.ndarray, cfg: dict, progress: bool = True):
    """Hold out ``cfg['n_reference']`` training faces, train on the rest, measure the per-pixel error variance on
    the held-out faces (score 'pixel_var'), score both sets.

    Returns (model, history, test scores ``(M,)``, held-out reference scores ``(n_reference,)``)."""
    ref, fit_images = split_reference(train_images, cfg["n_reference"], cfg["seed"])
    model, history = train(fit_images, cfg, progress)
    pixel_var = error_variance(model, ref, smooth=cfg["smooth"]) if cfg["score"] == "pixel_var" else None
    kw = dict(score=cfg["score"], patch=cfg["patch"], pixel_var=pixel_var, smooth=cfg["smooth"])
    return model, history, reconstruction_scores(model, test_images, **kw), reconstruction_scores(model, ref, **kw)


def run(train_images: np.ndarray, test_images: np.ndarray, *, smoke: bool = False, progress: bool = True,
        **overrides) -> StageResult:
    """Train a ``MultiEncoderAE`` on uint8 ``train_images`` ``(N, 64, 64, 3)`` (less ``n_reference`` held-out faces
    for the error statistics); score ``test_images`` ``(M, 64, 64, 3)``.

    Returns a ``StageResult`` whose ``scores`` are float64 ``(M,)``, higher = more anomalous.
    """
    t0 = time.perf_counter()
    cfg = resolve_config("strong", CONFIG, SMOKE_CONFIG, smoke, overrides)
    model, history, scores, _ = fit_and_score(train_images, test_images, cfg, progress)
    return StageResult(scores=scores, history=history, model=model, seconds=time.perf_counter() - t0, config=cfg)
