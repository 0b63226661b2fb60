"""Per-student HTML feedback that helps and leaks nothing (nbgrader's GenerateFeedback plus one step).

nbgrader puts each test cell's full *source* version (hidden tests included) into the autograded notebook, and its
feedback shows that notebook as is. :class:`HideHiddenTests` changes what the page shows:

- **hidden tests**: the hidden region is removed from the source of every *test* cell (the release's cells; a
  marker a student types in their own cell is just text and cannot break the page), and a failed test cell that
  had one shows only its name and the TA's message (``HideHiddenTests.failure_messages`` by test name in the
  course's ``nbgrader_config.py``, else ``failure_message``): an assertion's text would say what the hidden test
  checks;
- **server paths** (course folder, kit, venv, temp, home and grading-data folders) are removed from every source
  and output; sandboxed kernels only ever see ``/hw8/...``, an unsandboxed run (``--unsafe-no-sandbox``) would show
  them in tracebacks;
- **size**: a cell's source or one output's text longer than ``max_chars``, or an image larger than
  ``max_image_chars``, is cut with a note, so a 50 MB output does not make a 50 MB page.

Student outputs and markdown may carry script, event handlers, ``javascript:`` links or iframes: the HTML exporter
runs with nbconvert's ``sanitize_html`` (bleach), which drops scripts and JavaScript outputs and escapes every tag
and attribute outside its allow-list. ``feedback_config`` sets it for feedback; the course's ``nbgrader_config.py``
sets it for the TA's formgrader too.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

#: What a failed test cell with hidden tests shows after its name, unless the TA set a message for that test.
FAILURE_MESSAGE = ("This test failed. It runs checks you cannot see, on inputs your notebook never saw: re-read "
                   "the task's instructions and check your code in smoke mode.")
#: Longest text (characters) a cell's source or one output keeps in feedback.
MAX_CHARS = 100_000
#: Largest image (base64 characters, ~1.5 MB of PNG) one output keeps.
MAX_IMAGE_CHARS = 2_000_000
#: What a server path becomes in feedback.
PATH_MARK = "…"
_SCRATCH = re.compile(re.escape(tempfile.gettempdir().rstrip("/")) + r"/hw8-[A-Za-z0-9_-]+")


def default_server_paths(course=None, data_dir=None) -> list[str]:
    """Paths of the grading machine that must not appear in a student's feedback (``data_dir``: the grading
    data's folder, which a kernel sees as ``/hw8/data``)."""
    import sys
    paths = [str(Path(__file__).resolve().parents[2]), str(Path(sys.prefix).resolve()),
             os.path.realpath(sys.base_prefix), str(Path.home()), os.getcwd()]
    if course is not None:
        paths += [str(Path(course.course_dir).resolve()), str(Path(course.source).resolve())]
    if data_dir is not None:
        paths += [str(Path(data_dir)), str(Path(data_dir).resolve())]
    return paths


def scrub_paths(text: str, paths: list[str]) -> str:
    """``text`` with every occurrence of one of ``paths`` (longest first, as a path prefix) replaced by ``…``."""
    for p in sorted({p.rstrip("/") for p in paths if p and p.rstrip("/")}, key=len, reverse=True):
        text = re.sub(re.escape(p) + r"(?=[/\s'\":,)\]]|$)", PATH_MARK, text)
    # per-notebook scratch folders (sandbox.Scratch) wherever the temp folder is
    return _SCRATCH.sub(PATH_MARK, text)


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with a note saying how much was left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[… {len(text) - limit:,} more characters left out of this page]"


def _cap_outputs(outputs: list, max_chars: int, max_image_chars: int) -> list:
    for out in outputs:
        if "text" in out and isinstance(out["text"], str):
            out["text"] = cut(out["text"], max_chars)
        data = out.get("data", {})
        for mime in list(data):
            value = data[mime]
            if not isinstance(value, str):
                continue
            if mime.startswith("image/") and mime != "image/svg+xml" and len(value) > max_image_chars:
                del data[mime]
                data["text/plain"] = f"[an image of {len(value) * 3 // 4:,} bytes, too large for this page]"
            elif len(value) > max_chars:
                data[mime] = cut(value, max_chars)
        if isinstance(out.get("traceback"), list):
            out["traceback"] = [cut(line, max_chars) for line in out["traceback"][:200]]
    return outputs


def is_test_cell(cell) -> bool:
    """An nbgrader autograder-test cell (graded, not a solution): the release's, restored before grading."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _scrub_node(node, paths):
    if isinstance(node, str):
        return scrub_paths(node, paths)
    if isinstance(node, list):
        return [_scrub_node(x, paths) for x in node]
    if isinstance(node, dict):
        for k in list(node):
            node[k] = _scrub_node(node[k], paths)
        return node
    return node


def hide_hidden_tests_preprocessor():
    """The preprocessor class (built lazily: nbgrader is imported only in workers)."""
    from nbgrader.preprocessors import ClearHiddenTests
    from traitlets import Dict, Int, List, Unicode

    class HideHiddenTests(ClearHiddenTests):
        """ClearHiddenTests on test cells only, failed hidden tests named but not quoted, server paths removed
        everywhere, sizes capped."""
        server_paths = List([], help="Paths of the grading machine to remove from outputs.").tag(config=True)
        failure_message = Unicode(FAILURE_MESSAGE, help="What a failed test cell with hidden tests shows after "
                                  "its name.").tag(config=True)
        failure_messages = Dict({}, help="Per test (nbgrader grade id): the message a failed test cell with "
                                "hidden tests shows instead of failure_message.").tag(config=True)
        max_chars = Int(MAX_CHARS, help="Longest source or output text kept per cell.").tag(config=True)
        max_image_chars = Int(MAX_IMAGE_CHARS, help="Largest image (base64 characters) kept.").tag(config=True)

        def preprocess_cell(self, cell, resources, cell_index):
            if is_test_cell(cell) and self._remove_hidden_test_region(cell):
                name = cell.metadata.nbgrader.get("grade_id", f"cell {cell_index}")
                message = self.failure_messages.get(name, self.failure_message)
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "error":
                        out["ename"], out["evalue"] = "Failed", f"{name}: {message}"
                        out["traceback"] = [f"{name} failed: {message}"]
            paths = list(self.server_paths) or default_server_paths()
            if cell.cell_type == "code":
                outputs = _cap_outputs(cell.get("outputs", []), self.max_chars, self.max_image_chars)
                cell["outputs"] = _scrub_node(outputs, paths)
            cell["source"] = scrub_paths(cut(cell.get("source", ""), self.max_chars), paths)
            return cell, resources

    return HideHiddenTests


def feedback_config(server_paths: list[str] | None = None) -> dict:
    """nbgrader config entries (``Class.trait`` -> value) that make GenerateFeedback hide hidden tests and paths,
    cap sizes and sanitise every output and markdown cell."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades
    return {"GenerateFeedback.preprocessors": [GetGrades, hide_hidden_tests_preprocessor(),
                                               CSSHTMLHeaderPreprocessor],
            "HideHiddenTests.server_paths": list(server_paths or default_server_paths()),
            "HTMLExporter.sanitize_html": True}


def protect_feedback(course_dir: Path, student: str, assignment: str) -> list[Path]:
    """Make the feedback pages of one submission readable by the TA's account only (0600) and return them: they
    reach the student through the LMS, never through other users of the grading machine."""
    pages = sorted((Path(course_dir) / "feedback" / student / assignment).glob("*.html"))
    for page in pages:
        os.chmod(page, 0o600)
    return pages


def regenerate_feedback(course, assignments: list[str] | None = None, students: list[str] | None = None
                        ) -> tuple[list[Path], list[str]]:
    """Rewrite the HTML feedback of every autograded submission (e.g. after manual grading); nothing is executed.

    Returns (pages written, error messages). ``course`` is a ``CourseConfig``.
    """
    from grader.autograde.course import make_api
    api = make_api(course, **feedback_config(default_server_paths(course)))
    root = course.course_dir / "autograded"
    pages, errors, written = [], [], []
    for sdir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if students and sdir.name not in students:
            continue
        for adir in sorted(p for p in sdir.iterdir() if p.is_dir()):
            if assignments and adir.name not in assignments:
                continue
            res = api.generate_feedback(adir.name, sdir.name, force=True)
            if res.get("success"):
                pages += protect_feedback(course.course_dir, sdir.name, adir.name)
                written.append((sdir.name, adir.name))
            else:
                errors.append(f"{sdir.name}/{adir.name}: feedback failed")
    record_hand_grading(course, written)
    return pages, errors


# What the pages were written from, so that ``gradebook`` can remind the TA to rewrite them after hand grading.
HAND_GRADING_MARK = ".hand_grading.json"


def hand_grading(gb, assignment: str, student: str) -> str:
    """A fingerprint of one submission's hand grading in nbgrader's gradebook (manual scores, extra credit, manual
    comments; formgrader's or ``--report-scores``'); "" when there is none, as when autograde wrote the pages."""
    import hashlib
    import json
    from nbgrader.api import MissingEntry
    try:
        sub = gb.find_submission(assignment, student)
    except MissingEntry:
        return ""
    items = []
    for nb in sub.notebooks:
        items += [["grade", nb.name, g.name, g.manual_score, g.extra_credit] for g in nb.grades
                  if g.manual_score is not None or g.extra_credit]
        items += [["comment", nb.name, c.name, c.manual_comment] for c in nb.comments if c.manual_comment]
    return hashlib.sha256(json.dumps(sorted(items, key=str)).encode()).hexdigest() if items else ""


def _marks_path(course) -> Path:
    return Path(course.course_dir) / "feedback" / HAND_GRADING_MARK


def _read_marks(course) -> dict:
    import json
    try:
        return json.loads(_marks_path(course).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}


def record_hand_grading(course, written: list[tuple[str, str]]) -> None:
    """Remember the hand grading each (student, assignment)'s new pages show (``COURSE/feedback/`` + mark, 0600)."""
    if not written:
        return
    import json
    from common.files import write_private
    from grader.autograde.course import open_gradebook
    marks = _read_marks(course)
    with open_gradebook(course) as gb:
        for student, assignment in written:
            marks[f"{student}/{assignment}"] = hand_grading(gb, assignment, student)
    write_private(_marks_path(course), json.dumps(marks, indent=1, sort_keys=True))


def stale_feedback(course) -> list[tuple[str, str]]:
    """(student, assignment) whose feedback pages exist but predate their hand grading in the gradebook."""
    root = Path(course.course_dir) / "feedback"
    folders = sorted((s.name, a.name) for s in root.iterdir() if s.is_dir() for a in s.iterdir()
                     if a.is_dir() and any(a.glob("*.html"))) if root.is_dir() else []
    if not folders:
        return []
    from grader.autograde.course import open_gradebook
    marks = _read_marks(course)
    with open_gradebook(course) as gb:
        return [(s, a) for s, a in folders if hand_grading(gb, a, s) != marks.get(f"{s}/{a}", "")]
