"""The training engine: one loop, ``fit``, for every model family and every stage of the kit, extended by hooks.

As in minGPT's trainer, the learning-rate schedule, the progress bar and checkpoints are callbacks on that one
loop (``Callback``, ``TrainState``); a custom loss is ``loss_fn(model, x)``. The course's reference solutions
train with this same ``fit``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from starter_code.config import TrainConfig
from starter_code.data import FaceDataset, make_loader
from starter_code.models import build_model, model_name
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
    model_type: str | None = None   # the registered family that was trained, or the class name of one's own model
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


# -- the loop and its hooks ----------------------------------------------------------------------------------------
@dataclass
class TrainState:
    """What ``fit`` shows its callbacks (minGPT's trainer passes itself to its callbacks; this is that, as data).

    ``step`` counts optimiser steps over the whole run (0-based, the one about to be taken in
    ``on_batch_start``), ``epoch`` epochs (0-based); ``loss`` is the last batch's loss tensor (on the device: call
    ``.item()`` only where a sync is acceptable); ``epoch_loss`` the mean loss of the epoch just finished;
    ``completed`` turns true when every epoch ran.
    """
    model: nn.Module
    optimizer: torch.optim.Optimizer
    cfg: TrainConfig
    device: torch.device
    history: History
    steps_per_epoch: int
    epoch: int = 0
    step: int = 0
    loss: torch.Tensor | None = None
    epoch_loss: float | None = None
    completed: bool = False

    @property
    def total_steps(self) -> int:
        return self.cfg.epochs * self.steps_per_epoch


class Callback:
    """A hook on ``fit``'s loop; override the events you need. Callbacks run in the order given, after the
    built-in ones (the learning-rate schedule, the progress bar, checkpoints)."""

    def on_train_start(self, state: TrainState) -> None:
        pass

    def on_batch_start(self, state: TrainState) -> None:
        pass

    def on_batch_end(self, state: TrainState) -> None:
        pass

    def on_epoch_end(self, state: TrainState) -> None:
        pass

    def on_train_end(self, state: TrainState) -> None:
        """Runs also when training stops with an error (``state.completed`` is then false)."""


#: Where ``schedule='cosine'`` ends, as a fraction of ``lr``.
COSINE_FLOOR = 0.02


def learning_rate(step: int, total_steps: int, lr: float, schedule: str = "constant", warmup_steps: int = 0) -> float:
    """The learning rate of optimiser step ``step`` (0-based) of ``total_steps``: a linear warm-up over
    ``warmup_steps`` steps, then ``schedule``: 'constant' (``lr``) or 'cosine' (from ``lr`` down to
    ``COSINE_FLOOR * lr`` at the last step).

    >>> learning_rate(0, 100, 1.0, "cosine", warmup_steps=10), learning_rate(10, 100, 1.0, "cosine", 10)
    (0.1, 1.0)
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return lr
    if schedule == "cosine":
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return lr * (COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + math.cos(math.pi * t)))
    raise ValueError(f"unknown lr schedule {schedule!r}; use 'constant' or 'cosine'")


class LRSchedule(Callback):
    """Sets the optimiser's learning rate before every step from ``cfg.lr``, ``cfg.schedule`` and
    ``cfg.warmup_steps`` (``learning_rate``)."""

    def on_batch_start(self, state: TrainState) -> None:
        cfg = state.cfg
        lr = learning_rate(state.step, state.total_steps, cfg.lr, cfg.schedule, cfg.warmup_steps)
        for group in state.optimizer.param_groups:
            group["lr"] = lr


class ProgressBar(Callback):
    """One tqdm bar counting optimiser steps, showing the epoch and its mean loss."""

    def __init__(self, desc: str | None = None):
        self.desc, self.bar = desc, None

    def on_train_start(self, state: TrainState) -> None:
        self.bar = tqdm(total=state.total_steps, unit="step", desc=self.desc or f"train {state.history.model_type}",
                        dynamic_ncols=True)

    def on_batch_end(self, state: TrainState) -> None:
        self.bar.update(1)

    def on_epoch_end(self, state: TrainState) -> None:
        self.bar.set_postfix(epoch=state.epoch + 1, loss=f"{state.epoch_loss:.5f}")

    def on_train_end(self, state: TrainState) -> None:
        if self.bar is not None:
            self.bar.close()


class Checkpoints(Callback):
    """The course's checkpoints in ``output_dir``: ``config.json`` first, ``best_model_<type>.pt`` whenever an
    epoch's mean loss is the lowest so far, ``last_model_<type>.pt`` and ``history.json`` at the end."""

    def __init__(self, output_dir: str | Path):
        self.output_dir = Path(output_dir)

    def on_train_start(self, state: TrainState) -> None:
        state.cfg.save(self.output_dir)

    def on_epoch_end(self, state: TrainState) -> None:
        if state.history.best_epoch == state.epoch:
            torch.save(state.model.state_dict(), checkpoint_path(self.output_dir, state.cfg.model_type, "best"))

    def on_train_end(self, state: TrainState) -> None:
        if state.completed:
            torch.save(state.model.state_dict(), checkpoint_path(self.output_dir, state.cfg.model_type, "last"))
            state.history.save(self.output_dir)


def fit(model: nn.Module, images, cfg: TrainConfig | None = None, *,
        loss_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
        callbacks: Sequence[Callback] = (), progress: bool = True) -> History:
    """Train ``model`` in place on uint8 ``images`` ``(N, 64, 64, 3)`` (or a ``FaceDataset``); return its History.

    Adam(``cfg.lr``, ``cfg.weight_decay``), batches of ``cfg.batch_size`` reshuffled every epoch from ``cfg.seed``
    (last batch smaller, as in the course), ``cfg.epochs`` epochs, the learning rate set every step by
    ``cfg.schedule`` and ``cfg.warmup_steps``. The loss of a batch ``x`` ``(B, 3, 64, 64)`` is
    ``loss_fn(model, x)`` (default ``training_loss``: ``model.loss(x)``). Seeds everything with ``cfg.seed``
    first, moves the model to ``select_device(cfg.device)`` and leaves it there, in training mode. The uint8
    images are copied to an accelerator once and normalised per batch there; there is no per-item Python work.

    Hooks (``Callback``): the schedule, a tqdm bar (``progress``), checkpoints when ``cfg.output_dir`` is set
    (see ``Checkpoints``), then ``callbacks``. Raises ``FloatingPointError`` if an epoch's mean loss is NaN/inf.
    """
    cfg = cfg if cfg is not None else TrainConfig()
    dataset = images if isinstance(images, FaceDataset) else FaceDataset(images, "training images")
    if len(dataset) == 0:
        raise ValueError("fit: no training images")
    loss_fn = loss_fn or training_loss
    seed_everything(cfg.seed)
    device = select_device(cfg.device)
    model.to(device).train()
    if device.type != "cpu":
        try:  # keep the uint8 images on the accelerator: no host-to-device copy per batch
            dataset = dataset.to_device(device)
        except RuntimeError:  # out of device memory: gather on the host and copy each batch instead
            pass
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loader = make_loader(dataset, cfg.batch_size, shuffle=cfg.shuffle, device=device, seed=cfg.seed)
    hooks = [LRSchedule(), *([ProgressBar()] if progress else []),
             *([Checkpoints(cfg.output_dir)] if cfg.output_dir else []), *callbacks]
    state = TrainState(model=model, optimizer=optimizer, cfg=cfg, device=device,
                       history=History(model_type=model_name(model) or type(model).__name__),
                       steps_per_epoch=len(loader))
    for hook in hooks:
        hook.on_train_start(state)
    try:
        for state.epoch in range(cfg.epochs):
            start = time.perf_counter()
            # Accumulate on the device and read once per epoch: .item() per step would stall a GPU every step.
            # float64 like the course's np.mean of Python floats (MPS has no float64).
            total = torch.zeros((), device=device, dtype=torch.float32 if device.type == "mps" else torch.float64)
            for x in loader:
                for hook in hooks:
                    hook.on_batch_start(state)
                state.loss = loss_fn(model, x)
                optimizer.zero_grad(set_to_none=True)
                state.loss.backward()
                optimizer.step()
                total += state.loss.detach()
                for hook in hooks:
                    hook.on_batch_end(state)
                state.step += 1
            mean = total.item() / len(loader)
            state.history.seconds += time.perf_counter() - start
            state.history.images_seen += len(dataset)
            if not math.isfinite(mean):
                raise FloatingPointError(f"training loss became {mean} in epoch {state.epoch + 1}; try a lower lr "
                                         f"(currently {cfg.lr})")
            state.history.losses.append(mean)
            state.epoch_loss = mean
            for hook in hooks:
                hook.on_epoch_end(state)
        state.completed = True
    finally:
        for hook in hooks:
            hook.on_train_end(state)
    return state.history


def build_and_fit(images, cfg: TrainConfig | None = None, *,
                  loss_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
                  callbacks: Sequence[Callback] = (), progress: bool = True) -> tuple[nn.Module, History]:
    """Seed, build ``cfg.model_type`` with ``cfg.model_kwargs``, train it with ``fit``; return (model, history).

    The one-call entry point for notebooks: the same config gives the same model, bit for bit on the CPU.
    """
    cfg = cfg if cfg is not None else TrainConfig()
    seed_everything(cfg.seed)  # model initialisation draws from the global torch RNG
    model = build_model(cfg.model_type, **cfg.model_kwargs)
    return model, fit(model, images, cfg, loss_fn=loss_fn, callbacks=callbacks, progress=progress)


def load_checkpoint(output_dir: str | Path, which: str = "last", device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model that ``fit`` saved in ``output_dir`` (from its ``config.json``), in eval mode on ``device``."""
    cfg = TrainConfig.load(output_dir)
    path = checkpoint_path(output_dir, cfg.model_type, which)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    model = build_model(cfg.model_type, **cfg.model_kwargs)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(select_device(device)).eval()
