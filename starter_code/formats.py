"""The kit's formats, defined once: the image arrays, the submission file, the stage names, the course seed and
what "smoke" means. Students' code, the data tools and the grader all read them from here.

No torch (only NumPy and the standard library): the grader and the leaderboard import this module and must start
fast. ``tests/test_layers.py`` checks that importing it loads no torch.

Images
    ``trainingset.npy`` / ``testingset.npy``: uint8 ``(N, 64, 64, 3)`` (height, width, RGB), row i = ID i.
    ``check_images`` checks an array in memory, ``load_images`` reads a file; both raise ``ImageFileError``
    naming the array or the file.

Submission (``prediction.csv``)
    Header ``ID,score``, one row per test image, ``score[i]`` the anomaly score of test image i, **the higher,
    the more anomalous**; what ``DataFrame(scores, columns=['score']).to_csv(path, index_label='ID')`` writes.
    ``parse_submission`` is the one reader. ``strict=True`` (the students' own check of the file they wrote)
    also demands the exact header and IDs in order; ``strict=False`` (the grader) accepts what a helpful TA
    would: header names in any case and order, rows in any order, quoted fields, integral IDs written as
    ``15.0``. Numbers follow one grammar in both modes: ASCII digits ``0-9``, an optional sign, an optional
    decimal point and an optional exponent (``0.25``, ``-3``, ``.5``, ``1.5e-05``); ``1_000``, Arabic-Indic or
    full-width digits are refused, although Python's ``float()`` takes them. Every problem is one
    ``SubmissionError`` with ``line`` (1-based, header = line 1), ``column`` and ``id`` where known.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import KitError

# -- the course -----------------------------------------------------------------------------------------------------
#: The course's seed (its sample code's ``same_seeds(48763)``): the default of every training config in the kit.
COURSE_SEED = 48763
#: The reference stages, easiest first; each is a notebook (``01_simple`` ...), a reference solution
#: (``solutions/<stage>.py``) and a baseline row on the leaderboard.
STAGES: tuple[str, ...] = ("simple", "medium", "strong", "boss")


@dataclass(frozen=True)
class Smoke:
    """What "smoke mode" means everywhere (``HW8_SMOKE=1`` in a notebook, ``--smoke`` in ``python -m kit``, the
    stages' ``smoke=True``): a check that the code runs end to end in seconds, not a result."""
    #: Training images kept (the first ones).
    n_train: int = 512
    #: Test images kept (the first ones); a smoke submission has this many rows and is not for upload.
    n_test: int = 256
    #: Optimiser steps per epoch on the smoke training set: the batch size is ``n_train // steps_per_epoch``
    #: (16), whatever a config's own batch size says (the course's 2,000 would make one step per epoch).
    steps_per_epoch: int = 32
    #: 8 epochs: 256 steps of 16 on the smoke training set, ~110 on the tiny grading preset's 224-256 faces. With
    #: 3 epochs of 32 (21-48 steps) the boss classifier stayed at chance on its own anomalies and the sample VAE
    #: drew one grey face for every input; with 8 of 16 every solved notebook beats 0.6 ROC-AUC on the smoke
    #: preset (``tests/assignments/test_smoke_demonstrates.py``).
    epochs: int = 8

    @property
    def batch_size(self) -> int:
        """Training images per step in smoke mode: a ``steps_per_epoch``-th of ``n_train`` (at least 8)."""
        return max(8, self.n_train // self.steps_per_epoch)

    def training(self) -> dict:
        """``{"epochs": ..., "batch_size": ...}``: the training-length keys every training config shares."""
        return {"epochs": self.epochs, "batch_size": self.batch_size}


#: The one smoke setting.
SMOKE = Smoke()

# -- images ---------------------------------------------------------------------------------------------------------
IMAGE_SHAPE = (64, 64, 3)   # one image as stored: height, width, RGB
MODEL_SHAPE = (3, 64, 64)   # one image as models see it: channels first
TRAIN_FILE = "trainingset.npy"
TEST_FILE = "testingset.npy"


class ImageFileError(KitError, ValueError):
    """An image array (file or in-memory) is not ``(N, 64, 64, 3)`` uint8; the message names the source."""


def check_images(images, name: str = "images", *, min_images: int = 0) -> np.ndarray:
    """Return ``images`` as a uint8 array ``(N, 64, 64, 3)`` or raise ``ImageFileError`` naming ``name``.

    A single image ``(64, 64, 3)`` is not accepted (pass ``images[None]``) because silently adding an axis hides
    indexing mistakes. Torch tensors are accepted and converted (no copy on CPU). ``min_images``: fewer images
    raise (the data tools ask for at least one).
    """
    if type(images).__module__.startswith("torch") and hasattr(images, "detach"):
        images = images.detach().cpu().numpy()  # a torch.Tensor, recognised without importing torch
    if not isinstance(images, np.ndarray):
        raise ImageFileError(f"{name}: expected a numpy array of images, got {type(images).__name__}")
    if images.dtype != np.uint8:
        hint = ""
        if images.dtype.kind == "f":
            hint = (" (float images? the kit keeps raw 0..255 pixels; convert with "
                    "np.clip(x, 0, 255).round().astype(np.uint8), or from [-1, 1] with from_model_output)")
        raise ImageFileError(f"{name}: expected dtype uint8, got {images.dtype}{hint}")
    if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
        hint = ""
        if images.ndim == 4 and images.shape[1:] == MODEL_SHAPE:
            hint = " (channels-first? use images.transpose(0, 2, 3, 1))"
        elif images.shape == IMAGE_SHAPE:
            hint = " (a single image? use images[None])"
        raise ImageFileError(f"{name}: expected shape (N, 64, 64, 3), got {images.shape}{hint}")
    if len(images) < min_images:
        raise ImageFileError(f"{name}: holds {len(images)} images, expected at least {min_images}")
    return images


def load_images(path: str | Path, mmap: bool = False, *, min_images: int = 0) -> np.ndarray:
    """Load ``trainingset.npy`` / ``testingset.npy``: uint8 ``(N, 64, 64, 3)``.

    Plain ``.npy`` files are read without pickle. The course loads its files with ``allow_pickle=True``; if a
    file really holds a pickled object array (e.g. a list of images), it is read that way and stacked, so such
    files still work (only load pickled files you trust). ``mmap=True`` maps a plain file instead of reading it
    (read-only; 100,000 faces are 1.2 GB). Errors (``FileNotFoundError``, ``ImageFileError``) name the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file not found" + (" (it is a directory)" if path.is_dir() else ""))
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:4] == b"PK\x03\x04":
        raise ImageFileError(f"{path}: is an .npz archive (or another zip file); expected a single .npy array "
                             f"saved with np.save")
    if magic != b"\x93NUMPY":
        raise ImageFileError(f"{path}: not a .npy file (it does not start with the NumPy magic bytes)")
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except ValueError as e:
        if "allow_pickle" not in str(e):
            raise ImageFileError(f"{path}: not a readable .npy file: {e}") from e
        try:
            arr = np.load(path, allow_pickle=True)  # an object array: the course's allow_pickle=True case
        except Exception as e2:
            raise ImageFileError(f"{path}: holds a pickled object array that cannot be read: {e2}") from e2
    except (OSError, EOFError) as e:
        raise ImageFileError(f"{path}: not a readable .npy file: {e}") from e
    if arr.dtype == object:
        try:
            arr = np.stack([np.asarray(a) for a in arr.reshape(-1)]) if arr.size else np.empty((0,) + IMAGE_SHAPE,
                                                                                                np.uint8)
        except ValueError as e:
            raise ImageFileError(f"{path}: object array whose items are not equal-shaped images: {e}") from e
    return check_images(arr, name=str(path), min_images=min_images)


# -- the submission file --------------------------------------------------------------------------------------------
#: Header of the submission file, in order.
SUBMISSION_COLUMNS = ("ID", "score")
ID_COLUMN, SCORE_COLUMN = SUBMISSION_COLUMNS
HEADER = ",".join(SUBMISSION_COLUMNS)
#: The file name the course asks for.
SUBMISSION_FILENAME = "prediction.csv"
#: What a number may look like, in words (error messages) and as a pattern (ASCII only: ``[0-9]``, not ``\d``).
NUMBER_GRAMMAR = ("ASCII digits 0-9 with an optional sign, decimal point and exponent "
                  "(e.g. 0.25, -3, 1.5e-05)")
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_NUMBER_RE = re.compile(_NUMBER)
_NUMBERS_RE = re.compile(rf"(?:{_NUMBER}\n)*{_NUMBER}")  # one regex over a whole column, joined by newlines
_INTEGER_RE = re.compile(r"[+-]?[0-9]+")
_INTEGERS_RE = re.compile(r"(?:[+-]?[0-9]+\n)*[+-]?[0-9]+")
#: Spellings of NaN and infinity that ``float()`` reads: numbers, but not finite ones (reported as such).
_NON_FINITE = {s + w for s in ("", "+", "-") for w in ("nan", "inf", "infinity")}
#: At most this many IDs are listed in one message (the count is always given).
_LIST_IDS = 10


class SubmissionError(KitError, ValueError):
    """A submission (scores in memory or a file) cannot be used. Exit code 3 at ``python -m grader``, HTTP 400/422
    in the web app; never stored as scored, never counted against a limit.

    ``message`` is written for a student: it says what is wrong and, where known, where: ``file`` (set by
    readers that know it), ``line`` (1-based, as an editor numbers lines, the header being line 1), ``column``
    (a column name, e.g. ``"score"``) and ``id`` (the row's ID).
    """

    def __init__(self, message: str, *, line: int | None = None, column: str | None = None,
                 id: int | str | None = None, file: str | None = None):
        self.message, self.line, self.column, self.id, self.file = message, line, column, id, file
        super().__init__(message)

    def __str__(self) -> str:
        where = [str(self.file)] if self.file is not None else []
        where += [f"line {self.line}"] if self.line is not None else []
        where += [f"column '{self.column}'"] if self.column is not None else []
        where += [f"ID {self.id}"] if self.id is not None else []
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def to_dict(self) -> dict:
        """JSON-friendly form for the web app's error responses."""
        return {"message": self.message, "line": self.line, "column": self.column, "id": self.id,
                "detail": str(self)}


def decode_submission(data: bytes) -> str:
    """The text of a submission file's bytes: UTF-8, with or without the byte-order mark Excel writes.

    Raises ``SubmissionError`` for an empty file, UTF-16 text or bytes that are not UTF-8 (with the line).
    """
    if not data.strip():
        raise SubmissionError(f"the file is empty; expected the header '{HEADER}' and one row per test image")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SubmissionError("the file is saved as UTF-16 text; save it as 'CSV UTF-8' "
                              "(pandas: df.to_csv('submission.csv', index=False))")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise SubmissionError(f"byte 0x{data[e.start]:02x} is not UTF-8 text; save the file as 'CSV UTF-8'",
                              line=line) from None


def parse_number(text: str) -> float:
    """``text`` (one CSV field) as a float, by the kit's number grammar (``NUMBER_GRAMMAR``); spaces around it are
    allowed. NaN and infinity come back as such (the caller says they are not finite); anything else that is not
    a number raises ``ValueError`` with a message saying why.

    >>> parse_number(" 1.5e-05 "), parse_number("-3"), parse_number(".5")
    (1.5e-05, -3.0, 0.5)
    >>> parse_number("1_000")
    Traceback (most recent call last):
    ...
    ValueError: '1_000' is not a number: no '_' separators; write ASCII digits 0-9 with an optional sign, ...
    """
    s = text.strip()
    if _NUMBER_RE.fullmatch(s) or s.casefold() in _NON_FINITE:
        return float(s)
    raise ValueError(_not_a_number(text))


def _not_a_number(text: str) -> str:
    s = text.strip()
    if not s:
        return "the value is empty"
    what = f"{_show(text)} is not a number"
    if "_" in s and _NUMBER_RE.fullmatch(s.replace("_", "")):
        return f"{what}: no '_' separators; write {NUMBER_GRAMMAR}"
    digits = sorted({unicodedata.name(c, "?").rsplit(" DIGIT", 1)[0].title().replace("Fullwidth", "full-width")
                     for c in s if unicodedata.decimal(c, None) is not None and not "0" <= c <= "9"})
    if digits:
        return f"{what}: it has {' and '.join(digits)} digits; write {NUMBER_GRAMMAR}"
    if s.startswith(("np.", "tensor(", "[")):  # repr() of a numpy scalar (NumPy 2), a torch tensor, a 1-element array
        return f"{what} (write plain numbers: float(x), or df.to_csv('submission.csv', index=False))"
    return f"{what}; write {NUMBER_GRAMMAR}"


def parse_submission(text: str, n_rows: int | None = None, *, strict: bool = False) -> np.ndarray:
    """Scores of a submission's text, ordered by ID: float64 ``(M,)``, ``scores[i]`` the score of test image ``i``.

    ``n_rows``: the number of test images M (IDs exactly 0..M-1, each once); optional with ``strict=True``, where
    the file's own rows set it. ``strict``: the header must be exactly ``ID,score`` and the IDs 0, 1, 2, ... in
    order (what ``write_submission`` writes); otherwise names in any case and order, rows in any order and IDs
    written as integral decimals (``15.0``) are accepted. Raises ``SubmissionError`` on the first problem.

    Rejected in both modes: extra, repeated or missing columns, no header, separators other than the comma,
    numbers outside ``NUMBER_GRAMMAR``, NaN or infinite scores, negative, unknown, duplicate or missing IDs,
    a wrong number of rows.
    """
    if n_rows is None and not strict:
        raise TypeError("parse_submission: n_rows is required unless strict=True")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header, header_line = _first_row(reader)
        id_col, score_col = header_columns(header, header_line)
        if strict and tuple(h.strip() for h in header) != SUBMISSION_COLUMNS:
            raise SubmissionError(f"the header must be exactly '{HEADER}', found {_show(','.join(header))}",
                                  line=header_line)
        width = len(header)
        lines, ids_text, scores_text = [], [], []
        for row in reader:
            if len(row) == width:
                lines.append(reader.line_num)
                ids_text.append(row[id_col])
                scores_text.append(row[score_col])
            elif not "".join(row).strip():
                continue  # blank line
            else:
                raise SubmissionError(
                    f"expected {width} values ({HEADER}), found {len(row)}: {_show(','.join(row))}"
                    + (" (a trailing comma?)" if len(row) == width + 1 and not row[-1].strip() else ""),
                    line=reader.line_num)
    except csv.Error as e:
        hint = " (an unclosed double quote?)" if "quote" in str(e) or "end of data" in str(e) else ""
        raise SubmissionError(f"cannot read the CSV here: {e}{hint}", line=reader.line_num) from None
    ids = _parse_ids(ids_text, lines, strict, n_rows)
    scores = _parse_scores(scores_text, lines, ids)
    if strict:
        wrong = np.flatnonzero(ids != np.arange(len(ids)))
        if len(wrong):
            i = int(wrong[0])
            raise SubmissionError(f"IDs must be 0, 1, 2, ... in order; expected {i}, found {ids[i]}",
                                  line=lines[i], column=ID_COLUMN, id=int(ids[i]))
    return _by_id(ids, scores, lines, n_rows)


def _first_row(reader) -> tuple[list[str], int]:
    for row in reader:
        if "".join(row).strip():
            return row, reader.line_num
    raise SubmissionError(f"the file is empty; expected the header '{HEADER}' and one row per test image")


def header_columns(header: list[str], line: int = 1) -> tuple[int, int]:
    """Column indices ``(id, score)`` in a submission's header fields (read on ``line``), or ``SubmissionError``.
    Names are compared after stripping spaces, ignoring letter case."""
    names = [h.strip() for h in header]
    raw = ",".join(header)
    if len(header) == 1:
        for sep, what in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
            if sep in raw:
                raise SubmissionError(f"columns are separated by {what}; use commas: '{HEADER}' "
                                      "(pandas: df.to_csv('submission.csv', index=False))", line=line)
    if all(_is_number(n) for n in names if n):
        raise SubmissionError(f"the first line must be the header '{HEADER}', found {_show(raw)} "
                              "(the data has no header line?)", line=line)
    folded = [n.casefold() for n in names]
    for i, n in enumerate(folded):
        if n and n in folded[:i]:
            raise SubmissionError(f"column '{names[i]}' appears twice in the header {_show(raw)}; "
                                  f"expected '{HEADER}'", line=line)
    want = {ID_COLUMN.casefold(): ID_COLUMN, SCORE_COLUMN.casefold(): SCORE_COLUMN}
    missing = [want[w] for w in want if w not in folded]
    if len(missing) == 2:
        raise SubmissionError(f"wrong header: expected '{HEADER}', found {_show(raw)}", line=line)
    if missing:
        raise SubmissionError(f"no '{missing[0]}' column; the header must be '{HEADER}', found {_show(raw)}",
                              line=line, column=missing[0])
    extra = [n for n in names if n.casefold() not in want]
    if extra:
        shown = ", ".join(f"'{n}'" if n else "an unnamed column" for n in extra)
        hint = ""
        if names[0] == "" or names[0].casefold() in ("unnamed: 0", "index"):
            hint = " (the first, unnamed column is the DataFrame index: use df.to_csv(path, index=False))"
        elif any(n == "" for n in extra):
            hint = " (a trailing comma?)"
        raise SubmissionError(f"extra column(s) {shown}: the file must have exactly the columns '{HEADER}'"
                              f"{hint}", line=line, column=extra[0] or None)
    return folded.index(ID_COLUMN.casefold()), folded.index(SCORE_COLUMN.casefold())


def _all_match(pattern: re.Pattern, fields: list[str]) -> bool:
    """Whether every field matches ``pattern`` (a column of 20,000 checked by one regex call, not a loop)."""
    joined = "\n".join(fields)
    return bool(fields) and joined.count("\n") == len(fields) - 1 and bool(pattern.fullmatch(joined))


def _parse_ids(ids_text: list[str], lines: list[int], strict: bool, n_rows: int | None) -> np.ndarray:
    """(k,) int64 IDs: integers, or (not strict) integral decimals such as ``15.0``."""
    stripped = [t.strip() for t in ids_text]
    if not stripped or _all_match(_INTEGERS_RE, stripped):
        values = [int(s) for s in stripped]
    else:
        values = []
        for i, (t, s) in enumerate(zip(ids_text, stripped)):
            if _INTEGER_RE.fullmatch(s):
                values.append(int(s))
                continue
            if not s:
                raise SubmissionError("the ID is empty", line=lines[i], column=ID_COLUMN)
            try:
                f = parse_number(s)
            except ValueError:
                raise SubmissionError(f"{_show(t)} is not a whole number (IDs are 0, 1, 2, ... written with "
                                      "ASCII digits 0-9)", line=lines[i], column=ID_COLUMN) from None
            if strict or f != f or f in (float("inf"), float("-inf")) or f != int(f):
                raise SubmissionError(f"{_show(t)} is not a whole number (IDs are 0, 1, 2, ...)",
                                      line=lines[i], column=ID_COLUMN)
            values.append(int(f))
    for i, v in enumerate(values):
        if not -2**63 <= v < 2**63:  # far outside any test set; int64 cannot hold it
            known = f" (IDs go from 0 to {n_rows - 1})" if n_rows else ""
            raise SubmissionError(f"{_show(ids_text[i])} is not a test image ID{known}", line=lines[i],
                                  column=ID_COLUMN)
    return np.array(values, dtype=np.int64)


def _parse_scores(scores_text: list[str], lines: list[int], ids: np.ndarray) -> np.ndarray:
    """(k,) float64 scores; text outside the grammar, NaN and inf are rejected with the row's line and ID."""
    stripped = [t.strip() for t in scores_text]
    if _all_match(_NUMBERS_RE, stripped):
        scores = np.array([float(s) for s in stripped], dtype=np.float64)  # the common case: one regex, no loop
    else:
        values = []
        for i, t in enumerate(scores_text):
            try:
                values.append(parse_number(t))
            except ValueError as e:
                message = "the score is empty" if not t.strip() else str(e)
                raise SubmissionError(message, line=lines[i], column=SCORE_COLUMN, id=int(ids[i])) from None
        scores = np.array(values, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(scores))
    if len(bad):
        i = int(bad[0])
        raise SubmissionError(f"{_show(scores_text[i])} is not a finite number "
                              f"({len(bad)} row(s) have NaN or inf scores; every image needs a real score)",
                              line=lines[i], column=SCORE_COLUMN, id=int(ids[i]))
    return scores


def _by_id(ids: np.ndarray, scores: np.ndarray, lines: list[int], n_rows: int | None) -> np.ndarray:
    k = len(ids)
    if k == 0:
        raise SubmissionError("the file has a header but no data rows"
                              + (f"; expected {n_rows} rows, IDs 0..{n_rows - 1}" if n_rows else ""))
    n_rows = k if n_rows is None else n_rows
    out_of_range = np.flatnonzero((ids < 0) | (ids >= n_rows))
    if len(out_of_range):
        i = int(out_of_range[0])
        hint = ""
        if ids.min() == 1 and ids.max() == n_rows:
            hint = "; your IDs seem to start at 1, they must start at 0 (the row index in testingset.npy)"
        raise SubmissionError(f"{ids[i]} is not a test image ID (IDs go from 0 to {n_rows - 1}){hint}",
                              line=lines[i], column=ID_COLUMN, id=int(ids[i]))
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if len(dup):
        first, second = int(order[dup[0]]), int(order[dup[0] + 1])
        n_dup = len(np.unique(sorted_ids[dup]))
        raise SubmissionError(f"ID {ids[second]} appears more than once (lines {lines[first]} and {lines[second]}); "
                              f"{n_dup} ID(s) are repeated, each must appear exactly once",
                              line=lines[second], column=ID_COLUMN, id=int(ids[second]))
    if k != n_rows:
        present = np.zeros(n_rows, dtype=bool)
        present[ids] = True
        missing = np.flatnonzero(~present)
        listed = ", ".join(str(m) for m in missing[:_LIST_IDS]) + (", ..." if len(missing) > _LIST_IDS else "")
        smoke = (f"; {k} rows is what a notebook writes in smoke mode (HW8_SMOKE=1, prediction_smoke.csv): for a "
                 f"submission, run it without smoke mode and upload prediction.csv"
                 if k == SMOKE.n_test < n_rows else "")
        raise SubmissionError(f"found {k} data rows, expected {n_rows} (one per test image, IDs 0..{n_rows - 1}); "
                              f"{len(missing)} ID(s) missing: {listed}{smoke}", id=int(missing[0]))
    out = np.empty(n_rows, dtype=np.float64)
    out[ids] = scores
    return out


def _is_number(s: str) -> bool:
    try:
        parse_number(s)
        return True
    except ValueError:
        return False


def _show(text: str, limit: int = 40) -> str:
    """Quote a piece of the student's file for a message, shortened and with control characters made visible."""
    text = text if len(text) <= limit else text[:limit - 3] + "..."
    return repr(text) if any(not c.isprintable() for c in text) else f"'{text}'"


__all__ = ["COURSE_SEED", "STAGES", "Smoke", "SMOKE", "IMAGE_SHAPE", "MODEL_SHAPE", "TRAIN_FILE", "TEST_FILE",
           "ImageFileError", "check_images", "load_images", "SUBMISSION_COLUMNS", "ID_COLUMN", "SCORE_COLUMN",
           "HEADER", "SUBMISSION_FILENAME", "NUMBER_GRAMMAR", "SubmissionError", "decode_submission",
           "header_columns", "parse_number", "parse_submission"]
