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


#: Their code tests judge the model on the secret probes that only the course's autograder has.
PROBED = ("01_simple", "05_report")


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if a not in PROBED])
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


@pytest.mark.parametrize("assignment, failing", [
    ("01_simple", [("test_model_learned", "NameError"), ("test_model_separates", "NameError"),
                   ("test_submission_file", "NameError")]),
    ("05_report", [("test_latent_adjustments", "NameError"), ("test_figure_architecture", "NameError")])])
def test_plain_nbgrader_gives_no_code_point_where_the_tests_judge_a_model(course, assignment, failing):
    """01's and 05's hidden tests judge the model on the secret probes, which only the course's autograder
    (``grader/autograde``) hands its test kernel: plain nbgrader fails them (``NameError``), never passes them. The
    solved notebooks are proven end to end by ``tests/autograde/test_no_work.py``."""
    grade = course.autograde(assignment, "solver", course.source_notebook(assignment))
    assert grade.max_code_score > 0 and grade.code_score == 0
    assert grade.errors == failing, grade.errors


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
    path = _variant(course, tmp_path, "02_medium", ANSWER,
                    ANSWER + "\nscores_all = np.concatenate([scores_all[:len(test)][::-1], scores_all[len(test):]])")
    grade = course.autograde("02_medium", "shuffler", path)
    assert grade.errors == [("test_scores_shape", "AssertionError")], grade.errors
    assert grade.code_score == grade.max_code_score - 1


@pytest.mark.slow
def test_flipped_score_loses_the_direction_points(course, tmp_path):
    path = _variant(course, tmp_path, "02_medium", ANSWER, ANSWER.replace("result.scores", "-result.scores"))
    grade = course.autograde("02_medium", "flipper", path)
    assert grade.errors == [("test_score_direction", "AssertionError")], grade.errors
    assert grade.code_score == grade.max_code_score - 2


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


#: 04_boss answered from its instructions alone, with nothing but starter_code, numpy and torch (no `solutions`).
BOSS_STUDENT = {
    "autoencoder": """
reference, fit_faces = train[:len(train) // 8], train[len(train) // 8:]
ae, ae_history = build_and_fit(fit_faces, cfg)
ae_scores_all = anomaly_scores(ae, images_to_score)
""",
    "make_anomalies": """
rng = np.random.default_rng(seed)
out = np.array(faces)
for i in range(len(out)):  # a square of random pixels somewhere on each face
    y, x = rng.integers(0, 40, size=2)
    out[i, y:y + 24, x:x + 24] = rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
return out
""",
    "classifier": """
clf = nn.Sequential(nn.Conv2d(3, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(),
                    nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(64, 1))
batches = [0]

def clf_loss(clf, x):
    batches[0] += 1
    bad = to_model_input(make_anomalies(from_model_output(x), seed=batches[0]), x.device)
    logits = clf(torch.cat([x, bad])).squeeze(1)
    target = torch.cat([torch.zeros(len(x)), torch.ones(len(bad))]).to(x.device)
    return nn.functional.binary_cross_entropy_with_logits(logits, target)

clf_history = fit(clf, fit_faces, clf_cfg, loss_fn=clf_loss)

def clf_scores(images):
    clf.eval()
    with torch.no_grad():
        return np.concatenate([clf(to_model_input(images[i:i + 256])).squeeze(1).numpy()
                               for i in range(0, len(images), 256)])

clf_scores_all = clf_scores(images_to_score)
""",
    "combine": """
def on_one_scale(scores, ref):
    return (scores - np.median(ref)) / np.subtract(*np.percentile(ref, [75, 25]))

scores_all = (on_one_scale(ae_scores_all, anomaly_scores(ae, reference))
              + on_one_scale(clf_scores_all, clf_scores(reference)))
""",
}


@pytest.mark.slow
def test_boss_answered_from_its_instructions_gets_full_code_marks(course, tmp_path):
    """Each of the four steps can be done with what the release names (starter_code), and each test passes a
    plain, correct answer: nothing needs the reference's code."""
    path = _answered(course, tmp_path, "04_boss", BOSS_STUDENT)
    assert "solutions" not in "".join(BOSS_STUDENT.values())
    grade = course.autograde("04_boss", "own_answers", path)
    assert grade.errors == [], grade.errors
    assert grade.code_score == grade.max_code_score


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
    assert grade.errors == [("test_latent_adjustments", "AssertionError"), ("test_figure_architecture", "NameError")], \
        grade.errors
    out = next(c for c in grade.notebook.cells if c.get("id") == "test_latent_adjustments").outputs
    assert any("changed only face(s) [0]" in o.get("evalue", "") for o in out), out
    assert grade.code_score == 0


@pytest.mark.slow
def test_boss_steps_keep_the_two_kernel_contract(tmp_path, tiny_dataset):
    """The kit's own autograder (student kernel sandboxed, tests in a kernel that never ran student code and gets
    plain data): each 04 step's test reads only what its read-only check cell computed, so the same student answers
    get every autograded point there too, and the unchanged release none."""
    import os

    import nbformat

    from grader.autograde.course import CourseConfig
    from grader.autograde.release import release
    from grader.autograde.run import AutogradeConfig, autograde
    from grader.autograde.sandbox import unavailable_reason
    from tests.autograde.fixtures import answered_submission, submit_notebooks

    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the sandboxed autograder (.ci/run installs bubblewrap)")
        pytest.skip(f"no sandbox here: {reason}")
    from assignments import ROOT
    course = CourseConfig(source=ROOT, course_dir=tmp_path / "course")
    release(course, ["04_boss"])
    a = "04_boss"
    rel = nbformat.read(str(course.course_dir / "release" / a / f"{a}.ipynb"), as_version=4)
    answers = {k: v.strip() for k, v in BOSS_STUDENT.items()}
    submit_notebooks(course, a, {"own_answers": answered_submission(rel, answers), "blank": rel})
    cfg = AutogradeConfig(workers=1, cell_timeout=300, notebook_timeout=900, data_dir=tiny_dataset.data_dir,
                          feedback=False)
    res = {r.student: r for r in autograde(course, cfg, assignments=[a], progress=False)}
    src = nbformat.read(str(course.source_dir / a / f"{a}.ipynb"), as_version=4)
    with_tests = sum(c.metadata["nbgrader"].get("points", 0) for c in src.cells
                     if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")
    assert res["own_answers"].status == "graded", res["own_answers"]
    assert res["own_answers"].code_score == with_tests == 10, res["own_answers"]
    assert res["blank"].code_score == 0.0 and res["own_answers"].tampering == []
