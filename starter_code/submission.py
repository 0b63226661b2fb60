"""The course's submission file, ``prediction.csv``: header ``ID,score``, one row per test image, IDs 0..M-1.

This is exactly what the course's code writes with ``DataFrame(scores, columns=['score']).to_csv(path,
index_label='ID')``. No torch here: the grader imports ``SUBMISSION_COLUMNS`` and must start fast.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd

#: Header of the submission file, in order.
SUBMISSION_COLUMNS = ("ID", "score")
#: The file name the course asks for.
SUBMISSION_FILENAME = "prediction.csv"


class SubmissionFormatError(ValueError):
    """A submission (scores in memory or a file) is not in the course's format.

    ``line`` is 1-based as an editor counts (the header is line 1, ID i is on line i + 2), ``column`` a column
    name and ``id`` the row's ID, each ``None`` where not applicable.
    """

    def __init__(self, message: str, *, line: int | None = None, column: str | None = None, id: int | None = None):
        self.message, self.line, self.column, self.id = message, line, column, id
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line is not None else []
        where += [f"column '{self.column}'"] if self.column is not None else []
        where += [f"ID {self.id}"] if self.id is not None else []
        return f"{', '.join(where)}: {self.message}" if where else self.message


def _check_scores(scores, expected_rows: int | None) -> np.ndarray:
    try:
        arr = np.asarray(scores)
    except Exception as e:  # ragged lists and the like
        raise SubmissionFormatError(f"scores cannot be read as an array: {e}") from e
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]  # the course's code keeps scores as an (M, 1) column; accept that shape
    if arr.ndim != 1:
        raise SubmissionFormatError(f"scores must be 1-D (one score per test image), got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise SubmissionFormatError(f"scores must be numbers, got dtype {arr.dtype}")
    if len(arr) == 0:
        raise SubmissionFormatError("scores are empty")
    if expected_rows is not None and len(arr) != expected_rows:
        raise SubmissionFormatError(f"expected {expected_rows} scores (one per test image), got {len(arr)}")
    if arr.dtype != np.float32:  # float32 is kept so the file matches the course's (its scores are float32)
        arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if len(bad):
        shown = ", ".join(str(i) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise SubmissionFormatError(f"{len(bad)} score(s) are not finite (NaN or infinite) at ID(s) {shown}",
                                    column="score", id=int(bad[0]))
    return arr


def write_submission(scores, path: str | Path = SUBMISSION_FILENAME, expected_rows: int | None = None) -> Path:
    """Write ``scores`` (``(M,)``, or the course's ``(M, 1)``; finite numbers; higher = more anomalous) to ``path``.

    Row i gets ID i, so ``scores`` must be in test-set order. ``expected_rows`` (e.g. ``len(test_images)``)
    adds a length check. Parent folders are created. Raises ``SubmissionFormatError`` before writing anything if
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

    Checks what the grader checks: header ``ID,score``, IDs 0..M-1 in order, finite numeric scores, and the row
    count if ``expected_rows`` is given. Raises ``FileNotFoundError`` or ``SubmissionFormatError`` (with line,
    column and ID) on the first problem. Accepts a UTF-8 BOM and ``\\r\\n`` line endings.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: submission file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise SubmissionFormatError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if header is None:
        raise SubmissionFormatError(f"{path}: file is empty; expected header {','.join(SUBMISSION_COLUMNS)}",
                                    line=1)
    if tuple(h.strip() for h in header) != SUBMISSION_COLUMNS:
        raise SubmissionFormatError(f"{path}: header must be {','.join(SUBMISSION_COLUMNS)}, got {','.join(header)}",
                                    line=1)
    scores: list[float] = []
    for line_no, row in enumerate(rows, start=2):
        if not row or all(not c.strip() for c in row):
            continue  # blank (e.g. trailing) lines carry nothing
        expected_id = len(scores)
        if len(row) != 2:
            raise SubmissionFormatError(f"{path}: expected 2 fields (ID,score), got {len(row)}", line=line_no)
        try:
            row_id = int(row[0].strip())
        except ValueError:
            raise SubmissionFormatError(f"{path}: ID {row[0]!r} is not an integer", line=line_no,
                                        column="ID") from None
        if row_id != expected_id:
            raise SubmissionFormatError(f"{path}: IDs must be 0..M-1 in order; expected {expected_id}, got {row_id}",
                                        line=line_no, column="ID", id=row_id)
        try:
            value = float(row[1].strip())
        except ValueError:
            raise SubmissionFormatError(f"{path}: score {row[1]!r} is not a number", line=line_no, column="score",
                                        id=row_id) from None
        if not math.isfinite(value):
            raise SubmissionFormatError(f"{path}: score {row[1]!r} is not finite", line=line_no, column="score",
                                        id=row_id)
        scores.append(value)
    if not scores:
        raise SubmissionFormatError(f"{path}: no rows after the header")
    if expected_rows is not None and len(scores) != expected_rows:
        raise SubmissionFormatError(f"{path}: expected {expected_rows} rows (one per test image), got {len(scores)}")
    return np.asarray(scores, dtype=np.float64)
