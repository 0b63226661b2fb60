"""The course's fully connected autoencoder: 12288 -> 128 -> 64 -> 12 -> 3 and back, Tanh output."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_DIM = 3 * 64 * 64  # 12288: a flattened channels-first face


class FCNAutoencoder(nn.Module):
    """Fully connected autoencoder on flattened faces.

    Takes and returns ``(B, 3, 64, 64)`` in [-1, 1]; flattens channels-first internally, exactly as the course's
    ``img.view(B, -1)``, so the course's ``fcn_autoencoder`` checkpoints load (same ``encoder.N``/``decoder.N``
    keys). ``hidden`` and ``latent_dim`` default to the course's sizes; change them for the medium baseline.
    """

    def __init__(self, hidden: tuple[int, ...] = (128, 64, 12), latent_dim: int = 3):
        super().__init__()
        sizes = [IMAGE_DIM, *hidden, latent_dim]
        enc: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            enc += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
        rev = sizes[::-1]
        dec: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(rev[:-1], rev[1:])):
            dec += [nn.Linear(a, b), nn.ReLU() if i < len(rev) - 2 else nn.Tanh()]
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)
        self.latent_dim = latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 64, 64)`` -> latent ``z`` ``(B, latent_dim)`` (``(B, 3)`` by default)."""
        return self.encoder(x.reshape(x.shape[0], -1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """latent ``(B, latent_dim)`` -> image ``(B, 3, 64, 64)`` in [-1, 1]."""
        return self.decoder(z).reshape(z.shape[0], 3, 64, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Mean squared error (the course's ``nn.MSELoss()``), a scalar."""
        return F.mse_loss(self(x), x)
