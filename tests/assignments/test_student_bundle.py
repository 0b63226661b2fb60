"""The student bundle sets itself up: what a student does with ``hw8-all.zip``, on a clean machine.

Unpack the zip into an empty folder, create a fresh venv (no system site packages) and install only what the
bundle's README says (``pip install -r requirements.txt`` then ``pip install -e .``); put the data in ``data/``.
Then, with kernels of that venv: every released notebook, with the README's one-line smoke cell
(``%env HW8_SMOKE=1``) added above its config cell, runs up to its first answer cell; every solved notebook (the
source notebook, whose answers call the reference modules in ``solutions/``, put on the kernel's path) runs to the
end and writes its ``prediction.csv``. nbgrader is not in that venv, so JupyterLab shows no nbgrader menus.

Slow (minutes: the venv installs JupyterLab from the package index and torch from its wheel): ``make test-slow``.
The bundle's contents are checked fast in ``tests/autograde/test_release.py``, and that its ``requirements.txt``
lists every package the notebooks, their hints, the shipped packages and the reference modules import in
``test_student_requirements.py``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from assignments import ASSIGNMENTS, ROOT, notebook_path, without_hidden_tests

pytestmark = pytest.mark.slow

#: Per-cell limit: a smoke-mode cell takes seconds; a hang should fail, not stall.
CELL_TIMEOUT = 300
SMOKE_CELL = "%env HW8_SMOKE=1"


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def student(tmp_path_factory, tiny_dataset):
    """(bundle folder, its fresh venv's python, the environment it was installed with); JUPYTER_PATH set so that
    the kernels "hw8-student" and "hw8-solved" run in that venv."""
    from grader.autograde.course import CourseConfig
    from grader.autograde.release import release
    tmp = tmp_path_factory.mktemp("student")
    res = release(CourseConfig(source=ROOT, course_dir=tmp / "course"))
    (all_zip,) = [z for z in res.zips if z.name.endswith("-all.zip")]
    home = tmp / "home"  # the student's empty folder
    home.mkdir()
    with zipfile.ZipFile(all_zip) as zf:
        zf.extractall(home)
    (bundle,) = home.iterdir()
    for name in ("trainingset.npy", "testingset.npy"):
        shutil.copy(tiny_dataset.data_dir / name, bundle / "data" / name)
    # Exactly the README's steps, with nothing of this machine's Python but the interpreter.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER", "HW8_"))}
    venv = bundle / ".venv"
    _run([sys.executable, "-m", "venv", venv], cwd=bundle, env=env)
    py = venv / "bin" / "python"
    _run([py, "-m", "pip", "install", "-q", "-r", "requirements.txt"], cwd=bundle, env=env)
    _run([py, "-m", "pip", "install", "-q", "-e", "."], cwd=bundle, env=env)
    # Kernelspecs that run that venv's python, in a private Jupyter data dir: one as the student has it, one
    # with the reference answers' modules (solutions/, copied) on its path for the solved notebooks.
    refs = tmp / "refs"
    shutil.copytree(ROOT.parent / "solutions", refs / "solutions", ignore=shutil.ignore_patterns("__pycache__"))
    jupyter = tmp / "jupyter"
    for name, extra in (("hw8-student", {}), ("hw8-solved", {"PYTHONPATH": str(refs)})):
        (jupyter / "kernels" / name).mkdir(parents=True)
        (jupyter / "kernels" / name / "kernel.json").write_text(json.dumps({
            "argv": [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": name, "language": "python",
            # One torch thread per kernel: on 2 shared cores more made smoke training slower (tests/assignments).
            "env": {"OMP_NUM_THREADS": "1", **extra}}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(jupyter))
        for var in ("HW8_DATA_DIR", "HW8_SMOKE", "HW8_OUTPUT_DIR", "PYTHONPATH"):  # kernels see only the bundle
            mp.delenv(var, raising=False)
        yield bundle, py, env


def _execute(nb, cwd: Path, kernel: str):
    """Run ``nb`` top to bottom in ``kernel`` from folder ``cwd``; return the CellExecutionError, or None."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=kernel, resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute()
    except CellExecutionError as e:
        return e
    return None


def test_student_venv_has_no_grader_parts(student):
    bundle, py, env = student
    installed = _run([py, "-m", "pip", "list", "--format=json"], env=env).stdout
    names = {p["name"].lower() for p in json.loads(installed)}
    assert {"torch", "jupyterlab", "hw8-starter-code"} <= names
    assert not names & {"nbgrader", "fastapi", "uvicorn", "sqlalchemy", "psycopg", "dask", "playwright"}
    # What JupyterLab would load: no nbgrader extension, so no nbgrader menus.
    jupyter = py.parent / "jupyter"
    listed = _run([jupyter, "labextension", "list"], env=env)
    assert "nbgrader" not in (listed.stdout + listed.stderr).lower()
    listed = _run([jupyter, "server", "extension", "list"], env=env)
    assert "nbgrader" not in (listed.stdout + listed.stderr).lower()
    # starter_code comes from the bundle (installed), not from the kit.
    where = _run([py, "-c", "import starter_code; print(starter_code.__file__)"], cwd="/", env=env).stdout
    assert where.strip().startswith(str(bundle / "starter_code"))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebook_in_smoke_mode_runs_to_its_first_answer(student, assignment):
    bundle = student[0]
    nb = nbformat.read(bundle / assignment / f"{assignment}.ipynb", 4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(SMOKE_CELL))  # the README's way, from inside the notebook
    err = _execute(nb, bundle / assignment, "hw8-student")
    assert err is not None and err.ename == "NotImplementedError", str(err)[-3000:]
    code = [c for c in nb.cells if c.cell_type == "code"]
    first_answer = next(c for c in code if c.metadata.get("nbgrader", {}).get("solution"))
    ran = [c for c in code if c.get("execution_count") is not None]
    assert ran == code[:code.index(first_answer) + 1], "a cell before the first answer cell did not run"
    assert "SMOKE mode" in "".join(o.get("text", "") for o in code[1].outputs), "the smoke cell did not take"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solved_notebook_in_smoke_mode_runs_to_the_end(student, assignment):
    bundle = student[0]
    work = bundle / f"solved_{assignment}"  # beside the released folders, so ../data is found the same way
    work.mkdir()
    nb = without_hidden_tests(nbformat.read(notebook_path(assignment), 4))
    nb.cells.insert(0, nbformat.v4.new_code_cell(SMOKE_CELL))
    err = _execute(nb, work, "hw8-solved")
    assert err is None, str(err)[-3000:]
    assert (work / "prediction_smoke.csv").is_file() and not (work / "prediction.csv").exists()
