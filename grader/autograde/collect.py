"""``python -m grader collect ZIP_OR_DIR``: put students' notebooks where nbgrader expects them, by roster id.

Accepted shapes (mixed freely, nested zips too):

- an LMS bulk download zip: Canvas names files ``<name>_<LATE_>?<lms id>_<submission id>_<file>.ipynb``, Moodle
  folders ``<Full Name>_<id>_assignsubmission_file_/<file>.ipynb``;
- one folder per student (``DIR/<student>/.../*.ipynb``);
- loose ``.ipynb`` files named by student id (``DIR/b09901001.ipynb``, ``DIR/b09901001_01_simple.ipynb``).

Each unit (a top-level folder, or a loose file) is mapped to a roster row when one of its name's tokens (split on
``_ - . space``) equals a roster ``id``/``login``, ``lms_id`` or ``email`` user name, or its letters contain the
student's name (Canvas writes ``lastfirst``). A unit that matches no row, or several, is reported with the reason
and nothing is guessed. Only ``.ipynb`` files are copied (a student's own ``starter_code/`` must not shadow the
official one at grading time); a student's single notebook is renamed to the assignment's notebook name when the
assignment has exactly one. Several units for one student: the newest wins, the others are reported.

Roster CSV: a header with ``id`` (or ``login``, as the leaderboard's roster) and optionally ``name``, ``email``,
``lms_id``. It is copied to ``COURSE/roster.csv`` so ``autograde`` can mark students without a submission ``missing``.
"""
from __future__ import annotations

import csv
import io
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from grader.autograde.course import CourseConfig, add_course_arguments, course_from_args
from grader.errors import GraderError

HELP = "Collect submissions (LMS zip, folder per student, loose files) into the course by roster id."
_SPLIT = re.compile(r"[_\-.\s]+")


class RosterFileError(GraderError):
    """The roster CSV is malformed (message names the line and column)."""


@dataclass(frozen=True)
class Student:
    id: str
    name: str = ""
    email: str = ""
    lms_id: str = ""


@dataclass
class Unit:
    """One student's upload as found in the input: a label (file or folder name) and its notebooks."""
    label: str
    files: dict[str, bytes]            # name -> content
    mtime: float = 0.0
    late: bool = False


@dataclass
class CollectReport:
    placed: dict[str, list[str]] = field(default_factory=dict)      # student id -> notebooks written
    unplaced: list[tuple[str, str]] = field(default_factory=list)    # (label, reason)
    superseded: list[tuple[str, str]] = field(default_factory=list)  # (label, student id) older duplicates
    late: list[str] = field(default_factory=list)                    # ids the LMS marked late
    missing: list[str] = field(default_factory=list)                 # roster ids without a submission


def read_roster(path: Path) -> list[Student]:
    """Students from a roster CSV (see the module docstring); errors name the line and column."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError as e:
        raise RosterFileError(f"{path}: roster not found") from e
    except UnicodeDecodeError as e:
        raise RosterFileError(f"{path}: not UTF-8 text (byte {e.start})") from e
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        raise RosterFileError(f"{path}: empty roster; expected a header with id (or login)")
    header = [h.strip().lower() for h in rows[0]]
    key = "id" if "id" in header else "login" if "login" in header else None
    if key is None:
        raise RosterFileError(f"{path}: line 1: no 'id' (or 'login') column in header {rows[0]}")
    col = {h: i for i, h in enumerate(header)}
    students, seen = [], {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        get = lambda h: row[col[h]].strip() if h in col and col[h] < len(row) else ""  # noqa: E731
        sid = get(key)
        if not sid:
            raise RosterFileError(f"{path}: line {n}, column '{key}': empty student id")
        if sid in seen:
            raise RosterFileError(f"{path}: line {n}, column '{key}': id {sid!r} already on line {seen[sid]}")
        seen[sid] = n
        students.append(Student(sid, get("name"), get("email"), get("lms_id") or get("canvas_id") or get("sis_id")))
    return students


def _units_from_zip(data: bytes, label: str) -> list[Unit]:
    units: dict[str, Unit] = {}
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise GraderError(f"{label}: not a zip file") from e
    with zf:
        for info in zf.infolist():
            p = PurePosixPath(info.filename)
            if info.is_dir() or "__MACOSX" in p.parts or p.name.startswith("."):
                continue
            content = zf.read(info)
            mtime = datetime(*info.date_time, tzinfo=timezone.utc).timestamp()
            if p.suffix.lower() == ".zip":
                units_in = _units_from_zip(content, f"{label}/{p}")
                for u in units_in:
                    units.setdefault(u.label, u)
                continue
            if len(p.parts) > 1:       # folder per student inside the zip
                top = p.parts[0]
                u = units.setdefault(top, Unit(top, {}, mtime))
                u.files[p.name] = content
                u.mtime = max(u.mtime, mtime)
            else:
                units[p.name] = Unit(p.name, {p.name: content}, mtime)
    return list(units.values())


def find_units(source: Path) -> list[Unit]:
    """Every student unit in a zip, a folder of folders, or a folder of loose files (non-notebooks dropped later)."""
    source = Path(source)
    if source.is_file():
        return _units_from_zip(source.read_bytes(), source.name)
    if not source.is_dir():
        raise GraderError(f"{source}: no such zip file or folder")
    units = []
    for p in sorted(source.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir():
            files = {f.name: f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()
                     and not any(part.startswith(".") for part in f.relative_to(p).parts)}
            mtime = max((f.stat().st_mtime for f in p.rglob("*") if f.is_file()), default=p.stat().st_mtime)
            units.append(Unit(p.name, files, mtime))
        elif p.suffix.lower() == ".zip":
            units += _units_from_zip(p.read_bytes(), p.name)
        else:
            units.append(Unit(p.name, {p.name: p.read_bytes()}, p.stat().st_mtime))
    return units


def match_student(label: str, roster: list[Student]) -> tuple[Student | None, str]:
    """(student, "") or (None, reason) for a unit's label."""
    stem = label.rsplit(".", 1)[0] if label.lower().endswith((".ipynb", ".zip")) else label
    tokens = {t.lower() for t in _SPLIT.split(stem) if t}
    letters = re.sub(r"[^a-z]", "", stem.lower())
    hits = []
    for st in roster:
        keys = {st.id.lower()} | ({st.lms_id.lower()} if st.lms_id else set()) | \
               ({st.email.split("@")[0].lower()} if st.email else set())
        name = re.sub(r"[^a-z]", "", st.name.lower())
        rev = re.sub(r"[^a-z]", "", "".join(reversed(st.name.lower().split())))
        if keys & tokens or (len(name) >= 4 and (name in letters or rev in letters)):
            hits.append(st)
    if len(hits) == 1:
        return hits[0], ""
    if not hits:
        return None, "matches no roster id, LMS id, e-mail or name"
    return None, f"matches several students ({', '.join(s.id for s in hits)}): not guessed"


def collect(source: Path, course: CourseConfig, assignment: str, roster_path: Path | None = None) -> CollectReport:
    """Copy notebooks from ``source`` into ``COURSE/submitted/<id>/<assignment>/``; return what was (not) placed."""
    if assignment not in course.assignments():
        raise GraderError(f"unknown assignment {assignment!r}; in {course.source_dir}: "
                          f"{', '.join(course.assignments()) or 'none'}")
    course.course_dir.mkdir(parents=True, exist_ok=True)
    saved = course.course_dir / "roster.csv"
    if roster_path is not None:
        roster = read_roster(roster_path)
        with open(saved, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["id", "name", "email", "lms_id"])
            w.writerows([s.id, s.name, s.email, s.lms_id] for s in roster)
    elif saved.is_file():
        roster = read_roster(saved)
    else:
        raise GraderError("no roster: pass --roster CSV (columns id or login, optional name, email, lms_id)")
    expected = course.notebooks(assignment)
    report, chosen = CollectReport(), {}
    for unit in find_units(source):
        notebooks = {n: b for n, b in unit.files.items() if n.lower().endswith(".ipynb")}
        if not notebooks:
            report.unplaced.append((unit.label, "no .ipynb file in it"))
            continue
        st, why = match_student(unit.label, roster)
        if st is None:
            report.unplaced.append((unit.label, why))
            continue
        unit.late = "late" in {t.lower() for t in _SPLIT.split(unit.label)}
        prev = chosen.get(st.id)
        if prev is not None:
            old, new = (prev, unit) if prev.mtime <= unit.mtime else (unit, prev)
            report.superseded.append((old.label, st.id))
            unit = new
        chosen[st.id] = unit
    for sid, unit in sorted(chosen.items()):
        dest = course.course_dir / "submitted" / sid / assignment
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        notebooks = {n: b for n, b in unit.files.items() if n.lower().endswith(".ipynb")}
        written = []
        for name, content in sorted(notebooks.items()):
            target = name
            if len(notebooks) == 1 and len(expected) == 1:
                target = f"{expected[0]}.ipynb"    # the LMS renames files (prefixes, "-1" suffixes)
            else:
                for nb in expected:                # keep several notebooks apart by their names
                    if nb.lower() in name.lower():
                        target = f"{nb}.ipynb"
            (dest / target).write_bytes(content)
            written.append(target)
        report.placed[sid] = written
        if unit.late:
            report.late.append(sid)
    report.missing = sorted(s.id for s in roster if s.id not in chosen)
    _write_report(course.course_dir / f"collect_{assignment}.csv", report)
    return report


def _write_report(path: Path, rep: CollectReport) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["what", "student", "source", "detail"])
        for sid, files in sorted(rep.placed.items()):
            w.writerow(["placed", sid, "", " ".join(files) + (" (marked late by the LMS)" if sid in rep.late else "")])
        for label, why in rep.unplaced:
            w.writerow(["unplaced", "", label, why])
        for label, sid in rep.superseded:
            w.writerow(["superseded", sid, label, "an older upload; the newest was kept"])
        for sid in rep.missing:
            w.writerow(["missing", sid, "", "nothing submitted"])


# --- CLI -------------------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    parser.add_argument("input", type=Path, metavar="ZIP_OR_DIR", help="LMS zip, folder per student, or loose files")
    parser.add_argument("--assignment", required=True, help="assignment id the submissions belong to")
    parser.add_argument("--roster", type=Path, default=None,
                        help="roster CSV (id or login; optional name, email, lms_id); default: COURSE/roster.csv")
    add_course_arguments(parser)


def run(args) -> int:
    course = course_from_args(args)
    rep = collect(args.input, course, args.assignment, args.roster)
    print(f"placed {len(rep.placed)} student(s) in {course.course_dir / 'submitted'}; "
          f"{len(rep.missing)} on the roster without a submission")
    for label, why in rep.unplaced:
        print(f"  cannot place {label}: {why}")
    for label, sid in rep.superseded:
        print(f"  {label}: older upload of {sid}, superseded")
    if rep.late:
        print(f"  marked late by the LMS: {', '.join(rep.late)}")
    print(f"report: {course.course_dir / f'collect_{args.assignment}.csv'}")
    return 0
