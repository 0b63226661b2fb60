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
    assert kinds == ["hidden tests", "manual answer", "rubric", "solution"]
    for folder in (released_course.course_dir / "release", released_course.course_dir / "student_release"):
        assert find_leaks(blocks, folder) == []
        text = _all_text(folder)
        for marker in (SOLUTION_MARKER, HIDDEN_MARKER, "reference_answer_marker", "Rubric", "1 point for the"):
            assert marker not in text
    # The visible test and the stub survive: students can run them.
    nb_text = (released_course.course_dir / "release" / "ps1" / "ps1.ipynb").read_text()
    assert "assert squares(3) == [0, 1, 4]" in nb_text
    assert "NotImplementedError" in nb_text


def test_rubrics_are_searched_piece_by_piece(released_course, tmp_path):
    """One rubric criterion copied into any file (here a hint in a README, re-wrapped, without the emphasis) is a
    leak: rubrics and model answers are searched as runs of words, not only whole."""
    blocks = secret_blocks(released_course.source_dir)
    rubric = [b.text for b in blocks if b.kind == "rubric"]
    assert any("1 point for the encoder/decoder" in t for t in rubric) and not any("reference_answer" in t
                                                                                   for t in rubric)
    (tmp_path / "README.md").write_text("Hint: the graders give 1 point for the encoder/decoder as\n"
                                        "distributions, 1 for an advantage over a vanilla autoencoder, 1 for a "
                                        "problem (e.g. blurry samples).\n")
    (tmp_path / "fine.md").write_text("Question (3 points): introduce the VAE, one advantage and one problem.\n")
    leaks = find_leaks(blocks, tmp_path)
    assert {lk.file.name for lk in leaks} == {"README.md"} and {lk.block.kind for lk in leaks} == {"rubric"}


def test_graders_get_the_rubrics_outside_the_bundle(released_course):
    sheets = sorted((released_course.course_dir / "rubrics").glob("*.md"))
    assert [p.name for p in sheets] == ["ps1.md"]
    text = sheets[0].read_text()
    assert "*Answer cell `vae_answer` of `ps1.ipynb`, 3 points, graded by hand.*" in text
    assert "**Question (3 points):**" in text
    assert "1 point for the encoder/decoder" in text and "reference_answer_marker" in text
    bundle = released_course.course_dir / "student_release"
    assert "1 point for the encoder/decoder" not in _all_text(bundle)


def test_a_rubric_in_a_read_only_cell_stops_the_release(tmp_path):
    """The old layout (the rubric in a locked cell above the answer) would hand the key to students: nbgrader
    releases locked cells as they are. The release is refused and names the cell."""
    import nbformat

    from grader.autograde.course import CourseConfig
    from grader.autograde.fixtures import source_notebook
    from grader.autograde.release import release
    nb = source_notebook("ps2")
    question = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "question")
    question.source += "\n\n*Rubric:* 3 = all three parts correct, with reasons."
    path = tmp_path / "src" / "source" / "ps2" / "ps2.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, str(path))
    with pytest.raises(ReleaseLeak, match=r"ps2\.ipynb: contains the rubric of ps2/ps2\.ipynb cell 'question'"):
        release(CourseConfig(source=tmp_path / "src", course_dir=tmp_path / "course"))


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
