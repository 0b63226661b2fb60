"""Writing and checking the data set's files, and the one error type of ``data_tools``.

The student-facing directory (``--out``) holds ``trainingset.npy`` (N,64,64,3) uint8, ``testingset.npy``
(M,64,64,3) uint8 and a README; the TA-only directory (``--answers``) holds ``solution.csv`` and
``manifest.json``. Files are written to a temporary name and renamed, so an interrupted build never leaves a
file that looks complete; ``manifest.json`` is written last and marks a finished build.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import KitError
from common.files import atomic_target, write_atomic
# The image contract (shape, file names, the checks) is defined once, in the torch-free format module that
# students, the data tools and the grader share; data_tools' modules import it from here.
from starter_code.formats import IMAGE_SHAPE, TEST_FILE, TRAIN_FILE, ImageFileError, check_images, load_images

__all__ = ["IMAGE_SHAPE", "TRAIN_FILE", "TEST_FILE", "SOLUTION_FILE", "MANIFEST_FILE", "README_FILE", "DatasetError",
           "ImageFileError", "DatasetPaths", "check_dirs", "check_images", "load_images", "sha256_file", "save_npy",
           "NpyWriter", "write_text", "write_json", "read_manifest", "file_record", "verify_manifest"]

SOLUTION_FILE = "solution.csv"
MANIFEST_FILE = "manifest.json"
README_FILE = "README.md"


class DatasetError(KitError, ValueError):
    """A data set cannot be built, imported or read; the message names the file and the problem.

    The CLI prints it and exits 1 (as it does for ``ImageFileError``: an image array or file that is not
    uint8 ``(N, 64, 64, 3)``)."""


@dataclass(frozen=True)
class DatasetPaths:
    """Where a data set lives: ``data`` is handed to students, ``answers`` stays with the TAs."""
    data: Path
    answers: Path

    @property
    def train(self) -> Path:
        return self.data / TRAIN_FILE

    @property
    def test(self) -> Path:
        return self.data / TEST_FILE

    @property
    def solution(self) -> Path:
        return self.answers / SOLUTION_FILE

    @property
    def manifest(self) -> Path:
        return self.answers / MANIFEST_FILE


def check_dirs(out: str | Path, answers: str | Path) -> DatasetPaths:
    """Resolve the two directories; refuse an answers directory that students would receive with the data."""
    out, answers = Path(out).resolve(), Path(answers).resolve()
    # Students get the whole --out directory, so the answers must not be in it (nor be it).
    if answers == out or out in answers.parents:
        raise DatasetError(f"--answers {answers} is inside --out {out}: students would receive the labels; "
                           f"use a separate TA-only directory")
    if answers in out.parents:
        # Harmless for students, but a TA zipping the answers directory would ship the data inside it.
        raise DatasetError(f"--out {out} is inside --answers {answers}; use two separate directories")
    for d in (out, answers):
        if d.exists() and not d.is_dir():
            raise DatasetError(f"{d}: exists and is not a directory")
    return DatasetPaths(out, answers)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def save_npy(images: np.ndarray, path: str | Path) -> Path:
    """Write an image array as ``.npy`` (atomically: temp file + rename; mode 0600 until ``build.set_modes``)."""
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(images), allow_pickle=False)
    return Path(path)


class NpyWriter:
    """Fill a large ``.npy`` file in place (memory-mapped) and rename it into place on success.

    ``with NpyWriter(path, n) as arr: arr[i:j] = ...``; ``arr`` is (n,64,64,3) uint8. Used for the training
    set so 100k faces (1.2 GB) need not sit in RAM twice; the bytes equal ``np.save`` of the same array."""

    def __init__(self, path: str | Path, n: int):
        self.path, self.n = Path(path), n

    def __enter__(self) -> np.ndarray:
        self._target = atomic_target(self.path)
        self.tmp = self._target.__enter__()
        self.array = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=np.uint8, shape=(self.n, *IMAGE_SHAPE))
        return self.array

    def __exit__(self, exc_type, exc, tb):
        self.array.flush()
        del self.array
        return self._target.__exit__(exc_type, exc, tb)


def write_text(text: str, path: str | Path) -> Path:
    """Write ``text`` (UTF-8, LF) atomically, mode 0600: ``build.set_modes`` opens the students' files afterwards."""
    return write_atomic(path, text)


def write_json(obj, path: str | Path) -> Path:
    return write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", path)


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    if not path.is_file():
        raise DatasetError(f"{path}: manifest not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: line {e.lineno}, column {e.colno}: invalid JSON: {e.msg}") from e


def file_record(path: Path) -> dict:
    """``{"sha256": ..., "bytes": ...}`` for the manifest."""
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def verify_manifest(paths: DatasetPaths) -> list[str]:
    """Check every file the manifest lists against its sha256; return the problems (empty when all match)."""
    manifest = read_manifest(paths.manifest)
    problems = []
    for group, base in (("data", paths.data), ("answers", paths.answers)):
        for name, rec in manifest.get("files", {}).get(group, {}).items():
            p = base / name
            if not p.is_file():
                problems.append(f"{p}: missing")
            elif sha256_file(p) != rec["sha256"]:
                problems.append(f"{p}: sha256 differs from {paths.manifest}")
    return problems
