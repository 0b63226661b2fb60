"""Per-image anomaly scores, and the one way the kit runs a model over images to score them (``eval_batches``).

The contract: ``anomaly_scores`` returns one float64 per image, in the order of the input rows, and
**the higher the score, the more anomalous the image**. The course's score is the L2 norm of the
reconstruction error (``l2_score``); ``score_fn`` swaps in another function of the squared error.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

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


def _seeded(seed: int | None, device: torch.device):
    """A scope in which torch's RNG is seeded with ``seed`` and after which the caller's RNG state is back."""
    if seed is None:
        return contextlib.nullcontext()
    if device.type == "cuda":
        return torch.random.fork_rng(devices=[device.index if device.index is not None
                                              else torch.cuda.current_device()])
    return torch.random.fork_rng(devices=[])  # CPU state only (MPS state, if any, is left seeded)


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def eval_batches(model: nn.Module, images, batch_size: int = 200, *, device=None,
                 seed: int | None = 0) -> Iterator[torch.Tensor]:
    """Normalised float32 batches ``(B, 3, 64, 64)`` of uint8 ``images`` ``(M, 64, 64, 3)`` (or a ``FaceDataset``)
    on the model's device, in row order (no shuffling, the last batch smaller): the loop every scorer runs.

    While the loop runs the model is in eval mode on ``device`` (default: where its parameters are), autograd is
    off (``torch.inference_mode``) and torch's RNG is seeded with ``seed`` (the VAE samples ``z`` when it
    reconstructs; ``None`` leaves the RNG alone). When the loop ends, or breaks, the model's train/eval mode,
    autograd and the caller's RNG state are back as they were::

        for x in eval_batches(model, test):
            err = (model.reconstruct(x) - x).pow(2)
    """
    device = _model_device(model, device)
    model.to(device)
    dataset = images if isinstance(images, FaceDataset) else FaceDataset(images, "images to score")
    with contextlib.ExitStack() as scope:
        scope.enter_context(_eval_mode(model))
        scope.enter_context(torch.inference_mode())
        scope.enter_context(_seeded(seed, device))
        if seed is not None:
            torch.manual_seed(seed)
        # Row order is the submission's ID order: no shuffling, no dropped last batch.
        yield from make_loader(dataset, batch_size, shuffle=False, device=device, drop_last=False)


def squared_error(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``(reconstruct(x) - x) ** 2``, ``(B, 3, 64, 64)``, for a normalised batch ``x`` ``(B, 3, 64, 64)``."""
    return (reconstruct_batch(model, x) - x).pow(2)


def l2_score(err: torch.Tensor) -> torch.Tensor:
    """The course's score: ``sqrt(sum(err))`` per image, ``(B,)``, from squared errors ``(B, 3, 64, 64)`` (its
    ``MSELoss(reduction='none')`` summed per image, then ``sqrt``)."""
    return err.sum(dim=(1, 2, 3)).sqrt()


def anomaly_scores(model: nn.Module, images, batch_size: int = 200, device=None, seed: int | None = 0,
                   score_fn: Callable[[torch.Tensor], torch.Tensor] = l2_score) -> np.ndarray:
    """Anomaly score per image: float64 ``(M,)`` for uint8 ``images`` ``(M, 64, 64, 3)``; higher = more anomalous.

    ``score[i] = score_fn(squared_error)[i]``, by default ``l2_score``: ``sqrt(sum((recon_i - x_i) ** 2))`` over
    the image's 3*64*64 normalised values, computed in float32 like the course, in batches of ``batch_size`` and
    in the input's row order (row i is ID i). ``recon`` comes from ``model.reconstruct`` (for the VAE:
    ``forward(x)[0]``, which samples ``z``; ``seed`` makes that repeatable without disturbing the caller's RNG).
    ``score_fn`` maps squared errors ``(B, 3, 64, 64)`` to ``(B,)`` scores. Runs through ``eval_batches``.
    """
    out = [score_fn(squared_error(model, x)).float().cpu()
           for x in eval_batches(model, images, batch_size, device=device, seed=seed)]
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0, dtype=np.float64)


def reconstruct(model: nn.Module, images, batch_size: int = 200, device=None, seed: int | None = 0) -> np.ndarray:
    """Reconstructions of uint8 ``images`` ``(M, 64, 64, 3)``: uint8 ``(M, 64, 64, 3)``, eval mode, row order kept."""
    out = [from_model_output(reconstruct_batch(model, x))
           for x in eval_batches(model, images, batch_size, device=device, seed=seed)]
    return np.concatenate(out) if out else np.zeros((0, 64, 64, 3), dtype=np.uint8)
