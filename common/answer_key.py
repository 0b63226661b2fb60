"""The TA-only answer key: ``solution.csv`` with columns ``ID,label,Usage,kind,family``.

One row per test image, ``ID`` = row index in ``testingset.npy`` (0..M-1), ``label`` 0 normal / 1 anomaly,
``Usage`` ``Public`` or ``Private`` (which leaderboard the row counts on), ``kind`` the anomaly kind
(``normal`` for label 0) and ``family`` the kind's family (``FAMILIES``: ``imitable`` kinds are local pixel
edits a corruption recipe can mimic, ``semantic`` kinds are faces that differ in themselves or other real
things; ``normal`` for label 0, ``unknown`` for imported anomalies). Keys written before the family column
existed still load (their anomalies get ``unknown``). Like the kind, the family never leaves the TA side.
This module is the single definition of that format: data_tools writes it, the grader reads it. It imports
neither torch nor the grader, so the web app can use it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import KitError
from common.files import write_atomic

ANSWER_COLUMNS = ("ID", "label", "Usage", "kind", "family")
#: Columns a key must have; ``family`` may be missing in keys written before it existed.
REQUIRED_COLUMNS = ANSWER_COLUMNS[:4]
USAGES = ("Public", "Private")
NORMAL_KIND = "normal"
#: The anomaly families, in report order (``data_tools.anomalies.AnomalyKind.family`` assigns each kind one).
FAMILIES = ("imitable", "semantic")
UNKNOWN_FAMILY = "unknown"
#: A generated key is as secret as its build seed: the kit is public, so anyone can rebuild the data and this key
#: from the seed (``manifest.json`` beside the key records it). Seeds from here up are drawn at random
#: (``python -m data_tools build --seed random``); a term whose build seed lies below is warned about
#: (``grader.competition.answer_key_problems``): that is where the seeds people type (0, 1, 42, a year) lie.
SECRET_SEED_MIN = 1 << 32


class AnswerKeyError(KitError, ValueError):
    """The answer key is missing or malformed (a TA-side problem, never shown to students)."""


@dataclass(frozen=True)
class AnswerKey:
    """Arrays aligned by ID: ``labels[i]``, ``usage[i]``, ``kinds[i]``, ``families[i]`` describe test image ``i``.

    ``families`` defaults to ``normal`` for label 0 and ``unknown`` for label 1 (keys without a family column)."""
    labels: np.ndarray   # (M,) int8, 0 normal / 1 anomaly
    usage: np.ndarray    # (M,) str, 'Public' / 'Private'
    kinds: np.ndarray    # (M,) str
    families: np.ndarray | None = None  # (M,) str: 'normal', one of FAMILIES, or 'unknown'

    def __post_init__(self):
        if self.families is None:
            object.__setattr__(self, "families", np.where(np.asarray(self.labels) == 0, NORMAL_KIND, UNKNOWN_FAMILY))

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def public(self) -> np.ndarray:
        """Boolean mask of the rows scored on the public board."""
        return self.usage == "Public"

    @property
    def private(self) -> np.ndarray:
        return self.usage == "Private"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"ID": np.arange(len(self)), "label": self.labels.astype(int),
                             "Usage": self.usage, "kind": self.kinds, "family": self.families})


def write_answer_key(key: AnswerKey, path: str | Path) -> Path:
    """Write ``key`` as CSV (LF line ends, no index), atomically and owner-only (0600), and return the path."""
    _check(key, str(path))
    return write_atomic(path, key.to_frame().to_csv(index=False, lineterminator="\n"))


def load_answer_key(path: str | Path) -> AnswerKey:
    """Read and validate ``solution.csv``; rows may be in any order, IDs must be exactly 0..M-1."""
    path = Path(path)
    if not path.is_file():
        raise AnswerKeyError(f"{path}: answer key not found")
    try:
        df = pd.read_csv(path, dtype={"Usage": str, "kind": str, "family": str})
    except Exception as e:  # pandas raises several types for unreadable CSV
        raise AnswerKeyError(f"{path}: cannot read as CSV: {e}") from e
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise AnswerKeyError(f"{path}: missing column(s) {missing}; expected {list(ANSWER_COLUMNS)}")
    df = df.sort_values("ID")
    ids = df["ID"].to_numpy()
    if not np.array_equal(ids, np.arange(len(df))):
        raise AnswerKeyError(f"{path}: IDs must be exactly 0..{len(df) - 1}, each once")
    key = AnswerKey(labels=df["label"].to_numpy().astype(np.int8),
                    usage=df["Usage"].to_numpy().astype(str),
                    kinds=df["kind"].to_numpy().astype(str),
                    families=df["family"].to_numpy().astype(str) if "family" in df.columns else None)
    _check(key, str(path))
    return key


def _check(key: AnswerKey, where: str) -> None:
    if not (len(key.labels) == len(key.usage) == len(key.kinds) == len(key.families)):
        raise AnswerKeyError(f"{where}: labels, usage, kinds and families differ in length")
    if not np.isin(key.labels, (0, 1)).all():
        raise AnswerKeyError(f"{where}: labels must be 0 or 1")
    bad = sorted(set(np.unique(key.usage)) - set(USAGES))
    if bad:
        raise AnswerKeyError(f"{where}: Usage must be Public or Private, found {bad}")
    for split in USAGES:
        part = key.labels[key.usage == split]
        if len(part) and len(np.unique(part)) < 2:
            raise AnswerKeyError(f"{where}: the {split} split needs both normal and anomalous rows")
    if ((key.kinds == NORMAL_KIND) != (key.labels == 0)).any():
        raise AnswerKeyError(f"{where}: kind must be '{NORMAL_KIND}' exactly for label 0 rows")
    bad = sorted(set(np.unique(key.families)) - {NORMAL_KIND, UNKNOWN_FAMILY, *FAMILIES})
    if bad:
        raise AnswerKeyError(f"{where}: family must be one of {[NORMAL_KIND, *FAMILIES, UNKNOWN_FAMILY]}, found {bad}")
    if ((key.families == NORMAL_KIND) != (key.labels == 0)).any():
        raise AnswerKeyError(f"{where}: family must be '{NORMAL_KIND}' exactly for label 0 rows")
