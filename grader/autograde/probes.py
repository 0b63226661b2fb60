"""Secret probes: the grading data's test images and labels an autograded test judges a student's model on.

Every input an autograded test reads from the student's kernel was made by the student's process, so a hook that
rewrites later cells could make it say anything. A test that must see working code therefore judges the student's
model on a probe set the student's kernel never sees with its labels:

- drawn at grading time from the grading data (``--data``: its ``testingset.npy`` rows and the answer key beside it,
  ``../answers/solution.csv`` as ``python -m data_tools build`` writes it), shuffled with the course's secret seed
  (``COURSE/probes/seed``, 0600, made on first use and reused, so that a regrade draws the same set). Without
  ``--data`` the grading data is the ``grading`` preset built with a seed drawn from that secret
  (:func:`grading_data_seed`) into ``COURSE/probes/``: a build with a known seed would hand its labels to anyone
  who runs the kit's builder with it, and a student could look each probe image up;
- judged against bars the reference solution sets on the same probes and grading data (the median score of the
  normal probes, a reconstruction error; the ROC-AUC, the leaderboard's metric, for 02 and 03 also counted only
  between probes alike in their pixel statistics, :func:`match_strata`): the reference's scores of the
  grading test set are computed once per (assignment, grading data, smoke mode) by the kit's own command
  (``python -m kit run``, in a subprocess: the grader imports neither torch nor the solutions) and stored 0600
  beside the seed;
- handed to the test kernel only (:func:`write_for_tests`), after the student's kernel and every process it started
  are gone; the student's kernel has the images (they are the grading test set) but never the labels.

Where the model is the student's own (no ``starter_code`` class the test kernel could rebuild), the student's kernel
scores the probes itself in the **probe step** (``execute.py``): after the notebook's last cell the worker writes the
probe images (no labels, in the drawn order) and a request (:func:`request`: which of the notebook's functions to
call, with arguments drawn from the secret seed) where that kernel can read them, runs a cell of its own that calls
them (``exchange.probe_step``), and the tests judge only the numbers returned, against the labels.

The test kernel reads them as ``secret_probes`` (``exchange.SecretProbes``).
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from common.answer_key import load_answer_key
from common.files import atomic_target, write_private
from grader.autograde.exchange import PROBE_IMAGES, PROBE_OUT, PROBE_REQUEST, PROBES_FILE, PROBES_META, matched_auc
from starter_code.formats import TEST_FILE, TRAIN_FILE, load_images

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Probes per grading: every test row of the default grading data (the ``grading`` preset, 1,024; the tiny preset's
#: 128 in the tests), at most this many of a larger grading set. On 128 probes an AUC's standard error is ~0.05,
#: the size of the bars' margins; on 1,024, ~0.018 (docs/results.md, "Secret probes").
MAX_PROBES = 1024
#: The folder of the course that holds the seed and the reference scores (TA side, never bound into a sandbox).
FOLDER = "probes"
#: The anomaly kinds of the grading data (``python -m data_tools build --kinds-version``): version 1, not the data
#: builder's default. The bars are the smoke-trained references' AUC less a margin, and on version 2's kinds, whose
#: near kinds neither a smoke-trained autoencoder nor a pixel statistic finds, 03's pixel statistics reach the bar
#: more often (docs/results.md, "Secret probes": ``benchmarks/probe_seeds.py --preset grading --kinds-version 2``).
GRADING_KINDS_VERSION = 1
#: How many strata :func:`match_strata` cuts the probes into (the ``grading`` preset's 1,024: ~200 each).
MATCH_STRATA = 5


@dataclass(frozen=True)
class Reference:
    """How an assignment's bars are set from its reference (``python -m kit run --stage STAGE --set ...``).

    Measured on the tiny preset in smoke mode, data seeds 0-3 (median reconstruction error of the normal test
    faces / ROC-AUC): the reference cnn 16-19 / 0.58-0.75, the fcn 28-34 / 0.52-0.70, the sample VAE 41-47 /
    0.52-0.67, an untrained network 61-69 / 0.42-0.56, the distance to the mean face 39-44 / 0.52-0.68. On 128 test
    images the AUC alone cannot tell an untrained network from a trained one (seed 3: 0.54-0.56 against 0.58); the
    reconstruction error can, by a factor of three. A model passes when it learned faces (``max_face_error``) and
    its scores separate anomalies (``min_auc``).

    02-04 judge the student's own model by the ROC-AUC of the scores its ``score_images`` returns in the probe step
    (no reconstruction error: the score is the student's). Measured the same way (``python -m kit run --stage STAGE
    --smoke``, tiny preset, data seeds 0 / 1): medium 0.689 / 0.657, strong scored by 'pixel_var' 0.686 / 0.663,
    boss 0.813 / 0.676; beside them the distance to the mean face 0.587 / 0.676, the mean brightness 0.648 / 0.581,
    the row index 0.555 / 0.458. Hence a margin of 0.05 for medium and strong and 0.15 for boss:
    a boss answered from its instructions with starter_code alone (a cnn autoencoder plus a small classifier of
    pasted noise squares; the reference's kNN part is not asked for) measures 0.078 below the reference on seed 0
    (0.735) and 0.101 below on seed 7 (0.658 against 0.759), so with a margin of 0.1 it lost the bar on 5 of 20 data
    seeds of the tiny preset. 128 images make these bars coarse (an AUC's standard error ~0.05): on most data seeds
    a pixel statistic scores within the margin of the medium and strong references, and on some the solved
    answers fall below their bars; the ``grading`` preset's 1,024 probes cut that error to ~0.018 (the same
    expectation: docs/results.md, "Secret probes"). Strong's bar comes from the strong stage scored by 'l2' (the
    sample code's error, the score 03's text suggests): a working multi-encoder model scored that way measures at
    or above it, while its own 'residual' score (0.04-0.15 higher on the tiny preset: docs/results.md, "The strong
    stage's score") or 'pixel_var' (each pixel's error over its variance, 0.02-0.06 higher) set a bar that a
    working model scored by its error would miss.

    On the ``grading`` preset's 1,024 probes the medium and strong references, scored by their error, still rank
    about as well as the distance to the mean face over all pairs (more probes only make the tie certain), so 02
    and 03 are also judged within strata of the pixel statistics (``matched``, :func:`match_strata`; a second bar,
    the same margin and floor), where the statistics rank near chance and the reference keeps part of its lead
    (docs/results.md, "Secret probes": ``benchmarks/probe_matching.py``, ``benchmarks/probe_seeds.py --preset
    grading``).
    """
    stage: str
    overrides: tuple[str, ...] = ()
    #: Bar on the median score of the normal probes: this many times the reference's (the fcn needs 1.7-1.9).
    face_factor: float = 2.0
    #: Bar on the ROC-AUC: the reference's less this margin, and at least ``floor`` (above chance); None where the
    #: assignment's tests judge no ranking.
    margin: float | None = 0.1
    floor: float = 0.55
    #: The notebook's functions the probe step calls in the student's kernel, by role (keys of
    #: ``starter_code.notebook.PROBE_FUNCTIONS``); empty: no probe step (the test kernel rebuilds the model).
    calls: tuple[str, ...] = ()
    #: Judge the ranking also among probes alike in their pixel statistics (:func:`match_strata`): where the
    #: reference ranks little better than those statistics across the whole probe set, only that bar tells them apart.
    matched: bool = False


#: Assignments whose tests judge a model on the secret probes, and their reference. 05's fcn is the report's (in
#: smoke mode the simple stage with the fcn trains exactly as ``solutions.report.train_fcn_autoencoder``); its
#: tests judge that it learned faces, not how it ranks anomalies (the sample fcn measures 0.52-0.70). The student's
#: fcn is the reference's model, so its bar is closer: an untrained fcn measures 1.8-2.3 times the reference's.
REFERENCES = {"01_simple": Reference("simple", ('model_type="cnn"',)),
              "02_medium": Reference("medium", margin=0.05, calls=("score",), matched=True),
              "03_strong": Reference("strong", ('score="l2"',), margin=0.05, calls=("score", "encoders"),
                                     matched=True),
              "04_boss": Reference("boss", margin=0.15, calls=("score", "ae_score", "clf_score", "anomalies")),
              "05_report": Reference("simple", ('model_type="fcn"',), face_factor=1.5, margin=None,
                                     calls=("latent",))}
#: ``make_anomalies`` in the probe step: this many probe images; ``edit_latent``: this many, and the factors the
#: grader draws from (far enough from 1 that every edit moves the image; the index is below ``LATENT_ELEMENTS``).
ANOMALY_IMAGES, LATENT_IMAGES = 16, 8
LATENT_FACTORS = (-3.0, -2.0, 2.5, 3.0, 4.0)
#: The sample fcn's code length (``starter_code.notebook.LATENT_ELEMENTS``; that module is not the grader's to
#: import): ``edit_latent``'s index is drawn below it.
LATENT_ELEMENTS = 3


class ProbeError(RuntimeError):
    """The probes cannot be drawn or the reference cannot be measured (a TA-side problem: no answer key, a failed
    reference run); the message says what."""


@dataclass(frozen=True)
class ProbeSet:
    """``images`` uint8 ``(P, 64, 64, 3)``, ``labels`` int8 ``(P,)`` (1 = anomaly), ``rows`` int64 ``(P,)``: the test
    row of each probe, in the drawn (shuffled) order; ``strata`` int8 ``(P,)`` where the ranking is also judged
    within strata (:func:`match_strata`), else None."""
    images: np.ndarray
    labels: np.ndarray
    rows: np.ndarray
    strata: np.ndarray | None = None


def course_seed(course_dir: str | Path) -> int:
    """The course's secret probe seed: read from ``COURSE/probes/seed``, or made (0600) on first use."""
    path = Path(course_dir) / FOLDER / "seed"
    with _locked(path.parent):
        if not path.is_file():
            write_private(path, f"{secrets.randbits(63)}\n")
        try:
            return int(path.read_text(encoding="ascii").strip())
        except ValueError as e:
            raise ProbeError(f"{path}: not a seed ({e}); delete it to draw a new probe set") from e


def grading_data_seed(course_dir: str | Path) -> int:
    """The build seed of the course's default grading data: drawn from the course's secret seed, and from
    ``common.answer_key.SECRET_SEED_MIN`` up, so that no one rebuilds that data's answer key by trying seeds."""
    from common.answer_key import SECRET_SEED_MIN
    rng = np.random.default_rng([course_seed(course_dir), 10])
    return SECRET_SEED_MIN + int(rng.integers(0, 1 << 61))


def grading_data_folder(course_dir: str | Path, preset: str) -> Path:
    """Where the course's default grading data of ``preset`` lives: ``COURSE/probes/data-<preset>/`` (``data`` and
    ``answers``), on the TA side beside the seed; the folder's name says nothing of the seed."""
    return Path(course_dir) / FOLDER / f"data-{preset}"


def answers_path(data_dir: str | Path) -> Path:
    """The answer key of a grading data folder, where ``python -m data_tools build`` puts it."""
    return Path(data_dir).resolve().parent / "answers" / "solution.csv"


def draw(data_dir: str | Path, seed: int, n: int = MAX_PROBES) -> ProbeSet:
    """``n`` test rows of the grading data (all of them when there are fewer), shuffled with ``seed``."""
    key_path = answers_path(data_dir)
    if not key_path.is_file():
        raise ProbeError(f"{key_path}: the grading data's answer key is missing; autograded tests judge models "
                         f"on labelled grading data (build it with python -m data_tools build --answers)")
    key = load_answer_key(key_path)
    test = load_images(Path(data_dir) / TEST_FILE)
    if len(key) != len(test):
        raise ProbeError(f"{key_path}: {len(key)} rows, but {Path(data_dir) / TEST_FILE} has {len(test)} images")
    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(test))[:n]
    if len(np.unique(key.labels[rows])) < 2:
        raise ProbeError(f"the probes drawn from {data_dir} hold one class only; the grading data needs both")
    return ProbeSet(images=np.array(test[rows]), labels=key.labels[rows].astype(np.int8), rows=rows.astype(np.int64))


def pixel_statistics(images: np.ndarray, mean_face: np.ndarray) -> np.ndarray:
    """float64 ``(P, 6)``: what an answer that learned nothing can score images by (pixels in [0, 1]): the distance
    to the training faces' mean face ``mean_face`` ``(64 * 64 * 3,)``, the mean brightness, the pixels' standard
    deviation, the three channels' means."""
    flat = images.reshape(len(images), -1) / 255.0
    channels = flat.reshape(len(images), -1, 3).mean(axis=1)
    return np.column_stack([np.linalg.norm(flat - mean_face, axis=1), flat.mean(axis=1), flat.std(axis=1),
                            channels])


def match_strata(images: np.ndarray, labels: np.ndarray, mean_face: np.ndarray, k: int = MATCH_STRATA) -> np.ndarray:
    """int8 ``(P,)``: the probes cut into ``k`` equal strata by how anomalous their :func:`pixel_statistics` alone
    make them look (a propensity score: a logistic model of the label on the standardised statistics and their
    squares, fitted on these probes). Within a stratum anomalies and normal faces have about the same statistics,
    so a score that is a function of them ranks near chance there, while a model that learned faces keeps part of
    its lead (docs/results.md, "Secret probes": ``benchmarks/probe_matching.py``). Deterministic: a regrade cuts
    the same strata."""
    from sklearn.linear_model import LogisticRegression
    x = pixel_statistics(images, mean_face)
    spread = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    x = np.column_stack([x, x ** 2])
    propensity = LogisticRegression(max_iter=1000).fit(x, labels).decision_function(x)
    edges = np.quantile(propensity, np.linspace(0, 1, k + 1)[1:-1])
    return np.searchsorted(edges, propensity, side="right").astype(np.int8)


def mean_face(data_dir: str | Path) -> np.ndarray:
    """float64 ``(64 * 64 * 3,)``: the grading data's mean training face, pixels in [0, 1] (once per file version)."""
    path = (Path(data_dir) / TRAIN_FILE).resolve()
    return _mean_face(str(path), path.stat().st_size, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _mean_face(path: str, size: int, mtime_ns: int) -> np.ndarray:
    train = np.load(path, mmap_mode="r", allow_pickle=False)
    total = np.zeros(int(np.prod(train.shape[1:])), np.float64)
    for i in range(0, len(train), 4096):
        total += train[i:i + 4096].reshape(-1, total.size).sum(axis=0, dtype=np.float64)
    return total / max(len(train), 1) / 255.0


def data_fingerprint(data_dir: str | Path) -> str:
    """SHA-256 (16 hex digits) of the grading data's two image files: the reference is measured once per data set."""
    files = [(Path(data_dir) / name).resolve() for name in (TRAIN_FILE, TEST_FILE)]
    return _fingerprint(tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))


@functools.lru_cache(maxsize=8)
def _fingerprint(files: tuple) -> str:
    """Hashed once per worker and file version (the full data set is gigabytes)."""
    h = hashlib.sha256()
    for path, _, _ in files:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def reference_path(assignment: str, data_dir: str | Path, course_dir: str | Path, *, smoke: bool) -> Path:
    """Where the reference's scores of ``data_dir`` are stored: named by the data's fingerprint, the mode, and the
    reference itself (its stage and overrides), so that a kit whose reference changed measures it again."""
    ref = REFERENCES[assignment]
    spec = hashlib.sha256(json.dumps([ref.stage, *ref.overrides]).encode()).hexdigest()[:8]
    mode = "smoke" if smoke else "full"
    return Path(course_dir) / FOLDER / f"reference-{assignment}-{data_fingerprint(data_dir)}-{spec}-{mode}.npy"


def reference_scores(assignment: str, data_dir: str | Path, course_dir: str | Path, *, smoke: bool) -> np.ndarray:
    """float64 ``(M,)``: the reference's scores of the grading test set, measured on first use and stored 0600."""
    ref = REFERENCES[assignment]
    folder = Path(course_dir) / FOLDER
    path = reference_path(assignment, data_dir, course_dir, smoke=smoke)
    with _locked(folder):
        if not path.is_file():
            scores = _run_reference(ref, Path(data_dir), smoke)
            with atomic_target(path) as tmp, open(tmp, "wb") as f:
                np.save(f, scores, allow_pickle=False)
        return np.load(path, allow_pickle=False)


def _run_reference(ref: Reference, data_dir: Path, smoke: bool) -> np.ndarray:
    from starter_code.submission import read_submission_scores
    with tempfile.TemporaryDirectory(prefix="hw8-reference-") as out:
        cmd = [sys.executable, "-m", "kit", "run", "--stage", ref.stage, "--data", str(data_dir.resolve()),
               "--out", out, "--no-progress", *(["--smoke"] if smoke else [])]
        for item in ref.overrides:
            cmd += ["--set", item]
        proc = subprocess.run(cmd, cwd=str(REPO_ROOT), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ProbeError(f"the reference run ({' '.join(cmd[2:])}) failed: {proc.stderr.strip()[-500:]}")
        return read_submission_scores(Path(out) / "prediction.csv")


def bar(assignment: str, probes: ProbeSet, reference: np.ndarray) -> dict:
    """The bars of ``assignment`` on ``probes``, from the reference's test-set scores ``(M,)``: ``reference_auc``,
    ``reference_face_error`` (the median score of the normal probes), ``max_face_error`` and, where the tests judge
    the ranking, ``min_auc``; where ``probes`` have strata, ``reference_matched_auc`` and ``min_matched_auc``, the
    same within them."""
    ref = REFERENCES[assignment]
    scores = reference[probes.rows]
    face = float(np.median(scores[probes.labels == 0]))
    bars = {"reference_face_error": round(face, 4), "max_face_error": round(face * ref.face_factor, 4)}
    aucs = {"": matched_auc(probes.labels, scores)}
    if probes.strata is not None:
        aucs["matched_"] = matched_auc(probes.labels, scores, probes.strata)
    for kind, auc in aucs.items():
        bars[f"reference_{kind}auc"] = round(auc, 4)
        if ref.margin is None:
            continue
        if auc < ref.floor:
            within = " within strata of the pixel statistics" if kind else ""
            raise ProbeError(f"{assignment}: the reference scores ROC-AUC {auc:.3f}{within} on these probes, below "
                             f"the bar's floor {ref.floor}: this grading data cannot tell a working model from chance")
        bars[f"min_{kind}auc"] = round(max(auc - ref.margin, ref.floor), 4)
    return bars


def request(assignment: str, seed: int) -> dict:
    """What the probe step of ``assignment`` asks of the notebook: role -> arguments (``exchange.probe_step``),
    drawn from the course's secret ``seed`` (a regrade asks the same): ``make_anomalies``' seed, ``edit_latent``'s
    element and factor. Empty when the assignment has no probe step."""
    rng = np.random.default_rng([seed, 8])
    out: dict = {}
    for role in REFERENCES[assignment].calls:
        if role == "anomalies":
            out[role] = {"images": ANOMALY_IMAGES, "seed": int(rng.integers(1, 1 << 20))}
        elif role == "latent":
            out[role] = {"images": LATENT_IMAGES, "index": int(rng.integers(0, LATENT_ELEMENTS)),
                         "factor": float(rng.choice(LATENT_FACTORS))}
        else:
            out[role] = {}
    return out


def prepare(assignment: str, data_dir: str | Path | None, course_dir: str | Path, *, smoke: bool) -> \
        tuple[ProbeSet, dict] | None:
    """The probe set and bars of ``assignment`` on this grading data (the bars with the probe step's ``request``),
    or None when its tests judge no model."""
    if assignment not in REFERENCES:
        return None
    if data_dir is None:
        raise ProbeError(f"{assignment}: its tests judge a model on the grading data; give autograde --data")
    seed = course_seed(course_dir)
    probes = draw(data_dir, seed)
    if REFERENCES[assignment].matched:
        probes = replace(probes, strata=match_strata(probes.images, probes.labels, mean_face(data_dir)))
    bars = bar(assignment, probes, reference_scores(assignment, data_dir, course_dir, smoke=smoke))
    return probes, {**bars, "request": request(assignment, seed)}


def write_for_student(parent: Path, name: str, probes: ProbeSet, req: dict, ids: tuple[int, int] | None) -> int:
    """The probe step's inputs, in a folder ``parent/name`` made now (it must not exist): the images, no labels, in the
    drawn order, and the request; ``out`` inside it (owned by ``ids``, the kernel's uid and gid, when given) for the
    answers. Returns a descriptor of the folder (the caller closes it).

    ``parent`` is the export folder, which the student's kernel can write while this runs: every step goes through
    descriptors and never follows a link, so a folder renamed or replaced by a link meanwhile cannot redirect a
    write or a ``chown`` of this (possibly root) process elsewhere.
    """
    pfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.mkdir(name, 0o755, dir_fd=pfd)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=pfd)
    finally:
        os.close(pfd)
    try:
        os.chmod(fd, 0o755)
        for file, write in ((PROBE_IMAGES, lambda f: np.save(f, probes.images, allow_pickle=False)),
                            (PROBE_REQUEST, lambda f: f.write(json.dumps(req).encode("utf-8")))):
            with os.fdopen(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd),
                           "wb") as f:
                os.fchmod(f.fileno(), 0o644)
                write(f)
        os.mkdir(PROBE_OUT, 0o700, dir_fd=fd)
        if ids is not None:
            os.chown(PROBE_OUT, *ids, dir_fd=fd, follow_symlinks=False)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_for_tests(folder: Path, probes: ProbeSet, meta: dict) -> None:
    """Write the probes and their bar into ``folder`` for the test kernel, replacing whatever is there.

    ``folder`` lies in the export folder the student's kernel could write, so this runs only once that kernel and
    all its processes are gone; a link or file the student left at that name is removed, never followed.
    """
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(mode=0o755)
    strata = {} if probes.strata is None else {"strata": probes.strata}
    np.savez(folder / PROBES_FILE, images=probes.images, labels=probes.labels, rows=probes.rows, **strata)
    (folder / PROBES_META).write_text(json.dumps(meta), encoding="utf-8")
    for p in (folder, folder / PROBES_FILE, folder / PROBES_META):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)     # the test kernel's uid reads them


class _locked:
    """An exclusive lock on ``folder/.lock`` (made 0700): two workers measure a reference or make a seed once."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def __enter__(self):
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
