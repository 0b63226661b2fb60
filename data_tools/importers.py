"""Import real data into the kit's layout (``trainingset.npy``, ``testingset.npy``, ``solution.csv``, manifest).

- ``import_npy``: the course's own files (a directory such as ``data/`` or ``ml2023spring-hw8/``) plus a labels
  CSV with ``ID,label`` and an optional ``kind`` column.
- ``import_folders``: folders of images in any format PIL reads. Normal images -> training set plus a held-out
  normal share of the test set; anomalous images -> anomalous test rows (first-level subfolders of the anomalous
  folder become kinds, e.g. ``anomalous/hats/x.png`` -> kind ``hats``). Each image is converted to RGB
  (transparency composited on white), centre-cropped to a square and resized to 64x64 with Lanczos.

Every problem raises ``DatasetError`` naming the file (and line/column/ID for the labels CSV); unreadable images
are all listed in one error, so a TA fixes them in one pass. The Public/Private split is seeded and stratified by
label and kind, as for generated data.
"""
from __future__ import annotations

import csv
import hashlib
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm

from common.answer_key import NORMAL_KIND, AnswerKey, write_answer_key
from data_tools.build import MANIFEST_FORMAT, BuildResult, set_modes, student_readme, versions
from data_tools.io import (README_FILE, TEST_FILE, TRAIN_FILE, DatasetError, DatasetPaths, NpyWriter, check_dirs,
                           file_record, load_images, save_npy, write_json, write_text)
from data_tools.splits import DEFAULT_PUBLIC_FRACTION, check_public_fraction, stratified_usage, stream

ANOMALY_KIND = "anomaly"   # kind of anomalous rows when the source names none
COPY_CHUNK = 5_000         # rows per copy step (60 MB) for the progress bar
MAX_LISTED_ERRORS = 20


# -- the course's .npy files ---------------------------------------------------------------------------------
def find_npy_dir(src: str | Path) -> Path:
    """The directory holding ``trainingset.npy`` and ``testingset.npy``: ``src`` itself or ``src/data``."""
    src = Path(src)
    if not src.is_dir():
        raise DatasetError(f"{src}: source directory not found")
    for d in (src, src / "data"):
        if (d / TRAIN_FILE).is_file() and (d / TEST_FILE).is_file():
            return d
    missing = [f for f in (TRAIN_FILE, TEST_FILE) if not (src / f).is_file()]
    raise DatasetError(f"{src}: {' and '.join(missing)} not found (looked in {src} and {src / 'data'})")


def read_labels(path: str | Path, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Read a labels CSV (columns ``ID,label``, optional ``kind``; any row order) for ``n_test`` test images.

    Returns labels (n_test,) int8 and kinds (n_test,) str aligned by ID; kind defaults to ``normal`` for label 0
    and ``anomaly`` for label 1. Errors name the file, line (header = line 1), column and ID."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: labels file not found")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets write a BOM
            rows = list(_labelled_rows(csv.reader(f), path))
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start})") from e
    except csv.Error as e:
        raise DatasetError(f"{path}: cannot parse as CSV: {e}") from e
    if len(rows) != n_test:
        raise DatasetError(f"{path}: {len(rows)} labelled rows but the test set ({TEST_FILE}) has {n_test} images")
    labels = np.full(n_test, -1, np.int8)
    kinds = np.empty(n_test, dtype=object)
    seen: dict[int, int] = {}
    for line, id_, label, kind in rows:
        where = f"{path}: line {line}"
        if id_ in seen:
            raise DatasetError(f"{where}, column 'ID', ID {id_}: duplicate ID (first on line {seen[id_]})")
        if not 0 <= id_ < n_test:
            raise DatasetError(f"{where}, column 'ID', ID {id_}: out of range, the test set has IDs 0..{n_test - 1}")
        seen[id_] = line
        labels[id_], kinds[id_] = label, kind
    if len(np.unique(labels)) < 2:
        raise DatasetError(f"{path}: every row has label {labels[0]}; the test set needs both 0 and 1")
    return labels, kinds.astype(str)


def _labelled_rows(reader, path: Path):
    """Yield (line, ID, label, kind) from a csv.reader, validating every field."""
    header = next(reader, None)
    if header is None:
        raise DatasetError(f"{path}: empty file, expected a header line 'ID,label[,kind]'")
    header = [h.strip() for h in header]
    missing = [c for c in ("ID", "label") if c not in header]
    if missing:
        raise DatasetError(f"{path}: line 1: missing column(s) {missing}; found {header}, expected ID,label[,kind]")
    i_id, i_label = header.index("ID"), header.index("label")
    i_kind = header.index("kind") if "kind" in header else None
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue  # blank line (e.g. a trailing newline pair)
        if len(row) != len(header):
            raise DatasetError(f"{path}: line {line}: {len(row)} fields, the header has {len(header)}")
        raw_id = row[i_id].strip()
        try:
            id_ = int(raw_id)
        except ValueError:
            raise DatasetError(f"{path}: line {line}, column 'ID': {raw_id!r} is not an integer") from None
        raw = row[i_label].strip()
        if raw not in ("0", "1"):
            raise DatasetError(f"{path}: line {line}, column 'label', ID {id_}: label must be 0 or 1, got {raw!r}")
        label = int(raw)
        if i_kind is None or not row[i_kind].strip():
            kind = NORMAL_KIND if label == 0 else ANOMALY_KIND
        else:
            kind = row[i_kind].strip()
            if (kind == NORMAL_KIND) != (label == 0):
                raise DatasetError(f"{path}: line {line}, column 'kind', ID {id_}: kind {kind!r} with label {label}; "
                                   f"kind must be '{NORMAL_KIND}' exactly when label is 0")
        yield line, id_, label, kind


def import_npy(src: str | Path, labels: str | Path, out: str | Path, answers: str | Path, seed: int = 0,
               public_fraction: float = DEFAULT_PUBLIC_FRACTION, progress: bool = True) -> BuildResult:
    """Copy the course's ``trainingset.npy``/``testingset.npy`` from ``src`` (or ``src/data``) into ``out`` and
    write ``answers/solution.csv`` from the labels CSV with a seeded split stratified by label and kind."""
    t0 = time.perf_counter()
    check_public_fraction(public_fraction)
    src_dir = find_npy_dir(src)
    paths = check_dirs(out, answers)
    train = load_images(src_dir / TRAIN_FILE, mmap=True, min_images=1)
    test = load_images(src_dir / TEST_FILE, mmap=True, min_images=1)
    y, kinds = read_labels(labels, len(test))
    usage = stratified_usage(y, kinds, public_fraction, stream(seed, "split"))
    paths.data.mkdir(parents=True, exist_ok=True)
    paths.answers.mkdir(parents=True, exist_ok=True)
    with tqdm(total=len(train) + len(test), unit="img", desc="import npy", disable=not progress,
              file=sys.stderr) as bar:
        for arr, dst in ((train, paths.train), (test, paths.test)):
            if dst.exists() and dst.samefile(src_dir / dst.name):
                bar.update(len(arr))  # importing in place: the file is already where it belongs
                continue
            with NpyWriter(dst, len(arr)) as w:
                for i in range(0, len(arr), COPY_CHUNK):
                    w[i:i + COPY_CHUNK] = arr[i:i + COPY_CHUNK]
                    bar.update(min(COPY_CHUNK, len(arr) - i))
    source = {"type": "npy", "src": str(src_dir.resolve()), "labels": str(Path(labels).resolve()),
              "labels_sha256": file_record(Path(labels))["sha256"]}
    return _finish(paths, train, test, y, kinds, usage, seed, public_fraction, source, t0)


# -- folders of images ---------------------------------------------------------------------------------------
def load_image(path: str | Path, size: int = 64) -> np.ndarray:
    """Read any PIL-readable image -> (size,size,3) uint8: first frame, EXIF orientation applied, RGB
    (transparency composited on white), centre-cropped to a square, resized with Lanczos."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.seek(0)  # animated GIF/WebP: the first frame
                im.load()
                im = ImageOps.exif_transpose(im)
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                    rgba = im.convert("RGBA")
                    im = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    im.alpha_composite(rgba)
                if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                    # 16/32-bit grey: scale to 8 bits rather than clip (PIL's convert clips at 255)
                    a = np.asarray(im, dtype=np.float64)
                    im = Image.fromarray(np.uint8(np.clip(a / max(a.max(), 1) * 255, 0, 255)))
                im = im.convert("RGB")
                w, h = im.size
                if min(w, h) < 1:
                    raise ValueError("image has no pixels")
                s = min(w, h)
                left, top = (w - s) // 2, (h - s) // 2
                # crop, then resize: resize(box=...) would let the filter reach pixels outside the square
                im = im.crop((left, top, left + s, top + s)).resize((size, size), Image.Resampling.LANCZOS)
                return np.asarray(im, dtype=np.uint8).copy()
    except UnidentifiedImageError:
        raise DatasetError(f"{path}: not an image PIL can read") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise DatasetError(f"{path}: image too large ({e})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:  # truncated/corrupt data surfaces as these
        raise DatasetError(f"{path}: unreadable or corrupt image ({type(e).__name__}: {e})") from None


def list_images(folder: str | Path) -> list[Path]:
    """Every non-hidden file under ``folder`` (recursively), sorted by relative path (the row order)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: image folder not found")
    files = sorted((p for p in folder.rglob("*")
                    if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)),
                   key=lambda p: p.relative_to(folder).as_posix())
    if not files:
        raise DatasetError(f"{folder}: no image files found")
    return files


def _load_all(files: list[Path], bar, skip_unreadable: bool) -> tuple[np.ndarray, list[Path], list[str]]:
    images, kept, errors = [], [], []
    for p in files:
        try:
            images.append(load_image(p))
            kept.append(p)
        except DatasetError as e:
            errors.append(str(e))
        bar.update(1)
    if errors and not skip_unreadable:
        listed = "\n  ".join(errors[:MAX_LISTED_ERRORS])
        more = f"\n  ... and {len(errors) - MAX_LISTED_ERRORS} more" if len(errors) > MAX_LISTED_ERRORS else ""
        raise DatasetError(f"{len(errors)} of {len(files)} file(s) could not be read as images "
                           f"(fix or remove them, or pass --skip-unreadable):\n  {listed}{more}")
    arr = np.stack(images) if images else np.empty((0, 64, 64, 3), np.uint8)
    return arr, kept, errors


def _kind_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else ANOMALY_KIND


def import_folders(normal: str | Path, anomalous: str | Path, out: str | Path, answers: str | Path, seed: int = 0,
                   public_fraction: float = DEFAULT_PUBLIC_FRACTION, n_test_normal: int | None = None,
                   skip_unreadable: bool = False, progress: bool = True) -> BuildResult:
    """Build a data set from folders of images.

    ``n_test_normal`` normal images (chosen with the seeded ``holdout`` stream) go to the test set, the rest to
    the training set; default ``min(#anomalous, #normal // 2)`` (a balanced test set, as in the course).
    ``answers/sources.csv`` maps every row back to its file."""
    t0 = time.perf_counter()
    check_public_fraction(public_fraction)
    normal, anomalous = Path(normal), Path(anomalous)
    paths = check_dirs(out, answers)
    normal_files, anomalous_files = list_images(normal), list_images(anomalous)
    kinds_anom = [_kind_of(p, anomalous) for p in anomalous_files]
    if NORMAL_KIND in kinds_anom:
        bad = anomalous_files[kinds_anom.index(NORMAL_KIND)]
        raise DatasetError(f"{bad}: a subfolder of the anomalous folder is called '{NORMAL_KIND}'; rename it")
    with tqdm(total=len(normal_files) + len(anomalous_files), unit="img", desc="import folders",
              disable=not progress, file=sys.stderr) as bar:
        norm_img, norm_files, err_n = _load_all(normal_files, bar, skip_unreadable)
        anom_img, anom_files, err_a = _load_all(anomalous_files, bar, skip_unreadable)
    if len(norm_img) < 2:
        raise DatasetError(f"{normal}: {len(norm_img)} readable image(s); need at least 2 (train and test)")
    if len(anom_img) < 1:
        raise DatasetError(f"{anomalous}: no readable images")
    n_hold = min(len(anom_img), len(norm_img) // 2) if n_test_normal is None else int(n_test_normal)
    if not 1 <= n_hold < len(norm_img):
        raise DatasetError(f"n_test_normal must be between 1 and {len(norm_img) - 1} "
                           f"({len(norm_img)} readable normal images in {normal}), got {n_test_normal}")
    hold = np.zeros(len(norm_img), bool)
    hold[stream(seed, "holdout").permutation(len(norm_img))[:n_hold]] = True
    kinds_anom = [_kind_of(p, anomalous) for p in anom_files]

    test = np.concatenate([norm_img[hold], anom_img])
    kinds = np.array([NORMAL_KIND] * n_hold + kinds_anom, dtype=str)
    sources = [("normal", p.relative_to(normal).as_posix()) for p, h in zip(norm_files, hold) if h] + \
              [("anomalous", p.relative_to(anomalous).as_posix()) for p in anom_files]
    order = stream(seed, "shuffle").permutation(len(test))
    test, kinds = test[order], kinds[order]
    sources = [sources[i] for i in order]
    labels = (kinds != NORMAL_KIND).astype(np.int8)
    usage = stratified_usage(labels, kinds, public_fraction, stream(seed, "split"))
    train = norm_img[~hold]
    train_sources = [("normal", p.relative_to(normal).as_posix()) for p, h in zip(norm_files, hold) if not h]

    paths.data.mkdir(parents=True, exist_ok=True)
    paths.answers.mkdir(parents=True, exist_ok=True)
    save_npy(train, paths.train)
    save_npy(test, paths.test)
    rows = [("train", i, *s) for i, s in enumerate(train_sources)] + [("test", i, *s) for i, s in enumerate(sources)]
    with open(paths.answers / "sources.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["set", "index", "folder", "path"])
        w.writerows(rows)
    source = {"type": "folders", "normal": str(normal.resolve()), "anomalous": str(anomalous.resolve()),
              "n_test_normal": n_hold, "skipped_unreadable": err_n + err_a}
    return _finish(paths, train, test, labels, kinds, usage, seed, public_fraction, source, t0,
                   extra_answers=["sources.csv"])


# -- shared ending -------------------------------------------------------------------------------------------
def _finish(paths: DatasetPaths, train, test, labels, kinds, usage, seed, public_fraction, source, t0,
            extra_answers=()) -> BuildResult:
    write_answer_key(AnswerKey(labels=labels, usage=usage, kinds=kinds), paths.solution)
    write_text(student_readme(len(train), len(test), origin=""), paths.data / README_FILE)
    train_digests = {hashlib.blake2b(np.asarray(r).tobytes(), digest_size=16).digest() for r in train}
    repeats = int(sum(hashlib.blake2b(np.asarray(r).tobytes(), digest_size=16).digest() in train_digests
                      for r in test))
    counts_kinds = {k: int(v) for k, v in zip(*np.unique(kinds[labels == 1], return_counts=True))}
    manifest = {
        "format": MANIFEST_FORMAT,
        "source": source,
        "seed": seed,
        "public_fraction": public_fraction,
        "counts": {"train": len(train), "test": len(test), "test_normal": int((labels == 0).sum()),
                   "test_anomalous": int((labels == 1).sum()), "kinds": counts_kinds,
                   "public": int((usage == "Public").sum()), "private": int((usage == "Private").sum())},
        # Real data may repeat images between train and test; recorded, not fatal (generated builds fail on it).
        "test_images_equal_to_a_training_image": repeats,
        "versions": versions(),
        "files": {"data": {p.name: file_record(p) for p in (paths.train, paths.test, paths.data / README_FILE)},
                  "answers": {n: file_record(paths.answers / n) for n in (paths.solution.name, *extra_answers)}},
        "build_time_s": round(time.perf_counter() - t0, 2),
    }
    write_json(manifest, paths.manifest)
    set_modes(paths, extra_answers)
    return BuildResult(paths, manifest)
