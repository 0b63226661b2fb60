"""Writing the course's submission file, ``prediction.csv``, and checking it the way the grader reads it.

``write_submission`` writes exactly what the course's code writes with ``DataFrame(scores, columns=['score'])
.to_csv(path, index_label='ID')``; ``read_submission_scores`` reads it back with the grader's rules
(``starter_code.formats.parse_submission``), strict about the header and the ID order. No torch here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from starter_code.formats import (SUBMISSION_COLUMNS, SUBMISSION_FILENAME, SubmissionError, decode_submission,
                                  parse_submission)

__all__ = ["SUBMISSION_COLUMNS", "SUBMISSION_FILENAME", "SubmissionError", "write_submission",
           "read_submission_scores"]


def _check_scores(scores, expected_rows: int | None) -> np.ndarray:
    try:
        arr = np.asarray(scores)
    except Exception as e:  # ragged lists and the like
        raise SubmissionError(f"scores cannot be read as an array: {e}") from e
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]  # the course's code keeps scores as an (M, 1) column; accept that shape
    if arr.ndim != 1:
        raise SubmissionError(f"scores must be 1-D (one score per test image), got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise SubmissionError(f"scores must be numbers, got dtype {arr.dtype}")
    if len(arr) == 0:
        raise SubmissionError("scores are empty")
    if expected_rows is not None and len(arr) != expected_rows:
        raise SubmissionError(f"expected {expected_rows} scores (one per test image), got {len(arr)}")
    if arr.dtype != np.float32:  # float32 is kept so the file matches the course's (its scores are float32)
        arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if len(bad):
        shown = ", ".join(str(i) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise SubmissionError(f"{len(bad)} score(s) are not finite (NaN or infinite) at ID(s) {shown}",
                                    column="score", id=int(bad[0]))
    return arr


def write_submission(scores, path: str | Path = SUBMISSION_FILENAME, expected_rows: int | None = None) -> Path:
    """Write ``scores`` (``(M,)``, or the course's ``(M, 1)``; finite numbers; higher = more anomalous) to ``path``.

    Row i gets ID i, so ``scores`` must be in test-set order. ``expected_rows`` (e.g. ``len(test_images)``)
    adds a length check. Parent folders are created. Raises ``SubmissionError`` before writing anything if
    the scores are unusable. Returns the path written. Line endings are ``\\n`` on every platform.
    """
    arr = _check_scores(scores, expected_rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(arr, columns=[SUBMISSION_COLUMNS[1]]).to_csv(path, index_label=SUBMISSION_COLUMNS[0],
                                                              lineterminator="\n")
    return path


def read_submission_scores(path: str | Path, expected_rows: int | None = None) -> np.ndarray:
    """Read a submission back: float64 ``(M,)`` with ``scores[i]`` the score of ID i.

    The grader's rules (``starter_code.formats``: finite numbers in ASCII digits, every ID once), and stricter:
    header exactly ``ID,score`` and IDs 0..M-1 in order, as ``write_submission`` writes them; the row count
    must be ``expected_rows`` if given. Raises ``FileNotFoundError`` or ``SubmissionError`` (with line, column
    and ID) on the first problem. Accepts a UTF-8 BOM and ``\\r\\n`` line endings.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: submission file not found")
    try:
        return parse_submission(decode_submission(path.read_bytes()), expected_rows, strict=True)
    except SubmissionError as e:
        e.file = str(path)
        raise
