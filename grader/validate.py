"""Read and validate a student's submission CSV: ``ID,score``, one row per test image, the higher the more abnormal.

Every problem raises ``grader.errors.SubmissionError`` with a message a student can act on, naming the line
(1-based, header = line 1), the column and the ID where known, e.g.
``line 17, column 'score', ID 15: 'abc' is not a number``.

What is accepted, like a helpful TA would (nothing here changes a score):

- a UTF-8 byte-order mark (Excel writes one), CRLF or CR line ends, fields in double quotes, spaces around fields,
  blank lines (skipped), a missing final newline;
- header names in any letter case (``id,Score``) and in either order (``score,ID``): the names are unambiguous;
- scores as integers, decimals, scientific notation (``1.5e-05``), float32 text as pandas writes it;
  IDs as integers or integral decimals (``15.0``, which pandas writes when an ID column became float);
- rows in any order (the grader sorts by ID).

What is rejected, because a guess could score the wrong thing:

- extra columns (named in the message; an unnamed first column is the DataFrame index: ``to_csv(index=False)``),
  a repeated column, a missing ``ID`` or ``score`` column, no header at all;
- separators other than the comma (``;`` from European Excel, tabs);
- NaN, inf or empty scores; non-integral, negative, unknown, duplicate or missing IDs; a wrong number of rows;
- text that is not UTF-8 (UTF-16, Latin-1 accents), binary files (.npy, .xlsx, .zip), files over ``max_bytes``.
"""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np

from grader.errors import SubmissionError
from starter_code.submission import SUBMISSION_COLUMNS

#: The submission's columns, defined once where students write them (``starter_code.submission``).
ID_COLUMN, SCORE_COLUMN = SUBMISSION_COLUMNS
HEADER = f"{ID_COLUMN},{SCORE_COLUMN}"

#: Default size cap. A 20,000-row submission written by pandas at full float64 precision is ~0.5 MB; 8 MiB matches
#: ``CompetitionConfig.max_upload_bytes`` and leaves room for any sane formatting while bounding server memory.
MAX_SUBMISSION_BYTES = 8 * 1024 * 1024

#: At most this many IDs are listed in one message (the count is always given).
_LIST_IDS = 10

_BINARY_SIGNATURES = (
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx spreadsheet or a .zip)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls file"),
    (b"%PDF", "a PDF"),
    (b"\x89PNG", "a PNG image"),
    (b"\x80", "a Python pickle"),
)


def read_submission(source, n_rows: int, *, max_bytes: int = MAX_SUBMISSION_BYTES) -> np.ndarray:
    """Validate a submission and return its scores ordered by ID.

    Args:
        source: a path (``str`` / ``os.PathLike``) or the file's content as ``bytes``.
        n_rows: the number of test images M; IDs must be exactly 0..M-1, each once.
        max_bytes: files larger than this are rejected before being read.

    Returns:
        (M,) float64, ``scores[i]`` = the score of test image ``i``.

    Raises:
        SubmissionError: with ``line``, ``column`` and ``id`` filled where known.
    """
    data = _read_bytes(source, max_bytes)
    text = _decode(data)
    fast = _parse_fast(text, n_rows)
    return fast if fast is not None else _parse(text, n_rows)


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


def _decode(data: bytes) -> str:
    if not data.strip():
        raise SubmissionError(f"the file is empty; expected the header '{HEADER}' and one row per test image")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SubmissionError("the file is saved as UTF-16 text; save it as 'CSV UTF-8' "
                              "(pandas: df.to_csv('submission.csv', index=False))")
    for magic, what in _BINARY_SIGNATURES:
        if data.startswith(magic):
            raise SubmissionError(f"this is {what}, not a CSV text file; write the submission with "
                                  "df.to_csv('submission.csv', index=False)")
    if b"\x00" in data[:4096]:
        raise SubmissionError("this looks like a binary file, not a CSV text file; write the submission with "
                              "df.to_csv('submission.csv', index=False)")
    try:
        # utf-8-sig drops the byte-order mark Excel puts first.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise SubmissionError(f"byte 0x{data[e.start]:02x} is not UTF-8 text; save the file as 'CSV UTF-8'",
                              line=line) from None


#: Bytes a plain numeric body may hold for the fast path (no letters, quotes or tabs: those take the careful path).
_FAST_BODY_BYTES = b"0123456789.,-+eE \r\n"


def _parse_fast(text: str, n_rows: int) -> np.ndarray | None:
    """Scores of a valid, plain submission through pandas' C parser, or ``None`` to take the careful path.

    Measured on 20,000 rows (2 shared cores): the csv module + ``float()`` loop takes ~16 ms, this path ~3 ms.
    It returns a result only when every check passes and the body holds nothing the two paths could read
    differently (the careful ``_parse`` is the definition; tests compare both). Any doubt: ``None``, and
    ``_parse`` finds the problem and names its line.
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
    id_col, score_col = _header_columns(header, 1)  # header problems raise the same error as _parse
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


def _parse(text: str, n_rows: int) -> np.ndarray:
    """The careful path: the csv module row by row, every problem raised with its line, column and ID."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header, header_line = _first_row(reader)
        id_col, score_col = _header_columns(header, header_line)
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
    ids = _parse_ids(ids_text, lines, n_rows)
    scores = _parse_scores(scores_text, lines, ids)
    return _by_id(ids, scores, lines, n_rows)


def _first_row(reader) -> tuple[list[str], int]:
    for row in reader:
        if "".join(row).strip():
            return row, reader.line_num
    raise SubmissionError(f"the file is empty; expected the header '{HEADER}' and one row per test image")


def _header_columns(header: list[str], line: int) -> tuple[int, int]:
    """Column indices of ID and score. Names are compared after stripping spaces, ignoring letter case."""
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


def _parse_ids(ids_text: list[str], lines: list[int], n_rows: int) -> np.ndarray:
    """(k,) int64 IDs. Fast path: all plain integers; otherwise a per-row pass that finds the first bad one."""
    try:
        return np.array([int(t) for t in ids_text], dtype=np.int64)
    except (ValueError, OverflowError):
        pass
    ids = np.empty(len(ids_text), dtype=np.int64)
    for i, t in enumerate(ids_text):
        s = t.strip()
        try:
            v = int(s)
        except ValueError:
            if not s:
                raise SubmissionError("the ID is empty", line=lines[i], column=ID_COLUMN) from None
            try:
                f = float(s)
            except ValueError:
                raise SubmissionError(f"{_show(t)} is not a whole number", line=lines[i],
                                      column=ID_COLUMN) from None
            if not math.isfinite(f) or f != int(f):
                raise SubmissionError(f"{_show(t)} is not a whole number (IDs are 0, 1, 2, ...)",
                                      line=lines[i], column=ID_COLUMN) from None
            v = int(f)
        if not -2**63 <= v < 2**63:  # far outside any test set; int64 cannot hold it
            raise SubmissionError(f"{_show(t)} is not a test image ID (IDs go from 0 to {n_rows - 1})",
                                  line=lines[i], column=ID_COLUMN)
        ids[i] = v
    return ids


def _parse_scores(scores_text: list[str], lines: list[int], ids: np.ndarray) -> np.ndarray:
    """(k,) float64 scores; NaN, inf and text are rejected with the row's line and ID."""
    try:
        scores = np.array([float(t) for t in scores_text], dtype=np.float64)
    except ValueError:
        for i, t in enumerate(scores_text):
            try:
                float(t)
            except ValueError:
                what = "the score is empty" if not t.strip() else f"{_show(t)} is not a number"
                if t.strip().startswith(("np.", "tensor(", "[")):
                    # repr() of a numpy scalar (NumPy 2), a torch tensor or a 1-element array
                    what += " (write plain numbers: float(x), or df.to_csv('submission.csv', index=False))"
                raise SubmissionError(what, line=lines[i], column=SCORE_COLUMN, id=int(ids[i])) from None
        raise  # unreachable: some entry failed above
    bad = np.flatnonzero(~np.isfinite(scores))
    if len(bad):
        i = int(bad[0])
        raise SubmissionError(f"{_show(scores_text[i])} is not a finite number "
                              f"({len(bad)} row(s) have NaN or inf scores; every image needs a real score)",
                              line=lines[i], column=SCORE_COLUMN, id=int(ids[i]))
    return scores


def _by_id(ids: np.ndarray, scores: np.ndarray, lines: list[int], n_rows: int) -> np.ndarray:
    k = len(ids)
    if k == 0:
        raise SubmissionError(f"the file has a header but no data rows; expected {n_rows} rows, "
                              f"IDs 0..{n_rows - 1}")
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
        raise SubmissionError(f"found {k} data rows, expected {n_rows} (one per test image, IDs 0..{n_rows - 1}); "
                              f"{len(missing)} ID(s) missing: {listed}", id=int(missing[0]))
    out = np.empty(n_rows, dtype=np.float64)
    out[ids] = scores
    return out


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _show(text: str, limit: int = 40) -> str:
    """Quote a piece of the student's file for a message, shortened and with control characters made visible."""
    text = text if len(text) <= limit else text[:limit - 3] + "..."
    return repr(text) if any(not c.isprintable() for c in text) else f"'{text}'"
