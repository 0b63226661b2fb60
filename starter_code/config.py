"""Training configuration: one dataclass, every field documented where it is defined.

The defaults are the course's sample code (HW8): ``model_type='fcn'``, 50 epochs, batch 2000, Adam at 1e-3,
scoring in batches of 200, seed 48763 (the course's ``same_seeds(48763)``).

>>> cfg = TrainConfig.from_dict({"model_type": "cnn", "epochs": 3})
>>> cfg.epochs, cfg.batch_size
(3, 2000)
>>> TrainConfig.from_dict({"epoch": 3})
Traceback (most recent call last):
...
starter_code.config.ConfigKeyError: TrainConfig: unknown key(s) epoch; known keys: ...
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

CONFIG_FILENAME = "config.json"


class ConfigKeyError(KeyError):
    """A key that ``TrainConfig`` does not know (a typo would otherwise be silently ignored)."""

    def __str__(self) -> str:  # KeyError's str() quotes the message; show it plainly
        return str(self.args[0])


@dataclass
class TrainConfig:
    model_type: str = field(default="fcn", metadata={
        "help": "Model family from starter_code.models.MODEL_NAMES: 'fcn', 'cnn' or 'vae' (more may be registered)."})
    epochs: int = field(default=50, metadata={"help": "Passes over the training images."})
    batch_size: int = field(default=2000, metadata={"help": "Training images per optimiser step."})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate."})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam weight decay (the course uses none)."})
    eval_batch_size: int = field(default=200, metadata={"help": "Images per forward pass when scoring."})
    seed: int = field(default=48763, metadata={
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
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "epochs" else 1):
                raise ValueError(f"TrainConfig.{name} must be a {'non-negative' if name == 'epochs' else 'positive'} "
                                 f"integer, got {value!r}")
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"TrainConfig.{name} must be a non-negative number, got {value!r}")
        if not isinstance(self.model_kwargs, dict):
            raise ValueError(f"TrainConfig.model_kwargs must be a dict, got {self.model_kwargs!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Build from a plain dict (e.g. parsed JSON); unknown keys raise ``ConfigKeyError`` listing the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigKeyError(f"TrainConfig: unknown key(s) {', '.join(unknown)}; "
                                 f"known keys: {', '.join(sorted(known))}")
        return cls(**d)

    def to_dict(self) -> dict:
        """JSON-friendly dict; ``TrainConfig.from_dict(cfg.to_dict()) == cfg``."""
        return asdict(self)

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

    @classmethod
    def help_table(cls) -> str:
        """Markdown table of fields, defaults and help (for READMEs and ``--help``)."""
        rows = ["| key | default | meaning |", "|---|---|---|"]
        for f in fields(cls):
            default = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
            rows.append(f"| `{f.name}` | `{default!r}` | {f.metadata.get('help', '')} |")
        return "\n".join(rows)
