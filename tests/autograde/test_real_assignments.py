"""Integration with the kit's own nbgrader assignments (``assignments/``), skipped only where they are absent."""
from __future__ import annotations

import nbformat
import pytest

from grader.autograde.course import REPO_ROOT, CourseConfig

SOURCE = REPO_ROOT / "assignments"
if not (SOURCE / "source").is_dir():
    print(f"SKIP real assignments: {SOURCE / 'source'} is absent")
    pytest.skip(f"{SOURCE / 'source'} is absent", allow_module_level=True)


@pytest.fixture(scope="module")
def real_course(tmp_path_factory) -> CourseConfig:
    from grader.autograde.release import release
    course = CourseConfig(source=SOURCE, course_dir=tmp_path_factory.mktemp("real") / "course")
    release(course)          # raises ReleaseLeak if any solution or hidden test survives
    return course


def test_real_release_has_no_solution_or_hidden_test(real_course):
    from grader.autograde.release import find_leaks, secret_blocks
    blocks = secret_blocks(real_course.source_dir)
    assert {b.kind for b in blocks} >= {"solution", "hidden tests", "manual answer"}
    bundle = real_course.course_dir / "student_release"
    assert find_leaks(blocks, bundle) == []
    names = sorted(p.name for p in bundle.iterdir())
    assert names == sorted(real_course.assignments() + ["README.md", "common", "data", "pyproject.toml",
                                                        "requirements.txt", "starter_code"])
    for a in real_course.assignments():
        text = (bundle / a / f"{a}.ipynb").read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text


def test_real_notebook_autograded_solved_full_marks_blank_zero(sandbox, real_course, tiny_dataset):
    """A student who solved 01_simple (with starter_code, as a student can) gets every autograded point, the
    unchanged release none, and the source notebook (which calls the kit's reference) a status of its own."""
    from grader.autograde.run import AutogradeConfig, autograde
    from tests.autograde.fixtures import STUDENT_ANSWERS, answered_submission, submit_notebooks
    a = "01_simple"
    src = nbformat.read(str(real_course.source_dir / a / f"{a}.ipynb"), as_version=4)
    rel = nbformat.read(str(real_course.course_dir / "release" / a / f"{a}.ipynb"), as_version=4)
    submit_notebooks(real_course, a, {"solver": answered_submission(rel, STUDENT_ANSWERS[a]), "blank": rel,
                                      "source": src})
    cfg = AutogradeConfig(workers=2, cell_timeout=300, notebook_timeout=600, data_dir=tiny_dataset.data_dir,
                          feedback=False)
    res = {r.student: r for r in autograde(real_course, cfg, assignments=[a], progress=False)}
    with_tests = sum(c.metadata["nbgrader"].get("points", 0) for c in src.cells
                     if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")
    assert res["solver"].status == "graded" and res["solver"].code_score == with_tests > 0, res["solver"]
    assert res["blank"].status == "graded" and res["blank"].code_score == 0.0
    assert res["solver"].tampering == [] and res["blank"].tampering == []
    assert res["source"].status == "source_notebook" and res["source"].score == 0.0
