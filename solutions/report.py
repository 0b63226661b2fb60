"""Report, question 2: train a fully connected autoencoder, change elements of its latent code, look at the faces.

    model, history = train_fcn_autoencoder(train_images)
    result = adjust_latent(model, test_images[:4], {0: 2.0, 1: lambda v: v - 3.0})   # z[:, 0] *= 2; z[:, 1] -= 3
    plot_latent_adjustments(result, path="latent_adjustments.png")
    print(architecture_text(model))

The same trained model is used for every change; only the encoder's output ``z`` is edited before decoding
(the course's note for this question).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from starter_code import TrainConfig, build_and_fit, eval_batches, from_model_output

#: The course's fcn autoencoder (latent size 3, batch 2000, lr 1e-3); 20 epochs instead of 50 keep the report
#: notebook within its CPU budget (the notebook timings are in docs/results.md).
CONFIG = TrainConfig(model_type="fcn", epochs=20)

Change = Callable[[torch.Tensor], torch.Tensor] | float | int


def train_fcn_autoencoder(train_images: np.ndarray, *, smoke: bool = False, progress: bool = True,
                          **overrides) -> tuple[nn.Module, object]:
    """Train the course's fcn autoencoder on uint8 ``train_images`` ``(N, 64, 64, 3)``; -> (model in eval mode,
    ``starter_code.History``). ``overrides``: ``TrainConfig`` fields (unknown keys raise)."""
    cfg = CONFIG.resolve(smoke=smoke, **overrides)
    model, history = build_and_fit(train_images, cfg, progress=progress)
    return model.eval(), history


def change_label(index: int, change: Change) -> str:
    """Human-readable name of a change: ``{0: 2.0}`` -> ``'z[:, 0] = 2 * z[:, 0]'`` (one element of every code)."""
    if callable(change):
        name = getattr(change, "__name__", "f")
        return f"z[:, {index}] = {'f' if name == '<lambda>' else name}(z[:, {index}])"
    return f"z[:, {index}] = {float(change):g} * z[:, {index}]"


def apply_change(z: torch.Tensor, index: int, change: Change) -> torch.Tensor:
    """A copy of latent codes ``z`` ``(B, D)`` with column ``index`` replaced by ``change(z[:, index])`` (callable)
    or ``change * z[:, index]`` (number); every other column is left exactly as it was."""
    if z.ndim != 2:
        raise ValueError(f"latent codes must have shape (B, D), got {tuple(z.shape)}")
    if not -z.shape[1] <= index < z.shape[1]:
        raise IndexError(f"latent index {index} out of range for a {z.shape[1]}-dimensional code")
    out = z.clone()
    col = z[:, index]
    if callable(change):
        new = torch.as_tensor(change(col.clone()), dtype=z.dtype, device=z.device)
    elif isinstance(change, (int, float)) and not isinstance(change, bool):
        new = col * float(change)
    else:
        raise TypeError(f"change for z[{index}] must be a number or a callable, got {change!r}")
    out[:, index] = new.expand_as(col)
    return out


def adjust_latent(model: nn.Module, images: np.ndarray, changes: Mapping[int, Change]) -> dict[str, np.ndarray]:
    """Encode uint8 ``images`` ``(n, 64, 64, 3)``, apply each change to the code on its own, decode.

    ``changes``: latent index -> number (``{0: 2.0}`` means ``z[:, 0] = 2 * z[:, 0]``) or callable on that column
    ``(n,)``. Returns an ordered dict of uint8 ``(n, 64, 64, 3)`` arrays: ``'original'``, ``'reconstruction'``
    (decode(encode(x))), then one entry per change, keyed by ``change_label``. ``model`` must have ``encode``
    and ``decode`` (the kit's fcn autoencoder does).
    """
    if not changes:
        raise ValueError("adjust_latent: give at least one change, e.g. {0: 2.0}")
    if not (callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))):
        raise TypeError(f"{type(model).__name__} has no encode/decode; use the fcn autoencoder")
    out: dict[str, list[np.ndarray]] = {"original": [np.array(images, dtype=np.uint8)], "reconstruction": []}
    for x in eval_batches(model, images, batch_size=max(1, len(images)), seed=None):
        z = model.encode(x)
        if isinstance(z, tuple):  # a VAE's (mu, logvar): adjust the mean
            z = z[0]
        z = z.reshape(z.shape[0], -1)
        out["reconstruction"].append(from_model_output(model.decode(z)))
        for index, change in changes.items():
            edited = from_model_output(model.decode(apply_change(z, int(index), change)))
            out.setdefault(change_label(index, change), []).append(edited)
    return {name: np.concatenate(parts) for name, parts in out.items()}


def plot_latent_adjustments(result: Mapping[str, np.ndarray], path: str | Path | None = None) -> Figure:
    """One row per image, columns: original, plain reconstruction, one reconstruction per change (titled).

    ``result``: ``adjust_latent``'s dict. Saved as PNG to ``path`` when given."""
    names = list(result)
    if len(names) < 3 or names[:2] != ["original", "reconstruction"]:
        raise ValueError("result must come from adjust_latent: 'original', 'reconstruction', then the changes")
    n = len(result["original"])
    fig = Figure(figsize=(1.8 * len(names), 1.9 * n + 0.3))
    axes = fig.subplots(n, len(names), squeeze=False)
    for j, name in enumerate(names):
        for i in range(n):
            ax = axes[i, j]
            ax.imshow(result[name][i])
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=8)
    fig.suptitle("latent adjustments (same trained autoencoder)", fontsize=10)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig


def architecture_text(model: nn.Module) -> str:
    """The model's layers (``print(model)``), its trainable parameter count and, if known, its latent size."""
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines = [str(model), f"trainable parameters: {n:,}"]
    latent = getattr(model, "latent_dim", None)
    if latent is not None:
        lines.append(f"latent size: {latent} (input 3 x 64 x 64 = 12,288 values)")
    return "\n".join(lines)
