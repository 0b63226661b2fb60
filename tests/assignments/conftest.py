"""Fixtures for the notebook proofs: the environment kernels inherit, and one nbgrader course per session.

``course`` copies ``assignments/nbgrader_config.py`` and ``assignments/source/`` into a temp course directory
and runs ``generate_assignment`` for every assignment once (nothing is executed: ~1 s each). Autograde runs
are memoised per (assignment, student), so a submission is executed once however many tests look at it.

Kernels started by nbclient and by nbgrader inherit ``os.environ``, which ``notebook_environ`` (used by the
modules that execute notebooks) sets for the module: the tiny data set (``HW8_DATA_DIR``), smoke
mode (``HW8_SMOKE=1``), the repository on ``PYTHONPATH`` (so ``starter_code`` and ``solutions`` import from a
temp dir), the venv's ``bin`` on ``PATH`` (nbgrader runs ``alembic`` from there) and one torch thread
(``OMP_NUM_THREADS=1``: on 2 shared cores two threads per kernel made smoke training 2-5x slower, measured).
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENTS_DIR = REPO / "assignments"
#: Per-cell limit when tests execute notebooks: a smoke-mode cell takes seconds; a hang should fail, not stall.
CELL_TIMEOUT = 240


@pytest.fixture(scope="module")
def notebook_environ(tiny_dataset):
    """``os.environ`` as notebook kernels need it, for one test module (restored afterwards, so that other
    packages' tests never see these variables)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HW8_DATA_DIR", str(tiny_dataset.data_dir))
        mp.setenv("HW8_SMOKE", "1")
        mp.delenv("HW8_OUTPUT_DIR", raising=False)
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        mp.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
        mp.setenv("OMP_NUM_THREADS", "1")
        yield dict(os.environ)


@dataclass
class Grade:
    """One autograded submission: nbgrader's scores and the errors its executed notebook shows."""
    code_score: float
    max_code_score: float
    written_score: float
    max_written_score: float
    needs_manual_grade: bool
    #: (cell id, exception name) for every code cell whose output holds an error, in notebook order
    errors: list[tuple[str, str]]
    notebook: nbformat.NotebookNode


@dataclass
class Course:
    """A temp nbgrader course directory with every assignment generated."""
    root: Path
    config: object
    cell_timeout: int = CELL_TIMEOUT
    _grades: dict = field(default_factory=dict)

    def api(self):
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        return NbGraderAPI(coursedir=CourseDirectory(config=self.config), config=self.config)

    def source_notebook(self, assignment: str) -> Path:
        return self.root / "source" / assignment / f"{assignment}.ipynb"

    def release_notebook(self, assignment: str) -> Path:
        return self.root / "release" / assignment / f"{assignment}.ipynb"

    def autograde(self, assignment: str, student: str, notebook: Path) -> Grade:
        """Submit ``notebook`` as ``student``'s ``assignment``, run ``nbgrader autograde``, read the gradebook."""
        key = (assignment, student)
        if key in self._grades:
            return self._grades[key]
        from nbgrader.api import Gradebook

        sub = self.root / "submitted" / student / assignment
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook, sub / f"{assignment}.ipynb")
        result = self.api().autograde(assignment, student)
        assert result["success"], f"nbgrader autograde {assignment} {student} failed:\n{result.get('log')}\n" \
                                  f"{result.get('error')}"
        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gb:
            s = gb.find_submission(assignment, student)
            scores = (s.code_score, s.max_code_score, s.written_score, s.max_written_score, s.needs_manual_grade)
        executed = nbformat.read(self.root / "autograded" / student / assignment / f"{assignment}.ipynb", 4)
        errors = [(c.get("id", "?"), o.get("ename", "?")) for c in executed.cells if c.cell_type == "code"
                  for o in c.get("outputs", []) if o.get("output_type") == "error"]
        grade = Grade(*scores, errors=errors, notebook=executed)
        self._grades[key] = grade
        return grade


@pytest.fixture(scope="session")
def course(tmp_path_factory) -> Course:
    from traitlets.config.loader import PyFileConfigLoader

    from assignments import ASSIGNMENTS

    root = tmp_path_factory.mktemp("course")
    shutil.copy(ASSIGNMENTS_DIR / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(ASSIGNMENTS_DIR / "source", root / "source",
                    ignore=shutil.ignore_patterns("*.png", "prediction.csv", "prediction_smoke.csv", ".ipynb_checkpoints"))
    # The course's own config file, as nbgrader would load it, pointed at the temp course directory.
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    config.Execute.timeout = CELL_TIMEOUT
    c = Course(root=root, config=config)
    with pytest.MonkeyPatch.context() as mp:  # the gradebook is created with `alembic` from the venv
        mp.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
        api = c.api()
        results = {a: api.generate_assignment(a) for a in ASSIGNMENTS}
    for assignment, result in results.items():
        assert result["success"], f"generate_assignment {assignment} failed:\n{result.get('log')}\n" \
                                  f"{result.get('error')}"
    return c
