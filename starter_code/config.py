"""Training configuration: one dataclass, every field documented where it is defined.

The defaults are the course's sample code (HW8): ``model_type='fcn'``, 50 epochs, batch 2000, Adam at 1e-3 with a
constant learning rate, scoring in batches of 200, seed 48763 (the course's ``same_seeds(48763)``).

>>> cfg = TrainConfig.from_dict({"model_type": "cnn", "epochs": 3})
>>> cfg.epochs, cfg.batch_size
(3, 2000)
>>> cfg.replace(schedule="cosine", warmup_steps=10).schedule
'cosine'
>>> TrainConfig.from_dict({"epoch": 3})
Traceback (most recent call last):
...
common.config.ConfigKeyError: TrainConfig: unknown key(s) epoch; known keys: ...

``Config`` is the kit's config base (``common.config``: building from a dict and changing fields check the keys in
one place, ``check_keys``; ``help_table()`` gives the README table) with smoke mode added: ``smoke()`` gives the
smoke-mode variant (``starter_code.formats.SMOKE``) of every config that trains (``TrainConfig``, the reference
stages' configs in ``solutions/``). No torch here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from common.config import Config as BaseConfig
from common.config import ConfigKeyError, check_keys
from starter_code.formats import COURSE_SEED, SMOKE

__all__ = ["Config", "ConfigKeyError", "TrainConfig", "check_keys", "SCHEDULES", "CONFIG_FILENAME"]

CONFIG_FILENAME = "config.json"
#: Learning-rate schedules ``TrainConfig.schedule`` accepts.
SCHEDULES = ("constant", "cosine")


class Config(BaseConfig):
    """``common.config.Config`` with smoke mode: the base of the configs that train (``TrainConfig``, the
    reference stages' configs in ``solutions/``)."""

    #: Changes ``smoke()`` makes besides the training length, e.g. ``{"model_kwargs.hidden": (128,)}``.
    SMOKE_CHANGES: ClassVar[dict] = {}

    def smoke(self):
        """This config in smoke mode: ``SMOKE``'s epochs and batch size wherever it trains (nested configs
        included), then ``SMOKE_CHANGES`` (smaller models)."""
        names = {f.name for f in fields(self)}
        changes: dict[str, Any] = {k: v for k, v in SMOKE.training().items() if k in names}
        changes.update({f.name: getattr(self, f.name).smoke() for f in fields(self)
                        if isinstance(getattr(self, f.name), Config)})
        return self.replace(**{**changes, **self.SMOKE_CHANGES})

    def resolve(self, *, smoke: bool = False, **changes):
        """``smoke()`` if ``smoke``, then ``replace(**changes)``: how a stage turns its defaults and a caller's
        overrides into the config it runs."""
        return (self.smoke() if smoke else self).replace(**changes)


@dataclass
class TrainConfig(Config):
    model_type: str = field(default="fcn", metadata={
        "help": "Model family from starter_code.models.MODEL_NAMES: 'fcn', 'cnn' or 'vae' (more may be registered)."})
    epochs: int = field(default=50, metadata={"help": "Passes over the training images."})
    batch_size: int = field(default=2000, metadata={"help": "Training images per optimiser step."})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate (the peak, when a schedule is used)."})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam weight decay (the course uses none)."})
    schedule: str = field(default="constant", metadata={
        "help": "Learning-rate schedule over the optimiser steps: 'constant' (the course's) or 'cosine' (from lr "
                "down to 2% of lr by the last step)."})
    warmup_steps: int = field(default=0, metadata={
        "help": "Optimiser steps of linear warm-up to lr before the schedule starts (0: none)."})
    eval_batch_size: int = field(default=200, metadata={"help": "Images per forward pass when scoring."})
    seed: int = field(default=COURSE_SEED, metadata={
        "help": "Seed for Python, NumPy and torch (model init when built by build_and_fit, shuffling, VAE noise)."})
    device: str = field(default="auto", metadata={
        "help": "'auto' (cuda, then mps, then cpu) or a torch device string such as 'cpu' or 'cuda:0'."})
    shuffle: bool = field(default=True, metadata={"help": "Reshuffle the training images every epoch."})
    model_kwargs: dict = field(default_factory=dict, metadata={
        "help": "Extra keyword arguments for build_model(model_type, **model_kwargs)."})
    output_dir: str | None = field(default=None, metadata={
        "help": "If set, fit() writes config.json, history.json, last_model_<type>.pt and best_model_<type>.pt "
                "there (the course's checkpoint names)."})

    def __post_init__(self):
        # Catch nonsense early, with the field's name, rather than deep inside the training loop.
        for name in ("epochs", "batch_size", "eval_batch_size", "warmup_steps"):
            value = getattr(self, name)
            positive = name in ("batch_size", "eval_batch_size")
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if positive else 0):
                raise ValueError(f"TrainConfig.{name} must be a {'positive' if positive else 'non-negative'} "
                                 f"integer, got {value!r}")
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"TrainConfig.{name} must be a non-negative number, got {value!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"TrainConfig.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not isinstance(self.model_kwargs, dict):
            raise ValueError(f"TrainConfig.model_kwargs must be a dict, got {self.model_kwargs!r}")

    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` into ``directory`` (created if needed); return its path."""
        path = Path(directory) / CONFIG_FILENAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        """Read a ``config.json`` written by ``save`` (or a directory containing one)."""
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_FILENAME
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{path}: training config not found") from e
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON: {e}") from e
        try:
            return cls.from_dict(raw)
        except (ConfigKeyError, ValueError, TypeError) as e:
            raise type(e)(f"{path}: {e}") from e
