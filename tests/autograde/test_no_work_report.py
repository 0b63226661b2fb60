"""05_report's autograded points are earned by a trained fcn's latent edits only.

Each answer below (``no_work_answers.REPORT_NO_WORK``) runs to the end and draws a figure: latent edits of an
untrained fcn and of one that draws the mean face, brightness edits and a blank figure (beside an untrained fcn,
and beside a trained one), and a trained fcn's codes scaled by row (``z[i]``, face i's whole code) instead of by
element. The autograder rebuilds the fcn from its weights in the test kernel, judges it on the secret probes and
checks ``edit_latent`` against its own decoding: each gets 0 code points, the solved answer every one, on each
grading data set tried. 01_simple's corpus: ``test_no_work.py``.

Brightness edits beside an untrained fcn fail both what the untrained fcn's latent edits fail (the model) and what
the trained fcn's brightness edits fail (the edit), so that answer is slow, as is the solved answer on three more
data seeds (~1 min per seed).

Sandboxed (bubblewrap), smoke mode, the tiny preset with the grading data's kinds (``grading_tiny``): ~2 min on 2
cores.
"""
from __future__ import annotations

import pytest

from tests.autograde.no_work_answers import R, REPORT, REPORT_NO_WORK, copy_course, grade_answers, release_course, \
    tiny_data


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    return release_course(tmp_path_factory.mktemp("nowork-report"), R)


#: Covered by two answers of the fast batch (above): slow.
SLOW = ("untrained_brightness",)
FAST = {k: v for k, v in REPORT_NO_WORK.items() if k not in SLOW}


@pytest.fixture(scope="module")
def report_corpus(sandbox, released, grading_tiny, tmp_path_factory):
    course = copy_course(released, tmp_path_factory.mktemp("report"))
    return grade_answers(course, grading_tiny.data_dir, {**REPORT, **FAST}, R)


def test_the_solved_latent_adjustments_get_every_code_point(report_corpus):
    assert report_corpus["solved"].status == "graded" and report_corpus["solved"].code_score == 5, \
        report_corpus["solved"]


@pytest.mark.parametrize("answer", sorted(FAST))
def test_latent_adjustments_that_are_not_a_trained_fcns_get_no_code_point(report_corpus, answer):
    assert report_corpus[answer].status == "graded" and report_corpus[answer].code_score == 0, report_corpus[answer]


@pytest.mark.slow
def test_brightness_edits_beside_an_untrained_fcn_get_no_code_point(sandbox, released, grading_tiny, tmp_path):
    res = grade_answers(copy_course(released, tmp_path), grading_tiny.data_dir,
                        {k: REPORT_NO_WORK[k] for k in SLOW}, R)
    earned = {k: (r.status, r.code_score) for k, r in res.items() if (r.status, r.code_score) != ("graded", 0)}
    assert sorted(res) == sorted(SLOW) and earned == {}, earned


@pytest.mark.slow
@pytest.mark.parametrize("data_seed", [1, 2, 3])
def test_the_solved_latent_adjustments_pass_on_other_grading_data(sandbox, released, tmp_path, data_seed):
    data = tiny_data(tmp_path, data_seed)
    res = grade_answers(copy_course(released, tmp_path), data,
                        {**REPORT, "untrained": REPORT_NO_WORK["untrained_latent"]}, R)
    assert res["solved"].code_score == 5, res["solved"]
    assert res["untrained"].code_score == 0, res["untrained"]
