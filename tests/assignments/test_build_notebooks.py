"""The notebook generator: committed notebooks are current, nbgrader metadata is well formed, points add up."""
from __future__ import annotations

import re

import nbformat
import pytest

from assignments import build_notebooks as bn


def test_committed_notebooks_match_the_generator():
    assert bn.stale_notebooks() == [], "run: python -m assignments.build_notebooks"


def test_cli_writes_then_checks(tmp_path, capsys):
    assert bn.main(["--root", str(tmp_path), "--check"]) == 1  # nothing there yet
    assert bn.main(["--root", str(tmp_path), "01_simple"]) == 0
    assert (tmp_path / "01_simple" / "01_simple.ipynb").is_file()
    assert not (tmp_path / "02_medium").exists()
    assert bn.main(["--root", str(tmp_path), "--check", "01_simple"]) == 0
    path = tmp_path / "01_simple" / "01_simple.ipynb"
    path.write_text(path.read_text().replace("model_type", "modeltype"))
    assert bn.main(["--root", str(tmp_path), "--check", "01_simple"]) == 1
    assert "stale" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        bn.main(["--root", str(tmp_path), "06_extra"])
    assert e.value.code == 2
    assert "unknown assignment(s) 06_extra" in capsys.readouterr().err


@pytest.mark.parametrize("assignment", bn.ASSIGNMENTS)
def test_nbgrader_metadata(assignment):
    nb = nbformat.read(bn.notebook_path(assignment), 4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    metas = [c.metadata.get("nbgrader") for c in nb.cells]
    ids = [m["grade_id"] for m in metas if m]
    assert len(ids) == len(set(ids))
    assert nb.cells[0].cell_type == "markdown" and metas[0]["locked"]
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "seed_everything(cfg.seed)" in first_code.source and "NotebookEnv.from_environ()" in first_code.source
    assert not first_code.metadata.get("nbgrader"), "the config cell stays editable"
    for cell, m in zip(nb.cells, metas):
        if not m:
            continue
        assert m["schema_version"] == 3 and m["task"] is False
        has_solution = "### BEGIN SOLUTION" in cell.source
        if m["solution"] and cell.cell_type == "code":
            assert has_solution and "### END SOLUTION" in cell.source and not m["locked"], m["grade_id"]
        else:
            assert not has_solution, m["grade_id"]
        if m["grade"]:
            assert m["points"] > 0, m["grade_id"]
        if m["grade"] and cell.cell_type == "code":  # autograder tests: locked, visible and hidden parts
            assert m["locked"] and not m["solution"], m["grade_id"]
            assert "### BEGIN HIDDEN TESTS" in cell.source and "### END HIDDEN TESTS" in cell.source, m["grade_id"]
            visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            assert "assert " in visible, f"{m['grade_id']}: no visible test"
        if m["grade"] and cell.cell_type == "markdown":  # written answers: manual, with a rubric just above
            assert m["solution"] and not m["locked"], m["grade_id"]
            rubric = nb.cells[nb.cells.index(cell) - 1]
            assert "*Rubric:*" in rubric.source, f"{m['grade_id']}: no rubric above the answer cell"


@pytest.mark.parametrize("assignment", bn.ASSIGNMENTS)
def test_points_table_matches_the_cells(assignment):
    nb = nbformat.read(bn.notebook_path(assignment), 4)
    total = sum(c.metadata["nbgrader"]["points"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))
    stated = re.search(r"\| \*\*total\*\* \| \*\*(\d+)\*\* \|", nb.cells[0].source)
    assert stated and int(stated.group(1)) == total
    rows = re.findall(r"^\| (?!part|---|\*\*total)(.+?) \| (\d+) \|$", nb.cells[0].source, re.M)
    assert sum(int(p) for _, p in rows) == total


def test_every_stage_notebook_has_the_shared_contract():
    for assignment in bn.ASSIGNMENTS:
        src = "\n".join(c.source for c in nbformat.read(bn.notebook_path(assignment), 4).cells)
        if assignment != "05_report":
            assert "images_to_score = np.concatenate([test, probes.images])" in src
            assert "scores, probe_scores = scores_all[:len(test)], scores_all[len(test):]" in src
            assert f"{assignment.split('_')[1]}.run(train, images_to_score, smoke=env.smoke" in src
        assert 'write_submission(scores, env.path("prediction.csv"), expected_rows=len(test))' in src
        assert "plot_score_histogram(" in src and "plot_reconstructions(" in src
    boss = "\n".join(c.source for c in nbformat.read(bn.notebook_path("04_boss"), 4).cells)
    for needle in ("PatchCore", "pretrained", "offline", "outlier exposure", "DRAEM", "CutPaste", "Deep SVDD"):
        assert needle in boss, needle


def test_duplicate_cell_ids_are_refused(monkeypatch):
    monkeypatch.setitem(bn.BUILDERS, "01_simple", lambda: [bn.md("a", "x"), bn.code("a", "y = 1")])
    with pytest.raises(ValueError, match="01_simple: duplicate cell id"):
        bn.build_notebook("01_simple")
    with pytest.raises(KeyError, match="valid: 01_simple"):
        bn.build_notebook("00_nothing")
