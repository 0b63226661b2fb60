"""``python -m grader feedback --zip``: one zip per student holding only their own pages, private; and the stale-page
check that drives gradebook's reminder (the whole path through autograde is in test_term_files.py)."""
from __future__ import annotations

import os
import stat
import zipfile

import pytest

from grader.autograde.course import CourseConfig
from grader.autograde.deliver import zip_feedback
from grader.errors import GraderError


@pytest.fixture()
def course(tmp_path):
    c = CourseConfig(source=tmp_path / "src", course_dir=tmp_path / "course")
    for sid, assignment in [("b01", "01_simple"), ("b01", "05_report"), ("b02", "01_simple")]:
        d = c.course_dir / "feedback" / sid / assignment
        d.mkdir(parents=True)
        (d / f"{assignment}.html").write_text(f"<p>{sid} {assignment}</p>", encoding="utf-8")
    (c.course_dir / "feedback" / "b03" / "01_simple").mkdir(parents=True)        # no page: no zip
    (c.course_dir / "feedback" / "b02" / "01_simple" / "notes.txt").write_text("TA scratch")
    os.symlink("/etc/passwd", c.course_dir / "feedback" / "b02" / "01_simple" / "evil.html")
    return c


def test_one_private_zip_per_student_with_only_their_pages(course, tmp_path):
    zips = zip_feedback(course, tmp_path / "out")
    assert [z.name for z in zips] == ["b01.zip", "b02.zip"]
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700
    with zipfile.ZipFile(zips[0]) as zf:
        assert zf.namelist() == ["01_simple/01_simple.html", "05_report/05_report.html"]
        assert zf.read("05_report/05_report.html") == b"<p>b01 05_report</p>"
    with zipfile.ZipFile(zips[1]) as zf:
        assert zf.namelist() == ["01_simple/01_simple.html"]          # no scratch file, no link
    for z in zips:
        assert stat.S_IMODE(z.stat().st_mode) == 0o600
    only = zip_feedback(course, tmp_path / "only", assignments=["05_report"], students=["b01", "b02"])
    assert [z.name for z in only] == ["b01.zip"]


def test_refuses_a_zip_folder_inside_the_feedback_folder(course):
    with pytest.raises(GraderError, match="inside the feedback folder"):
        zip_feedback(course, course.course_dir / "feedback" / "zips")


def test_cli_no_rewrite_needs_zip(course, tmp_path, capsys):
    from grader.cli import main
    common = ["--source", str(course.source), "--course", str(course.course_dir)]
    assert main(["feedback", *common, "--no-rewrite"]) == 1
    assert "--no-rewrite does nothing without --zip DIR" in capsys.readouterr().err
    assert main(["feedback", *common, "--no-rewrite", "--zip", str(tmp_path / "z")]) == 0
    assert "packed 2 student zip(s)" in capsys.readouterr().out


def test_pages_without_hand_grading_are_not_stale(course):
    """Pages autograde wrote (no mark) match a gradebook without hand grading; the gradebook has no submission
    here, so its hand grading is empty too."""
    from grader.autograde.feedback import stale_feedback
    assert stale_feedback(course) == []
