import random

import numpy as np
import pytest
import torch

from starter_code import utils
from starter_code.utils import available_devices, seed_everything, select_device


def _draw():
    return random.random(), np.random.rand(), torch.rand(3).tolist()


def test_seed_everything_repeats_every_rng():
    seed_everything(123)
    a = _draw()
    seed_everything(123)
    assert _draw() == a
    seed_everything(124)
    assert _draw() != a


def test_seed_must_be_an_integer():
    with pytest.raises(TypeError):
        seed_everything("42")


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(utils, "_mps_available", lambda: False)
    assert select_device("auto") == torch.device("cpu")
    assert select_device(None) == torch.device("cpu")
    monkeypatch.setattr(utils, "_mps_available", lambda: True)
    assert select_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device("AUTO") == torch.device("cuda")


def test_explicit_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(utils, "_mps_available", lambda: False)
    assert select_device("cpu") == torch.device("cpu")
    assert select_device(torch.device("cpu")) == torch.device("cpu")
    assert available_devices() == ["cpu"]
    with pytest.raises(RuntimeError, match="CUDA is not available.*available: cpu"):
        select_device("cuda")
    with pytest.raises(RuntimeError, match="MPS is not available"):
        select_device("mps")
    with pytest.raises(ValueError, match="unknown device 'gpu please'"):
        select_device("gpu please")


def test_missing_cuda_index(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert select_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(RuntimeError, match="only 1 CUDA device"):
        select_device("cuda:3")
