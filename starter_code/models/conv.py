"""The course's convolutional autoencoder: 3 -> 12 -> 24 -> 48 channels (64 -> 8 pixels) and back, Tanh output."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvAutoencoder(nn.Module):
    """Conv2d(k=4, s=2, p=1) halves the size at each stage; ConvTranspose2d doubles it back.

    ``(B, 3, 64, 64)`` -> latent ``(B, 48, 8, 8)`` -> ``(B, 3, 64, 64)`` in [-1, 1]. ``channels`` defaults to the
    course's (12, 24, 48); submodule names match the course's ``conv_autoencoder``.
    """

    def __init__(self, channels: tuple[int, ...] = (12, 24, 48)):
        super().__init__()
        chans = [3, *channels]
        enc: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:]):
            enc += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.ReLU()]
        rev = chans[::-1]
        dec: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(rev[:-1], rev[1:])):
            dec += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.ReLU() if i < len(rev) - 2 else nn.Tanh()]
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 64, 64)`` -> ``(B, C, 64 / 2**k, 64 / 2**k)`` (``(B, 48, 8, 8)`` by default)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self(x), x)
