"""The homework's nbgrader course directory.

``source/<assignment>/<assignment>.ipynb`` is each assignment's source notebook, authored in Jupyter with
nbgrader's "Create Assignment" toolbar; ``<assignment>.py`` beside it is its jupytext percent pair (for review,
diffs and linting; ``jupytext.toml`` here declares the pairing). ``tests/assignments/test_notebook_sources.py``
checks that each pair is in sync, that the nbgrader metadata is valid and that the cells the scored stages share
are identical.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
SOURCE_DIR = ROOT / "source"
#: The assignments in the order students do them (folder names under source/, and nbgrader assignment ids).
ASSIGNMENTS = ("01_simple", "02_medium", "03_strong", "04_boss", "05_report")


def notebook_path(assignment: str, root: Path = SOURCE_DIR) -> Path:
    """``root/<assignment>/<assignment>.ipynb``: the source notebook nbgrader releases."""
    return Path(root) / assignment / f"{assignment}.ipynb"


def script_path(assignment: str, root: Path = SOURCE_DIR) -> Path:
    """``root/<assignment>/<assignment>.py``: the notebook's jupytext percent pair."""
    return Path(root) / assignment / f"{assignment}.py"


#: nbgrader's marker of a test cell's hidden part (the rest of the cell).
HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"


def without_hidden_tests(nb):
    """``nb`` (a source notebook, changed in place and returned) with each test cell cut before its hidden part,
    as students run it: the hidden parts are the autograder's, run in its own test kernel (01's and 05's read its
    secret probes; ``tests/autograde/test_no_work.py``, ``test_no_work_report.py``)."""
    for cell in nb.cells:
        if HIDDEN_TESTS in cell.source:
            cell.source = cell.source[:cell.source.index(HIDDEN_TESTS)]
    return nb
