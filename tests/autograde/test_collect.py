"""collect: LMS zips, folder per student and loose files are mapped to roster ids; the rest is reported.

Attacks and real LMS quirks: a student's own file name naming another student, zips inside a student's upload,
path traversal, symbolic links, backslashes, zips nested without end, look-alike and duplicate display names,
non-ASCII names, and the LMS's late mark (its way into the gradebook is tested in test_gradebook.py).
"""
from __future__ import annotations

import csv
import io
import os
import re
import stat
import zipfile

import pytest

from grader.autograde.collect import collect, match_student, read_late_marks
from grader.autograde.course import CourseConfig
from grader.roster import RosterError, Student, read_roster
from tests.autograde.fixtures import write_fixture_source

ROSTER = "id,name,email,lms_id\nb01,Ann Lee,ann@uni.edu,11111\nb02,Bo Chen,bo@uni.edu,22222\n" \
         "b03,Cy Wu,cy@uni.edu,33333\nb04,Di Ng,di@uni.edu,44444\n"
NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def nb(tag: str) -> bytes:
    """A distinct notebook per tag, so a test can tell whose work landed where."""
    return NB.replace(b'"metadata": {}', b'"metadata": {"tag": "%s"}' % tag.encode())


@pytest.fixture()
def course(tmp_path):
    write_fixture_source(tmp_path / "src", "ps1")
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    return CourseConfig(source=tmp_path / "src", course_dir=tmp_path / "course")


def _zip(entries: dict, symlinks: dict | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def _submitted(course, sid):
    return (course.course_dir / "submitted" / sid / "ps1" / "ps1.ipynb").read_bytes()


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
                                  "wucy_33333_900004_notes.txt": "no usable .ipynb file in it (student b03)"}
    assert rep.missing == ["b03", "b04"]
    assert _submitted(course, "b02") == NB
    assert read_roster(course.course_dir / "roster.csv").by_id()["b01"] == Student("b01", "Ann Lee", "ann@uni.edu",
                                                                                   "11111")
    rows = list(csv.DictReader(open(course.course_dir / "collect_ps1.csv")))
    assert {r["what"] for r in rows} == {"batch", "placed", "unplaced", "missing"}
    assert {r["student"]: r["late"] for r in rows if r["what"] == "placed"} == {"b01": "0", "b02": "1"}
    assert read_late_marks(course) == {("ps1", "b01"): {"late": False, "source": "leeann_11111_900001_ps1.ipynb"},
                                       ("ps1", "b02"): {"late": True,
                                                        "source": "chenbo_LATE_22222_900002_ps1-1.ipynb"}}


def test_late_marks_survive_a_second_collect_of_other_students(course, tmp_path):
    (tmp_path / "a.zip").write_bytes(_zip({"chenbo_LATE_22222_900002_ps1.ipynb": NB}))
    (tmp_path / "b.zip").write_bytes(_zip({"wucy_33333_900004_ps1.ipynb": NB}))
    collect(tmp_path / "a.zip", course, "ps1", tmp_path / "roster.csv")
    collect(tmp_path / "b.zip", course, "ps1")                       # the saved roster is used
    marks = read_late_marks(course)
    assert marks[("ps1", "b02")]["late"] and not marks[("ps1", "b03")]["late"]
    # b02 hands in again on time (the TA collects a regrade request): the mark follows the newest upload
    (tmp_path / "c.zip").write_bytes(_zip({"chenbo_22222_900009_ps1.ipynb": NB}))
    collect(tmp_path / "c.zip", course, "ps1")
    assert not read_late_marks(course)[("ps1", "b02")]["late"]


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
    os.utime(old, (1_000_000, 1_000_000))
    (src / "b01_b02_pair.ipynb").write_bytes(NB)
    rep = collect(src, course, "ps1", tmp_path / "roster.csv")
    assert rep.superseded == [("b01_old.ipynb", "b01")]
    assert _submitted(course, "b01") == new.read_bytes()
    assert rep.unplaced == [("b01_b02_pair.ipynb", "holds the ids of several students (b01, b02): not guessed")]


def test_an_exact_lms_id_wins_over_look_alike_names(tmp_path):
    # "leeanne" holds both "Ann Lee" (reversed: leeann) and "Anne Lee": only the LMS id can decide, and it does
    roster = [Student("b01", "Ann Lee", lms_id="11111"), Student("b05", "Anne Lee", lms_id="55555"),
              Student("b06", "Lee Ann", email="leeann@uni.edu")]
    assert match_student("leeanne_55555_900005_ps1.ipynb", roster)[0].id == "b05"
    assert match_student("leeann_11111_900001_ps1.ipynb", roster)[0].id == "b01"
    assert match_student("b06.ipynb", roster)[0].id == "b06"                 # the roster id itself
    assert match_student("Anne Lee_123_assignsubmission_file_", roster)[0].id == "b05"   # Moodle, by name
    who, why = match_student("Ann Lee_123_assignsubmission_file_", roster)
    assert who is None and why.startswith("matches the names of several students (b01, b06)")
    # the LMS id wins even when the name part says somebody else entirely
    assert match_student("zhangwei_11111_900001_ps1.ipynb", roster)[0].id == "b01"


def test_names_keep_their_letters_and_match_folded(course, tmp_path):
    roster = tmp_path / "intl.csv"
    roster.write_text("id,name,email,lms_id\nv01,Nguyễn Văn An,,\nv02,Zoë Ångström,,\nv03,Müller Jörg,,\n"
                      "v04,陳大文,,\n", encoding="utf-8")
    zpath = tmp_path / "intl.zip"
    zpath.write_bytes(_zip({
        "Nguyễn Văn An_700001_assignsubmission_file_/bài tập.ipynb": nb("v01"),  # Moodle keeps the accents
        "angstromzoe_700002_900002_ps1.ipynb": nb("v02"),                        # Canvas drops them (lastfirst)
        "JÖRG MÜLLER/ps1.ipynb": nb("v03"),                                      # a TA's folder, other case
        "陳大文/hw.ipynb": nb("v04"),
    }))
    rep = collect(zpath, course, "ps1", roster)
    assert sorted(rep.placed) == ["v01", "v02", "v03", "v04"], rep.unplaced
    assert all(_submitted(course, s) == nb(s) for s in rep.placed)
    saved = read_roster(course.course_dir / "roster.csv").by_id()
    assert [saved[s].name for s in ("v01", "v02", "v03", "v04")] == ["Nguyễn Văn An", "Zoë Ångström",
                                                                    "Müller Jörg", "陳大文"]


def test_duplicate_display_names_are_told_apart_by_lms_id_only(course, tmp_path):
    roster = tmp_path / "dup.csv"
    roster.write_text("id,name,lms_id\nb07,Wei Chen,70001\nb08,Wei Chen,70002\nb09,Mei Lin,\n", encoding="utf-8")
    zpath = tmp_path / "dup.zip"
    zpath.write_bytes(_zip({"chenwei_70002_900001_ps1.ipynb": nb("b08"), "chenwei_70001_900002_ps1.ipynb": nb("b07"),
                            "Wei Chen_88_assignsubmission_file_/ps1.ipynb": nb("?"),
                            "linmei_70009_900003_ps1.ipynb": nb("b09")}))
    rep = collect(zpath, course, "ps1", roster)
    assert sorted(rep.placed) == ["b07", "b08", "b09"]
    assert _submitted(course, "b07") == nb("b07") and _submitted(course, "b08") == nb("b08")
    assert dict(rep.unplaced) == {"Wei Chen_88_assignsubmission_file_": "matches the names of several students "
                                  "(b07, b08): not guessed; an LMS id in the roster's lms_id column decides"}


def test_hostile_lms_zip(course, tmp_path):
    """What a student controls (their file's name and content, zips they upload) never places work elsewhere."""
    deep = _zip({"b04.ipynb": nb("deep")})
    for _ in range(6):
        deep = _zip({"again.zip": deep})
    zpath = tmp_path / "canvas.zip"
    zpath.write_bytes(_zip({
        "chenbo_22222_900002_ps1.ipynb": nb("b02"),
        # b01 names the file after b02, and says "late" and "b03" in it: all ignored, it is b01's work
        "leeann_11111_900001_b02_late_b03.ipynb": nb("b01"),
        # b03 uploads a zip holding "b02.ipynb" and a starter_code package: b03's, notebook only
        "wucy_33333_900003_hw.zip": _zip({"b02.ipynb": nb("b03"), "starter_code/__init__.py": b"import os"}),
        "../../../evil.ipynb": nb("evil"),                       # path traversal
        "b04\\ps1.ipynb": nb("b04"),                             # a Windows zip tool's backslash
        "bomb.zip": deep,                                        # zips inside zips without end
    }, symlinks={"ngdi_44444_900004_shadow.ipynb": "/etc/shadow"}))
    rep = collect(zpath, course, "ps1", tmp_path / "roster.csv")
    assert {s: _submitted(course, s) for s in rep.placed} == {"b01": nb("b01"), "b02": nb("b02"), "b03": nb("b03"),
                                                              "b04": nb("b04")}
    assert rep.late == []
    assert ("evil.ipynb", "matches no roster id, LMS id, e-mail or name") in rep.unplaced
    skipped = dict(rep.skipped)
    assert skipped["ngdi_44444_900004_shadow.ipynb"] == "a symbolic link, not a file: not copied"
    assert any(p.startswith("bomb.zip/again.zip") and "nested more than" in why for p, why in rep.skipped)
    assert not (course.course_dir.parent / "evil.ipynb").exists()
    written = {p.relative_to(course.course_dir).as_posix() for p in course.course_dir.rglob("*") if p.is_file()}
    assert written == {"roster.csv", "collect_ps1.csv", "late_marks.csv", rep.history.relative_to(
        course.course_dir).as_posix()} | {f"submitted/{s}/ps1/ps1.ipynb" for s in ("b01", "b02", "b03", "b04")}


def test_several_notebooks_and_odd_names(course, tmp_path):
    src = tmp_path / "in"
    (src / "b01").mkdir(parents=True)
    (src / "b01" / "PS1-final.ipynb").write_bytes(nb("final"))
    (src / "b01" / "ps1 (old).ipynb").write_bytes(nb("old"))
    os.utime(src / "b01" / "ps1 (old).ipynb", (1_000_000, 1_000_000))
    (src / "b01" / "scratch<script>.ipynb").write_bytes(nb("scratch"))
    rep = collect(src, course, "ps1", tmp_path / "roster.csv")
    assert rep.placed == {"b01": ["ps1.ipynb", "scratch_script_.ipynb"]}
    assert _submitted(course, "b01") == nb("final")
    assert rep.skipped == [("b01", "b01/ps1 (old).ipynb: an older notebook named like ps1.ipynb, not used")]


def test_folder_input_skips_symlinks(course, tmp_path):
    src = tmp_path / "in"
    (src / "b02").mkdir(parents=True)
    (tmp_path / "secret.ipynb").write_bytes(nb("secret"))
    (src / "b02" / "ps1.ipynb").symlink_to(tmp_path / "secret.ipynb")
    (src / "b03.ipynb").symlink_to(tmp_path / "secret.ipynb")
    rep = collect(src, course, "ps1", tmp_path / "roster.csv")
    assert rep.placed == {}
    assert ("b02/ps1.ipynb", "a symbolic link, not a file: not copied") in rep.skipped
    assert not (course.course_dir / "submitted").exists() or not any((course.course_dir / "submitted").rglob("*.ipynb"))


def test_match_by_email_user(tmp_path):
    assert match_student("ann_hw.ipynb", [Student("x", "Somebody", "ann@uni.edu")])[0].id == "x"
    assert match_student("ParkEve_submission.ipynb", [Student("r11", "Eve Park")])[0].id == "r11"


@pytest.mark.parametrize("text, message", [
    ("login,name\nb01,Ann\n", "line 1: missing column(s) id ('login' is now called 'id')"),
    ("id,name\nb01,Ann\n,Bo\n", "line 3, column 'id': empty id"),
    ("id,name\nb01,Ann\nb01,Bo\n", "line 3, column 'id': id 'b01' is also on line 2"),
])
def test_bad_roster_names_line_and_column(course, tmp_path, text, message):
    p = tmp_path / "r.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(RosterError, match=re.escape(message)):
        collect(tmp_path, course, "ps1", p)
    assert not (course.course_dir / "roster.csv").exists()


def test_roster_ids_must_be_folder_names(course, tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("id,name\n../b01,Ann\n", encoding="utf-8")
    with pytest.raises(Exception, match=re.escape("roster id '../b01' cannot be a folder name")):
        collect(tmp_path, course, "ps1", p)


def test_collect_files_are_private(course, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "b01.ipynb").write_bytes(NB)
    (tmp_path / "in" / "b02_LATE.ipynb").write_bytes(NB)
    collect(tmp_path / "in", course, "ps1", tmp_path / "roster.csv")
    for name in ("roster.csv", "collect_ps1.csv", "late_marks.csv"):
        assert stat.S_IMODE((course.course_dir / name).stat().st_mode) == 0o600, name


def test_collect_cli(course, tmp_path, capsys):
    from grader.cli import main
    src = tmp_path / "in"
    src.mkdir()
    (src / "b02.ipynb").write_bytes(NB)
    (src / "zed.ipynb").write_bytes(NB)
    (tmp_path / "lms.csv").write_text("id,name,Section,lms_id\nb02,Bo Chen,A,22222\n", encoding="utf-8")
    rc = main(["collect", str(src), "--assignment", "ps1", "--roster", str(tmp_path / "lms.csv"),
               "--source", str(course.source), "--course", str(course.course_dir)])
    out = capsys.readouterr().out
    assert rc == 0 and "placed 1 student(s)" in out and "cannot place zed.ipynb" in out
    assert "note: " in out and "ignored column(s) 'Section'" in out
    assert main(["collect", str(tmp_path / "nope.zip"), "--assignment", "ps1", "--source", str(course.source),
                 "--course", str(course.course_dir)]) == 1
    assert "no such zip file or folder" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("id,name\nb01,\n", encoding="utf-8")
    assert main(["collect", str(src), "--assignment", "ps1", "--roster", str(tmp_path / "bad.csv"),
                 "--source", str(course.source), "--course", str(course.course_dir)]) == 1
    assert "line 2, column 'name': empty name for id 'b01'" in capsys.readouterr().err


def test_no_notebook_named_like_the_assignment_is_reported(course, tmp_path):
    src = tmp_path / "in"
    (src / "b02").mkdir(parents=True)
    (src / "b02" / "homework.ipynb").write_bytes(nb("a"))
    (src / "b02" / "draft.ipynb").write_bytes(nb("b"))
    rep = collect(src, course, "ps1", tmp_path / "roster.csv")
    assert rep.placed == {"b02": ["draft.ipynb", "homework.ipynb"]}
    assert rep.skipped == [("b02", "no notebook named like ps1.ipynb: copied under their own names for the TA to "
                                   "choose")]
