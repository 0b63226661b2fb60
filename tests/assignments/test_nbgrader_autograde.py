"""``nbgrader autograde`` through its Python API, in smoke mode on the tiny data set.

The source notebook submitted as is runs every cell without error, end to end: this is the source notebooks'
execution proof (nbgrader executes them with nbclient, hidden tests restored). Its code tests fail, each in its
hidden part, because every one of them judges the model on the secret probes that only the course's autograder
hands its test kernel (the full marks of solved answers are proven there: ``tests/autograde/test_no_work.py``,
``test_no_work_report.py`` and ``test_no_work_models.py``). The unchanged release gets zero for the code parts.
Written answers are left to a human either way.

Each source notebook takes ~10-20 s to execute on 2 busy cores: 02-04 run in the fast suite, 01 and 05 (whose
solved answers the course's autograder runs end to end in the fast suite) are slow. The unchanged releases stop at
their first answer cell, so they are cheap; only 05's (with written answers) runs in the fast suite.
"""
from __future__ import annotations

import pytest

from assignments import ASSIGNMENTS

pytestmark = [pytest.mark.usefixtures("notebook_environ"),
              pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]  # nbgrader 0.9.6 internals

FAST_RELEASE = ("05_report",)  # 01's unchanged release is graded in tests/autograde/test_no_work.py


def _cell_points(nb) -> dict[str, float]:
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")}


#: Where the code tests fail under plain nbgrader, in notebook order: each hidden test judges the model (or what the
#: notebook's functions returned in the probe step) on the secret probes, which only the course's autograder
#: (``grader/autograde``) hands its test kernel.
JUDGED_ON_SECRET_PROBES = {
    "01_simple": ["test_model_learned", "test_model_separates", "test_submission_file"],
    "02_medium": ["test_score_function", "test_scores_separate", "test_submission_file"],
    "03_strong": ["test_score_function", "test_scores_separate", "test_encoders", "test_submission_file"],
    "04_boss": ["test_autoencoder", "test_anomalies", "test_classifier", "test_combination", "test_score_function",
                "test_scores_separate", "test_submission_file"],
    "05_report": ["test_latent_adjustments", "test_figure_architecture", "test_edit_latent"],
}


#: 01's and 05's solved answers run every cell of the released notebook in the course's autograder in the fast tier
#: (``tests/autograde/test_no_work.py``, ``test_no_work_report.py``); here they are slow.
@pytest.mark.parametrize("assignment", [pytest.param(a, marks=pytest.mark.slow) if a in ("01_simple", "05_report")
                                        else a for a in ASSIGNMENTS])
def test_solved_notebook_runs_end_to_end_and_plain_nbgrader_gives_no_code_point(course, assignment):
    """The source notebook, submitted as is, runs every cell (this is its execution proof: nbgrader executes it with
    nbclient, hidden tests restored), and every code test fails only where its hidden part reads ``secret_probes``
    (``NameError``): plain nbgrader never passes them. The solved answers are proven end to end, with every code
    point, by ``tests/autograde/test_no_work.py`` (01), ``test_no_work_report.py`` (05) and
    ``test_no_work_models.py`` (02-05)."""
    grade = course.autograde(assignment, "solver", course.source_notebook(assignment))
    assert grade.max_code_score > 0 and grade.code_score == 0
    assert grade.errors == [(t, "NameError") for t in JUDGED_ON_SECRET_PROBES[assignment]], grade.errors
    # The written (markdown answer) cells, if any, wait for a human and carry their points.
    written = {k: v for k, v in _cell_points(grade.notebook).items()
               if next(c for c in grade.notebook.cells if c.get("id") == k).cell_type == "markdown"}
    assert grade.max_written_score == sum(written.values())
    assert grade.needs_manual_grade == bool(written)
    # The run wrote the submission (smoke mode: the tiny set's 128 test rows, as prediction_smoke.csv) where the
    # notebook ran.
    sub = course.root / "autograded" / "solver" / assignment / "prediction_smoke.csv"
    assert sub.is_file() and len(sub.read_text().splitlines()) == 1 + 128
    out = next(c for c in grade.notebook.cells if c.get("id") == JUDGED_ON_SECRET_PROBES[assignment][0]).outputs
    assert any("secret_probes" in o.get("evalue", "") for o in out), out


@pytest.mark.parametrize("assignment", [a if a in FAST_RELEASE else pytest.param(a, marks=pytest.mark.slow)
                                        for a in ASSIGNMENTS])
def test_unchanged_release_scores_zero_on_code(course, assignment):
    grade = course.autograde(assignment, "blank", course.release_notebook(assignment))
    assert grade.max_code_score > 0
    assert grade.code_score == 0, f"{assignment}: the unchanged release earned {grade.code_score} points"
    assert grade.written_score == 0
    assert grade.errors and grade.errors[0][1] == "NotImplementedError", grade.errors


def _answered(course, tmp_path, assignment, answers: dict[str, str]):
    """The source notebook with whole answer cells (by grade id) replaced by a student's own code."""
    import nbformat

    nb = nbformat.read(course.source_notebook(assignment), 4)
    cells = {c.get("id"): c for c in nb.cells}
    for cell_id, code in answers.items():
        src = cells[cell_id].source
        start, end = src.index("### BEGIN SOLUTION"), src.index("### END SOLUTION") + len("### END SOLUTION")
        indent = src[src.rindex("\n", 0, start) + 1:start] if "\n" in src[:start] else src[:start]
        cells[cell_id].source = src[:start] + code.strip().replace("\n", "\n" + indent) + src[end:]
    path = tmp_path / f"{assignment}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.slow  # the course's autograder fails the same answer in the fast tier (test_no_work_report.py)
def test_report_fails_an_answer_that_scales_a_row(course, tmp_path):
    """`z[0] = 2 * z[0]` on a batch doubles face 0's whole code: the latent test says so, visibly."""
    code = """
import torch
from starter_code.data import from_model_output, to_model_input
CHANGES = {0: 2.0, 1: -1.0}
model.eval()
with torch.no_grad():
    z = model.encode(to_model_input(faces))
    adjusted = {"original": faces, "reconstruction": from_model_output(model.decode(z))}
    for i, factor in CHANGES.items():
        z_changed = z.clone()
        z_changed[i] = factor * z[i]  # a row: face i's whole code
        adjusted[f"z[{i}] = {factor:g} * z[{i}]"] = from_model_output(model.decode(z_changed))
figure = report.plot_latent_adjustments(adjusted, path=env.path("latent_adjustments.png"))
"""
    nb_path = _answered(course, tmp_path, "05_report", {"q2_adjust": "from solutions import report\n" + code})
    grade = course.autograde("05_report", "row_scaler", nb_path)
    # The figure's point needs the adjustments judged first: without them its hidden part fails too.
    assert grade.errors == [("test_latent_adjustments", "AssertionError"), ("test_figure_architecture", "NameError"),
                            ("test_edit_latent", "NameError")], grade.errors
    out = next(c for c in grade.notebook.cells if c.get("id") == "test_latent_adjustments").outputs
    assert any("changed only face(s) [0]" in o.get("evalue", "") for o in out), out
    assert grade.code_score == 0
