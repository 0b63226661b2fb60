"""The course's convolutional VAE and its loss (kept as the course wrote it, ReLU on mu and logvar included)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def vae_loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The course's ``loss_vae``: ``MSE(recon, x)`` (mean) ``- 0.5 * sum(1 + logvar - mu**2 - exp(logvar))``.

    Note the KL term is *summed* over the batch and latent cells while the MSE is a mean: the KL term dominates.
    That is the course's choice and is kept here so results match the sample code.
    """
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return F.mse_loss(recon, x) + kld


class VAE(nn.Module):
    """Convolutional VAE: ``(B, 3, 64, 64)`` -> ``mu, logvar`` ``(B, 48, 8, 8)`` -> ``(B, 3, 64, 64)`` in [-1, 1].

    ``forward(x)`` returns ``(recon, mu, logvar)`` like the course's. As in the course, ``z`` is sampled
    (``mu + eps * exp(logvar / 2)``) in every mode, so scoring with ``reconstruct`` is random unless seeded
    (``anomaly_scores`` seeds it); ``sample_at_eval=False`` uses ``z = mu`` in eval mode instead.
    """

    def __init__(self, channels: tuple[int, int, int] = (12, 24, 48), sample_at_eval: bool = True):
        super().__init__()
        c1, c2, c3 = channels
        self.encoder = nn.Sequential(nn.Conv2d(3, c1, 4, stride=2, padding=1), nn.ReLU(),
                                     nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU())
        # The course applies ReLU to both heads (so mu >= 0 and logvar >= 0); kept for fidelity.
        self.enc_out_1 = nn.Sequential(nn.Conv2d(c2, c3, 4, stride=2, padding=1), nn.ReLU())
        self.enc_out_2 = nn.Sequential(nn.Conv2d(c2, c3, 4, stride=2, padding=1), nn.ReLU())
        self.decoder = nn.Sequential(nn.ConvTranspose2d(c3, c2, 4, stride=2, padding=1), nn.ReLU(),
                                     nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),
                                     nn.ConvTranspose2d(c1, 3, 4, stride=2, padding=1), nn.Tanh())
        self.sample_at_eval = sample_at_eval

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 3, 64, 64)`` -> ``(mu, logvar)``, each ``(B, 48, 8, 8)``."""
        h = self.encoder(x)
        return self.enc_out_1(h), self.enc_out_2(h)

    def reparametrize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        if not self.training and not self.sample_at_eval:
            return mu
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        return self.decode(self.reparametrize(mu, logvar)), mu, logvar

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The course scores with ``forward(x)[0]``."""
        return self(x)[0]

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        recon, mu, logvar = self(x)
        return vae_loss(recon, x, mu, logvar)
