"""Per-student HTML feedback without hidden tests or server paths (nbgrader's GenerateFeedback plus one step).

nbgrader puts each test cell's full *source* version (hidden tests included) into the autograded notebook, and its
feedback shows that notebook as is. :class:`HideHiddenTests` removes the hidden region from every cell's source
and, in cells that had one, replaces error tracebacks (which quote the failing hidden line) by ``ename: evalue``.
Hidden tests run only in the test kernel (``execute.py``), which never ran student code, so no output of the
student's can contain them. Every output is also cleaned of the grading machine's paths (course folder, kit, venv,
temp and home folders), which an unsandboxed run (``--unsafe-no-sandbox``) would otherwise show in tracebacks;
sandboxed kernels only ever see ``/hw8/...``.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

HIDDEN_NOTE = "(traceback hidden: this test cell has hidden tests)"
#: What a server path becomes in feedback.
PATH_MARK = "…"
_SCRATCH = re.compile(re.escape(tempfile.gettempdir().rstrip("/")) + r"/hw8-[A-Za-z0-9_-]+")


def default_server_paths(course=None) -> list[str]:
    """Paths of the grading machine that must not appear in a student's feedback."""
    import sys
    paths = [str(Path(__file__).resolve().parents[2]), str(Path(sys.prefix).resolve()),
             os.path.realpath(sys.base_prefix), str(Path.home()), os.getcwd()]
    if course is not None:
        paths += [str(Path(course.course_dir).resolve()), str(Path(course.source).resolve())]
    return paths


def scrub_paths(text: str, paths: list[str]) -> str:
    """``text`` with every occurrence of one of ``paths`` (longest first, as a path prefix) replaced by ``…``."""
    for p in sorted({p.rstrip("/") for p in paths if p and p.rstrip("/")}, key=len, reverse=True):
        text = re.sub(re.escape(p) + r"(?=[/\s'\":,)\]]|$)", PATH_MARK, text)
    # per-notebook scratch folders (sandbox.Scratch) wherever the temp folder is
    return _SCRATCH.sub(PATH_MARK, text)


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
    from traitlets import List

    class HideHiddenTests(ClearHiddenTests):
        """ClearHiddenTests that also scrubs tracebacks of the cells it changed, and server paths everywhere."""
        server_paths = List([], help="Paths of the grading machine to remove from outputs.").tag(config=True)

        def preprocess_cell(self, cell, resources, cell_index):
            removed = self._remove_hidden_test_region(cell)
            if removed and cell.cell_type == "code":
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "error":
                        out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}", HIDDEN_NOTE]
            paths = list(self.server_paths) or default_server_paths()
            if cell.cell_type == "code":
                cell["outputs"] = _scrub_node(cell.get("outputs", []), paths)
            cell["source"] = scrub_paths(cell.get("source", ""), paths)
            return cell, resources

    return HideHiddenTests


def feedback_config(server_paths: list[str] | None = None) -> dict:
    """nbgrader config entries (``Class.trait`` -> value) that make GenerateFeedback hide hidden tests and paths."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades
    return {"GenerateFeedback.preprocessors": [GetGrades, hide_hidden_tests_preprocessor(),
                                               CSSHTMLHeaderPreprocessor],
            "HideHiddenTests.server_paths": list(server_paths or default_server_paths())}


def feedback_files(course_dir: Path, student: str, assignment: str) -> list[Path]:
    return sorted((Path(course_dir) / "feedback" / student / assignment).glob("*.html"))


def regenerate_feedback(course, assignments: list[str] | None = None, students: list[str] | None = None
                        ) -> tuple[list[Path], list[str]]:
    """Rewrite the HTML feedback of every autograded submission (e.g. after manual grading); nothing is executed.

    Returns (pages written, error messages). ``course`` is a ``CourseConfig``.
    """
    from grader.autograde.course import make_api
    api = make_api(course, **feedback_config(default_server_paths(course)))
    root = course.course_dir / "autograded"
    pages, errors = [], []
    for sdir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if students and sdir.name not in students:
            continue
        for adir in sorted(p for p in sdir.iterdir() if p.is_dir()):
            if assignments and adir.name not in assignments:
                continue
            res = api.generate_feedback(adir.name, sdir.name, force=True)
            if res.get("success"):
                pages += feedback_files(course.course_dir, sdir.name, adir.name)
            else:
                errors.append(f"{sdir.name}/{adir.name}: feedback failed")
    return pages, errors
