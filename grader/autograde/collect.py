"""``python -m grader collect ZIP_OR_DIR``: put students' notebooks where nbgrader expects them, by roster id.

Accepted shapes (mixed freely, nested zips and folders too):

- an LMS bulk download zip: Canvas names files ``<name>_<LATE_>?<lms id>_<submission id>_<file>``, Moodle
  folders ``<Full Name>_<id>_assignsubmission_file_/<file>``;
- one folder per student (``DIR/<student>/.../*.ipynb``), with a student's own zips inside it;
- loose ``.ipynb`` files named by student id (``DIR/b09901001.ipynb``, ``DIR/b09901001_01_simple.ipynb``).

Every entry (file, folder or zip) is matched to one roster row by its own name, in three tiers; a tier that
finds one student decides, a tier that finds several reports the entry as ambiguous, and nothing is guessed:

1. a token of the name (split on ``_ - . space``) equals a roster ``id`` or ``lms_id`` (an exact id beats any name;
   when the ids of several students appear, the one whose name is also there wins);
2. a token equals the user part of a roster ``email``;
3. the name's letters contain the student's name (4 letters or more, or the whole name: ``陳大文``), in any rotation
   of its words (Canvas writes ``lastfirst``), compared with :func:`grader.roster.fold` (casefold + accents):
   ``nguyenvanan`` finds ``Nguyễn Văn An``.

For a Canvas-shaped file only the LMS part (name, ``LATE``, user id) is matched: the file name after it is the
student's own and never places a notebook (nor marks it late). An entry that matches nobody is a container when it
is a plain folder or zip (a TA's batch folder, a split download) and is searched inside; an LMS-shaped entry or a
loose file that matches nobody is reported. Everything inside a student's entry (folders, nested zips) is theirs.

Only ``.ipynb`` files are read and copied (a student's own ``starter_code/`` must not shadow the official one);
symbolic links, hidden files, files over :data:`MAX_NOTEBOOK_BYTES` and zips nested deeper than
:data:`MAX_ZIP_DEPTH` are skipped and reported. A student's notebook is renamed to the assignment's notebook name
(the LMS adds prefixes and ``-1`` suffixes); with several candidates the one named like it, then the newest, wins.
Several entries for one student: the newest wins, the others are reported.

A notebook that is not valid JSON or not a notebook (a truncated upload) is never copied silently: when the
student has a readable one it is used instead, otherwise the broken file is copied (so ``autograde`` records an
error for it, not a missing submission) and reported as ``invalid`` with the parser's line and column.

Collecting one assignment in several batches (the on-time download, then a late one) adds to the course folder:
a student in the new batch is ``new``, ``replaced`` (different notebooks) or ``unchanged``; a student who is not
in it keeps their earlier submission (``kept``). ``missing`` means nothing in ``COURSE/submitted/<id>/<assignment>/``
after all batches. ``COURSE/collect_<assignment>.csv`` is the report of the latest batch plus the kept and missing
students; each batch's own report stays in ``COURSE/collect_history/<assignment>/NNN-<UTC time>.csv``.

The roster is :mod:`grader.roster`'s format (``id,name,email,lms_id,nickname``); it is copied to
``COURSE/roster.csv`` so ``autograde`` can mark students without a submission ``missing``. The LMS's late marks
are merged into ``COURSE/late_marks.csv`` (``assignment,id,late,source``; one row per collected submission), which
``gradebook`` turns into late days. Everything written here is TA-only: files readable by the owner only (0600),
the submission and history folders 0700.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from common.files import write_private
from grader.autograde.course import CourseConfig, add_course_arguments, course_from_args
from grader.errors import GraderError
from grader.roster import Roster, Student, fold, read_roster, roster_csv

HELP = "Collect submissions (LMS zip, folder per student, loose files) into the course by roster id."
_SPLIT = re.compile(r"[_\-.\s]+")
# Canvas: "<lastfirst>_<LATE_>?<user id>_<submission id>_<the student's file name>".
_CANVAS = re.compile(r"^(?P<name>[^_]+)_(?:(?P<late>late)_)?(?P<user>\d+)_(?P<sub>\d+)_(?P<file>.+)$", re.I)
# Moodle: "<Full Name>_<participant id>_assignsubmission_<plugin>_".
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<user>\d+)_assignsubmission_[a-z]+_?$", re.I)
#: A notebook larger than this is skipped (notebooks with many figures stay far below it).
MAX_NOTEBOOK_BYTES = 100 << 20
#: A zip inside the input larger than this is not opened.
MAX_ZIP_BYTES = 2 << 30
#: Zips inside zips are opened this deep (a zip that contains itself must not loop).
MAX_ZIP_DEPTH = 4
LATE_MARKS = "late_marks.csv"
#: Each batch's own report: ``COURSE/collect_history/<assignment>/NNN-<UTC time>.csv``.
HISTORY = "collect_history"
#: Folders of TA-only files: the owner only.
PRIVATE_DIR = 0o700
#: What a collected student's submission became in this batch.
CHANGES = ("new", "replaced", "unchanged")


@dataclass
class Notebook:
    path: str          # inside the student's entry, for the report
    content: bytes
    mtime: float


@dataclass
class Unit:
    """One student's upload as found in the input: a label (file or folder name) and its notebooks."""
    label: str
    notebooks: list[Notebook] = field(default_factory=list)
    mtime: float = 0.0
    late: bool = False
    student: Student | None = None
    reason: str = ""                                                  # why nobody was matched


@dataclass
class CollectReport:
    placed: dict[str, list[str]] = field(default_factory=dict)      # student id -> notebooks written
    unplaced: list[tuple[str, str]] = field(default_factory=list)    # (label, reason)
    superseded: list[tuple[str, str]] = field(default_factory=list)  # (label, student id) older duplicates
    late: list[str] = field(default_factory=list)                    # ids the LMS marked late
    missing: list[str] = field(default_factory=list)                 # roster ids without a submission, after all
    skipped: list[tuple[str, str]] = field(default_factory=list)     # (path, why): links, huge files, deep zips
    notes: list[str] = field(default_factory=list)                   # e.g. roster columns ignored
    changes: dict[str, str] = field(default_factory=dict)           # placed id -> new / replaced / unchanged
    kept: dict[str, int] = field(default_factory=dict)               # id -> batch that placed what is still there
    invalid: list[tuple[str, str, str]] = field(default_factory=list)  # (id, notebook, why): copied, flagged
    batch: int = 1                                                   # this collect's number for the assignment
    history: Path | None = None                                      # this batch's own report


# --- matching a name to the roster --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Label:
    """What an entry's name says: id-like tokens, text that may hold a name, and the LMS's late mark."""
    tokens: frozenset[str]
    letters: str
    late: bool
    lms_shaped: bool


def _letters(text: str) -> str:
    return "".join(c for c in fold(text) if c.isalpha())


def parse_label(name: str) -> Label:
    """Split an entry name into the parts that may identify a student (see the module docstring)."""
    stem = name[:-6] if name.lower().endswith(".ipynb") else name[:-4] if name.lower().endswith(".zip") else name
    m = _CANVAS.match(name)
    if m:      # the student's own file name (group "file") is left out on purpose
        return Label(frozenset({m["user"]}), _letters(m["name"]), bool(m["late"]), True)
    m = _MOODLE.match(name)
    if m:
        return Label(frozenset({m["user"]} | {fold(t) for t in _SPLIT.split(m["name"]) if t}),
                     _letters(m["name"]), False, True)
    tokens = frozenset(fold(t) for t in _SPLIT.split(stem) if t)
    return Label(tokens, _letters(stem), "late" in tokens, False)


def _name_forms(name: str) -> set[str]:
    """The student's name as letters, in every rotation of its words (first-last, last-first, ...)."""
    words = [w for w in (_letters(w) for w in name.split()) if w]
    return {"".join(words[i:] + words[:i]) for i in range(len(words))}


def _name_in(st: Student, letters: str) -> bool:
    """The name is the whole text, or (4 letters or more, so "Li" is not in every label) part of it."""
    return any(form == letters or (len(form) >= 4 and form in letters) for form in _name_forms(st.name) if form)


def match_label(label: Label, roster: list[Student]) -> tuple[Student | None, str]:
    """(student, "") or (None, reason), by the tiers of the module docstring."""
    ids = [s for s in roster if fold(s.id) in label.tokens or (s.lms_id and fold(s.lms_id) in label.tokens)]
    if len(ids) == 1:
        return ids[0], ""
    if ids:
        named = [s for s in ids if _name_in(s, label.letters)]
        if len(named) == 1:
            return named[0], ""
        return None, f"holds the ids of several students ({', '.join(s.id for s in ids)}): not guessed"
    mails = [s for s in roster if s.email and fold(s.email.split("@")[0]) in label.tokens]
    if len(mails) == 1:
        return mails[0], ""
    if mails:
        return None, f"matches the e-mail of several students ({', '.join(s.id for s in mails)}): not guessed"
    names = [s for s in roster if _name_in(s, label.letters)]
    if len(names) == 1:
        return names[0], ""
    if names:
        return None, (f"matches the names of several students ({', '.join(s.id for s in names)}): not guessed; "
                      f"an LMS id in the roster's lms_id column decides")
    return None, "matches no roster id, LMS id, e-mail or name"


def match_student(label: str, roster: list[Student]) -> tuple[Student | None, str]:
    """(student, "") or (None, reason) for an entry's name (file or folder)."""
    return match_label(parse_label(label), list(roster))


# --- reading the input --------------------------------------------------------------------------------------------

class _Scan:
    """Walks folders and zips, matching each entry by its own name (module docstring)."""

    def __init__(self, roster: list[Student]):
        self.roster = roster
        self.units: list[Unit] = []
        self.skipped: list[tuple[str, str]] = []

    # A tree is {name: subtree} for folders and zips, {name: leaf} for files; leaves are (loader, size, mtime,
    # kind) with kind in "file", "zip", "link". Folders and zips look the same from here on.
    def walk(self, tree: dict, where: str, depth: int) -> None:
        for name, node in sorted(tree.items()):
            path = f"{where}/{name}" if where else name
            label = parse_label(name)
            st, why = match_label(label, self.roster)
            is_container = isinstance(node, dict) or node[3] == "zip"
            if st is not None or label.lms_shaped or not is_container or why.startswith(("holds", "matches the")):
                unit = Unit(path, late=label.late, student=st, reason=why)
                self.gather(unit, name, node, path, depth)
                self.units.append(unit)
            else:                              # a batch folder or zip that names nobody: look inside
                self.walk(self.open(node, path, depth), path, depth + 1)

    def open(self, node, path: str, depth: int) -> dict:
        if isinstance(node, dict):
            return node
        if depth >= MAX_ZIP_DEPTH:
            self.skipped.append((path, f"zip nested more than {MAX_ZIP_DEPTH} deep: not opened"))
            return {}
        if node[1] > MAX_ZIP_BYTES:
            self.skipped.append((path, f"{node[1] >> 20} MiB, over {MAX_ZIP_BYTES >> 20} MiB: not opened"))
            return {}
        try:
            return _zip_tree(node[0]())
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            self.skipped.append((path, f"a broken zip ({e}): not opened"))
            return {}

    def gather(self, unit: Unit, name: str, node, path: str, depth: int) -> None:
        if isinstance(node, dict) or node[3] == "zip":
            for sub, child in sorted(self.open(node, path, depth).items()):
                self.gather(unit, sub, child, f"{path}/{sub}", depth + 1)
            return
        load, size, mtime, kind = node
        unit.mtime = max(unit.mtime, mtime)
        if not name.lower().endswith(".ipynb"):
            return
        if kind == "link":
            self.skipped.append((path, "a symbolic link, not a file: not copied"))
        elif size > MAX_NOTEBOOK_BYTES:
            self.skipped.append((path, f"{size >> 20} MiB, over {MAX_NOTEBOOK_BYTES >> 20} MiB: not copied"))
        else:
            try:
                unit.notebooks.append(Notebook(path, load(), mtime))
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                self.skipped.append((path, f"cannot be read ({e}): not copied"))


def _clean_parts(name: str) -> list[str]:
    """Path parts of a zip entry name without traversal or empty parts; Windows zips write backslashes."""
    return [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "..", "/")]


def _hidden(parts: list[str]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _zip_tree(data: bytes) -> dict:
    zf = zipfile.ZipFile(io.BytesIO(data))
    tree: dict = {}
    for info in zf.infolist():
        parts = _clean_parts(info.filename)
        if info.is_dir() or not parts or _hidden(parts):
            continue
        node = tree
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):          # a file and a folder of one name: keep the folder
                nxt = node[p] = {}
            node = nxt
        mode = info.external_attr >> 16
        kind = "link" if stat.S_ISLNK(mode) else "zip" if parts[-1].lower().endswith(".zip") else "file"
        mtime = datetime(*info.date_time, tzinfo=timezone.utc).timestamp()
        name = parts[-1]
        while name in node:                        # the same name twice in one zip: keep both
            name = "_" + name
        node[name] = (lambda zf=zf, info=info: zf.read(info), info.file_size, mtime, kind)
    return tree


def _dir_tree(root: Path) -> dict:
    tree = {}
    for p in root.iterdir():
        if p.name.startswith(".") or p.name == "__MACOSX":
            continue
        if p.is_symlink():
            tree[p.name] = (None, 0, 0.0, "link")
        elif p.is_dir():
            tree[p.name] = _dir_tree(p)
        elif p.is_file():
            s = p.stat()
            kind = "zip" if p.suffix.lower() == ".zip" else "file"
            tree[p.name] = (p.read_bytes, s.st_size, s.st_mtime, kind)
    return tree


def find_units(source: Path, roster: list[Student]) -> tuple[list[Unit], list[tuple[str, str]]]:
    """(every student entry in a zip or folder, entries skipped with the reason)."""
    source = Path(source)
    if source.is_file():
        try:
            tree = _zip_tree(source.read_bytes())
        except zipfile.BadZipFile:
            raise GraderError(f"{source}: not a zip file") from None
        scan = _Scan(list(roster))
        scan.walk(tree, "", 1)
    elif source.is_dir():
        scan = _Scan(list(roster))
        scan.walk(_dir_tree(source), "", 0)
    else:
        raise GraderError(f"{source}: no such zip file or folder")
    return scan.units, scan.skipped


# --- writing --------------------------------------------------------------------------------------------------------

def _safe_name(name: str) -> str:
    stem = re.sub(r"[^\w.\- ]", "_", PurePosixPath(name).name).lstrip(". ")[:120] or "notebook"
    return stem if stem.lower().endswith(".ipynb") else stem + ".ipynb"


def notebook_problem(content: bytes) -> str:
    """Why ``content`` cannot be a Jupyter notebook ("" when it can): not UTF-8, not JSON (with the parser's line
    and column: a truncated upload ends mid-way), or JSON without the notebook's ``cells`` and ``nbformat``."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return f"not UTF-8 text (byte {e.start}): not a notebook"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}; truncated upload?)"
    except RecursionError:
        return "JSON nested too deeply: not a notebook"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) \
            or not isinstance(data.get("nbformat"), int):
        return "valid JSON but not a notebook (no 'cells' list and 'nbformat' number)"
    return ""


def choose_notebooks(notebooks: list[Notebook], expected: list[str]) -> tuple[dict[str, bytes], list[str]]:
    """({file name in the submission folder: content}, notes on notebooks left out).

    Each expected notebook takes the student's notebook named like it (a readable one before a broken one, then the
    newest of several); a student with a single notebook for a single-notebook assignment gets it renamed. Others
    keep their (sanitised) names.
    """
    out, notes, used = {}, [], set()
    newest = sorted(notebooks, key=lambda n: (bool(notebook_problem(n.content)), -n.mtime))
    if len(expected) == 1 and len(notebooks) == 1:
        return {f"{expected[0]}.ipynb": notebooks[0].content}, []
    for nb_name in expected:
        cands = [n for n in newest if fold(nb_name) in fold(PurePosixPath(n.path).name) and id(n) not in used]
        if cands:
            out[f"{nb_name}.ipynb"] = cands[0].content
            used.add(id(cands[0]))
            notes += [f"{c.path}: an older notebook named like {nb_name}.ipynb, not used" for c in cands[1:]]
            used |= {id(c) for c in cands[1:]}
    notes += [f"no notebook named like {nb_name}.ipynb: copied under their own names for the TA to choose"
              for nb_name in expected if f"{nb_name}.ipynb" not in out]
    for n in newest:
        if id(n) not in used:
            target = _safe_name(n.path)
            if target in out:
                notes.append(f"{n.path}: an older notebook of the same name, not used")
            else:
                out[target] = n.content
    return out, notes


def _check_ids(roster: Roster) -> None:
    for s in roster:
        if s.id in (".", "..") or s.id.startswith(".") or any(c in s.id for c in "/\\\0"):
            raise GraderError(f"roster id {s.id!r} cannot be a folder name (no '/', '\\', or leading '.')")


def load_course_roster(course: CourseConfig, roster_path: Path | None) -> Roster:
    """The roster from ``roster_path`` (then saved as ``COURSE/roster.csv``) or, without it, the saved one."""
    saved = course.course_dir / "roster.csv"
    if roster_path is not None:
        roster = read_roster(roster_path)
        _check_ids(roster)
        write_private(saved, roster_csv(roster.students))
        return roster
    if saved.is_file():
        return read_roster(saved)
    raise GraderError("no roster: pass --roster CSV (header id,name and optional email,lms_id,nickname)")


def collect(source: Path, course: CourseConfig, assignment: str, roster_path: Path | None = None) -> CollectReport:
    """Copy notebooks from ``source`` into ``COURSE/submitted/<id>/<assignment>/``; return what was (not) placed."""
    if assignment not in course.assignments():
        raise GraderError(f"unknown assignment {assignment!r}; in {course.source_dir}: "
                          f"{', '.join(course.assignments()) or 'none'}")
    course.course_dir.mkdir(parents=True, exist_ok=True)
    roster = load_course_roster(course, roster_path)
    expected = course.notebooks(assignment)
    report, chosen = CollectReport(notes=list(roster.notes)), {}
    units, report.skipped = find_units(source, roster.students)
    for unit in units:
        if not unit.notebooks:
            who = f" (student {unit.student.id})" if unit.student else ""
            report.unplaced.append((unit.label, f"no usable .ipynb file in it{who}"))
            continue
        if unit.student is None:
            report.unplaced.append((unit.label, unit.reason))
            continue
        sid = unit.student.id
        prev = chosen.get(sid)
        if prev is not None:
            old, new = (prev, unit) if (prev.mtime, prev.label) <= (unit.mtime, unit.label) else (unit, prev)
            report.superseded.append((old.label, sid))
            unit = new
        chosen[sid] = unit
    submitted = course.course_dir / "submitted"
    history_dir = course.course_dir / HISTORY / assignment
    earlier = _batches(history_dir)
    report.batch = max(earlier, default=0) + 1
    for sid, unit in sorted(chosen.items()):
        dest = submitted / sid / assignment
        files, notes = choose_notebooks(unit.notebooks, expected)
        before = _notebooks_in(dest)
        report.changes[sid] = "new" if not before else "unchanged" if before == files else "replaced"
        if report.changes[sid] != "unchanged":
            _replace_folder(dest, files)
        else:                     # kept as is, but private even if an older copy was not
            for target in files:
                os.chmod(dest / target, 0o600)
        _private_dirs(course.course_dir, dest)
        report.placed[sid] = sorted(files)
        report.skipped += [(unit.label, n) for n in notes]
        report.invalid += [(sid, t, why) for t, c in sorted(files.items()) if (why := notebook_problem(c))]
        if unit.late:
            report.late.append(sid)
    last_placed = _last_placed(history_dir, earlier)
    on_roster = {s.id for s in roster}
    for sid in sorted(on_roster | ({p.name for p in submitted.iterdir()} if submitted.is_dir() else set())):
        if sid in chosen:
            continue
        if _notebooks_in(submitted / sid / assignment):
            report.kept[sid] = last_placed.get(sid, 0)
        elif sid in on_roster:
            report.missing.append(sid)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report.history = history_dir / f"{report.batch:03d}-{stamp}.csv"
    _private_dirs(course.course_dir, history_dir)
    batch_only = CollectReport(**{**report.__dict__, "kept": {}, "missing": []})
    write_private(report.history, _report_csv(batch_only, str(source)))
    write_private(course.course_dir / f"collect_{assignment}.csv", _report_csv(report, str(source)))
    _merge_late_marks(course.course_dir / LATE_MARKS, assignment, report, chosen)
    return report


def _replace_folder(dest: Path, files: dict[str, bytes]) -> None:
    """``dest`` holding exactly ``files`` (0600); the earlier submission is removed only once the new one is whole,
    so a crash half-way leaves one or the other, never neither."""
    new, old = dest.with_name(f".{dest.name}.new"), dest.with_name(f".{dest.name}.old")
    for leftover in (new, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    for target, content in sorted(files.items()):
        write_private(new / target, content)
    if dest.exists():
        dest.rename(old)
    new.rename(dest)
    if old.exists():
        shutil.rmtree(old)


def _notebooks_in(folder: Path) -> dict[str, bytes]:
    """``{name: content}`` of the notebooks in a submission folder (empty when there is none)."""
    return {p.name: p.read_bytes() for p in folder.glob("*.ipynb") if p.is_file()} if folder.is_dir() else {}


def _private_dirs(root: Path, folder: Path) -> None:
    """Create ``folder`` and make it and every folder between it and ``root`` the owner's only (0700)."""
    folder.mkdir(parents=True, exist_ok=True)
    while folder != root and root in folder.parents:
        os.chmod(folder, PRIVATE_DIR)
        folder = folder.parent


def _batches(history_dir: Path) -> dict[int, Path]:
    """``{batch number: its report}`` of the assignment's earlier collects."""
    out = {}
    for p in history_dir.glob("*.csv") if history_dir.is_dir() else []:
        head = p.name.split("-", 1)[0]
        if head.isdigit():
            out[int(head)] = p
    return out


def _last_placed(history_dir: Path, batches: dict[int, Path]) -> dict[str, int]:
    """``{student: the batch whose notebooks are in the course folder now}`` (new or replaced there)."""
    out = {}
    for n, path in sorted(batches.items()):
        with open(path, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                if r.get("what") == "placed" and r.get("change") in ("new", "replaced"):
                    out[r["student"]] = n
    return out


def _report_csv(rep: CollectReport, source: str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["what", "student", "source", "detail", "late", "change", "batch"])
    w.writerow(["batch", "", source, datetime.now(timezone.utc).isoformat(timespec="seconds"), "", "", rep.batch])
    for sid, files in sorted(rep.placed.items()):
        late = sid in rep.late
        w.writerow(["placed", sid, "", " ".join(files) + (" (marked late by the LMS)" if late else ""), int(late),
                    rep.changes.get(sid, ""), rep.batch])
    for sid, name, why in rep.invalid:
        w.writerow(["invalid", sid, name, f"{why}: copied so that autograde records an error; ask the student "
                    f"for the file", "", "", rep.batch])
    for label, why in rep.unplaced:
        w.writerow(["unplaced", "", label, why, "", "", rep.batch])
    for label, sid in rep.superseded:
        w.writerow(["superseded", sid, label, "an older upload; the newest was kept", "", "", rep.batch])
    for label, why in rep.skipped:
        w.writerow(["skipped", "", label, why, "", "", rep.batch])
    for sid, n in sorted(rep.kept.items()):
        w.writerow(["kept", sid, "", f"not in this batch: the notebooks of batch {n or 'an earlier one'} stay",
                    "", "", n or ""])
    for sid in rep.missing:
        w.writerow(["missing", sid, "", "nothing submitted in any batch", "", "", ""])
    return buf.getvalue()


def read_late_marks(course: CourseConfig) -> dict[tuple[str, str], dict]:
    """``{(assignment, id): {"late": bool, "source": label}}`` from ``COURSE/late_marks.csv`` (empty if none)."""
    path = course.course_dir / LATE_MARKS
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {(r["assignment"], r["id"]): {"late": r["late"] == "1", "source": r["source"]}
                for r in csv.DictReader(f)}


def _merge_late_marks(path: Path, assignment: str, rep: CollectReport, chosen: dict[str, Unit]) -> None:
    """One row per collected (assignment, student): a later collect of the same student replaces it."""
    course_marks = read_late_marks(CourseConfig(course_dir=path.parent))
    for sid, unit in chosen.items():
        course_marks[(assignment, sid)] = {"late": sid in rep.late, "source": unit.label}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["assignment", "id", "late", "source"])
    w.writerows([a, sid, int(m["late"]), m["source"]] for (a, sid), m in sorted(course_marks.items()))
    write_private(path, buf.getvalue())


# --- CLI -------------------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    parser.add_argument("input", type=Path, metavar="ZIP_OR_DIR", help="LMS zip, folder per student, or loose files")
    parser.add_argument("--assignment", required=True, help="assignment id the submissions belong to")
    parser.add_argument("--roster", type=Path, default=None,
                        help="roster CSV (id,name; optional email, lms_id, nickname); default: COURSE/roster.csv")
    add_course_arguments(parser)


def run(args) -> int:
    course = course_from_args(args)
    rep = collect(args.input, course, args.assignment, args.roster)
    for note in rep.notes:
        print(f"note: {note}")
    counts = ", ".join(f"{sum(c == k for c in rep.changes.values())} {k}" for k in CHANGES)
    print(f"batch {rep.batch} of {args.assignment}: placed {len(rep.placed)} student(s) in "
          f"{course.course_dir / 'submitted'} ({counts}); {len(rep.kept)} kept from earlier batches; "
          f"{len(rep.missing)} on the roster without a submission after all batches")
    for sid, name, why in rep.invalid:
        print(f"  INVALID {sid}/{args.assignment}/{name}: {why} (copied: autograde will record an error)")
    for label, why in rep.unplaced:
        print(f"  cannot place {label}: {why}")
    for label, sid in rep.superseded:
        print(f"  {label}: older upload of {sid}, superseded")
    for label, why in rep.skipped:
        print(f"  skipped {label}: {why}")
    if rep.late:
        print(f"  marked late by the LMS: {', '.join(rep.late)} (recorded in {course.course_dir / LATE_MARKS})")
    print(f"report: {course.course_dir / f'collect_{args.assignment}.csv'} (this batch alone: {rep.history})")
    return 0
