"""Small generated nbgrader assignments for tests and the throughput benchmark (no notebook is committed).

``write_fixture_source(root, assignment)`` writes ``root/source/<assignment>/<assignment>.ipynb``: a locked setup
cell, a solution cell, a test cell with a visible and a hidden part (``HIDDEN_MARKER`` appears only in the hidden
part), a locked question and a manually graded markdown answer (its source holds the rubric).
``student_notebook(release_nb, kind)`` turns the released notebook into one student's submission: ``good``,
``blank`` and the hostile kinds in ``HOSTILE_KINDS``.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

#: Text that appears only inside the hidden tests (tests search the release and feedback for it).
HIDDEN_MARKER = "hidden_check_5_squares"
#: Text that appears only inside the solution regions.
SOLUTION_MARKER = "reference_solution_marker"
SOLUTION_CODE = f"    {SOLUTION_MARKER} = True\n    return [i * i for i in range(n)]"
MANUAL_ANSWER = ("**Rubric:** 1 point for the encoder/decoder as distributions, 1 for an advantage over a vanilla "
                 "autoencoder, 1 for a problem (e.g. blurry samples).\n\n"
                 "A VAE encodes each image as a distribution; reference_answer_marker.")

#: Every kind of student submission :func:`student_notebook` can write.
KINDS = ("good", "blank", "partial", "slow", "infinite_loop", "memory_bomb", "os_system", "network",
         "edited_test", "deleted_test", "crash")
HOSTILE_KINDS = ("infinite_loop", "memory_bomb", "os_system", "network", "edited_test", "deleted_test", "crash")


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=0):
    md = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
          "task": False}
    if grade:
        md["points"] = points
    return {"nbgrader": md}


def source_notebook(assignment: str = "ps1", *, test_points: int = 2, manual_points: int = 3, manual: bool = True):
    """The instructor's version (nbformat NotebookNode) with solutions and hidden tests (``manual``: with the
    question and the manually graded answer)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
    cells = [
        new_markdown_cell(f"# {assignment}: squares\nFill in the function below."),
        new_code_cell("import os\nimport math", metadata=_meta("setup", locked=True)),
        new_code_cell("def squares(n):\n    \"\"\"The first n squares as a list.\"\"\"\n"
                      "    ### BEGIN SOLUTION\n" + SOLUTION_CODE + "\n    ### END SOLUTION",
                      metadata=_meta("squares", solution=True)),
        new_code_cell("assert squares(3) == [0, 1, 4]\n### BEGIN HIDDEN TESTS\n"
                      f"{HIDDEN_MARKER} = squares(5)\nassert {HIDDEN_MARKER} == [0, 1, 4, 9, 16]\n"
                      "### END HIDDEN TESTS",
                      metadata=_meta("test_squares", grade=True, locked=True, points=test_points)),
        new_markdown_cell("**Question (3 points):** introduce the VAE, one advantage and one problem.",
                          metadata=_meta("question", locked=True)),
        new_markdown_cell(MANUAL_ANSWER, metadata=_meta("vae_answer", grade=True, solution=True,
                                                        points=manual_points)),
    ]
    if not manual:
        cells = cells[:-2]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    nbformat.validate(nb)
    return nb


def write_fixture_source(root: Path, assignment: str = "ps1", **kw) -> Path:
    """Write the source notebook under ``root/source/<assignment>/`` and return its path."""
    import nbformat
    path = Path(root) / "source" / assignment / f"{assignment}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(source_notebook(assignment, **kw), str(path))
    return path


def _find(nb, grade_id):
    for i, c in enumerate(nb.cells):
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return i, c
    raise KeyError(grade_id)


def student_notebook(release_nb, kind: str):
    """A copy of the released notebook as a student of ``kind`` submits it (see ``KINDS``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    nb = copy.deepcopy(release_nb)
    _, sol = _find(nb, "squares")
    body = {
        "good": "    return [i * i for i in range(n)]",
        "partial": "    return [i * i for i in range(min(n, 3))]",
        "slow": "    import time\n    time.sleep(0.5)\n    return [i * i for i in range(n)]",
        "infinite_loop": "    while True:\n        pass",
        # Grows by 64 MiB steps and stops on its own at 6 GiB, so a broken limit cannot take the machine down.
        "memory_bomb": "    hog = []\n    for _ in range(96):\n        hog.append(b'x' * (64 << 20))\n"
                       "    return [i * i for i in range(n)]",
        "os_system": "    os.system('echo pwned > pwned.txt')\n    return [i * i for i in range(n)]",
        "network": "    import socket\n    socket.create_connection(('192.0.2.1', 80), timeout=2)\n"
                   "    return [i * i for i in range(n)]",
        "edited_test": "    return [0, 1, 4]",
        "deleted_test": "    return [0, 1, 4]",
        "crash": "    os._exit(3)",
    }.get(kind)
    if body is not None:
        sol.source = "def squares(n):\n" + body
    if kind == "edited_test":
        _, test = _find(nb, "test_squares")
        test.source = "pass  # the tests are fine, trust me"
    if kind == "deleted_test":
        i, _ = _find(nb, "test_squares")
        del nb.cells[i]
    if kind in ("good", "partial") and any(c.metadata.get("nbgrader", {}).get("grade_id") == "vae_answer"
                                           for c in nb.cells):
        _, ans = _find(nb, "vae_answer")
        ans.source = "A VAE maps images to a Gaussian; sampling is easy; samples are blurry."
    return nb


def write_submission(path: Path, release_nb, kind: str) -> Path:
    """Write a student's notebook of ``kind`` to ``path`` (``not_a_notebook`` writes text that is not JSON)."""
    import nbformat
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "not_a_notebook":
        path.write_text("print('I wrote my homework in a .py file')\n", encoding="utf-8")
    elif kind == "broken_json":
        path.write_text(json.dumps(nbformat.writes(release_nb))[:200], encoding="utf-8")
    else:
        nbformat.write(student_notebook(release_nb, kind), str(path))
    return path


def solved_submission(source_nb, release_nb):
    """The released notebook with every solution cell replaced by the source's: a student who solved everything.

    Locked and test cells stay as released, so the tamper report must come back empty for it.
    """
    nb = copy.deepcopy(release_nb)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source_nb.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in solutions:
            c.source = "\n".join(ln for ln in solutions[gid].split("\n")
                                  if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln)
    return nb
