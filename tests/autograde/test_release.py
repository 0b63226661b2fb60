"""Release: real nbgrader generate_assignment; no solution or hidden-test text survives anywhere in the release."""
from __future__ import annotations

import sqlite3

import pytest

from grader.autograde.fixtures import HIDDEN_MARKER, SOLUTION_MARKER
from grader.autograde.release import Block, ReleaseLeak, find_leaks, secret_blocks


def _all_text(folder):
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


def test_release_writes_notebook_starter_code_and_data_readme(released_course):
    bundle = released_course.course_dir / "student_release"
    assert (bundle / "ps1" / "ps1.ipynb").is_file()
    assert (bundle / "starter_code" / "__init__.py").is_file()
    assert "trainingset.npy" in (bundle / "data" / "README.md").read_text()
    assert not list(bundle.rglob("__pycache__"))


def test_no_solution_or_hidden_test_text_in_any_released_file(released_course):
    blocks = secret_blocks(released_course.source_dir)
    kinds = sorted({b.kind for b in blocks})
    assert kinds == ["hidden tests", "manual answer", "solution"]
    for folder in (released_course.course_dir / "release", released_course.course_dir / "student_release"):
        assert find_leaks(blocks, folder) == []
        text = _all_text(folder)
        for marker in (SOLUTION_MARKER, HIDDEN_MARKER, "reference_answer_marker"):
            assert marker not in text
    # The visible test and the stub survive: students can run them.
    nb_text = (released_course.course_dir / "release" / "ps1" / "ps1.ipynb").read_text()
    assert "assert squares_check[3] == [0, 1, 4]" in nb_text
    assert "NotImplementedError" in nb_text


def test_find_leaks_names_the_file_and_block(tmp_path):
    block = Block("ps1", "ps1", "squares", "solution", "return [i * i for i in range(n)]")
    (tmp_path / "ok.py").write_text("def f():\n    return 1\n")
    leaky = tmp_path / "sub" / "notes.md"
    leaky.parent.mkdir()
    leaky.write_text("the answer:\n    return [i * i   for i in\n range(n)]\n")   # whitespace does not hide it
    leaks = find_leaks([block], tmp_path)
    assert [lk.file for lk in leaks] == [leaky]
    assert "solution of ps1/ps1.ipynb cell 'squares'" in str(leaks[0])


def test_release_fails_when_a_solution_leaks(released_course, tmp_path, monkeypatch):
    """A release whose bundle still holds solution text is refused (exit 1 through the CLI)."""
    import shutil

    from grader.autograde import release as rel
    from grader.autograde.course import CourseConfig
    from grader.cli import main
    course = CourseConfig(source=released_course.source, course_dir=tmp_path / "c")
    real_copy = rel._copy_starter_code

    def leaky_copy(dest):
        real_copy(dest)
        shutil.copy(released_course.source_dir / "ps1" / "ps1.ipynb", dest / "oops.ipynb")

    monkeypatch.setattr(rel, "_copy_starter_code", leaky_copy)
    with pytest.raises(ReleaseLeak, match="oops.ipynb"):
        rel.release(course)
    assert main(["release", "--source", str(course.source), "--course", str(course.course_dir)]) == 1


def test_release_cli_without_venv_on_path_leaves_a_valid_gradebook(released_course, tmp_path, monkeypatch, capsys):
    """nbgrader runs `alembic` from PATH when it creates the gradebook: the CLI must put the venv's bin there."""
    from grader.cli import main
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    course_dir = tmp_path / "c"
    assert main(["release", "--source", str(released_course.source), "--course", str(course_dir)]) == 0
    assert "no leak" in capsys.readouterr().out
    with sqlite3.connect(course_dir / "gradebook.db") as db:
        (version,) = db.execute("select version_num from alembic_version").fetchone()
    assert len(version) >= 8


def test_unknown_assignment_is_a_clear_error(released_course, tmp_path, capsys):
    from grader.cli import main
    rc = main(["release", "nope", "--source", str(released_course.source), "--course", str(tmp_path / "c")])
    assert rc == 1
    assert "unknown assignment(s) nope" in capsys.readouterr().err
