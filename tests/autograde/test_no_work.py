"""01_simple's autograded points are earned by a trained model only.

Every answer below (``no_work_answers.NO_WORK``) passes what the student's own process can check (it sets ``model``,
``history`` and ``scores`` of the right kinds), and none trains a model: scores that rise with the row index, an
untrained network, constant and random scores, pixel statistics and a numpy PCA, each beside an untrained sample
model; the distance to the mean face put into a sample model's weights; no model at all. The autograder rebuilds
``model`` from its weights in the test kernel and judges it on the grading data's secret probes, against bars from
the reference solution on the same probes (``grader/autograde/probes.py``): each gets 0 code points, and the solved
answer every one, on each grading data set tried. In the same batch the unchanged release gets 0 and the source
notebook (which calls the kit's reference) a status of its own. 05_report's corpus: ``test_no_work_report.py``.

The tests judge only the model rebuilt from its weights (whatever ``scores`` the answer cell computed beside it), so
the fast batch grades one answer of each kind of model: an untrained one, one that draws the mean face, none. The
other score tricks beside an untrained model (``SCORE_TRICKS``) are graded by the same path and are slow, as is the
solved answer on three more data seeds (~1 min per seed).

Sandboxed (bubblewrap), smoke mode, the tiny preset with the grading data's kinds (``grading_tiny``): ~2 min on 2
cores.
"""
from __future__ import annotations

import pytest

from tests.autograde.no_work_answers import A, NO_WORK, SOLVED, copy_course, grade_answers, release_course, \
    tiny_data


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    return release_course(tmp_path_factory.mktemp("nowork"), A)


#: Answers whose model is untrained, like ``NO_WORK["untrained"]``'s, with other scores beside it: slow.
SCORE_TRICKS = ("row_index", "constant", "random", "mean_face", "pca")
FAST = {k: v for k, v in NO_WORK.items() if k not in SCORE_TRICKS}


@pytest.fixture(scope="module")
def corpus(sandbox, released, grading_tiny, tmp_path_factory):
    """01's answers graded in one batch, beside the unchanged release (``blank``) and the source notebook, which
    calls the kit's reference (``source``)."""
    import nbformat
    course = copy_course(released, tmp_path_factory.mktemp("corpus"))
    release_nb = nbformat.read(str(course.course_dir / "release" / A / f"{A}.ipynb"), as_version=4)
    source_nb = nbformat.read(str(course.source_dir / A / f"{A}.ipynb"), as_version=4)
    return course, grade_answers(course, grading_tiny.data_dir, {"solved": SOLVED, **FAST, "blank": release_nb,
                                                                 "source": source_nb})


def test_the_solved_answer_gets_every_code_point(corpus):
    """4 points: every autograded test cell of 01's source notebook."""
    import nbformat
    course, res = corpus
    src = nbformat.read(str(course.source_dir / A / f"{A}.ipynb"), as_version=4)
    with_tests = sum(c.metadata["nbgrader"].get("points", 0) for c in src.cells
                     if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")
    assert with_tests == 4
    assert res["solved"].status == "graded" and res["solved"].code_score == 4, res["solved"]
    assert res["solved"].tampering == []


def test_the_unchanged_release_gets_nothing_and_the_source_notebook_a_status_of_its_own(corpus):
    _, res = corpus
    assert res["blank"].status == "graded" and res["blank"].code_score == 0.0 and res["blank"].tampering == []
    assert res["source"].status == "source_notebook" and res["source"].score == 0.0


@pytest.mark.parametrize("answer", sorted(FAST))
def test_an_answer_without_a_trained_model_gets_no_code_point(corpus, answer):
    _, res = corpus
    assert res[answer].status == "graded" and res[answer].code_score == 0, res[answer]


@pytest.mark.slow
def test_scores_beside_an_untrained_model_earn_no_code_point(sandbox, released, grading_tiny, tmp_path):
    res = grade_answers(copy_course(released, tmp_path), grading_tiny.data_dir,
                        {k: NO_WORK[k] for k in SCORE_TRICKS})
    earned = {k: (r.status, r.code_score) for k, r in res.items() if (r.status, r.code_score) != ("graded", 0)}
    assert sorted(res) == sorted(SCORE_TRICKS) and earned == {}, earned


def test_the_probe_seed_and_reference_stay_on_the_ta_side(corpus):
    """The seed and the reference's scores are the course's, 0600; a regrade draws the same probes."""
    from grader.autograde import probes
    course, _ = corpus
    folder = course.course_dir / probes.FOLDER
    files = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert files[-1] == "seed" and len(files) == 2 and files[0].startswith(f"reference-{A}-"), files
    assert all((folder / f).stat().st_mode & 0o777 == 0o600 for f in files)
    seed = probes.course_seed(course.course_dir)
    assert probes.course_seed(course.course_dir) == seed


@pytest.mark.slow
@pytest.mark.parametrize("data_seed", [1, 2, 3])
def test_the_solved_answer_passes_on_other_grading_data(sandbox, released, tmp_path, data_seed):
    data = tiny_data(tmp_path, data_seed)
    res = grade_answers(copy_course(released, tmp_path), data, {"solved": SOLVED, "untrained": NO_WORK["untrained"]})
    assert res["solved"].code_score == 4, res["solved"]
    assert res["untrained"].code_score == 0, res["untrained"]
