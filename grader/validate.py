"""The grader's side of reading a submission: the byte cap, refusing binary files, and a fast path.

What a submission is, and every rule for reading one (header, IDs, the number grammar, the messages with line,
column and ID), is defined once in ``starter_code.formats`` (``parse_submission``); the students' own check uses
the same rules, stricter about header and row order. This module adds what only a server needs:

- a size cap (``max_bytes``), checked before anything is read into memory;
- a clear message for binary files a student may upload by mistake (.npy, .xlsx, .zip, PDF, images, pickles);
- a fast path through pandas' C parser for plain files (most uploads), which returns only when the file is valid
  and holds nothing the two readers could read differently; otherwise ``parse_submission`` decides and names
  the line (``tests/grader/test_validate.py`` checks that both give the same result on generated files).

Accepted, as a helpful TA would (nothing here changes a score): a UTF-8 byte-order mark, CRLF or CR line ends,
fields in double quotes, spaces around fields, blank lines, a missing final newline, header names in any letter
case and order, integral IDs written as ``15.0``, rows in any order.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from starter_code.formats import (HEADER, ID_COLUMN, SCORE_COLUMN, SubmissionError, decode_submission,
                                  header_columns, parse_submission)

__all__ = ["HEADER", "ID_COLUMN", "SCORE_COLUMN", "MAX_SUBMISSION_BYTES", "SubmissionError", "read_submission"]

#: Default size cap. A 20,000-row submission written by pandas at full float64 precision is ~0.5 MB; 8 MiB matches
#: ``CompetitionConfig.max_upload_bytes`` and leaves room for any sane formatting while bounding server memory.
MAX_SUBMISSION_BYTES = 8 * 1024 * 1024

_BINARY_SIGNATURES = (
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx spreadsheet or a .zip)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls file"),
    (b"%PDF", "a PDF"),
    (b"\x89PNG", "a PNG image"),
    (b"\x80", "a Python pickle"),
)


def read_submission(source, n_rows: int, *, max_bytes: int = MAX_SUBMISSION_BYTES, fast: bool = True) -> np.ndarray:
    """Validate a submission and return its scores ordered by ID.

    Args:
        source: a path (``str`` / ``os.PathLike``) or the file's content as ``bytes``.
        n_rows: the number of test images M; IDs must be exactly 0..M-1, each once.
        max_bytes: files larger than this are rejected before being read.
        fast: try pandas' C parser first (same result, ~5x faster on plain files); ``False`` reads every file
            with ``starter_code.formats.parse_submission`` alone (benchmarks, tests).

    Returns:
        (M,) float64, ``scores[i]`` = the score of test image ``i``.

    Raises:
        SubmissionError: with ``line``, ``column`` and ``id`` filled where known.
    """
    data = _read_bytes(source, max_bytes)
    _refuse_binary(data)
    text = decode_submission(data)
    scores = _parse_fast(text, n_rows) if fast else None
    return scores if scores is not None else parse_submission(text, n_rows)


def _read_bytes(source, max_bytes: int) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise SubmissionError(_too_big(len(data), max_bytes))
        return data
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a path or bytes, got {type(source).__name__}")
    path = Path(source)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise SubmissionError(_too_big(size, max_bytes))
            data = f.read(max_bytes + 1)  # a file that grows while read is still capped
    except FileNotFoundError:
        raise SubmissionError(f"submission file not found: {path}") from None
    except IsADirectoryError:
        raise SubmissionError(f"{path} is a folder, not a CSV file") from None
    except PermissionError:
        raise SubmissionError(f"cannot open {path}: permission denied") from None
    if len(data) > max_bytes:
        raise SubmissionError(_too_big(len(data), max_bytes))
    return data


def _too_big(size: int, max_bytes: int) -> str:
    return (f"the file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit; a submission needs only "
            f"'{HEADER}' and one short row per test image (about 0.5 MB for 20,000 images)")


def _refuse_binary(data: bytes) -> None:
    for magic, what in _BINARY_SIGNATURES:
        if data.startswith(magic):
            raise SubmissionError(f"this is {what}, not a CSV text file; write the submission with "
                                  "df.to_csv('submission.csv', index=False)")
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16: its own message
        raise SubmissionError("this looks like a binary file, not a CSV text file; write the submission with "
                              "df.to_csv('submission.csv', index=False)")


#: Bytes a plain numeric body may hold for the fast path (no letters, quotes or tabs: those take the careful path).
_FAST_BODY_BYTES = b"0123456789.,-+eE \r\n"


def _parse_fast(text: str, n_rows: int) -> np.ndarray | None:
    """Scores of a valid, plain submission through pandas' C parser, or ``None`` to take the careful path.

    Several times faster than the csv module on 20,000 rows (``benchmarks/score_speed.py`` measures both).
    It returns a result only when every check passes and the body holds nothing the two paths could read
    differently (``parse_submission`` is the definition; tests compare both). Any doubt: ``None``, and
    ``parse_submission`` finds the problem and names its line.
    """
    header_text, newline, body = text.partition("\n")
    if not newline or not header_text.strip():
        return None
    body_bytes = body.encode("ascii", errors="replace")  # pure ASCII is the only case that can stay fast
    if body_bytes.translate(None, _FAST_BODY_BYTES) or not body.strip():
        return None
    try:
        header = next(csv.reader([header_text.rstrip("\r")], strict=True))
    except csv.Error:
        return None
    id_col, score_col = header_columns(header, 1)  # header problems raise parse_submission's error
    import pandas as pd  # pandas is loaded with the answer key anyway; imported here to keep validate light
    try:
        table = pd.read_csv(io.StringIO(body), header=None, sep=",", dtype=np.float64, na_filter=False,
                            engine="c", skip_blank_lines=True).to_numpy()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    if table.shape != (n_rows, len(header)) or not np.isfinite(table).all():
        return None
    ids_f, scores = table[:, id_col], table[:, score_col]
    if ids_f.min() < 0 or ids_f.max() >= n_rows:
        return None
    ids = ids_f.astype(np.int64)
    if (ids != ids_f).any():
        return None
    present = np.zeros(n_rows, dtype=bool)
    present[ids] = True
    if not present.all():  # n_rows IDs in range, all present: no duplicates
        return None
    out = np.empty(n_rows, dtype=np.float64)
    out[ids] = scores
    return out
