"""Release: real nbgrader generate_assignment; a student bundle that sets itself up; no solution, hidden-test,
rubric or model-answer text survives anywhere in the release.

The bundle's fresh-venv proof (install from its requirements alone, run every notebook) is
``tests/assignments/test_student_bundle.py`` (slow); these are the fast checks of what the bundle holds.
"""
from __future__ import annotations

import sqlite3
import stat

import pytest

from grader.autograde.release import (BUNDLE_NAME, STUDENT_TEMPLATE, Block, ReleaseLeak, dangling_references,
                                      find_leaks, secret_blocks, student_markdown)
from tests.autograde.fixtures import HIDDEN_MARKER, SOLUTION_MARKER

REPO = STUDENT_TEMPLATE.parents[1]
#: Kit packages and services a student must not be asked to install.
NOT_FOR_STUDENTS = ("nbgrader", "grader", "data_tools", "fastapi", "uvicorn", "sqlalchemy", "psycopg", "dask",
                    "playwright", "httpx", "python-multipart", "jupytext", "ruff", "pytest", "hypothesis")


def _all_text(folder):
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


def test_release_writes_a_bundle_that_sets_itself_up(released_course):
    bundle = released_course.course_dir / "student_release"
    files = sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file())
    assert [f for f in files if not f.startswith(("starter_code/", "common/"))] == [
        "README.md", "data/README.md", "ps1/ps1.ipynb", "pyproject.toml", "requirements.txt"]
    assert "starter_code/__init__.py" in files and "starter_code/models/__init__.py" in files
    assert not list(bundle.rglob("__pycache__"))
    readme = (bundle / "README.md").read_text()
    for step in ("python3 -m venv .venv", "pip install -r requirements.txt", "pip install -e .", "jupyter lab",
                 "Colab", "%pip install -q /content/hw8", "data/", "%env HW8_SMOKE=1", "before"):
        assert step in readme, step
    assert "trainingset.npy" in (bundle / "data" / "README.md").read_text()


def _requirements(path):
    import re
    reqs = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name = re.match(r"[A-Za-z0-9_.-]+", line).group(0).lower()
            reqs[name] = line
    return reqs


def test_student_requirements_are_the_kits_without_grader_or_server(released_course):
    student = _requirements(released_course.course_dir / "student_release" / "requirements.txt")
    kit = _requirements(REPO / "requirements.txt")
    assert student["torch"] == kit["torch"] == "torch==2.13.0"
    assert [n for n in NOT_FOR_STUDENTS if n in student] == []
    # A package the kit pins too is pinned the same way (one version of the truth).
    assert {n: spec for n, spec in student.items() if n in kit and kit[n] != spec} == {}
    assert {"numpy", "pandas", "matplotlib", "tqdm", "ipykernel", "jupyterlab"} <= set(student)


def test_bundle_starter_code_stands_alone_and_builds_as_a_package(released_course, tmp_path):
    """Imported from the bundle, starter_code loads nothing of the kit that the bundle does not hold; its
    pyproject builds a wheel with every subpackage."""
    import subprocess
    import sys
    import zipfile
    bundle = released_course.course_dir / "student_release"
    kit_tops = [p.name for p in REPO.iterdir() if p.is_dir() and (p / "__init__.py").is_file()]
    probe = ("import sys, starter_code, starter_code.notebook, starter_code.submission\n"
             f"kit = {kit_tops!r}\n"
             "bad = sorted({m.split('.')[0] for m, mod in list(sys.modules.items()) if m.split('.')[0] in kit\n"
             "              and not str(getattr(mod, '__file__', '') or '').startswith(sys.argv[1])})\n"
             "assert starter_code.__file__.startswith(sys.argv[1]), starter_code.__file__\n"
             "assert not bad, f'imports kit packages the bundle lacks: {bad}'\n")
    res = subprocess.run([sys.executable, "-P", "-B", "-c", probe, str(bundle)], cwd=bundle, capture_output=True,
                         text=True, env={"PYTHONPATH": str(bundle), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr[-2000:]
    import shutil
    copy = shutil.copytree(bundle, tmp_path / "bundle")  # building writes build/ and *.egg-info beside the code
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(tmp_path), str(copy)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = tmp_path.glob("hw8_starter_code-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "starter_code/models/vae.py" in names and not [n for n in names if n.startswith(("ps1", "data/"))]


def test_zips_hold_the_bundle_one_assignment_each_and_all(released_course, tmp_path):
    import zipfile
    bundle = released_course.course_dir / "student_release"
    zips = sorted((released_course.course_dir / "student_zips").glob("*.zip"))
    assert [z.name for z in zips] == [f"{BUNDLE_NAME}-all.zip", f"{BUNDLE_NAME}-ps1.zip"]
    expected = sorted(f"{BUNDLE_NAME}/{p.relative_to(bundle).as_posix()}" for p in bundle.rglob("*") if p.is_file())
    for z in zips:
        with zipfile.ZipFile(z) as zf:
            assert sorted(zf.namelist()) == expected
            zf.extractall(tmp_path / z.stem)
        assert find_leaks(secret_blocks(released_course.source_dir), tmp_path / z.stem) == []


def test_bundled_markdown_names_only_files_the_bundle_holds(released_course):
    """The kit's starter_code README points to benchmarks/ for its speed figures: that paragraph (and the
    maintainers' HTML comments) stay out of the bundled copy; the rest of it, the API tables, stays."""
    bundle = released_course.course_dir / "student_release"
    for md in bundle.rglob("*.md"):
        assert dangling_references(md.read_text(), md.parent, bundle) == [], md
    kit_readme = (REPO / "starter_code" / "README.md").read_text()
    bundled = (bundle / "starter_code" / "README.md").read_text()
    assert "<!--" not in bundled
    assert "## Modules" in bundled and "| `train` |" in bundled
    if "benchmarks/" in kit_readme:
        assert "benchmarks/" not in bundled


def test_a_template_naming_a_missing_file_stops_the_release(tmp_path):
    """The course's own bundle template is not trimmed: a README that sends students to a file they will not
    have is the TA's to fix, and the release says which file and which path."""
    import shutil

    from grader.autograde.course import CourseConfig
    from grader.autograde.release import release
    from grader.errors import GraderError
    from tests.autograde.fixtures import write_fixture_source
    write_fixture_source(tmp_path / "src", "ps1")
    shutil.copytree(STUDENT_TEMPLATE, tmp_path / "src" / "student")
    readme = tmp_path / "src" / "student" / "README.md"
    readme.write_text(readme.read_text() + "\nSpeed figures: `benchmarks/train_throughput.py`.\n")
    with pytest.raises(GraderError, match=r"names files it does not hold:\n  README.md: benchmarks/train_throughpu"):
        release(CourseConfig(source=tmp_path / "src", course_dir=tmp_path / "course"))


def test_student_markdown_leaves_out_paragraphs_pointing_into_the_kit(tmp_path):
    (tmp_path / "starter_code").mkdir()
    text = ("# Title\n\nUse `starter_code/` here.\n\n## Speed\n\nRun `benchmarks/train_throughput.py`.\n\n"
            "## Models\n\n<!-- checked by tests/x.py -->\nThree models.\n")
    out, omitted = student_markdown(text, tmp_path, tmp_path)
    assert out == "# Title\n\nUse `starter_code/` here.\n\n## Models\n\nThree models.\n"
    assert omitted == ["Run `benchmarks/train_throughput.py`."]
    assert dangling_references(text, tmp_path, tmp_path) == ["benchmarks/train_throughput.py", "tests/x.py"]


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
    assert "assert squares_check[3] == [0, 1, 4]" in nb_text
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
    assert stat.S_IMODE(sheets[0].stat().st_mode) == 0o600               # graders only
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
    from grader.autograde.release import release
    from tests.autograde.fixtures import source_notebook
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
    real_build = rel.build_bundle

    def leaky_build(course, assignments, out, competition=None):
        omitted = real_build(course, assignments, out, competition)
        shutil.copy(released_course.source_dir / "ps1" / "ps1.ipynb", out / "starter_code" / "oops.ipynb")
        return omitted

    monkeypatch.setattr(rel, "build_bundle", leaky_build)
    with pytest.raises(ReleaseLeak, match="oops.ipynb"):
        rel.release(course)
    assert main(["release", "--source", str(course.source), "--course", str(course.course_dir)]) == 1


def test_release_cli_without_venv_on_path_leaves_a_valid_gradebook(released_course, tmp_path, monkeypatch, capsys):
    """A CLI started without the venv on PATH still stamps the gradebook it creates (``env.prepare_nbgrader``)."""
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
