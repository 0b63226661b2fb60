"""A contact sheet of a built data set: a row of training faces, a row of normal test faces and a row per
anomaly kind, each labelled with the kind and its count. Matplotlib (Agg), written as PNG."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from common.answer_key import NORMAL_KIND, AnswerKeyError, load_answer_key  # noqa: E402
from data_tools.io import DatasetError, DatasetPaths, load_images  # noqa: E402


def sheet_rows(paths: DatasetPaths, per_row: int = 10, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """(title, images (k,64,64,3) uint8) per row: train, normal test, then each anomaly kind (sorted by name).

    Images are a seeded random choice of at most ``per_row`` per row."""
    try:
        key = load_answer_key(paths.solution)
    except AnswerKeyError as e:
        raise DatasetError(str(e)) from e
    test = load_images(paths.test, mmap=True, min_images=1)
    if len(test) != len(key):
        raise DatasetError(f"{paths.test}: {len(test)} images but {paths.solution} has {len(key)} rows")
    rng = np.random.default_rng(seed)
    rows = []
    if paths.train.is_file():
        train = load_images(paths.train, mmap=True, min_images=1)
        idx = np.sort(rng.choice(len(train), min(per_row, len(train)), replace=False))
        rows.append((f"train ({len(train)})", np.asarray(train[idx])))
    kinds = [NORMAL_KIND] + sorted(set(key.kinds.tolist()) - {NORMAL_KIND})
    for kind in kinds:
        ids = np.flatnonzero(key.kinds == kind)
        if len(ids) == 0:
            continue
        pick = np.sort(rng.choice(ids, min(per_row, len(ids)), replace=False))
        title = f"test {kind} ({len(ids)})" if kind == NORMAL_KIND else f"{kind} ({len(ids)})"
        rows.append((title, np.asarray(test[pick])))
    return rows


def contact_sheet(data: str | Path, answers: str | Path, out: str | Path, per_row: int = 10,
                  seed: int = 0) -> Path:
    """Write the contact sheet of the data set in ``data``/``answers`` to ``out`` (PNG) and return its path."""
    rows = sheet_rows(DatasetPaths(Path(data), Path(answers)), per_row, seed)
    n_cols = max(len(images) for _, images in rows)
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(1.0 * n_cols + 1.6, 1.05 * len(rows)), squeeze=False)
    for r, (title, images) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if c < len(images):
                ax.imshow(images[c], interpolation="nearest")
        axes[r, 0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
    fig.subplots_adjust(left=1.5 / (1.0 * n_cols + 1.6), right=0.99, top=0.99, bottom=0.01, wspace=0.05, hspace=0.1)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def grid_array(images: np.ndarray, cols: int = 8, scale: int = 2) -> np.ndarray:
    """uint8 ``images`` (n,64,64,3) as one uint8 grid, ``cols`` per row, each image ``scale`` times its size
    (nearest neighbour) with a 2-pixel white border."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (64, 64, 3) or images.dtype != np.uint8 or not len(images):
        raise DatasetError(f"image_grid: expected uint8 images (n, 64, 64, 3), got {images.dtype} {images.shape}")
    rows = -(-len(images) // cols)
    cell = 64 * scale + 2
    grid = np.full((rows * cell + 2, cols * cell + 2, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        grid[2 + r * cell:r * cell + cell, 2 + c * cell:c * cell + cell] = im.repeat(scale, 0).repeat(scale, 1)
    return grid


def image_grid(images: np.ndarray, out: str | Path, cols: int = 8, scale: int = 2) -> Path:
    """Write :func:`grid_array` of ``images`` as one PNG: for looking at one kind at a time. Returns the path."""
    from PIL import Image

    grid = grid_array(images, cols, scale)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(out)
    return out


def kind_sheets(data: str | Path, answers: str | Path, out_dir: str | Path, kinds=None, per_kind: int = 32,
                seed: int = 0, prefix: str = "") -> list[Path]:
    """One ``image_grid`` of ``per_kind`` seeded random test images per anomaly kind (``kinds``, default all) of
    the data set in ``data``/``answers``, written to ``out_dir/<prefix><kind>.png``. Returns the paths."""
    paths = DatasetPaths(Path(data), Path(answers))
    try:
        key = load_answer_key(paths.solution)
    except AnswerKeyError as e:
        raise DatasetError(str(e)) from e
    test = load_images(paths.test, mmap=True, min_images=1)
    rng = np.random.default_rng(seed)
    written = []
    for kind in kinds or sorted(set(key.kinds.tolist()) - {NORMAL_KIND}):
        ids = np.flatnonzero(key.kinds == kind)
        if not len(ids):
            raise DatasetError(f"no test rows of kind {kind!r} in {paths.solution}")
        pick = np.sort(rng.choice(ids, min(per_kind, len(ids)), replace=False))
        written.append(image_grid(np.asarray(test[pick]), Path(out_dir) / f"{prefix}{kind}.png"))
    return written
