"""The training loop: one function, ``fit``, for every model family, plus the glue that makes models uniform."""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from starter_code.config import TrainConfig
from starter_code.data import FaceDataset, make_loader
from starter_code.models import build_model
from starter_code.utils import seed_everything, select_device

HISTORY_FILENAME = "history.json"


def training_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Scalar training loss of ``model`` on a batch ``x`` ``(B, 3, 64, 64)``.

    Uses ``model.loss(x)`` when the model defines it (all kit models do); otherwise the MSE between ``x`` and the
    model's output, taking the first element if ``forward`` returns a tuple (the course's VAE convention).
    """
    if callable(getattr(model, "loss", None)):
        return model.loss(x)
    return F.mse_loss(reconstruct_batch(model, x), x)


def reconstruct_batch(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Reconstruction ``(B, 3, 64, 64)`` of ``x`` used for scoring: ``model.reconstruct(x)`` if defined, else
    ``model(x)`` (its first element if a tuple)."""
    if callable(getattr(model, "reconstruct", None)):
        out = model.reconstruct(x)
    else:
        out = model(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
    if out.shape != x.shape:
        raise ValueError(f"{type(model).__name__} returned a reconstruction of shape {tuple(out.shape)} for input "
                         f"{tuple(x.shape)}; models must map (B, 3, 64, 64) to (B, 3, 64, 64)")
    return out


@dataclass
class History:
    """What ``fit`` measured. ``losses[e]`` is the mean batch loss of epoch ``e`` (the course's ``mean_loss``)."""
    losses: list[float] = field(default_factory=list)
    model_type: str | None = None
    seconds: float = 0.0        # wall time of the training epochs (not counting checkpoint writes)
    images_seen: int = 0        # training images processed, all epochs together

    @property
    def best_epoch(self) -> int | None:
        """0-based epoch with the lowest mean loss (the course's ``best_model`` epoch); ``None`` if no epochs."""
        return int(np.argmin(self.losses)) if self.losses else None

    @property
    def best_loss(self) -> float | None:
        return min(self.losses) if self.losses else None

    @property
    def images_per_second(self) -> float:
        return self.images_seen / self.seconds if self.seconds > 0 else float("nan")

    def __len__(self) -> int:
        return len(self.losses)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**d)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / HISTORY_FILENAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path


def checkpoint_path(output_dir: str | Path, model_type: str, which: str = "last") -> Path:
    """``<output_dir>/<which>_model_<model_type>.pt`` (the course's names); ``which`` is 'last' or 'best'."""
    if which not in ("last", "best"):
        raise ValueError(f"which must be 'last' or 'best', got {which!r}")
    return Path(output_dir) / f"{which}_model_{model_type}.pt"


def fit(model: nn.Module, images, cfg: TrainConfig | None = None, progress: bool = True) -> History:
    """Train ``model`` in place on uint8 ``images`` ``(N, 64, 64, 3)`` (or a ``FaceDataset``); return its History.

    Adam(``cfg.lr``), batches of ``cfg.batch_size`` reshuffled every epoch from ``cfg.seed`` (last batch smaller,
    as in the course), ``cfg.epochs`` epochs, loss from ``training_loss``. Seeds everything with ``cfg.seed`` first,
    moves the model to ``select_device(cfg.device)`` and leaves it there. Normalisation happens per batch on the
    device; there is no per-item Python work. One tqdm bar counts optimiser steps and shows the epoch's mean loss.

    If ``cfg.output_dir`` is set, writes there ``config.json`` (before training), ``best_model_<type>.pt`` whenever
    an epoch's mean loss is the lowest so far, and ``last_model_<type>.pt`` and ``history.json`` at the end
    (state dicts; reload with ``load_checkpoint``). Raises ``FloatingPointError`` if the loss becomes NaN/inf.
    """
    cfg = cfg if cfg is not None else TrainConfig()
    dataset = images if isinstance(images, FaceDataset) else FaceDataset(images, "training images")
    if len(dataset) == 0:
        raise ValueError("fit: no training images")
    seed_everything(cfg.seed)
    device = select_device(cfg.device)
    model.to(device).train()
    out_dir = Path(cfg.output_dir) if cfg.output_dir else None
    if out_dir is not None:
        cfg.save(out_dir)
    if device.type != "cpu":
        try:  # keep the uint8 images on the accelerator: no host-to-device copy per batch
            dataset = dataset.to_device(device)
        except RuntimeError:  # out of device memory: gather on the host and copy each batch instead
            pass
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loader = make_loader(dataset, cfg.batch_size, shuffle=cfg.shuffle, device=device, seed=cfg.seed)
    history = History(model_type=cfg.model_type)
    bar = tqdm(total=cfg.epochs * len(loader), unit="step", desc=f"train {cfg.model_type}", disable=not progress,
               dynamic_ncols=True)
    try:
        for epoch in range(cfg.epochs):
            start = time.perf_counter()
            # Accumulate on the device and read once per epoch: .item() per step would stall a GPU every step.
            # float64 like the course's np.mean of Python floats (MPS has no float64).
            total = torch.zeros((), device=device, dtype=torch.float32 if device.type == "mps" else torch.float64)
            for x in loader:
                loss = training_loss(model, x)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.detach()
                bar.update(1)
            mean = total.item() / len(loader)
            history.seconds += time.perf_counter() - start
            history.images_seen += len(dataset)
            if not math.isfinite(mean):
                raise FloatingPointError(f"training loss became {mean} in epoch {epoch + 1}; try a lower lr "
                                         f"(currently {cfg.lr})")
            history.losses.append(mean)
            bar.set_postfix(epoch=epoch + 1, loss=f"{mean:.5f}")
            if out_dir is not None and history.best_epoch == epoch:
                torch.save(model.state_dict(), checkpoint_path(out_dir, cfg.model_type, "best"))
    finally:
        bar.close()
    if out_dir is not None:
        torch.save(model.state_dict(), checkpoint_path(out_dir, cfg.model_type, "last"))
        history.save(out_dir)
    return history


def build_and_fit(images, cfg: TrainConfig | None = None, progress: bool = True) -> tuple[nn.Module, History]:
    """Seed, build ``cfg.model_type`` with ``cfg.model_kwargs``, train it with ``fit``; return (model, history).

    The one-call entry point for notebooks: the same config gives the same model, bit for bit on the CPU.
    """
    cfg = cfg if cfg is not None else TrainConfig()
    seed_everything(cfg.seed)  # model initialisation draws from the global torch RNG
    model = build_model(cfg.model_type, **cfg.model_kwargs)
    return model, fit(model, images, cfg, progress=progress)


def load_checkpoint(output_dir: str | Path, which: str = "last", device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model that ``fit`` saved in ``output_dir`` (from its ``config.json``), in eval mode on ``device``."""
    cfg = TrainConfig.load(output_dir)
    path = checkpoint_path(output_dir, cfg.model_type, which)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    model = build_model(cfg.model_type, **cfg.model_kwargs)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(select_device(device)).eval()
