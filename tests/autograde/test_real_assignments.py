"""Integration with the kit's own nbgrader assignments (``assignments/``), skipped only where they are absent."""
from __future__ import annotations

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
