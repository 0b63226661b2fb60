"""``nbgrader autograde`` through its Python API, in smoke mode on the tiny data set.

A student who solved everything (the source notebook submitted as is) gets full marks on the code parts, and
every cell of their notebook runs without error, end to end: this is the source notebooks' execution proof
(nbgrader executes them with nbclient, hidden tests restored). The unchanged release gets zero for the code
parts. Written answers are left to a human either way.

Each source notebook takes ~10-20 s to execute on 2 busy cores; all five run in the fast suite. The unchanged
releases stop at their first answer cell, so they are cheap, but only two run in the fast suite (one with written
answers); the others are marked slow.
"""
from __future__ import annotations

import pytest

from assignments import ASSIGNMENTS

pytestmark = [pytest.mark.usefixtures("notebook_environ"),
              pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]  # nbgrader 0.9.6 internals

FAST_RELEASE = ("01_simple", "05_report")


def _cell_points(nb) -> dict[str, float]:
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solved_notebook_runs_end_to_end_with_full_code_marks(course, assignment):
    grade = course.autograde(assignment, "solver", course.source_notebook(assignment))
    assert grade.errors == [], f"{assignment}: cells failed when run as a solved submission: {grade.errors}"
    assert grade.max_code_score > 0
    assert grade.code_score == grade.max_code_score, f"{assignment}: {grade.code_score}/{grade.max_code_score}"
    # The written (markdown answer) cells, if any, wait for a human and carry their points.
    written = {k: v for k, v in _cell_points(grade.notebook).items()
               if next(c for c in grade.notebook.cells if c.get("id") == k).cell_type == "markdown"}
    assert grade.max_written_score == sum(written.values())
    assert grade.needs_manual_grade == bool(written)
    # The run wrote the submission (smoke mode: the tiny set's 128 test rows, as prediction_smoke.csv) where the
    # notebook ran.
    sub = course.root / "autograded" / "solver" / assignment / "prediction_smoke.csv"
    assert sub.is_file() and len(sub.read_text().splitlines()) == 1 + 128


@pytest.mark.parametrize("assignment", [a if a in FAST_RELEASE else pytest.param(a, marks=pytest.mark.slow)
                                        for a in ASSIGNMENTS])
def test_unchanged_release_scores_zero_on_code(course, assignment):
    grade = course.autograde(assignment, "blank", course.release_notebook(assignment))
    assert grade.max_code_score > 0
    assert grade.code_score == 0, f"{assignment}: the unchanged release earned {grade.code_score} points"
    assert grade.written_score == 0
    assert grade.errors and grade.errors[0][1] == "NotImplementedError", grade.errors


def _variant(course, tmp_path, assignment, old, new):
    """The source notebook with one answer line changed (a student's mistake)."""
    import nbformat

    nb = nbformat.read(course.source_notebook(assignment), 4)
    cell = next(c for c in nb.cells if c.get("id") == "train")
    assert old in cell.source
    cell.source = cell.source.replace(old, new)
    path = tmp_path / f"{assignment}.ipynb"
    nbformat.write(nb, path)
    return path


ANSWER = "scores_all = result.model, result.history, result.scores"


@pytest.mark.slow
def test_hidden_tests_are_restored_when_grading(course, tmp_path):
    """Test scores in reverse row order pass every visible test, and lose the shape cell's point to its hidden
    part (copies of test rows no longer score like their rows)."""
    path = _variant(course, tmp_path, "01_simple", ANSWER,
                    ANSWER + "\nscores_all = np.concatenate([scores_all[:len(test)][::-1], scores_all[len(test):]])")
    grade = course.autograde("01_simple", "shuffler", path)
    assert grade.errors == [("test_scores_shape", "AssertionError")], grade.errors
    assert grade.code_score == grade.max_code_score - 1


@pytest.mark.slow
def test_flipped_score_loses_the_direction_points(course, tmp_path):
    path = _variant(course, tmp_path, "01_simple", ANSWER, ANSWER.replace("result.scores", "-result.scores"))
    grade = course.autograde("01_simple", "flipper", path)
    assert grade.errors == [("test_score_direction", "AssertionError")], grade.errors
    assert grade.code_score == grade.max_code_score - 2
