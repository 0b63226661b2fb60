"""collect in several batches (on time, then late), broken notebooks, and the modes of what collect writes."""
from __future__ import annotations

import csv
import io
import stat
import zipfile

import pytest

from grader.autograde.collect import collect, notebook_problem
from grader.autograde.course import CourseConfig
from tests.autograde.fixtures import write_fixture_source

ROSTER = "id,name,email,lms_id\nb01,Ann Lee,ann@uni.edu,11111\nb02,Bo Chen,bo@uni.edu,22222\n" \
         "b03,Cy Wu,cy@uni.edu,33333\nb04,Di Ng,di@uni.edu,44444\nb05,Nguyễn Văn An,an@uni.edu,55555\n"


def nb(tag: str) -> bytes:
    return b'{"cells": [], "metadata": {"tag": "%s"}, "nbformat": 4, "nbformat_minor": 5}' % tag.encode()


def _zip(entries: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture()
def course(tmp_path):
    write_fixture_source(tmp_path / "src", "ps1")
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    return CourseConfig(source=tmp_path / "src", course_dir=tmp_path / "course")


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _submitted(course, sid):
    return (course.course_dir / "submitted" / sid / "ps1" / "ps1.ipynb").read_bytes()


def test_a_late_batch_adds_and_missing_means_missing_after_all_batches(course, tmp_path):
    (tmp_path / "ontime.zip").write_bytes(_zip({"leeann_11111_900001_ps1.ipynb": nb("b01"),
                                                "chenbo_22222_900002_ps1.ipynb": nb("b02"),
                                                "wucy_33333_900003_ps1.ipynb": nb("b03")}))
    first = collect(tmp_path / "ontime.zip", course, "ps1", tmp_path / "roster.csv")
    assert first.batch == 1 and first.changes == {"b01": "new", "b02": "new", "b03": "new"}
    assert first.missing == ["b04", "b05"] and first.kept == {}
    # The late download: b05 for the first time, b02 again with new work, b03 with the same file as before.
    (tmp_path / "late.zip").write_bytes(_zip({"nguyenvanan_LATE_55555_900009_ps1.ipynb": nb("b05"),
                                              "chenbo_LATE_22222_900010_ps1.ipynb": nb("b02 again"),
                                              "wucy_33333_900003_ps1.ipynb": nb("b03")}))
    late = collect(tmp_path / "late.zip", course, "ps1")
    assert late.batch == 2
    assert late.changes == {"b02": "replaced", "b03": "unchanged", "b05": "new"}
    assert late.kept == {"b01": 1}                       # not in the late zip, still in the course folder
    assert late.missing == ["b04"]                       # b01 is not missing: their notebook is still there
    assert _submitted(course, "b01") == nb("b01") and _submitted(course, "b02") == nb("b02 again")
    assert _submitted(course, "b05") == nb("b05")
    # The assignment's report: the latest batch plus what stays, with the batch each came from.
    rows = _rows(course.course_dir / "collect_ps1.csv")
    assert rows[0]["what"] == "batch" and rows[0]["source"].endswith("late.zip") and rows[0]["batch"] == "2"
    by = {(r["what"], r["student"]): r for r in rows if r["student"]}
    assert {k: (r["change"], r["batch"]) for k, r in by.items()} == {
        ("placed", "b02"): ("replaced", "2"), ("placed", "b03"): ("unchanged", "2"), ("placed", "b05"): ("new", "2"),
        ("kept", "b01"): ("", "1"), ("missing", "b04"): ("", "")}
    # Each batch's own report is kept, in order; neither says anything about students it did not hold.
    history = sorted((course.course_dir / "collect_history" / "ps1").iterdir())
    assert [p.name[:4] for p in history] == ["001-", "002-"] and history[1] == late.history
    assert {r["student"] for r in _rows(history[0]) if r["what"] == "placed"} == {"b01", "b02", "b03"}
    assert {r["what"] for r in _rows(history[1])} == {"batch", "placed"}
    # A third batch that holds b02's earlier upload again: replaced; b01 is still kept from batch 1.
    (tmp_path / "third.zip").write_bytes(_zip({"chenbo_22222_900002_ps1.ipynb": nb("b02")}))
    third = collect(tmp_path / "third.zip", course, "ps1")
    assert third.batch == 3 and third.changes == {"b02": "replaced"}
    assert third.kept == {"b01": 1, "b03": 1, "b05": 2} and third.missing == ["b04"]


def test_the_cli_says_what_each_batch_changed(course, tmp_path, capsys):
    from grader.cli import main
    common = ["--assignment", "ps1", "--source", str(course.source), "--course", str(course.course_dir)]
    (tmp_path / "a.zip").write_bytes(_zip({"leeann_11111_900001_ps1.ipynb": nb("b01")}))
    assert main(["collect", str(tmp_path / "a.zip"), "--roster", str(tmp_path / "roster.csv"), *common]) == 0
    capsys.readouterr()
    (tmp_path / "b.zip").write_bytes(_zip({"chenbo_LATE_22222_900002_ps1.ipynb": nb("b02")}))
    assert main(["collect", str(tmp_path / "b.zip"), *common]) == 0
    out = capsys.readouterr().out
    assert "batch 2 of ps1: placed 1 student(s)" in out and "(1 new, 0 replaced, 0 unchanged)" in out
    assert "1 kept from earlier batches; 3 on the roster without a submission after all batches" in out
    assert "collect_history/ps1/002-" in out


TRUNCATED = nb("cut")[:30]


def test_a_broken_notebook_is_reported_never_copied_silently(course, tmp_path):
    src = tmp_path / "in"
    (src / "b01").mkdir(parents=True)
    (src / "b01" / "ps1.ipynb").write_bytes(TRUNCATED)        # the only one: copied and flagged
    (src / "b02").mkdir()
    (src / "b02" / "ps1.ipynb").write_bytes(TRUNCATED)        # broken, but b02 also has a readable copy
    (src / "b02" / "ps1-1.ipynb").write_bytes(nb("b02"))
    (src / "b03.ipynb").write_bytes(b'{"cells": "no"}')       # JSON, not a notebook
    rep = collect(src, course, "ps1", tmp_path / "roster.csv")
    assert _submitted(course, "b02") == nb("b02")
    assert _submitted(course, "b01") == TRUNCATED
    problems = {sid: why for sid, _, why in rep.invalid}
    assert sorted(problems) == ["b01", "b03"]
    assert problems["b01"] == "not valid JSON (line 1, column 28: Unterminated string starting at; truncated upload?)"
    assert problems["b03"] == "valid JSON but not a notebook (no 'cells' list and 'nbformat' number)"
    rows = [r for r in _rows(course.course_dir / "collect_ps1.csv") if r["what"] == "invalid"]
    assert [(r["student"], r["source"]) for r in rows] == [("b01", "ps1.ipynb"), ("b03", "ps1.ipynb")]
    assert "ask the student for the file" in rows[0]["detail"]


@pytest.mark.parametrize("content, problem", [
    (b"\xff\xfe{}", "not UTF-8 text (byte 0): not a notebook"),
    (b"", "not valid JSON (line 1, column 1: Expecting value; truncated upload?)"),
    (b"[1, 2]", "valid JSON but not a notebook (no 'cells' list and 'nbformat' number)"),
    (b'{"cells": [], "nbformat": 4}', ""),
    (b'\xef\xbb\xbf{"cells": [], "nbformat": 4}', ""),
    (b"[" * 100_000, "JSON nested too deeply: not a notebook"),
])
def test_notebook_problem(content, problem):
    assert notebook_problem(content) == problem


def test_submissions_and_history_are_the_owners_only(course, tmp_path):
    (tmp_path / "a.zip").write_bytes(_zip({"leeann_11111_900001_ps1.ipynb": nb("b01")}))
    collect(tmp_path / "a.zip", course, "ps1", tmp_path / "roster.csv")
    sub = course.course_dir / "submitted"
    (sub / "b01" / "ps1" / "ps1.ipynb").chmod(0o644)          # as an older collect or a copy by hand left it
    (tmp_path / "b.zip").write_bytes(_zip({"leeann_11111_900001_ps1.ipynb": nb("b01"),
                                           "chenbo_22222_900002_ps1.ipynb": nb("b02")}))
    collect(tmp_path / "b.zip", course, "ps1")
    for folder in (sub, sub / "b01", sub / "b01" / "ps1", sub / "b02" / "ps1", course.course_dir / "collect_history",
                   course.course_dir / "collect_history" / "ps1"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    files = [sub / "b01" / "ps1" / "ps1.ipynb", sub / "b02" / "ps1" / "ps1.ipynb",
             *(course.course_dir / "collect_history" / "ps1").iterdir()]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
