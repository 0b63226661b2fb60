"""collect: LMS zips, folder per student and loose files are mapped to roster ids; the rest is reported."""
from __future__ import annotations

import csv
import re
import io
import zipfile

import pytest

from grader.autograde.collect import RosterFileError, collect, match_student, read_roster, Student
from grader.autograde.course import CourseConfig
from grader.autograde.fixtures import write_fixture_source

ROSTER = "id,name,email,lms_id\nb01,Ann Lee,ann@uni.edu,11111\nb02,Bo Chen,bo@uni.edu,22222\n" \
         "b03,Cy Wu,cy@uni.edu,33333\nb04,Di Ng,di@uni.edu,44444\n"
NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


@pytest.fixture()
def course(tmp_path):
    write_fixture_source(tmp_path / "src", "ps1")
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    return CourseConfig(source=tmp_path / "src", course_dir=tmp_path / "course")


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_canvas_zip_is_mapped_by_lms_id_and_name(course, tmp_path):
    zpath = tmp_path / "submissions.zip"
    zpath.write_bytes(_zip({
        "leeann_11111_900001_ps1.ipynb": NB,                    # Canvas: name, user id, submission id, file
        "chenbo_LATE_22222_900002_ps1-1.ipynb": NB,              # late, renamed by Canvas
        "stranger_99999_900003_ps1.ipynb": NB,                   # not on the roster
        "wucy_33333_900004_notes.txt": b"not a notebook",
        "__MACOSX/._junk": b"",
    }))
    rep = collect(zpath, course, "ps1", tmp_path / "roster.csv")
    assert rep.placed == {"b01": ["ps1.ipynb"], "b02": ["ps1.ipynb"]}
    assert rep.late == ["b02"]
    assert dict(rep.unplaced) == {"stranger_99999_900003_ps1.ipynb": "matches no roster id, LMS id, e-mail or name",
                                  "wucy_33333_900004_notes.txt": "no .ipynb file in it"}
    assert rep.missing == ["b03", "b04"]
    assert (course.course_dir / "submitted" / "b02" / "ps1" / "ps1.ipynb").read_bytes() == NB
    assert (course.course_dir / "roster.csv").is_file()
    rows = list(csv.DictReader(open(course.course_dir / "collect_ps1.csv")))
    assert {r["what"] for r in rows} == {"placed", "unplaced", "missing"}


def test_folder_per_student_and_loose_files(course, tmp_path):
    src = tmp_path / "in"
    (src / "b01" / "work").mkdir(parents=True)
    (src / "b01" / "work" / "homework.ipynb").write_bytes(NB)
    (src / "b01" / "starter_code").mkdir()
    (src / "b01" / "starter_code" / "__init__.py").write_text("raise SystemExit  # shadowing attempt")
    (src / "b03.ipynb").write_bytes(NB)
    (src / "b04_ps1.ipynb").write_bytes(NB)
    (src / "readme.txt").write_text("hi")
    rep = collect(src, course, "ps1", tmp_path / "roster.csv")
    assert sorted(rep.placed) == ["b01", "b03", "b04"]
    assert rep.missing == ["b02"]
    # only notebooks are copied, renamed to the assignment's notebook
    assert sorted(p.name for p in (course.course_dir / "submitted" / "b01" / "ps1").iterdir()) == ["ps1.ipynb"]


def test_moodle_folders_inside_a_zip_and_nested_zip(course, tmp_path):
    inner = _zip({"b04.ipynb": NB})
    zpath = tmp_path / "moodle.zip"
    zpath.write_bytes(_zip({"Cy Wu_33333_assignsubmission_file_/my_hw.ipynb": NB, "extra/batch.zip": inner}))
    rep = collect(zpath, course, "ps1", tmp_path / "roster.csv")
    assert sorted(rep.placed) == ["b03", "b04"]


def test_duplicates_keep_the_newest_and_ambiguous_names_are_not_guessed(course, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    old, new = src / "b01_old.ipynb", src / "b01_new.ipynb"
    old.write_bytes(NB)
    new.write_bytes(NB.replace(b"[]", b"[ ]"))
    import os
    os.utime(old, (1_000_000, 1_000_000))
    (src / "b01_b02_pair.ipynb").write_bytes(NB)
    rep = collect(src, course, "ps1", tmp_path / "roster.csv")
    assert rep.superseded == [("b01_old.ipynb", "b01")]
    assert (course.course_dir / "submitted" / "b01" / "ps1" / "ps1.ipynb").read_bytes() == new.read_bytes()
    assert rep.unplaced == [("b01_b02_pair.ipynb", "matches several students (b01, b02): not guessed")]


def test_match_by_email_user_and_by_login_column(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("\ufefflogin,name\r\nr11,Eve Park\r\n", encoding="utf-8")
    roster = read_roster(p)
    assert roster == [Student("r11", "Eve Park")]
    assert match_student("ParkEve_submission.ipynb", roster)[0].id == "r11"
    assert match_student("ann_hw.ipynb", [Student("x", "", "ann@uni.edu")])[0].id == "x"


@pytest.mark.parametrize("text, message", [
    ("name\nAnn\n", "line 1: no 'id' (or 'login') column"),
    ("id,name\nb01,Ann\n,Bo\n", "line 3, column 'id': empty student id"),
    ("id,name\nb01,Ann\nb01,Bo\n", "line 3, column 'id': id 'b01' already on line 2"),
])
def test_bad_roster_names_line_and_column(tmp_path, text, message):
    p = tmp_path / "r.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(RosterFileError, match=re.escape(message)):
        read_roster(p)


def test_collect_cli(course, tmp_path, capsys):
    from grader.cli import main
    src = tmp_path / "in"
    src.mkdir()
    (src / "b02.ipynb").write_bytes(NB)
    (src / "zed.ipynb").write_bytes(NB)
    rc = main(["collect", str(src), "--assignment", "ps1", "--roster", str(tmp_path / "roster.csv"),
               "--source", str(course.source), "--course", str(course.course_dir)])
    out = capsys.readouterr().out
    assert rc == 0 and "placed 1 student(s)" in out and "cannot place zed.ipynb" in out
    assert main(["collect", str(tmp_path / "nope.zip"), "--assignment", "ps1", "--source", str(course.source),
                 "--course", str(course.course_dir)]) == 1
    assert "no such zip file or folder" in capsys.readouterr().err
