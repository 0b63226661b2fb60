"""Fixture course for the autograder tests: a generated nbgrader assignment, released once per session.

Kernels start slowly (~2 s each on 2 cores, two per notebook), so the hostile batch is graded once per session
(``graded_batch``) and the tests read its results. Autograding needs the bubblewrap sandbox (Linux namespaces):
``need_sandbox()`` fails under CI (``.ci/run`` installs bubblewrap) and skips with the reason elsewhere.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from grader.autograde.course import CourseConfig
from tests.autograde.fixtures import write_fixture_source, write_submission

#: Submissions of the session batch: student id -> kind (see tests/autograde/fixtures.py).
BATCH = {"s01": "good", "s02": "blank", "s03": "infinite_loop", "s04": "memory_bomb", "s05": "os_system",
         "s06": "network", "s07": "edited_test", "s08": "deleted_test", "s09": "crash", "s10": "not_a_notebook",
         "s11": "partial"}


def need_sandbox() -> None:
    """Fail (CI) or skip (elsewhere) when notebooks cannot be sandboxed on this machine."""
    from grader.autograde.sandbox import unavailable_reason
    reason = unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} — CI must run the sandboxed autograder tests (.ci/run installs bubblewrap)")
    print(f"SKIP sandbox: {reason}")
    pytest.skip(f"no sandbox here: {reason}")


@pytest.fixture(scope="session")
def sandbox():
    need_sandbox()


@pytest.fixture(scope="session")
def released_course(tmp_path_factory) -> CourseConfig:
    """A course with assignment ``ps1`` released (nbgrader generate_assignment has run)."""
    from grader.autograde.release import release
    root = tmp_path_factory.mktemp("course")
    write_fixture_source(root / "src", "ps1")
    course = CourseConfig(source=root / "src", course_dir=root / "course")
    release(course)
    return course


def release_nb(course: CourseConfig, assignment: str = "ps1"):
    import nbformat
    return nbformat.read(str(course.course_dir / "release" / assignment / f"{assignment}.ipynb"), as_version=4)


def fresh_copy(course: CourseConfig, dest: Path) -> CourseConfig:
    """A copy of a released course (own gradebook and folders) for tests that change it."""
    shutil.copytree(course.course_dir, dest / "course")
    return CourseConfig(source=course.source, course_dir=dest / "course")


@pytest.fixture(scope="session")
def graded_batch(sandbox, released_course, tmp_path_factory):
    """(course, {student: Result}) after one 2-worker autograde run over every hostile kind, a wrong-assignment
    notebook, a wrongly named notebook, and a student on the roster who submitted nothing."""
    import nbformat

    from grader.autograde.run import AutogradeConfig, autograde
    from tests.autograde.fixtures import source_notebook
    course = fresh_copy(released_course, tmp_path_factory.mktemp("batch"))
    rel = release_nb(course)
    sub = course.course_dir / "submitted"
    for sid, kind in BATCH.items():
        write_submission(sub / sid / "ps1" / "ps1.ipynb", rel, kind)
    # Another assignment's notebook saved under this assignment's name: no grade id in common.
    other = source_notebook("ps9")
    for c in other.cells:
        if "nbgrader" in c.metadata:
            c.metadata.nbgrader["grade_id"] = "ps9_" + c.metadata.nbgrader["grade_id"]
    (sub / "s12" / "ps1").mkdir(parents=True)
    nbformat.write(other, str(sub / "s12" / "ps1" / "ps1.ipynb"))
    write_submission(sub / "s13" / "ps1" / "homework.ipynb", rel, "good")   # right work, wrong file name
    (course.course_dir / "roster.csv").write_text("id,name\ns14,Nobody Submitted\n", encoding="utf-8")
    cfg = AutogradeConfig(workers=2, cell_timeout=20, notebook_timeout=240, memory_mb=1536)
    results = autograde(course, cfg, progress=False)
    return course, {r.student: r for r in results}
