"""Seeding and device selection: called once per entry point (``fit``, ``build_and_fit``, a notebook's first cell)."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global RNG and torch (CPU and every CUDA device).

    Like the course's ``same_seeds``, this also asks cuDNN for deterministic kernels (slower convolutions on GPU,
    but two runs with one seed then match).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    seed = int(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # only affects child processes; kept for parity with the course
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds all CUDA devices
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def select_device(preference: str | torch.device | None = "auto") -> torch.device:
    """The torch device to train on.

    ``"auto"`` (or ``None``) picks CUDA if available, then Apple's MPS, then the CPU. Any other value is taken as
    a device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) and checked: asking for a device this machine
    does not have raises ``RuntimeError`` saying what is available, rather than failing later inside ``.to()``.
    """
    if preference is None or (isinstance(preference, str) and preference.strip().lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference.strip().lower() if isinstance(preference, str) else preference)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {preference!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from e
    available = available_devices()
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {preference!r} requested but CUDA is not available here "
                               f"(available: {', '.join(available)}); use device='auto' or 'cpu'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {preference!r} requested but only {torch.cuda.device_count()} CUDA "
                               f"device(s) exist")
    elif device.type == "mps" and not _mps_available():
        raise RuntimeError(f"device {preference!r} requested but MPS is not available here "
                           f"(available: {', '.join(available)}); use device='auto' or 'cpu'")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {preference!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    return device


def available_devices() -> list[str]:
    """Device strings usable here, best first, e.g. ``['cuda:0', 'cpu']``."""
    out = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    if _mps_available():
        out.append("mps")
    return out + ["cpu"]
