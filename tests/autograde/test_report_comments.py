"""The graders' comments from the report CSV: checked with the scores, stored as nbgrader manual comments (all rows
or none), shown in grades.csv; a blank cell keeps a comment written in formgrader."""
from __future__ import annotations

import csv
import re

import pytest

from grader.autograde.course import open_gradebook
from grader.autograde.gradebook import GradeScheme, ScoreFileError, build_gradebook, import_report

pytestmark = pytest.mark.filterwarnings("ignore:Object of type:sqlalchemy.exc.SAWarning")  # nbgrader add_submission
SCHEME = GradeScheme(code_assignments=[], report_assignments=["ps1"], baselines=[])


@pytest.fixture()
def course(released_course, tmp_path):
    """ps1 (its written answer ``vae_answer``, 3 points) submitted by b01 and b02, as autograde stores it."""
    from tests.autograde.conftest import fresh_copy
    c = fresh_copy(released_course, tmp_path)
    with open_gradebook(c) as gb:
        for sid in ("b01", "b02"):
            gb.update_or_create_student(sid)
            gb.add_submission("ps1", sid)
        gb.db.commit()
    return c


def _csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def _comment(course, sid):
    with open_gradebook(course) as gb:
        return gb.find_comment("vae_answer", "ps1", "ps1", sid).manual_comment


def test_comments_are_stored_with_the_scores_and_reach_grades_csv(course, tmp_path):
    p = _csv(tmp_path / "r.csv", [["id", "vae_answer", "comment"], ["b01", "3", "Well argued,\nwith a figure."],
                                  ["b02", "", "Nothing written yet?"]])
    done = import_report(course, "ps1", p)
    assert (done.scores, done.comments, done.changed) == (1, 2, 3)
    assert _comment(course, "b01") == "Well argued,\nwith a figure."
    assert _comment(course, "b02") == "Nothing written yet?"
    by = {r["id"]: r for r in build_gradebook(course, SCHEME)[0]}
    assert by["b01"]["comment"] == "ps1 vae_answer: Well argued,\nwith a figure."
    # the same file again changes nothing
    assert import_report(course, "ps1", p).changed == 0


def test_a_blank_comment_keeps_formgraders_and_a_cell_can_be_named(course, tmp_path):
    with open_gradebook(course) as gb:
        gb.find_comment("vae_answer", "ps1", "ps1", "b01").manual_comment = "from formgrader"
        gb.db.commit()
    import_report(course, "ps1", _csv(tmp_path / "r.csv", [["id", "vae_answer", "comment"], ["b01", "2", ""]]))
    assert _comment(course, "b01") == "from formgrader"
    import_report(course, "ps1", _csv(tmp_path / "c.csv", [["id", "comment:vae_answer"], ["b02", "named cell"]]))
    assert _comment(course, "b02") == "named cell"


def test_bad_rows_store_nothing(course, tmp_path):
    p = _csv(tmp_path / "r.csv", [["id", "vae_answer", "comment"], ["b01", "3", "kept?"], ["b09", "", "who?"]])
    with pytest.raises(ScoreFileError, match=re.escape("line 3, column 'id', id b09: no autograded ps1 submission")):
        import_report(course, "ps1", p)
    assert _comment(course, "b01") is None
    with open_gradebook(course) as gb:
        assert gb.find_grade("vae_answer", "ps1", "ps1", "b01").manual_score is None
    with pytest.raises(ScoreFileError, match=re.escape("unknown column(s) ['comment:q9']")):
        import_report(course, "ps1", _csv(tmp_path / "q.csv", [["id", "comment:q9"], ["b01", "x"]]))
    with pytest.raises(ScoreFileError, match=re.escape("line 2, column 'id': empty student id")):
        import_report(course, "ps1", _csv(tmp_path / "e.csv", [["id", "comment"], ["", "x"]]))
