"""Per-image anomaly scores: the L2 norm of the reconstruction error, as the course computes it.

The contract: ``anomaly_scores`` returns one float64 per image, in the order of the input rows, and
**the higher the score, the more anomalous the image**.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from starter_code.data import FaceDataset, from_model_output, make_loader
from starter_code.train import reconstruct_batch
from starter_code.utils import select_device


def _model_device(model: nn.Module, device) -> torch.device:
    if device is not None:
        return select_device(device)
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


@contextlib.contextmanager
def _seeded(seed: int | None, device: torch.device):
    """Seed torch for the block and restore the caller's RNG state afterwards (the VAE samples when scoring)."""
    if seed is None:
        yield
        return
    if device.type == "cuda":
        scope = torch.random.fork_rng(devices=[device.index if device.index is not None
                                               else torch.cuda.current_device()])
    else:
        scope = torch.random.fork_rng(devices=[])  # CPU state only (MPS state, if any, is left seeded)
    with scope:
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _batches(images, batch_size: int, device: torch.device):
    ds = images if isinstance(images, FaceDataset) else FaceDataset(images, "images to score")
    # Row order is the submission's ID order: no shuffling, no dropped last batch.
    return make_loader(ds, batch_size, shuffle=False, device=device, drop_last=False)


def anomaly_scores(model: nn.Module, images, batch_size: int = 200, device=None, seed: int | None = 0) -> np.ndarray:
    """Anomaly score per image: float64 ``(M,)`` for uint8 ``images`` ``(M, 64, 64, 3)``; higher = more anomalous.

    ``score[i] = sqrt(sum((recon_i - x_i) ** 2))`` over the image's 3*64*64 normalised values (the course's
    ``MSELoss(reduction='none')`` summed per image, then ``sqrt``), computed in float32 like the course, in
    batches of ``batch_size`` and in the input's row order (row i is ID i). ``recon`` comes from
    ``model.reconstruct`` (for the VAE: ``forward(x)[0]``, which samples ``z``; ``seed`` makes that repeatable
    without disturbing the caller's RNG; ``None`` uses the global RNG). The model is run in eval mode on
    ``device`` (default: where its parameters are) and its train/eval mode is restored afterwards.
    """
    device = _model_device(model, device)
    model.to(device)
    out = []
    with _eval_mode(model), torch.inference_mode(), _seeded(seed, device):
        for x in _batches(images, batch_size, device):
            err = (reconstruct_batch(model, x) - x).pow(2).sum(dim=(1, 2, 3))
            out.append(err.sqrt().cpu())
    if not out:
        return np.zeros(0, dtype=np.float64)
    return torch.cat(out).numpy().astype(np.float64)


def reconstruct(model: nn.Module, images, batch_size: int = 200, device=None, seed: int | None = 0) -> np.ndarray:
    """Reconstructions of uint8 ``images`` ``(M, 64, 64, 3)``: uint8 ``(M, 64, 64, 3)``, eval mode, row order kept."""
    device = _model_device(model, device)
    model.to(device)
    out = []
    with _eval_mode(model), torch.inference_mode(), _seeded(seed, device):
        for x in _batches(images, batch_size, device):
            out.append(from_model_output(reconstruct_batch(model, x)))
    return np.concatenate(out) if out else np.zeros((0, 64, 64, 3), dtype=np.uint8)
