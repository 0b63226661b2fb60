"""nbgrader ``generate_assignment`` on the real course config: the release leaks nothing and runs up to the
first place a student must write code."""
from __future__ import annotations

import re

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from assignments import ASSIGNMENTS

pytestmark = pytest.mark.usefixtures("notebook_environ")

SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION[ \t]*$", re.M | re.S)
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n(.*?)^[ \t]*### END HIDDEN TESTS[ \t]*$", re.M | re.S)


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def secret_and_public_lines(nb) -> tuple[set[str], set[str]]:
    """Stripped lines only the instructor may see (solution regions, hidden tests, written model answers) and the
    stripped lines of everything else in the source notebook."""
    secret, public = set(), set()
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "markdown" and meta.get("solution"):
            secret.update(cell.source.splitlines())  # the whole written answer is the instructor's
            continue
        rest = cell.source
        for pattern in (SOLUTION, HIDDEN):
            for block in pattern.findall(rest):
                secret.update(block.splitlines())
            rest = pattern.sub("", rest)
        public.update(rest.splitlines())
    strip = lambda lines: {line.strip() for line in lines if line.strip()}  # noqa: E731
    return strip(secret), strip(public)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_keeps_no_solution_or_hidden_test(course, assignment):
    source = nbformat.read(course.source_notebook(assignment), 4)
    secret, public = secret_and_public_lines(source)
    # Lines that also occur in the visible part of the notebook may legitimately be released.
    distinctive = {line for line in secret - public if len(line) >= 8}
    assert len(distinctive) >= 5, f"{assignment}: too few solution lines found ({distinctive}); parser broken?"
    release_dir = course.release_notebook(assignment).parent
    released_files = sorted(p for p in release_dir.rglob("*") if p.is_file())
    assert [p.name for p in released_files] == [f"{assignment}.ipynb"], "the release must hold only the notebook"
    release = nbformat.read(course.release_notebook(assignment), 4)
    released_text = "\n".join(c.source for c in release.cells)
    leaked = sorted(line for line in distinctive if line in released_text)
    assert not leaked, f"{assignment}: instructor text survives in the release: {leaked}"
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "from solutions",
                   "import solutions", "Reference answer"):
        assert marker not in released_text, f"{assignment}: {marker!r} survives in the release"
    # Every answer cell became a stub, and the visible tests are still there.
    for src_cell, rel_cell in zip(source.cells, release.cells, strict=True):
        meta = _nbgrader(src_cell)
        if meta.get("solution") and src_cell.cell_type == "code":
            assert "raise NotImplementedError()" in rel_cell.source, meta["grade_id"]
        elif meta.get("solution"):
            assert rel_cell.source.strip() == "YOUR ANSWER HERE", meta["grade_id"]
        elif meta.get("grade"):  # a test cell: exactly its visible lines
            visible = [line for line in HIDDEN.sub("", src_cell.source).splitlines() if line.strip()]
            assert [line for line in rel_cell.source.splitlines() if line.strip()] == visible, meta["grade_id"]
            assert any(line.lstrip().startswith("assert") for line in visible), meta["grade_id"]


#: What 05_report's rubrics and model answers say (the VAE questions' grading key), and what students must not read.
REPORT_KEY = ("reparameterisation", "posterior collapse", "KL divergence", "standard normal", "smooth, continuous",
              "blurry", "ELBO", "entangled", "Rubric", "Reference answer")


def test_report_release_keeps_the_questions_not_the_key(course):
    source = nbformat.read(course.source_notebook("05_report"), 4)
    assert all(any(k in c.source for c in source.cells) for k in REPORT_KEY), "the key moved: update REPORT_KEY"
    released = "\n".join(c.source for c in nbformat.read(course.release_notebook("05_report"), 4).cells)
    assert [k for k in REPORT_KEY if k.lower() in released.lower()] == []
    for question in ("## Q1a. A brief introduction to the variational autoencoder (2 points)",
                     "## Q1b. One advantage over a vanilla autoencoder (1 point)",
                     "## Q1c. One problem of the VAE (1 point)", "## Q2. Describe the differences (2 points)"):
        assert question in released
    assert released.count("YOUR ANSWER HERE") >= 4 + 1  # four answers, and the how-to-work paragraph


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_runs_up_to_first_solution_cell(course, assignment, tmp_path):
    """Executed top to bottom, the released notebook fails first with NotImplementedError in its first code
    answer cell: every cell before it (setup, data, instructions) works for the student, and nothing after it
    ran."""
    release = nbformat.read(course.release_notebook(assignment), 4)
    code_cells = [c for c in release.cells if c.cell_type == "code"]
    first_answer = next(c for c in code_cells if _nbgrader(c).get("solution"))
    client = NotebookClient(release, timeout=course.cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError) as err:
        client.execute()
    assert err.value.ename == "NotImplementedError", str(err.value)[-2000:]
    ran = [c for c in code_cells if c.get("execution_count") is not None]
    failed = [c for c in ran if any(o.get("output_type") == "error" for o in c.outputs)]
    assert [c.id for c in failed] == [first_answer.id], "the first failing cell must be the first answer cell"
    assert ran[-1].id == first_answer.id, "cells after the first answer cell must not have run"
    assert ran == code_cells[:code_cells.index(first_answer) + 1], "a cell before the first answer cell did not run"
