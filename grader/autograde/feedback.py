"""Per-student HTML feedback without hidden tests (nbgrader's GenerateFeedback plus one preprocessor).

nbgrader restores each test cell's full *source* version (hidden tests included) while autograding, and its feedback
shows the autograded notebook as is. :class:`HideHiddenTests` removes the hidden region from every cell's source and,
in cells that had one, replaces error tracebacks (which quote the failing hidden line) by ``ename: evalue``.
"""
from __future__ import annotations

from pathlib import Path

HIDDEN_NOTE = "(traceback hidden: this test cell has hidden tests)"


def hide_hidden_tests_preprocessor():
    """The preprocessor class (built lazily: nbgrader is imported only in workers)."""
    from nbgrader.preprocessors import ClearHiddenTests

    class HideHiddenTests(ClearHiddenTests):
        """ClearHiddenTests that also scrubs tracebacks of the cells it changed."""

        def preprocess_cell(self, cell, resources, cell_index):
            removed = self._remove_hidden_test_region(cell)
            if removed and cell.cell_type == "code":
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "error":
                        out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}", HIDDEN_NOTE]
            return cell, resources

    return HideHiddenTests


def feedback_config() -> dict:
    """nbgrader config entries (``Class.trait`` -> value) that make GenerateFeedback hide hidden tests."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades
    return {"GenerateFeedback.preprocessors": [GetGrades, hide_hidden_tests_preprocessor(),
                                               CSSHTMLHeaderPreprocessor]}


def feedback_files(course_dir: Path, student: str, assignment: str) -> list[Path]:
    return sorted((Path(course_dir) / "feedback" / student / assignment).glob("*.html"))


def regenerate_feedback(course, assignments: list[str] | None = None, students: list[str] | None = None
                        ) -> tuple[list[Path], list[str]]:
    """Rewrite the HTML feedback of every autograded submission (e.g. after manual grading); nothing is executed.

    Returns (pages written, error messages). ``course`` is a ``CourseConfig``.
    """
    from grader.autograde.course import make_api
    api = make_api(course, **feedback_config())
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
