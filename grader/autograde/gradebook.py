"""``python -m grader gradebook``: one CSV per student from baselines, autograde, report and lateness; Canvas import.

Inputs, joined by student id:

- baselines passed on public and private: the leaderboard's TA export ``baselines.csv`` (columns ``login`` (or
  ``id``), ``<baseline>_public``, ``<baseline>_private`` with 0/1; read tolerantly: a missing column counts as not
  passed and is reported; without per-baseline columns, ``best_public``/``final_private`` are compared with the
  competition config's thresholds);
- code: nbgrader's gradebook (``autograde``), the code assignments' score over their maximum;
- report: the report assignment's score (autograded plus manually graded cells) from nbgrader's gradebook. A TA
  grades the report in nbgrader's formgrader, or fills the CSV written by ``--report-template`` (one column per
  manually graded cell, with the rubric's points in the header, and ``comment``) and loads it with
  ``--report-scores`` (stored as nbgrader manual scores and manual comments, all rows or none). ``comment`` goes
  to the first written answer's cell, ``comment:<grade id>`` to that cell: nbgrader's feedback shows a comment
  under its cell, and ``grades.csv`` has them all in its ``comment`` column;
- late days, per assignment, the largest of: nbgrader's lateness (``timestamp.txt`` in the submission folder against
  the assignment's due date, set by ``release --duedate``) and the LMS's late mark that ``collect`` recorded in
  ``COURSE/late_marks.csv`` (the LMS says *that* a submission was late, not by how much: it counts as one started
  day); ``--late CSV`` (``id,late_days``, e.g. the LMS's own figures) overrides both. A student's late days are
  their latest assignment's; ``late_source`` says where they came from.

Totals follow :class:`GradeScheme` (TOML file with ``--scheme``; unknown keys raise). Default: each baseline 0.5 public
+ 0.5 private, code 2 points, report 4 points, no late penalty.

Only what is due counts: an assignment is graded once it is released (in nbgrader's gradebook) and its due date
(``release --duedate``, or ``--duedate ASSIGNMENT=DATE`` here) has passed; one without a due date counts once
released. Mid-term, the code points are the due code assignments' score over their maximum, the report points
count once the report is due, and ``max_total`` is what was gradable; an assignment not yet due is ``not_due`` in
``status`` (``not_released`` before its release), never ``missing``. A submission the grading machinery failed
on (``infrastructure_error`` in ``autograde_results.csv``) has no score yet: the command refuses to write the
gradebook while one is left (``python -m grader autograde`` run again grades it), unless the TA passes
``--accept-ungraded``; then it counts 0 of its maximum, with a warning and a note. Leaving it out of the maximum
instead would let a student raise their percentage by breaking the grading of a notebook that fails.

After ``--report-scores`` (or hand grading in formgrader), the feedback pages are out of date: the command says so,
from the fingerprint of the hand grading each page was written from (``feedback.stale_feedback``).

Every file written here (``grades.csv``, ``canvas_import.csv``, the report template) and the SQLite gradebook are
readable by the owner only (0600): they hold grades and names.
"""
from __future__ import annotations

import csv
import io
import math
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from common.config import Config, check_keys
from common.files import write_private
from grader.autograde.course import (CourseConfig, add_course_arguments, assignments_due, course_from_args,
                                     open_gradebook, protect_gradebook_db, utc_naive)
from grader.autograde.results import INFRASTRUCTURE_ERROR
from grader.errors import ConfigError, GraderError, UnknownKeyError
from grader.roster import Student
from starter_code.formats import STAGES

HELP = "Join baselines, autograde, report and late penalty into grades.csv and a Canvas import CSV."
BASELINES = STAGES
_ID_COLUMNS = ("id", "login", "student", "student_id")
_TRUE = {"1", "1.0", "true", "yes", "y", "passed", "pass", "x"}
_FALSE = {"0", "0.0", "false", "no", "n", "", "failed", "fail", "-"}


class ScoreFileError(GraderError):
    """A TA-side CSV (report scores, late days, leaderboard export) is malformed; names line, column and id."""


@dataclass
class GradeScheme(Config):
    """How the final grade is put together (points)."""
    key_error = UnknownKeyError
    baselines: list[str] = field(default_factory=lambda: list(BASELINES), metadata={
        "help": "Baselines that give points, in order."})
    baseline_public: float = field(default=0.5, metadata={"help": "Points per baseline passed on the public board."})
    baseline_private: float = field(default=0.5, metadata={"help": "Points per baseline passed on the private board."})
    code_points: float = field(default=2.0, metadata={
        "help": "Points for the code: code assignments' autograde score / their maximum, times this."})
    report_points: float = field(default=4.0, metadata={
        "help": "Points for the report: report assignments' score (auto + manual) / maximum, times this."})
    code_assignments: list[str] = field(default_factory=list, metadata={
        "help": "Assignments counted as code (empty: every assignment not in report_assignments)."})
    report_assignments: list[str] = field(default_factory=lambda: ["05_report"], metadata={
        "help": "Assignments counted as the report."})
    late_penalty_per_day: float = field(default=0.0, metadata={
        "help": "Share of the code and report points lost per started day late (0.1 = 10 %/day)."})
    late_max_days: int = field(default=7, metadata={"help": "Later than this: no code or report points at all."})
    canvas_column: str = field(default="HW8 Anomaly Detection", metadata={
        "help": "Assignment column name in the Canvas import CSV (append ' (<canvas id>)' to update one)."})

    @property
    def max_total(self) -> float:
        return len(self.baselines) * (self.baseline_public + self.baseline_private) + self.code_points + \
            self.report_points


def load_scheme(path: Path) -> GradeScheme:
    """A :class:`GradeScheme` from TOML (top level or a ``[gradebook]`` table); unknown keys raise
    ``UnknownKeyError`` (a ``ConfigError``) naming the file."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: grade scheme not found") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    raw = raw.get("gradebook", raw)
    check_keys(raw, GradeScheme, str(path), UnknownKeyError)
    return GradeScheme.from_dict(raw)


# --- reading the TA-side CSVs ---------------------------------------------------------------------------------------

def _rows(path: Path, what: str) -> tuple[list[str], list[tuple[int, dict]]]:
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError as e:
        raise ScoreFileError(f"{path}: {what} not found") from e
    except UnicodeDecodeError as e:
        raise ScoreFileError(f"{path}: not UTF-8 text (byte {e.start})") from e
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise ScoreFileError(f"{path}: empty {what}")
    reader.fieldnames = header
    return header, [(n, {k: (v or "").strip() for k, v in row.items() if k is not None})
                    for n, row in enumerate(reader, start=2)]


def _id_column(path, header) -> str:
    for c in _ID_COLUMNS:
        if c in header:
            return c
    raise ScoreFileError(f"{path}: line 1: no student id column (one of {', '.join(_ID_COLUMNS)}) in {header}")


def read_baselines(path: Path, scheme: GradeScheme, thresholds: dict | None = None
                   ) -> tuple[dict[str, dict[str, bool]], list[str]]:
    """``{student: {"simple_public": bool, ...}}`` and warnings, from the leaderboard's baselines export."""
    header, rows = _rows(path, "leaderboard export")
    idc = _id_column(path, header)
    warnings, out = [], {}
    wanted = [f"{b}_{s}" for b in scheme.baselines for s in ("public", "private")]
    absent = [c for c in wanted if c not in header]
    derive = {}
    for col in absent:
        b, split = col.rsplit("_", 1)
        src = "best_public" if split == "public" else "final_private"
        if thresholds and b in thresholds and src in header:
            derive[col] = (src, getattr(thresholds[b], split))
        else:
            warnings.append(f"{path}: no column {col}: counted as not passed")
    for n, row in rows:
        sid = row.get(idc, "")
        if not sid:
            raise ScoreFileError(f"{path}: line {n}, column '{idc}': empty student id")
        passed = {}
        for col in wanted:
            if col in derive:
                src, thr = derive[col]
                raw = row.get(src, "")
                try:
                    passed[col] = raw != "" and float(raw) >= thr      # the board's rule (rules.baselines_passed)
                except ValueError:
                    raise ScoreFileError(f"{path}: line {n}, column '{src}', id {sid}: {raw!r} is not a number")
                continue
            raw = row.get(col, "").lower()
            if raw in _TRUE:
                passed[col] = True
            elif raw in _FALSE or col in absent:
                passed[col] = False
            else:
                raise ScoreFileError(f"{path}: line {n}, column '{col}', id {sid}: {row.get(col)!r} is not 0/1")
        out[sid] = passed
    return out, warnings


def read_late_days(path: Path) -> dict[str, float]:
    header, rows = _rows(path, "late-days CSV")
    idc = _id_column(path, header)
    if "late_days" not in header:
        raise ScoreFileError(f"{path}: line 1: no late_days column in {header}")
    out = {}
    for n, row in rows:
        try:
            days = float(row["late_days"] or 0)
        except ValueError:
            raise ScoreFileError(f"{path}: line {n}, column 'late_days', id {row[idc]}: "
                                 f"{row['late_days']!r} is not a number") from None
        if days < 0 or not math.isfinite(days):
            raise ScoreFileError(f"{path}: line {n}, column 'late_days', id {row[idc]}: must be >= 0")
        out[row[idc]] = days
    return out


# --- manual report scores through nbgrader ------------------------------------------------------------------------

def manual_cells(course: CourseConfig, assignment: str) -> list[tuple[str, str, float]]:
    """``(notebook, grade_id, max_score)`` of the manually graded cells (grade + solution) of ``assignment``."""
    import nbformat
    out = []
    for name in course.notebooks(assignment):
        nb = nbformat.read(str(course.source_dir / assignment / f"{name}.ipynb"), as_version=4)
        for c in nb.cells:
            md = c.metadata.get("nbgrader", {})
            if md.get("grade") and md.get("solution"):
                out.append((name, md["grade_id"], float(md.get("points", 0))))
    return out


def report_template(course: CourseConfig, assignment: str, students: list[str]) -> str:
    """CSV text for the TA: ``id``, one column per manually graded cell (its grade id; the rubric is in
    ``COURSE/rubrics/<assignment>.md``, written by ``release``), and ``comment`` (for the student: it reaches the
    gradebook and the feedback page); one row per student."""
    cells = manual_cells(course, assignment)
    if not cells:
        raise GraderError(f"{assignment}: no manually graded cells")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id"] + [g for _, g, _ in cells] + ["comment"])
    for s in students:
        w.writerow([s] + [""] * len(cells) + [""])
    return buf.getvalue()


def import_report_scores(course: CourseConfig, assignment: str, path: Path) -> int:
    """Store a filled report CSV as nbgrader manual scores and comments (:func:`import_report`); returns the number
    of scores written."""
    return import_report(course, assignment, path).scores


@dataclass
class ReportImport:
    scores: int = 0          # manual scores written
    comments: int = 0        # manual comments written
    changed: int = 0         # of those, values the gradebook did not hold already


def import_report(course: CourseConfig, assignment: str, path: Path) -> ReportImport:
    """Store a filled report CSV as nbgrader manual scores and manual comments; every row is checked first, then
    all written or none.

    Columns: the id, one per manually graded cell (points), ``comment`` (stored on the first manually graded cell,
    where the feedback page shows it) and ``comment:<grade id>`` (on that cell). Blank cells leave the gradebook as
    it is (a comment written in formgrader stays).
    """
    header, rows = _rows(path, "report scores")
    idc = _id_column(path, header)
    cells = {g: (nb, mx) for nb, g, mx in manual_cells(course, assignment)}
    comment_cols = {"comment": next(iter(cells), None)} | {f"comment:{g}": g for g in cells}
    unknown = [h for h in header if h not in cells and h not in comment_cols and h not in (idc, "name")]
    if unknown:
        raise ScoreFileError(f"{path}: line 1: unknown column(s) {unknown}; manually graded cells of {assignment}: "
                             f"{', '.join(cells)} (comments: comment, comment:<cell>)")
    from nbgrader.api import MissingEntry
    writes, notes = [], []

    def find(what, n, sid, *args):
        try:
            return what(*args)
        except MissingEntry:
            raise ScoreFileError(f"{path}: line {n}, column '{idc}', id {sid}: no autograded {assignment} "
                                 f"submission in the gradebook (run autograde first)") from None

    with open_gradebook(course) as gb:
        try:
            for n, row in rows:
                sid = row[idc]
                if not sid:
                    raise ScoreFileError(f"{path}: line {n}, column '{idc}': empty student id")
                for gid, (nb, mx) in cells.items():
                    raw = row.get(gid, "")
                    if raw == "":
                        continue
                    try:
                        v = float(raw)
                    except ValueError:
                        raise ScoreFileError(f"{path}: line {n}, column '{gid}', id {sid}: {raw!r} is not a number")
                    if not (0 <= v <= mx):
                        raise ScoreFileError(f"{path}: line {n}, column '{gid}', id {sid}: {v:g} is outside 0..{mx:g}")
                    writes.append((find(gb.find_grade, n, sid, gid, nb, assignment, sid), v))
                for col, gid in comment_cols.items():
                    text = row.get(col, "")
                    if text and gid is not None:
                        notes.append((find(gb.find_comment, n, sid, gid, cells[gid][0], assignment, sid), text))
            out = ReportImport(len(writes), len(notes))
            for grade, v in writes:
                out.changed += grade.manual_score != v
                grade.manual_score = v
                grade.needs_manual_grade = False
            for comment, text in notes:
                out.changed += comment.manual_comment != text
                comment.manual_comment = text
            gb.db.commit()
        except BaseException:
            gb.db.rollback()
            raise
    return out


# --- the join -----------------------------------------------------------------------------------------------------

@dataclass
class StudentGrade:
    id: str
    name: str = ""
    lms_id: str = ""
    email: str = ""
    baselines: dict[str, bool] = field(default_factory=dict)
    code_raw: float = 0.0
    code_max: float = 0.0
    report_raw: float = 0.0
    report_max: float = 0.0
    late_days: float = 0.0
    late_source: str = ""          # "timestamp" (nbgrader), "lms" (collect's LMS mark), "csv" (--late)
    statuses: dict[str, str] = field(default_factory=dict)
    needs_manual_grade: bool = False
    notes: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)   # the graders' manual comments, "<assignment> <cell>: text"
    code_due: bool = True       # whether any code assignment is due yet (else its points are not in max_total)
    report_due: bool = True


def compute(g: StudentGrade, scheme: GradeScheme) -> dict:
    """The per-student row: points for each part, the late penalty and the total (rounded to 4 decimals)."""
    base = sum(scheme.baseline_public * g.baselines.get(f"{b}_public", False)
               + scheme.baseline_private * g.baselines.get(f"{b}_private", False) for b in scheme.baselines)
    code = scheme.code_points * (g.code_raw / g.code_max) if g.code_max else 0.0
    report = scheme.report_points * (g.report_raw / g.report_max) if g.report_max else 0.0
    days = math.ceil(g.late_days - 1e-9) if g.late_days > 0 else 0
    share = 1.0 if days > scheme.late_max_days else min(1.0, days * scheme.late_penalty_per_day)
    penalty = share * (code + report)
    row = {"id": g.id, "name": g.name}
    for b in scheme.baselines:
        row[f"{b}_public"] = int(g.baselines.get(f"{b}_public", False))
        row[f"{b}_private"] = int(g.baselines.get(f"{b}_private", False))
    max_total = scheme.max_total - scheme.code_points * (not g.code_due) - scheme.report_points * (not g.report_due)
    row.update({"baseline_points": base, "code_raw": g.code_raw, "code_max": g.code_max, "code_points": code,
                "report_raw": g.report_raw, "report_max": g.report_max, "report_points": report,
                "late": int(days > 0), "late_days": days, "late_source": g.late_source if days > 0 else "",
                "late_penalty": penalty, "total": base + code + report - penalty,
                "max_total": max_total,
                "status": " ".join(f"{a}:{s}" for a, s in sorted(g.statuses.items())),
                "needs_manual_grade": int(g.needs_manual_grade), "comment": "; ".join(g.comments),
                "notes": "; ".join(g.notes)})
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}


def _roster(course: CourseConfig) -> dict[str, Student]:
    path = course.course_dir / "roster.csv"
    if not path.is_file():
        return {}
    from grader.roster import read_roster
    return read_roster(path).by_id()


def _late_days(seconds_late: float, lms_late: bool) -> tuple[float, str]:
    """(days late, source) of one submission: nbgrader's figure, or one day when only the LMS says it was late."""
    days = max(0.0, seconds_late) / 86400
    if days > 0:
        return days, "timestamp"
    return (1.0, "lms") if lms_late else (0.0, "")


def scheme_assignments(course: CourseConfig, scheme: GradeScheme) -> tuple[list[str], list[str], list[str]]:
    """(code assignments, report assignments, warnings) of the scheme that exist in the course's source."""
    known = course.assignments()
    bad = [a for a in scheme.code_assignments + scheme.report_assignments if a not in known]
    warnings = [f"grade scheme names assignment {a!r}, not in {course.source_dir}" for a in bad]
    report = [a for a in scheme.report_assignments if a in known]
    code = [a for a in (scheme.code_assignments or [a for a in known if a not in report]) if a in known]
    return code, report, warnings


def set_due_dates(course: CourseConfig, dates: dict[str, datetime]) -> None:
    """Store each assignment's due date in nbgrader's gradebook (what ``release --duedate`` stores)."""
    known = course.assignments()
    for a in dates:
        if a not in known:
            raise GraderError(f"--duedate: unknown assignment {a!r}; in {course.source_dir}: {', '.join(known)}")
    with open_gradebook(course) as gb:
        for a, when in dates.items():
            gb.update_or_create_assignment(a, duedate=utc_naive(when))
    protect_gradebook_db(course)


def build_gradebook(course: CourseConfig, scheme: GradeScheme | None = None, *, baselines_csv: Path | None = None,
                    thresholds: dict | None = None, late_csv: Path | None = None, now: datetime | None = None
                    ) -> tuple[list[dict], list[str]]:
    """(rows, warnings): one row per student known to the roster, the gradebook or the leaderboard export, graded
    on the assignments due as of ``now`` (default: now; :func:`assignments_due`)."""
    from nbgrader.api import MissingEntry
    scheme = scheme or GradeScheme()
    code_all, report_all, warnings = scheme_assignments(course, scheme)
    due, later = assignments_due(course, code_all + report_all, now)
    code = [a for a in code_all if a in due]
    report = [a for a in report_all if a in due]
    roster = _roster(course)
    from grader.autograde.collect import read_late_marks
    marks = read_late_marks(course)
    grades: dict[str, StudentGrade] = {}

    def get(sid: str) -> StudentGrade:
        if sid not in grades:
            r = roster.get(sid)
            grades[sid] = StudentGrade(sid, r.name, r.lms_id, r.email) if r else StudentGrade(sid)
            if roster and sid not in roster:
                grades[sid].notes.append("not on the roster")
            # a part counts in max_total once one of its assignments is due (a scheme without one: always)
            grades[sid].code_due, grades[sid].report_due = bool(code) or not code_all, bool(report) or not report_all
            grades[sid].statuses.update({a: "not_released" if why == "not released" else "not_due"
                                         for a, why in later.items()})
        return grades[sid]

    for sid in roster:
        get(sid)
    from grader.autograde.results import read_results
    autograded = read_results(course.course_dir / "autograde_results.csv")
    # Not graded because the grading machinery failed (``run`` refuses to get here without --accept-ungraded).
    ungraded = infrastructure_errors(course, code + report)
    for (sid, a), message in sorted(ungraded.items()):
        get(sid)            # a student nbgrader never saw still gets a row, saying why it has no points
        warnings.append(f"{sid}/{a}: not graded, the grading machinery failed ({INFRASTRUCTURE_ERROR}: {message}); "
                        f"counted as 0 until `python -m grader autograde`, run again, grades it")
    with open_gradebook(course) as gb:
        maxima = {}
        for a in code + report:
            try:
                maxima[a] = float(gb.find_assignment(a).max_score)
            except MissingEntry:        # released after assignments_due looked: counted from the next run
                maxima[a] = 0.0
        for s in gb.students:
            get(s.id)
        for sid, g in grades.items():
            for a in code + report:
                lms_late = marks.get((a, sid), {}).get("late", False)
                try:
                    if (sid, a) in ungraded:
                        g.notes.append(f"{a} not graded yet ({INFRASTRUCTURE_ERROR}): counted as 0")
                        raise MissingEntry()
                    sub = gb.find_submission(a, sid)
                    score, seconds = float(sub.score), float(sub.total_seconds_late or 0)
                    if sub.needs_manual_grade:
                        g.needs_manual_grade = True
                    g.comments += [f"{a} {c.name}: {c.manual_comment}" for nb in sub.notebooks
                                   for c in nb.comments if c.manual_comment]
                except MissingEntry:      # due and nothing graded: missing (autograde's row, if any, says more)
                    score, seconds = 0.0, 0.0
                    g.statuses[a] = "missing"
                days, source = _late_days(seconds, lms_late)
                if days > g.late_days:
                    g.late_days, g.late_source = days, source
                if a in report:
                    g.report_raw += score
                    g.report_max += maxima[a]
                else:
                    g.code_raw += score
                    g.code_max += maxima[a]
    protect_gradebook_db(course)
    for r in autograded:
        if r["student"] in grades and r["assignment"] in code + report:
            g = grades[r["student"]]
            g.statuses[r["assignment"]] = r["status"]
            if r.get("tampering"):
                g.notes.append(f"{r['assignment']} tampering: {r['tampering']}")
    if baselines_csv is not None:
        passed, warn = read_baselines(baselines_csv, scheme, thresholds)
        warnings += warn
        for sid, p in passed.items():
            get(sid).baselines = p
    else:
        warnings.append("no leaderboard export given: no baseline points")
    if late_csv is not None:
        for sid, days in read_late_days(late_csv).items():
            get(sid).late_days, get(sid).late_source = days, "csv"
    for g in grades.values():
        if g.needs_manual_grade:
            g.notes.append("report not fully graded yet")
    return [compute(grades[s], scheme) for s in sorted(grades)], warnings


def write_gradebook(rows: list[dict], out_dir: Path, scheme: GradeScheme, roster: dict[str, Student] | None = None
                    ) -> tuple[Path, Path]:
    """Write ``grades.csv`` (every column) and ``canvas_import.csv`` (Canvas gradebook import format), both 0600."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["id"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    grades = write_private(out_dir / "grades.csv", buf.getvalue())
    roster = roster or {}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", scheme.canvas_column])
    # mid-term, what was gradable (every row has the same max_total)
    w.writerow(["Points Possible", "", "", "", "", f"{rows[0]['max_total'] if rows else scheme.max_total:g}"])
    for r in rows:
        st = roster.get(r["id"])
        login = (st.email.split("@")[0] if st and st.email else "") or r["id"]
        w.writerow([r["name"] or r["id"], st.lms_id if st else "", r["id"], login, "", f"{r['total']:g}"])
    canvas = write_private(out_dir / "canvas_import.csv", buf.getvalue())
    return grades, canvas


def infrastructure_errors(course: CourseConfig, assignments: list[str]) -> dict[tuple[str, str], str]:
    """(student, assignment) -> message of each ``infrastructure_error`` row of ``assignments`` in
    ``autograde_results.csv``: submissions the grading machinery failed on, not graded yet."""
    from grader.autograde.results import read_results
    return {(r["student"], r["assignment"]): r.get("message", "")
            for r in read_results(course.course_dir / "autograde_results.csv")
            if r["status"] == INFRASTRUCTURE_ERROR and r["assignment"] in assignments}


# --- CLI -------------------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    add_course_arguments(parser)
    parser.add_argument("--leaderboard", type=Path, default=None, metavar="CSV",
                        help="the leaderboard's TA export of baselines passed (login, <baseline>_public/_private)")
    parser.add_argument("--competition", type=Path, default=None,
                        help="competition.toml: thresholds used when the export has only best_public/final_private; "
                             "refused while they are not set for this term's data (grader init --baselines, kit "
                             "calibrate)")
    parser.add_argument("--accept-unset-thresholds", action="store_true",
                        help="grade with the competition's thresholds even though they were not set for this data")
    parser.add_argument("--accept-ungraded", action="store_true",
                        help=f"write the gradebook although some submissions are {INFRASTRUCTURE_ERROR} (the "
                             f"grading machinery failed on them): they count as 0")
    parser.add_argument("--scheme", type=Path, default=None, help="grade scheme TOML (see GradeScheme)")
    parser.add_argument("--report-scores", type=Path, default=None, metavar="CSV",
                        help="filled report CSV (from --report-template) to store as nbgrader manual scores first")
    parser.add_argument("--report-template", type=Path, default=None, metavar="CSV",
                        help="write a blank report-scores CSV for the roster and exit")
    parser.add_argument("--assignment", default=None,
                        help="assignment of --report-template/--report-scores (default: the scheme's report "
                             "assignment; code notebooks with written questions work the same way)")
    parser.add_argument("--late", type=Path, default=None, metavar="CSV",
                        help="id,late_days overriding nbgrader's lateness")
    parser.add_argument("--duedate", action="append", default=[], metavar="ASSIGNMENT=DATE",
                        help="store an assignment's due date (ISO, UTC, e.g. 01_simple=2026-10-04T15:59:59Z) in "
                             "nbgrader's gradebook first, as release --duedate does (repeatable)")
    parser.add_argument("--as-of", default=None, metavar="DATE",
                        help="grade the assignments due at this time (ISO, UTC; default: now)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: COURSE/gradebook)")


def _parse_date(text: str, what: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise GraderError(f"{what}: not an ISO date-time (e.g. 2026-10-04T15:59:59Z): {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _due_dates(values: list[str]) -> dict[str, datetime]:
    out = {}
    for v in values:
        a, sep, date = v.partition("=")
        if not sep or not a.strip():
            raise GraderError(f"--duedate {v!r}: expected ASSIGNMENT=DATE, e.g. 01_simple=2026-10-04T15:59:59Z")
        out[a.strip()] = _parse_date(date, f"--duedate {v!r}")
    return out


def run(args) -> int:
    course = course_from_args(args)
    scheme = load_scheme(args.scheme) if args.scheme else GradeScheme()
    now = _parse_date(args.as_of, "--as-of") if args.as_of else None
    if args.duedate:
        dates = _due_dates(args.duedate)
        set_due_dates(course, dates)
        print("due dates stored: " + ", ".join(f"{a} {d.isoformat()}" for a, d in dates.items()))
    report = args.assignment or (scheme.report_assignments[0] if scheme.report_assignments else None)
    if (args.report_template or args.report_scores) and report is None:
        raise ConfigError("the grade scheme has no report assignment: pass --assignment")
    if args.report_template:
        from grader.autograde.run import roster_ids
        write_private(args.report_template, report_template(course, report, roster_ids(course)))
        cols = ", ".join(f"{g} (0..{mx:g})" for _, g, mx in manual_cells(course, report))
        print(f"wrote {args.report_template}: one column per manually graded cell of {report}: {cols}; "
              f"the rubrics are in {course.course_dir / 'rubrics' / (report + '.md')}. Load it with --report-scores.")
        return 0
    if args.report_scores:
        done = import_report(course, report, args.report_scores)
        protect_gradebook_db(course)
        print(f"stored {done.scores} manual score(s) and {done.comments} comment(s) of {report} in the gradebook "
              f"({done.changed} changed)")
    thresholds = None
    if args.competition:
        from grader.competition import load_competition, threshold_problems
        competition = load_competition(args.competition)
        problems = threshold_problems(competition)
        if problems and not args.accept_unset_thresholds:
            raise GraderError(f"{args.competition}: the grade thresholds are not set for this term's data: "
                              + "; ".join(problems) + " (or --accept-unset-thresholds to grade with them anyway)")
        for problem in problems:
            print(f"warning: {args.competition}: {problem}")
        thresholds = competition.baselines
    code, report_all, _ = scheme_assignments(course, scheme)
    ungraded = infrastructure_errors(course, code + report_all)
    if ungraded and not args.accept_ungraded:
        raise GraderError(f"{len(ungraded)} submission(s) not graded because the grading machinery failed "
                          f"({INFRASTRUCTURE_ERROR}): " + ", ".join(f"{s}/{a}" for s, a in sorted(ungraded)) +
                          "; run `python -m grader autograde` again (it grades exactly these), or pass "
                          "--accept-ungraded to count them as 0")
    rows, warnings = build_gradebook(course, scheme, baselines_csv=args.leaderboard, thresholds=thresholds,
                                     late_csv=args.late, now=now)
    for w in warnings:
        print(f"warning: {w}")
    due, later = assignments_due(course, code + report_all, now)
    if later:
        print(f"graded as of {'--as-of ' + args.as_of if now else 'now'}: {', '.join(due) or 'nothing yet'}; not "
              f"counted: " + ", ".join(f"{a} ({why})" for a, why in later.items()))
    grades, canvas = write_gradebook(rows, args.out or course.course_dir / "gradebook", scheme, _roster(course))
    pending = sum(r["needs_manual_grade"] for r in rows)
    print(f"{len(rows)} students -> {grades} and {canvas}" + (f"; {pending} still need manual grading" if pending
                                                              else ""))
    from grader.autograde.feedback import stale_feedback
    stale = stale_feedback(course)
    if stale:
        shown = ", ".join(f"{s}/{a}" for s, a in stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
        print(f"reminder: hand scores or comments changed since the feedback pages of {len(stale)} submission(s) "
              f"were written ({shown}): run `python -m grader feedback` to rewrite them (`--zip DIR` also packs one "
              f"zip per student)")
    return 0
