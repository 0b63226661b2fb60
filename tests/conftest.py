"""Shared fixtures: one tiny generated data set per test session (no binary fixtures in git).

``tiny_dataset`` is built once with ``data_tools.build.build_dataset`` on the ``tiny`` preset (256 train,
64 normal + 64 anomalous test, every default anomaly kind; ~3-5 s on 2 cores) into a session tmp dir.
Its arrays are read-only: copy before modifying.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from data_tools.answer_key import AnswerKey, load_answer_key
from data_tools.io import DatasetPaths


@dataclass(frozen=True)
class TinyDataset:
    """A built data set: ``paths.data`` (student side) holds the .npy files, ``paths.answers`` the key."""
    paths: DatasetPaths
    train: np.ndarray      # (256, 64, 64, 3) uint8, read-only
    test: np.ndarray       # (128, 64, 64, 3) uint8, read-only; row index = ID
    key: AnswerKey         # labels/usage/kinds aligned with ``test``
    manifest: dict

    @property
    def data_dir(self) -> Path:
        return self.paths.data

    @property
    def answers_dir(self) -> Path:
        return self.paths.answers


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> TinyDataset:
    from data_tools.build import BuildConfig, build_dataset  # imports torch: only when a test asks for data

    root = tmp_path_factory.mktemp("tiny_dataset")
    result = build_dataset(BuildConfig.from_preset("tiny", seed=0), root / "data", root / "answers", progress=False)
    p = result.paths
    return TinyDataset(paths=p, train=_read_only(np.load(p.train)), test=_read_only(np.load(p.test)),
                       key=load_answer_key(p.solution), manifest=result.manifest)
