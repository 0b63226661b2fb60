"""The source notebooks are their own source: checks on what TAs edit, not a generator.

Per notebook: nbgrader's metadata validator and this course's conventions (grade ids, points, flags); the jupytext
pair (``<assignment>.py``) is what ``jupytext --sync`` keeps it in sync with, in both directions; the .py pairs pass
``ruff check assignments/``. Across notebooks: the cells the scored stages share are identical, so a TA who edits
one of them edits them all.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from assignments import ASSIGNMENTS, ROOT, notebook_path, script_path
from starter_code.notebook import PROBE_FUNCTIONS, SCORE_FUNCTION

#: The stages whose model is the student's own: their tests judge what the notebook's ``score_images`` returns in the
#: autograder's probe step (01's and 05's rebuild a sample model from its weights).
PROBED = ASSIGNMENTS[1:4]
#: Cells identical (type, source and nbgrader metadata) in every notebook that has them: cell id -> notebooks.
SHARED = {"data": ASSIGNMENTS, "submit": ASSIGNMENTS,
          **{c: PROBED for c in ("score_test", "test_score_function", "test_scores_separate",
                                 "test_submission_file")}}


def _read(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(notebook_path(assignment), 4)


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


# -- nbgrader metadata ---------------------------------------------------------------------------------------------
def metadata_problems(nb: nbformat.NotebookNode) -> list[str]:
    """What is wrong with ``nb``'s nbgrader metadata, in words (empty when nothing is)."""
    from nbgrader.nbgraderformat import MetadataValidator, ValidationError
    problems = []
    try:
        MetadataValidator().validate_nb(nb)  # nbgrader's own check (schema, types, unique grade ids)
    except ValidationError as e:
        problems.append(f"nbgrader: {e}")
    ids = [_meta(c)["grade_id"] for c in nb.cells if _meta(c)]
    problems += [f"grade_id {i!r} is used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    for cell in nb.cells:
        m = _meta(cell)
        if not m:
            continue
        gid = m.get("grade_id", "?")
        if m.get("schema_version") != 3:
            problems.append(f"{gid}: schema_version {m.get('schema_version')!r}, expected 3")
        has_solution = "### BEGIN SOLUTION" in cell.source
        if m.get("solution") and cell.cell_type == "code":
            if not (has_solution and "### END SOLUTION" in cell.source):
                problems.append(f"{gid}: a code answer cell without a ### BEGIN/END SOLUTION region")
            if m.get("locked"):
                problems.append(f"{gid}: an answer cell cannot be locked")
        elif has_solution:
            problems.append(f"{gid}: a solution region in a cell that is not an answer cell")
        if m.get("grade") and not m.get("points", 0) > 0:
            problems.append(f"{gid}: a graded cell without points")
        if not m.get("grade") and "points" in m:
            problems.append(f"{gid}: points on a cell that is not graded")
        if m.get("grade") and cell.cell_type == "code":  # autograder tests: locked, visible and hidden parts
            if not m.get("locked") or m.get("solution"):
                problems.append(f"{gid}: an autograder test cell must be locked and not an answer")
            if "### BEGIN HIDDEN TESTS" not in cell.source or "### END HIDDEN TESTS" not in cell.source:
                problems.append(f"{gid}: no hidden tests")
            if "assert " not in cell.source.split("### BEGIN HIDDEN TESTS")[0]:
                problems.append(f"{gid}: no visible test")
        if m.get("grade") and cell.cell_type == "markdown" and (not m.get("solution") or m.get("locked")):
            problems.append(f"{gid}: a written answer must be an unlocked answer cell")
        if not m.get("grade") and not m.get("solution") and not m.get("locked"):
            problems.append(f"{gid}: nbgrader metadata on a plain cell (read-only cells are locked)")
    return problems


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_metadata_is_valid(assignment):
    nb = _read(assignment)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert metadata_problems(nb) == []
    assert nb.cells[0].cell_type == "markdown" and _meta(nb.cells[0])["locked"], "the intro is read-only"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "seed_everything(cfg.seed)" in first_code.source and "NotebookEnv.from_environ()" in first_code.source
    assert not _meta(first_code), "the config cell stays editable (no nbgrader metadata)"


def test_metadata_check_finds_broken_cells():
    nb = _read("01_simple")
    by_id = {c.id: c for c in nb.cells}
    by_id["data"].metadata.nbgrader["grade_id"] = "intro"               # a duplicate grade id
    del by_id["test_model_separates"].metadata.nbgrader["points"]       # a graded cell without points
    by_id["train"].metadata.nbgrader["locked"] = True                   # a locked answer
    by_id["submit"].metadata.nbgrader["schema_version"] = 2
    problems = "\n".join(metadata_problems(nb))
    for needle in ("'intro' is used twice", "test_model_separates: a graded cell without points",
                   "train: an answer cell cannot be locked", "submit: schema_version 2"):
        assert needle in problems, (needle, problems)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_rubrics_live_only_in_answer_cells(assignment):
    """Each written question: a read-only question cell stating its points, then the answer cell, whose source
    (replaced whole by nbgrader in the release) holds the rubric and the model answer. No other cell mentions a
    rubric: nbgrader would release it as it is."""
    cells = _read(assignment).cells
    for i, cell in enumerate(cells):
        m = _meta(cell)
        if m.get("solution") and cell.cell_type == "markdown":
            assert cell.source.startswith("**Rubric**") and "**Reference answer" in cell.source, m["grade_id"]
            question = cells[i - 1]
            assert _meta(question).get("locked") and question.cell_type == "markdown", m["grade_id"]
            stated = re.search(r"\((\d+) points?\b", question.source)
            assert stated and int(stated.group(1)) == m["points"], f"{m['grade_id']}: the question states no points"
        else:
            assert not re.search(r"(?i)\brubric", cell.source), f"{m.get('grade_id', cell.id)} mentions a rubric"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_table_matches_the_cells(assignment):
    nb = _read(assignment)
    total = sum(_meta(c)["points"] for c in nb.cells if _meta(c).get("grade"))
    stated = re.search(r"\| \*\*total\*\* \| \*\*(\d+)\*\* \|", nb.cells[0].source)
    assert stated and int(stated.group(1)) == total
    rows = re.findall(r"^\| (?!part|---|\*\*total)(.+?) \| (\d+) \|$", nb.cells[0].source, re.M)
    assert sum(int(p) for _, p in rows) == total


# -- the jupytext pairs --------------------------------------------------------------------------------------------
def _sync(folder: Path, newer: str) -> None:
    """``jupytext --sync`` on ``folder``'s pair after making the ``newer`` file ('.py' or '.ipynb') the newer one,
    as after a TA edits it."""
    from jupytext.cli import jupytext
    (nb,) = folder.glob("*.ipynb")
    (script,) = folder.glob("*.py")
    old, new = (nb, script) if newer == ".py" else (script, nb)
    t = new.stat().st_mtime
    os.utime(old, (t - 10, t - 10))
    jupytext(["--sync", "--quiet", str(new)])


def pair_differences(assignment: str, root: Path, tmp: Path) -> list[str]:
    """Files that ``jupytext --sync`` would change, from either side of ``assignment``'s pair under ``root``
    (a folder with ``jupytext.toml`` and ``source/``)."""
    diffs = []
    for newer in (".py", ".ipynb"):
        work = tmp / newer.strip(".")
        work.mkdir(parents=True)
        shutil.copy(root / "jupytext.toml", work / "jupytext.toml")
        folder = work / "source" / assignment
        shutil.copytree(notebook_path(assignment, root / "source").parent, folder)
        _sync(folder, newer)
        for path in (notebook_path(assignment, work / "source"), script_path(assignment, work / "source")):
            before = (root / "source" / assignment / path.name).read_bytes()
            if path.read_bytes() != before:
                diffs.append(f"{path.name} changes when the {newer} side is synced")
    return diffs


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_py_pair_is_in_sync(assignment, tmp_path):
    assert script_path(assignment).is_file(), f"run: jupytext --sync {notebook_path(assignment)}"
    assert pair_differences(assignment, ROOT, tmp_path) == [], f"run: jupytext --sync {script_path(assignment)}"


def test_pair_check_finds_an_edit_on_either_side(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(ROOT / "jupytext.toml", root / "jupytext.toml")
    shutil.copytree(ROOT / "source" / "01_simple", root / "source" / "01_simple")
    script = script_path("01_simple", root / "source")
    script.write_text(script.read_text().replace("epochs=50", "epochs=60"))
    assert pair_differences("01_simple", root, tmp_path / "a") == [
        "01_simple.ipynb changes when the .py side is synced", "01_simple.py changes when the .ipynb side is synced"]
    # `jupytext --sync` after the .py edit makes the pair consistent again, and carries the edit into the notebook.
    _sync(script.parent, ".py")
    assert pair_differences("01_simple", root, tmp_path / "b") == []
    assert 'epochs=60' in nbformat.read(notebook_path("01_simple", root / "source"), 4).cells[1].source


def test_release_ignores_the_py_pairs():
    """The pair holds the solutions: nbgrader must not copy it into the release (the release tests also check
    that the release folder holds only the notebook)."""
    from traitlets.config.loader import PyFileConfigLoader
    ignore = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config().CourseDirectory.ignore
    from nbgrader.utils import is_ignored
    for a in ASSIGNMENTS:
        assert is_ignored(str(script_path(a)), ignore), a
        assert not is_ignored(str(notebook_path(a)), ignore), a


def test_py_pairs_pass_ruff():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "assignments/"],
                            cwd=ROOT.parent, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--show-files", "assignments/"],
                            cwd=ROOT.parent, capture_output=True, text=True).stdout
    for a in ASSIGNMENTS:  # the pairs were checked, not skipped
        assert str(script_path(a)) in listed, a


def test_ruff_finds_an_undefined_name(tmp_path):
    bad = tmp_path / "01_simple.py"
    bad.write_text(script_path("01_simple").read_text() + "\n# %%\nprint(scroes_all)\n")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                             str(ROOT / "ruff.toml"), str(bad)], capture_output=True, text=True)
    assert result.returncode == 1 and "F821" in result.stdout and "scroes_all" in result.stdout, result.stdout


# -- cells shared across notebooks ---------------------------------------------------------------------------------
def _cell(nb, grade_id):
    return next((c for c in nb.cells if _meta(c).get("grade_id") == grade_id), None)


def _setup(nb):
    """The config cell: the first code cell (editable, so without a grade id)."""
    return next(c for c in nb.cells if c.cell_type == "code")


def _setup_skeleton(source: str) -> str:
    """The config cell without what each stage sets: the ``cfg = ...`` statement and the extra import lines
    between the starter_code imports and ``from starter_code.notebook import``."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("cfg = "))
    end = next(i for i, line in enumerate(lines) if line.startswith("seed_everything("))
    lines[start:end] = ["cfg = ..."]
    first = next(i for i, line in enumerate(lines) if line.endswith("write_submission)"))
    last = next(i for i, line in enumerate(lines) if line.startswith("from starter_code.notebook import"))
    lines[first + 1:last] = []
    return "\n".join(lines)


def _rules(intro: str) -> str:
    """The intro's course rules and how-to-work paragraphs (the same text in every notebook)."""
    return intro[intro.index("> **Course rules.**"):intro.index("| part | points |")]


def shared_cell_differences(notebooks: dict[str, nbformat.NotebookNode]) -> list[str]:
    """Where the cells that should be identical across ``notebooks`` (assignment -> notebook) are not."""
    diffs = []

    def same(what, values: dict[str, object]):
        first_a, first = next(iter(values.items()))
        diffs.extend(f"{what}: {a} differs from {first_a}" for a, v in values.items() if v != first)

    for cell_id, sharing in SHARED.items():
        cells = {a: _cell(nb, cell_id) for a, nb in notebooks.items() if a in sharing}
        diffs += [f"cell {cell_id!r} missing from {a}" for a, c in cells.items() if c is None]
        same(f"cell {cell_id!r}", {a: (c.cell_type, c.source, c.metadata) for a, c in cells.items() if c})
    same("the config cell (apart from cfg and extra imports)",
         {a: _setup_skeleton(_setup(nb).source) for a, nb in notebooks.items()})
    same("the course rules in the intro", {a: _rules(nb.cells[0].source) for a, nb in notebooks.items()})
    return diffs


def test_cells_shared_by_the_stages_are_identical():
    assert shared_cell_differences({a: _read(a) for a in ASSIGNMENTS}) == []


def test_shared_cell_check_finds_a_one_notebook_edit():
    notebooks = {a: _read(a) for a in ASSIGNMENTS}
    _cell(notebooks["03_strong"], "test_score_function").source += "\nprint(len(scores))"
    _cell(notebooks["05_report"], "submit").metadata.nbgrader["locked"] = False
    setup = _setup(notebooks["02_medium"])
    setup.source = setup.source.replace("print(env)", "print(env, flush=True)")
    intro = notebooks["04_boss"].cells[0]
    intro.source = intro.source.replace("Scored uploads per day are limited", "Scored uploads per day are free")
    _cell(notebooks["02_medium"], "score_test").source += "  "  # the reference copy itself changed
    # A stage's own config line and imports may differ.
    setup4 = _setup(notebooks["04_boss"])
    setup4.source = setup4.source.replace("epochs=30", "epochs=31").replace("import torch\n", "import torch, math\n")
    assert shared_cell_differences(notebooks) == [
        "cell 'submit': 05_report differs from 01_simple",
        "cell 'score_test': 03_strong differs from 02_medium",
        "cell 'score_test': 04_boss differs from 02_medium",
        "cell 'test_score_function': 03_strong differs from 02_medium",
        "the config cell (apart from cfg and extra imports): 02_medium differs from 01_simple",
        "the course rules in the intro: 04_boss differs from 01_simple",
    ]


def test_every_stage_notebook_has_the_shared_contract():
    for assignment in ASSIGNMENTS:
        src = "\n".join(c.source for c in _read(assignment).cells)
        if assignment == "01_simple":
            assert "simple.run(train, test, smoke=env.smoke" in src and "secret_probes.min_auc" in src
        elif assignment != "05_report":
            assert f"def {SCORE_FUNCTION}(images):" in src and f"scores = {SCORE_FUNCTION}(test)" in src
            assert "images_to_score" not in src and "make_probes(" not in src.split("NotebookEnv.from_environ()")[1]
            # The reference stage, called in smoke mode when the notebook is (04 calls its steps' parts).
            stage = assignment.split("_")[1]
            assert f"{stage}.run(train, test, smoke=env.smoke" in src or \
                   f"{stage}.CONFIG.resolve(smoke=env.smoke)" in src, assignment
        assert 'write_submission(scores, env.path("prediction.csv"), expected_rows=len(test))' in src
        assert "plot_score_histogram(" in src and "plot_reconstructions(" in src
    boss = "\n".join(c.source for c in _read("04_boss").cells)
    for needle in ("PatchCore", "pretrained", "offline", "outlier exposure", "DRAEM", "CutPaste", "Deep SVDD"):
        assert needle in boss, needle


def probe_step_problems(assignment: str, nb: nbformat.NotebookNode, calls) -> list[str]:
    """Where ``nb`` does not hold the probe step's contract for the roles in ``calls``: each function the
    autograder calls (``starter_code.notebook.PROBE_FUNCTIONS``) is named in the intro's grading paragraph,
    defined in the solution and read by a hidden test from ``secret_probes``."""
    intro = nb.cells[0].source
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    tests = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and _meta(c).get("grade"))
    problems = []
    for role in calls:
        name = PROBE_FUNCTIONS[role]
        if f"`{name}" not in intro.split("**How it is graded.**")[-1]:
            problems.append(f"{assignment}: the intro does not say that the autograder calls {name}")
        if f"def {name}(" not in code:
            problems.append(f"{assignment}: the solution does not define {name}")
        if f'secret_probes.returned("{name}")' not in tests and f'secret_probes.returned_scores("{name}")' not in tests:
            problems.append(f"{assignment}: no test reads what {name} returned")
    return problems


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebooks_state_the_probe_steps_contract(assignment):
    from grader.autograde.probes import REFERENCES
    calls = REFERENCES[assignment].calls if assignment in REFERENCES else ()
    assert (assignment in PROBED) == ("score" in calls)
    assert probe_step_problems(assignment, _read(assignment), calls) == []


def test_probe_step_check_finds_a_missing_function():
    nb = _read("03_strong")
    train = _cell(nb, "train")
    train.source = train.source.replace("def encoder_codes(", "def codes_of(")
    assert probe_step_problems("03_strong", nb, ("score", "encoders")) == ["03_strong: the solution does not "
                                                                          "define encoder_codes"]


def section_numbers(nb: nbformat.NotebookNode) -> list[int]:
    """The numbers of the notebook's numbered sections (``## 1. ...``), in order."""
    return [int(m) for c in nb.cells if c.cell_type == "markdown" for m in re.findall(r"^## (\d+)\. ", c.source, re.M)]


@pytest.mark.parametrize("assignment", ASSIGNMENTS[:4])
def test_sections_are_numbered_one_by_one(assignment):
    numbers = section_numbers(_read(assignment))
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 2, numbers


def test_section_check_finds_a_gap():
    nb = _read("01_simple")
    md = _cell(nb, "submit_md")
    md.source = re.sub(r"^## \d+\.", "## 3.", md.source, flags=re.M)
    assert section_numbers(nb) == [1, 3]


def test_boss_is_built_in_steps():
    """04_boss: one answer cell per step (autoencoder, anomalies, classifier, combination), each followed by its
    own autograder test; the two trainings' histories have names that say whose they are."""
    cells = _read("04_boss").cells
    ids = [_meta(c).get("grade_id") for c in cells]
    steps = [("autoencoder", "test_autoencoder"), ("make_anomalies", "test_anomalies"),
             ("classifier", "test_classifier"), ("combine", "test_combination")]
    positions = [(ids.index(answer), ids.index(test)) for answer, test in steps]
    assert all(a < t for a, t in positions) and positions == sorted(positions)
    for answer, _ in steps:
        assert _meta(cells[ids.index(answer)]).get("solution"), answer
    # Every test reads data only: each step's read-only check cell computes what it needs from the objects.
    src = "\n".join(c.source for c in cells)
    for name in ("ae_history", "clf_history", "ae_scores(images)", "clf_scores(images)"):
        assert f"`{name}`" in src, f"the instructions do not name {name}"
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert not re.search(r"(?<![\w.])history\b", code), "a variable named just `history`: whose?"
