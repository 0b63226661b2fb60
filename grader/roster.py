"""The course roster: one CSV format for the leaderboard (``serve``), ``collect`` and ``gradebook``.

Header (UTF-8, a BOM and CRLF line ends are fine; header names are case-insensitive, columns in any order)::

    id,name,email,lms_id,nickname

- ``id`` (required): the course's student id, used as the login on the leaderboard and as the nbgrader student id.
- ``name`` (required): the legal name, for TA exports and the gradebook only; never shown on the public board.
- ``email``, ``lms_id`` (the LMS's user id, e.g. Canvas), ``nickname`` (the public board name; empty means a stable
  pseudonym): optional.

Other columns are ignored and listed in :attr:`Roster.notes`, so an LMS export with extra columns can be used as is.
Every error names the line and column; nothing is returned unless every row is good.

:func:`fold` is the one way names are compared (Unicode casefold plus accent folding, for matching only: the stored
name keeps its letters).
"""
from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import GraderError

COLUMNS = ("id", "name", "email", "lms_id", "nickname")
REQUIRED = ("id", "name")
MAX_LEN = {"id": 128, "name": 256, "email": 256, "lms_id": 128, "nickname": 64}


class RosterError(GraderError):
    """The roster CSV is malformed; ``line`` is 1-based with the header as line 1."""

    def __init__(self, message: str, line: int | None = None, column: str | None = None, source: str = "roster"):
        self.line, self.column = line, column
        where = ", ".join(x for x in (f"line {line}" if line else "", f"column '{column}'" if column else "") if x)
        super().__init__(f"{source}: {where}: {message}" if where else f"{source}: {message}")


@dataclass(frozen=True)
class Student:
    id: str
    name: str
    email: str = ""
    lms_id: str = ""
    nickname: str = ""


@dataclass
class Roster:
    students: list[Student]
    notes: list[str] = field(default_factory=list)      # e.g. ignored columns

    def by_id(self) -> dict[str, Student]:
        return {s.id: s for s in self.students}

    def __iter__(self):
        return iter(self.students)

    def __len__(self) -> int:
        return len(self.students)


#: Latin letters that NFKD does not split into a base letter and a mark (``Đặng`` is written ``Dang`` in ASCII).
_LETTERS = str.maketrans({"đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE",
                          "œ": "oe", "Œ": "OE", "ħ": "h", "Ħ": "H", "ı": "i", "þ": "th", "Þ": "TH", "ð": "d",
                          "Ð": "D"})


def fold(text: str) -> str:
    """``text`` for comparison only: NFKD, combining marks dropped, the Latin letters NFKD keeps whole written as
    ASCII, casefolded (``'Nguyễn'`` → ``'nguyen'``, ``'Đặng'`` → ``'dang'``, ``'Straße'`` → ``'strasse'``)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def parse_roster(data: bytes | str, source: str = "roster") -> Roster:
    """The roster in ``data`` (CSV text or UTF-8 bytes); raises :class:`RosterError` naming line and column."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise RosterError(f"not UTF-8 text (byte {e.start})", source=source) from e
    data = data.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(data, newline=""))
    try:
        raw_header = next(reader)
    except StopIteration:
        raise RosterError(f"the file is empty; expected a header {','.join(COLUMNS)}", source=source) from None
    except csv.Error as e:
        raise RosterError(f"not a CSV header ({e})", 1, source=source) from None
    header = [h.strip().lower() for h in raw_header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        hint = " ('login' is now called 'id')" if "login" in header and "id" in missing else ""
        raise RosterError(f"missing column(s) {', '.join(missing)}{hint}; the header must include "
                          f"{','.join(REQUIRED)} (optional: {', '.join(COLUMNS[2:])}), got {','.join(raw_header)}",
                          1, source=source)
    dup = sorted({h for h in header if h in COLUMNS and header.count(h) > 1})
    if dup:
        raise RosterError(f"column(s) {', '.join(dup)} appear more than once", 1, source=source)
    col = {h: i for i, h in enumerate(header) if h in COLUMNS}
    notes = []
    ignored = [h for h in raw_header if h.strip().lower() not in COLUMNS]
    if ignored:
        notes.append(f"{source}: ignored column(s) {', '.join(repr(h) for h in ignored)}")
    students: list[Student] = []
    seen: dict[str, dict[str, int]] = {"id": {}, "lms_id": {}}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(col) or len(row) > len(header):
                raise RosterError(f"expected {len(header)} fields, found {len(row)}", line, source=source)
            values = {c: (row[i].strip() if i < len(row) else "") for c, i in col.items()}
            for c in COLUMNS:
                values.setdefault(c, "")
                if any(unicodedata.category(ch) == "Cc" for ch in values[c]):
                    raise RosterError("contains a control character", line, c, source=source)
                if len(values[c]) > MAX_LEN[c]:
                    raise RosterError(f"longer than {MAX_LEN[c]} characters", line, c, source=source)
            for c in REQUIRED:
                if not values[c]:
                    who = f" for id {values['id']!r}" if c != "id" else ""
                    raise RosterError(f"empty {c}{who}", line, c, source=source)
            for c in ("id", "lms_id"):
                v = values[c]
                if v and v in seen[c]:
                    raise RosterError(f"{c} {v!r} is also on line {seen[c][v]}", line, c, source=source)
                if v:
                    seen[c][v] = line
            students.append(Student(**values))
    except csv.Error as e:
        raise RosterError(f"not valid CSV ({e})", reader.line_num, source=source) from None
    if not students:
        raise RosterError("no students in the file", source=source)
    return Roster(students, notes)


def read_roster(path: Path | str) -> Roster:
    """:func:`parse_roster` of a file; a missing file is a :class:`RosterError` naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RosterError("roster not found", source=str(path)) from None
    except IsADirectoryError:
        raise RosterError("is a folder, not a roster CSV", source=str(path)) from None
    return parse_roster(data, source=str(path))


def roster_csv(students: list[Student]) -> str:
    """The roster as CSV text in the canonical column order (round-trips through :func:`parse_roster`)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows([s.id, s.name, s.email, s.lms_id, s.nickname] for s in students)
    return buf.getvalue()
