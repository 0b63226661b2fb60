"""Build the face anomaly-detection data set from the seeded face generator and the anomaly kinds.

``build_dataset(BuildConfig.from_preset("demo"), out="data", answers="answers")`` writes

- ``out/trainingset.npy`` (N,64,64,3) uint8: normal faces only;
- ``out/testingset.npy`` (M,64,64,3) uint8: normal faces and anomalies, rows shuffled (row index = ID);
- ``out/README.md``: the student-facing description (no labels, no kinds);
- ``answers/solution.csv``: ID,label,Usage,kind,family (``common.answer_key``), Public/Private stratified by
  label and kind (``private_only_kinds`` keep chosen kinds off the public board);
- ``answers/manifest.json``: seed, preset, config, mixture, each kind's family, versions, sha256 of every file,
  build time.

File modes: the students' files are world-readable (0644), the answers owner-only (0600), whatever the umask.

Same config and seed -> byte-identical data files and answer key (on the same torch build, CPU vector instructions
and thread count: the generator's float rounding may differ between them, so the manifest records all three; the
answer key does not depend on them).
Normal faces: ``anomalies.sample_normal_latents`` (held-out regions excluded in z, nothing rendered in vain).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from common.answer_key import FAMILIES, NORMAL_KIND, AnswerKey, write_answer_key
from common.config import Config
from data_tools import anomalies
from data_tools.faces import WEIGHTS_LICENCE, WEIGHTS_PACKAGE, FaceGenerator
from data_tools.io import (README_FILE, DatasetError, DatasetPaths, NpyWriter, check_dirs, check_images,
                           file_record, read_manifest, save_npy, write_json, write_text)
from data_tools.splits import DEFAULT_PUBLIC_FRACTION, check_public_fraction, split_counts, stratified_usage, stream

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_ROOT = REPO_ROOT / ".cache" / "data"   # ignored by git
MANIFEST_FORMAT = "hw8-faces/1"

# Sizes per preset. Rendering is ~94% of a build (measured: demo at 106 faces/s while the bare generator ran at
# 113 faces/s on the same contended 2 cores), so at the generator's ~430 faces/s: demo (24k faces) ~60 s,
# full (120k, the course's sizes) ~5 min. tiny: the test suite's session fixture (~3 s, plus ~2-5 s for the
# first import of dicebear); smoke: notebook smoke runs (~10 s).
PRESETS: dict[str, dict] = {
    "tiny": {"n_train": 256, "n_test_normal": 64, "n_test_anomalous": 64},
    # The autograder's default grading data: smoke mode's 512 training faces, and 1,024 test rows, all of them
    # secret probes (grader.autograde.probes.MAX_PROBES): a probe AUC's standard error ~0.018, not tiny's ~0.05.
    "grading": {"n_train": 512, "n_test_normal": 512, "n_test_anomalous": 512},
    "smoke": {"n_train": 2_000, "n_test_normal": 250, "n_test_anomalous": 250},
    "demo": {"n_train": 20_000, "n_test_normal": 2_000, "n_test_anomalous": 2_000},
    "full": {"n_train": 100_000, "n_test_normal": 10_000, "n_test_anomalous": 10_000},
}

NORMAL_CHUNK = 2_000    # faces rendered per step for the normal sets (progress granularity, ~25 MB of images)
ANOMALY_CHUNK = 1_000   # rows per generate() call; fixed so the rng's consumption (hence the bytes) is too
DATA_MODE = 0o644       # trainingset.npy, testingset.npy, README.md: handed to students
ANSWER_MODE = 0o600     # solution.csv, manifest.json: the TAs' eyes only


def _help(text: str) -> dict:
    return {"help": text}


@dataclass
class BuildConfig(Config):
    """How to build a data set. Defaults are the ``demo`` preset; ``from_preset`` fills another preset's sizes.
    ``from_dict`` (e.g. a manifest's ``config``) and ``replace`` raise ``ConfigKeyError`` for an unknown key."""
    preset: str = field(default="demo", metadata=_help(
        f"name of the size preset ({', '.join(PRESETS)}); sizes given explicitly override it"))
    n_train: int = field(default=PRESETS["demo"]["n_train"], metadata=_help(
        "training images (normal faces only)"))
    n_test_normal: int = field(default=PRESETS["demo"]["n_test_normal"], metadata=_help(
        "normal faces in the test set (label 0)"))
    n_test_anomalous: int = field(default=PRESETS["demo"]["n_test_anomalous"], metadata=_help(
        "anomalies in the test set (label 1), split among the kinds by `mixture`"))
    mixture: dict[str, float] | None = field(default=None, metadata=_help(
        "anomaly kind -> share of the anomalous test rows; shares sum to 1 (default: the version's, "
        "anomalies.default_mixture(kinds_version): DEFAULT_MIXTURE, or DEFAULT_MIXTURE_V2 for version 2)"))
    seed: int = field(default=0, metadata=_help(
        "build seed: every random stream (train, test normals, each kind, shuffle, split) derives from it"))
    public_fraction: float = field(default=DEFAULT_PUBLIC_FRACTION, metadata=_help(
        "share of the test rows on the public leaderboard (stratified by label and kind)"))
    private_only_kinds: list[str] = field(default_factory=list, metadata=_help(
        "anomaly kinds kept off the public board entirely: all their rows are Private, so the private board "
        "measures kinds the public one could not be tuned to"))
    batch_size: int = field(default=500, metadata=_help(
        "generator batch size (500: ~430 faces/s on 2 cores, float32)"))
    threads: int = field(default=0, metadata=_help(
        "torch CPU threads while rendering; 0 = all cores. Recorded in the manifest: float rounding, hence "
        "the bytes, may depend on it"))
    kinds_version: int = field(default=anomalies.DEFAULT_KINDS_VERSION, metadata=_help(
        "how the anomaly kinds are made: 2 (the default: masks and paint placed on the located face in "
        "face-matched colours and several appearances, every near kind selected to match normal faces' region "
        "statistics, corrupted's blur replaced by a swapped tile, and its own default mixture; "
        "anomalies.KINDS_V2) or 1 (the kit's first kinds, which statistics of the face's parts find; "
        "anomalies.KINDS). Normal faces and the other far kinds are the same in both"))

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise DatasetError(f"unknown preset {self.preset!r}; valid presets: {', '.join(PRESETS)}")
        for name in ("n_train", "n_test_normal", "n_test_anomalous", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise DatasetError(f"{name} must be a positive integer, got {v!r}")
            setattr(self, name, int(v))
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise DatasetError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.threads, (int, np.integer)) or self.threads < 0:
            raise DatasetError(f"threads must be an integer >= 0, got {self.threads!r}")
        try:
            self.kinds_version = anomalies.check_kinds_version(self.kinds_version)
        except ValueError as e:
            raise DatasetError(str(e)) from None
        self.public_fraction = check_public_fraction(self.public_fraction)
        if self.mixture is None:
            self.mixture = anomalies.default_mixture(self.kinds_version)
        self.mixture = check_mixture(self.mixture)
        self.private_only_kinds = check_private_only_kinds(self.private_only_kinds, self.mixture)

    @classmethod
    def from_dict(cls, d) -> "BuildConfig":
        """``Config.from_dict``, where a missing ``mixture`` is the default of the dict's ``kinds_version``."""
        return super().from_dict({"mixture": None, **d})

    @classmethod
    def from_preset(cls, preset: str = "demo", **overrides) -> "BuildConfig":
        """The preset's sizes, then ``overrides`` (any field; unknown names raise listing the valid ones)."""
        if preset not in PRESETS:
            raise DatasetError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
        return cls.from_dict({"preset": preset, **PRESETS[preset], **overrides})


def check_mixture(mixture: dict[str, float]) -> dict[str, float]:
    """Validate kind -> share: known kinds, shares >= 0 summing to 1 (within 1e-6). Returns a float dict."""
    if not isinstance(mixture, dict) or not mixture:
        raise DatasetError(f"mixture must be a non-empty dict kind -> share, got {mixture!r}")
    unknown = sorted(set(mixture) - set(anomalies.KINDS))
    if unknown:
        raise DatasetError(f"unknown anomaly kind(s) {unknown} in mixture; valid kinds: "
                           f"{', '.join(sorted(anomalies.KINDS))}")
    out = {}
    for k, v in mixture.items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            raise DatasetError(f"mixture share for {k!r} must be a number, got {v!r}") from None
        if not np.isfinite(out[k]) or out[k] < 0:
            raise DatasetError(f"mixture share for {k!r} must be >= 0, got {v!r}")
    total = sum(out.values())
    if abs(total - 1.0) > 1e-6:
        raise DatasetError(f"mixture shares must sum to 1, they sum to {total:.6g}: {out}")
    return out


def check_private_only_kinds(kinds, mixture: dict[str, float]) -> list[str]:
    """Validate the kinds to keep off the public board: known kinds with a positive share in ``mixture``, and not
    all of them (the public board needs anomalies). Returns them sorted, without repeats."""
    if isinstance(kinds, str):
        kinds = [kinds]
    kinds = sorted({str(k) for k in kinds})
    unknown = [k for k in kinds if k not in anomalies.KINDS]
    if unknown:
        raise DatasetError(f"unknown anomaly kind(s) {unknown} in private_only_kinds; valid kinds: "
                           f"{', '.join(sorted(anomalies.KINDS))}")
    absent = [k for k in kinds if mixture.get(k, 0) <= 0]
    if absent:
        raise DatasetError(f"private_only_kinds {absent} have no share in the mixture, so no rows to keep private")
    if kinds and not [k for k, v in mixture.items() if v > 0 and k not in kinds]:
        raise DatasetError(f"private_only_kinds {kinds} are every kind of the mixture: the public board would have "
                           f"no anomalies")
    return kinds


def parse_mixture(items: str | Sequence[str]) -> dict[str, float]:
    """The command lines' mixture syntax (``python -m data_tools build --mixture``, ``python -m kit ladder
    --mixture``): ``kind=share`` items, separated by commas or given as separate arguments.

    ``"glasses=0.5,inverted=0.5"`` and ``["glasses=0.5", "inverted=0.5"]`` both give ``{"glasses": 0.5,
    "inverted": 0.5}``. Only the syntax is checked here (a name, a number, each kind once): ``check_mixture``
    (hence ``BuildConfig``) checks the kinds and that the shares sum to 1, ``kit.ladder.mixture_auc`` takes them
    as weights.
    """
    parts = [p.strip() for item in ([items] if isinstance(items, str) else items) for p in item.split(",")]
    mixture: dict[str, float] = {}
    for i, part in enumerate(parts, start=1):
        name, sep, share = (x.strip() for x in part.partition("="))
        if not sep or not name:
            raise DatasetError(f"mixture item {i} {part!r}: expected kind=share, e.g. glasses=0.5")
        if name in mixture:
            raise DatasetError(f"mixture item {i} {part!r}: kind {name!r} is given twice")
        try:
            mixture[name] = float(share)
        except ValueError:
            raise DatasetError(f"mixture item {i} {part!r}: share {share!r} is not a number") from None
    return mixture


@dataclass(frozen=True)
class BuildResult:
    paths: DatasetPaths
    manifest: dict


def default_cache_dir(preset: str, seed: int, kinds_version: int = anomalies.DEFAULT_KINDS_VERSION) -> Path:
    """``.cache/data/<preset>-<seed>/`` under the repository root (ignored by git); ``<preset>-<seed>-v1/`` for
    kinds of another version than the default (here: version 1)."""
    suffix = "" if kinds_version == anomalies.DEFAULT_KINDS_VERSION else f"-v{kinds_version}"
    return CACHE_ROOT / f"{preset}-{seed}{suffix}"


def cache_paths(preset: str, seed: int, kinds_version: int = anomalies.DEFAULT_KINDS_VERSION) -> DatasetPaths:
    """The default ``data/`` and ``answers/`` directories of a cached build."""
    root = default_cache_dir(preset, seed, kinds_version)
    return DatasetPaths(root / "data", root / "answers")


def code_digest() -> str:
    """sha256 (16 hex digits) of the ``data_tools`` sources and data files that make a build's bytes: recorded in
    the manifest, so that a cached build made by other code is built again (``cached_dataset``)."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for path in sorted([*here.glob("*.py"), *here.glob("*.csv"), *here.glob("*.npz")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
           "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}
    for dist in ("gan-face-generate", "pillow", "dicebear-core", "dicebear-styles", "resvg-py", "scikit-image"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def effective_threads(n: int) -> int:
    """The torch thread count a build with ``threads=n`` renders with (0: all cores): what its bytes may depend on."""
    return n or (os.cpu_count() or 1)


class _Threads:
    """Set torch's CPU thread count for the build and restore it afterwards."""

    def __init__(self, n: int):
        self.n = effective_threads(n)

    def __enter__(self):
        self.prev = torch.get_num_threads()
        torch.set_num_threads(self.n)
        return self.n

    def __exit__(self, *exc):
        torch.set_num_threads(self.prev)
        return False


def _fill_normal(faces: FaceGenerator, out: np.ndarray, rng: np.random.Generator, bar) -> None:
    """Fill ``out`` (n,64,64,3) uint8 with normal faces, ``NORMAL_CHUNK`` at a time."""
    for i in range(0, len(out), NORMAL_CHUNK):
        m = min(NORMAL_CHUNK, len(out) - i)
        out[i:i + m] = faces.render(anomalies.sample_normal_latents(faces, m, rng))
        bar.update(m)


def _generate_kind(faces: FaceGenerator, name: str, n: int, rng: np.random.Generator, bar,
                   kinds_version: int = anomalies.DEFAULT_KINDS_VERSION) -> np.ndarray:
    kind = anomalies.get_kind(name, kinds_version)
    out = np.empty((n, 64, 64, 3), np.uint8)
    for i in range(0, n, ANOMALY_CHUNK):
        m = min(ANOMALY_CHUNK, n - i)
        images = kind.generate(faces, m, rng)
        if not isinstance(images, np.ndarray) or images.shape != (m, 64, 64, 3):
            raise DatasetError(f"anomaly kind {name!r} returned {getattr(images, 'shape', type(images))} "
                               f"for n={m}, expected ({m}, 64, 64, 3)")
        out[i:i + m] = check_images(images, f"anomaly kind {name!r}")
        bar.update(m)
    return out


def _row_digests(images: np.ndarray) -> set[bytes]:
    return {hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in images}


def set_modes(paths: DatasetPaths, extra_answers=()) -> None:
    """Students' files 0644, answers 0600 (the writers go through private temp files, so without this the data
    were 0600 and an answers file written in place followed the umask). ``extra_answers``: more file names in
    ``paths.answers``."""
    for p in (paths.train, paths.test, paths.data / README_FILE):
        if p.is_file():
            os.chmod(p, DATA_MODE)
    for p in (paths.solution, paths.manifest, *(paths.answers / n for n in extra_answers)):
        if p.is_file():
            os.chmod(p, ANSWER_MODE)


def student_readme(n_train: int, n_test: int, origin: str | None = None) -> str:
    """The data README handed to students: files, shapes, task, metric, origin/licence. No labels, no kinds.

    ``origin``: a closing paragraph; default: the face generator and its licence (generated data)."""
    if origin is None:
        origin = f"Faces are rendered by a DCGAN generator ({WEIGHTS_PACKAGE}) trained on {WEIGHTS_LICENCE}.\n"
    return f"""# HW8 anomaly detection data

| file | shape | dtype | content |
|---|---|---|---|
| `trainingset.npy` | ({n_train}, 64, 64, 3) | uint8 | normal human faces only |
| `testingset.npy` | ({n_test}, 64, 64, 3) | uint8 | faces like the training set (label 0) and images from another distribution (label 1) |

Images are RGB, channels last, pixel values 0..255. Load with `np.load("trainingset.npy")`.

Task: train only on `trainingset.npy`, then give every test image an anomaly score (higher = more abnormal).
The row index of `testingset.npy` is the image's `ID`; submit a CSV with columns `ID,score`, one row per test
image. Submissions are ranked by ROC AUC; part of the test set is scored on the public leaderboard, the rest on
the private one.

{origin}"""


def build_dataset(config: BuildConfig, out: str | Path, answers: str | Path, progress: bool = True) -> BuildResult:
    """Build the data set described by ``config`` into ``out`` (students) and ``answers`` (TAs).

    Returns the paths and the manifest. Raises ``DatasetError`` (bad directories or config)."""
    t0 = time.perf_counter()
    paths = check_dirs(out, answers)
    paths.data.mkdir(parents=True, exist_ok=True)
    paths.answers.mkdir(parents=True, exist_ok=True)
    c = config
    counts = {k: v for k, v in split_counts(c.n_test_anomalous, c.mixture).items() if v > 0}
    total = c.n_train + c.n_test_normal + c.n_test_anomalous
    with _Threads(c.threads) as threads, tqdm(total=total, unit="face", desc=f"build {c.preset}",
                                              disable=not progress, file=sys.stderr) as bar:
        faces = FaceGenerator(batch_size=c.batch_size)
        with NpyWriter(paths.train, c.n_train) as train:
            bar.set_postfix_str("train")
            _fill_normal(faces, train, stream(c.seed, "train"), bar)
            train_digests = _row_digests(train)
        bar.set_postfix_str("test normal")
        normal = np.empty((c.n_test_normal, 64, 64, 3), np.uint8)
        _fill_normal(faces, normal, stream(c.seed, "test_normal"), bar)
        parts, kinds = [normal], [np.full(c.n_test_normal, NORMAL_KIND, dtype=object)]
        for name, n in counts.items():
            bar.set_postfix_str(name)
            parts.append(_generate_kind(faces, name, n, stream(c.seed, f"anomaly/{name}"), bar, c.kinds_version))
            kinds.append(np.full(n, name, dtype=object))
    images, kinds = np.concatenate(parts), np.concatenate(kinds).astype(str)
    labels = (kinds != NORMAL_KIND).astype(np.int8)
    # Shuffle from its own stream: the row index (= ID) carries no label signal.
    order = stream(c.seed, "shuffle").permutation(len(images))
    images, labels, kinds = images[order], labels[order], kinds[order]
    usage = stratified_usage(labels, kinds, c.public_fraction, stream(c.seed, "split"), c.private_only_kinds)
    families = np.array([NORMAL_KIND if k == NORMAL_KIND else anomalies.get_kind(k, c.kinds_version).family
                         for k in kinds])
    # Train and test come from disjoint streams; an exact repeat would mean a broken stream or kind.
    repeats = int(sum(d in train_digests for d in _row_digests(images)))
    if repeats:
        raise DatasetError(f"{repeats} test image(s) equal a training image; check the random streams")

    save_npy(images, paths.test)
    write_answer_key(AnswerKey(labels=labels, usage=usage, kinds=kinds, families=families), paths.solution)
    write_text(student_readme(c.n_train, len(images)), paths.data / README_FILE)
    set_modes(paths)
    elapsed = time.perf_counter() - t0
    manifest = {
        "format": MANIFEST_FORMAT,
        "source": "generated",
        "preset": c.preset,
        "seed": c.seed,
        "kinds_version": c.kinds_version,
        "config": asdict(c),
        "mixture": c.mixture,
        "families": {k: anomalies.get_kind(k, c.kinds_version).family for k in counts},
        "private_only_kinds": c.private_only_kinds,
        "counts": {"train": c.n_train, "test": len(images), "test_normal": c.n_test_normal,
                   "test_anomalous": c.n_test_anomalous, "kinds": counts,
                   "families": {f: int((families == f).sum()) for f in FAMILIES},
                   "public": int((usage == "Public").sum()), "private": int((usage == "Private").sum()),
                   "public_kinds": {k: int(((kinds == k) & (usage == "Public")).sum()) for k in counts}},
        "generator": {"weights": WEIGHTS_PACKAGE, "licence": WEIGHTS_LICENCE, "torch_threads": threads,
                      "code": code_digest()},
        "versions": versions(),
        "files": {"data": {p.name: file_record(p) for p in (paths.train, paths.test, paths.data / README_FILE)},
                  "answers": {paths.solution.name: file_record(paths.solution)}},
        "build_time_s": round(elapsed, 2),
        "faces_per_s": round(total / elapsed, 1),
    }
    write_json(manifest, paths.manifest)  # last: its presence marks a complete build
    os.chmod(paths.manifest, ANSWER_MODE)
    return BuildResult(paths, manifest)


def cached_dataset(preset: str = "demo", seed: int = 0, progress: bool = True, **overrides) -> DatasetPaths:
    """The data set for ``preset``/``seed`` under ``.cache/data/<preset>-<seed>/``, built only if missing or if
    its manifest records another config, another thread count to render with (``threads=0`` and the machine's core
    count are the same), other code (``code_digest``) or files of other sizes. Returns its paths."""
    config = BuildConfig.from_preset(preset, seed=seed, **overrides)
    paths = cache_paths(preset, seed, config.kinds_version)
    if paths.manifest.is_file():
        try:
            manifest = read_manifest(paths.manifest)
            generator = manifest.get("generator", {})
            # a manifest written before kinds_version existed is a version 1 build
            same = ({"kinds_version": 1, **manifest.get("config"), "threads": 0} == {**asdict(config), "threads": 0}
                    and generator.get("torch_threads") == effective_threads(config.threads)
                    and generator.get("code") == code_digest()
                    and all((base / name).is_file() and (base / name).stat().st_size == rec["bytes"]
                            for group, base in (("data", paths.data), ("answers", paths.answers))
                            for name, rec in manifest["files"][group].items()))
        except (DatasetError, KeyError, TypeError):
            same = False
        if same:
            return paths
    return build_dataset(config, paths.data, paths.answers, progress=progress).paths
