"""What a homework notebook needs from its surroundings: where the data is, smoke mode, where to write.

Every notebook's first cell does

    env = NotebookEnv.from_environ()      # reads the HW8_* environment variables below
    train, test = env.load_train(), env.load_test()

Environment variables (all optional; any other ``HW8_*`` name raises, so a typo is not silently ignored):

============== ==========================================================================================
HW8_DATA_DIR   folder holding ``trainingset.npy`` and ``testingset.npy``; default: the first of ``./data``,
               ``../data``, ``../../data``, ``../../../data`` (seen from the notebook's folder; the last is the
               kit's root from ``assignments/release/<assignment>/``) that holds ``trainingset.npy``
HW8_SMOKE      ``1``/``true``/``yes``/``on``: smoke mode (``starter_code.formats.SMOKE``: a few hundred images,
               a few short epochs, small models), to check that a notebook runs end to end in seconds;
               ``0``/``false``/``no``/``off``/empty: a real run
HW8_OUTPUT_DIR where ``prediction.csv`` and the figures go; default: the current folder (the notebook's)
============== ==========================================================================================

Smoke-mode submissions cover only the first ``SMOKE.n_test`` test images and are written as ``prediction_smoke.csv``
(``env.path``: every output gets ``_smoke`` in smoke mode, so a real run's files are never overwritten): they are
for checking, not for upload (the grader rejects them for their row count, with a message that names smoke mode).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from common.config import Config
from common.errors import KitError
from starter_code.config import TrainConfig
from starter_code.formats import COURSE_SEED, SMOKE, TEST_FILE, TRAIN_FILE, Smoke, load_images
#: Where ``from_environ`` looks for the data when ``HW8_DATA_DIR`` is not set, relative to the working directory.
DEFAULT_DATA_DIRS = ("data", "../data", "../../data", "../../../data")
#: The environment variables ``from_environ`` reads; any other ``HW8_*`` variable is reported as unknown.
ENV_VARS = ("HW8_DATA_DIR", "HW8_SMOKE", "HW8_OUTPUT_DIR")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


class NotebookSetupError(KitError, ValueError):
    """The notebook's surroundings are wrong (bad environment variable, data not found); the message says which."""


@dataclass(frozen=True)
class NotebookEnv(Config):
    """Where the notebook's data and outputs are, smoke mode and the seed (``from_environ`` reads them)."""
    data_dir: Path = field(default=Path(DEFAULT_DATA_DIRS[0]), metadata={
        "help": "Folder holding trainingset.npy and testingset.npy (HW8_DATA_DIR)."})
    smoke: bool = field(default=False, metadata={
        "help": "Smoke mode (HW8_SMOKE): few images, short training; checks that the notebook runs."})
    output_dir: Path = field(default=Path("."), metadata={
        "help": "Where prediction.csv and figures are written (HW8_OUTPUT_DIR)."})
    seed: int = field(default=COURSE_SEED, metadata={"help": "Seed for the notebook's first cell."})
    smoke_sizes: Smoke = field(default=SMOKE, metadata={
        "help": "What smoke mode keeps: images, epochs, batch size (starter_code.formats.SMOKE)."})

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, cwd: str | Path | None = None,
                     **overrides) -> "NotebookEnv":
        """Read ``HW8_DATA_DIR``, ``HW8_SMOKE`` and ``HW8_OUTPUT_DIR`` from ``environ`` (default ``os.environ``).

        ``cwd`` (default: the working directory) anchors the relative default data folders. ``overrides`` set
        fields directly (e.g. ``seed=0``); unknown field names raise ``ConfigKeyError``. Raises
        ``NotebookSetupError`` for an unknown ``HW8_*`` variable, an unreadable ``HW8_SMOKE`` or a data folder
        that does not exist.
        """
        env = os.environ if environ is None else environ
        unknown = sorted(k for k in env if k.startswith("HW8_") and k not in ENV_VARS)
        if unknown:
            raise NotebookSetupError(f"unknown environment variable(s) {', '.join(unknown)}; "
                                     f"known: {', '.join(ENV_VARS)}")
        base = Path(cwd) if cwd is not None else Path.cwd()
        smoke_text = env.get("HW8_SMOKE", "").strip().lower()
        if smoke_text not in _TRUE + _FALSE:
            raise NotebookSetupError(f"HW8_SMOKE={env['HW8_SMOKE']!r}: use one of "
                                     f"{', '.join(repr(v) for v in _TRUE + _FALSE if v)} (or leave it empty)")
        if env.get("HW8_DATA_DIR"):
            data_dir = base / Path(env["HW8_DATA_DIR"]).expanduser()
            if not data_dir.is_dir():
                raise NotebookSetupError(f"HW8_DATA_DIR={env['HW8_DATA_DIR']!r}: folder {data_dir} does not exist")
        else:
            data_dir = _find_data_dir(base)
        output_dir = base / Path(env.get("HW8_OUTPUT_DIR") or ".").expanduser()
        return cls.from_dict({"data_dir": data_dir, "smoke": smoke_text in _TRUE, "output_dir": output_dir,
                              **overrides})

    # -- data ---------------------------------------------------------------------------------------------------
    @property
    def train_path(self) -> Path:
        return Path(self.data_dir) / TRAIN_FILE

    @property
    def test_path(self) -> Path:
        return Path(self.data_dir) / TEST_FILE

    def load_train(self) -> np.ndarray:
        """uint8 ``(N, 64, 64, 3)`` training faces (the first ``smoke_sizes.n_train`` in smoke mode)."""
        return self._load(self.train_path, self.smoke_sizes.n_train)

    def load_test(self) -> np.ndarray:
        """uint8 ``(M, 64, 64, 3)`` test images, row i = ID i (the first ``smoke_sizes.n_test`` in smoke mode)."""
        return self._load(self.test_path, self.smoke_sizes.n_test)

    def _load(self, path: Path, smoke_rows: int) -> np.ndarray:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found; put the course's .npy files in {Path(self.data_dir)} "
                                    f"or set HW8_DATA_DIR to the folder that holds them")
        images = load_images(path)
        # A copy, so that later in-place edits in a notebook cannot reach a memory-mapped or shared array.
        return np.array(images[:smoke_rows]) if self.smoke else images

    # -- config and outputs ---------------------------------------------------------------------------------------
    def train_config(self, cfg: TrainConfig | None = None, **changes) -> TrainConfig:
        """``cfg`` (default ``TrainConfig(seed=self.seed)``) with ``changes``; in smoke mode the training length
        is then ``smoke_training()``'s, whatever ``changes`` said. Unknown keys raise ``ConfigKeyError``."""
        base = cfg if cfg is not None else TrainConfig(seed=self.seed)
        return base.replace(**{**changes, **self.smoke_training()})

    def smoke_training(self) -> dict:
        """``{"epochs": ..., "batch_size": ...}`` of smoke mode (``smoke_sizes``), ``{}`` in a real run."""
        return self.smoke_sizes.training() if self.smoke else {}

    def path(self, name: str) -> Path:
        """``output_dir / name``, with ``output_dir`` created if needed (for ``prediction.csv`` and figures). In
        smoke mode ``_smoke`` goes before the suffix (``prediction_smoke.csv``), so that a smoke run never
        overwrites a real run's submission or figures."""
        out = Path(self.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        if self.smoke:
            name = f"{Path(name).stem}_smoke{Path(name).suffix}"
        return out / name

    def smoke_rows(self) -> tuple[int | None, int | None]:
        """(train, test) images smoke mode uses: ``smoke_sizes``' numbers, or fewer when a file holds fewer
        (the tiny data has 256 / 128); None for a file that cannot be read (``load_*`` will say why)."""
        return (_rows_used(self.train_path, self.smoke_sizes.n_train),
                _rows_used(self.test_path, self.smoke_sizes.n_test))

    def __str__(self) -> str:
        if self.smoke:
            n_train, n_test = self.smoke_rows()
            shown = [f"first {n}" if n is not None else f"up to {limit}"
                     for n, limit in ((n_train, self.smoke_sizes.n_train), (n_test, self.smoke_sizes.n_test))]
            mode = f"SMOKE mode ({shown[0]} train / {shown[1]} test images; not for upload)"
        else:
            mode = "full run"
        return f"data: {Path(self.data_dir)} | outputs: {Path(self.output_dir)} | seed {self.seed} | {mode}"


def _rows_used(path: Path, limit: int) -> int | None:
    """``min(rows in the .npy file, limit)`` from the file's header alone (nothing loaded); None if unreadable."""
    try:
        with open(path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if major == 1
                           else np.lib.format.read_array_header_2_0)
            shape = read_header(f)[0]
    except (OSError, ValueError):
        return None
    return min(int(shape[0]), limit) if shape else None


#: The functions a notebook defines for the autograder's **probe step**, by role. After the notebook's last cell the
#: autograder writes grading images of its own (no labels, in a secret order) where the notebook's kernel can read
#: them and calls these functions on them, by these names, in that kernel (``grader/autograde/exchange.py``,
#: ``probe_step``); only the numbers they return reach the tests, which judge them against labels the notebook never
#: sees. Every notebook states the ones it needs:
#:
#: - ``score``: ``score_images(images)``: uint8 ``(P, 64, 64, 3)`` -> ``(P,)`` finite floats, higher = more
#:   anomalous: the notebook's whole scoring pipeline (02, 03, 04);
#: - ``encoders``: ``encoder_codes(images)``: -> one array per encoder of the model, each ``(P, ...)`` (03);
#: - ``ae_score`` / ``clf_score``: ``ae_scores(images)`` / ``clf_scores(images)``: -> ``(P,)``, the two parts of
#:   04's score (the autoencoder's, the classifier's);
#: - ``anomalies``: ``make_anomalies(faces, seed)``: uint8 ``(n, 64, 64, 3)`` -> the same shape, corrupted (04);
#: - ``latent``: ``edit_latent(images, index, factor)``: uint8 ``(n, 64, 64, 3)`` -> the same shape: the model's
#:   decoding of the images' codes with element ``index`` of every code multiplied by ``factor`` (05).
SCORE_FUNCTION = "score_images"
PROBE_FUNCTIONS = {"score": SCORE_FUNCTION, "encoders": "encoder_codes", "ae_score": "ae_scores",
                   "clf_score": "clf_scores", "anomalies": "make_anomalies", "latent": "edit_latent"}
#: ``edit_latent``'s ``index`` is below this (the sample fcn's code has 3 elements).
LATENT_ELEMENTS = 3


def _find_data_dir(base: Path) -> Path:
    for rel in DEFAULT_DATA_DIRS:
        candidate = base / rel
        if (candidate / TRAIN_FILE).is_file():
            return candidate.resolve()
    tried = ", ".join(str((base / rel).resolve()) for rel in DEFAULT_DATA_DIRS)
    raise NotebookSetupError(f"{TRAIN_FILE} not found in any of {tried}; set HW8_DATA_DIR to the folder that holds "
                             f"{TRAIN_FILE} and {TEST_FILE}")


__all__ = ["NotebookEnv", "NotebookSetupError", "ENV_VARS",
           "DEFAULT_DATA_DIRS", "SCORE_FUNCTION", "PROBE_FUNCTIONS", "LATENT_ELEMENTS"]
