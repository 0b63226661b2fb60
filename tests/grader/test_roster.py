"""The one roster format (grader/roster.py) that serve, collect and gradebook share."""
from __future__ import annotations

import pytest

from grader.roster import RosterError, Student, fold, parse_roster, read_roster, roster_csv


def test_reads_every_column_in_any_order_with_bom_and_crlf():
    text = "\ufeffNickname,ID,name,lms_id,Email\r\nfox,b01,Nguyễn Văn An,123,an@x.edu\r\n,b02,李雷,,\r\n"
    r = parse_roster(text.encode("utf-8"))
    assert r.students == [Student("b01", "Nguyễn Văn An", "an@x.edu", "123", "fox"), Student("b02", "李雷")]
    assert r.notes == []


def test_extra_columns_are_ignored_with_a_note():
    r = parse_roster("id,name,section,Canvas Grade\nb01,Ann,A,3\n")
    assert r.students == [Student("b01", "Ann")]
    assert len(r.notes) == 1 and "'section'" in r.notes[0] and "'Canvas Grade'" in r.notes[0]


@pytest.mark.parametrize("text, line, column, words", [
    ("", None, None, "empty"),
    ("login,name\nb01,Ann\n", 1, None, "'login' is now called 'id'"),
    ("id,email\nb01,a@x\n", 1, None, "missing column(s) name"),
    ("id,name,id\nb01,Ann,b01\n", 1, None, "more than once"),
    ("id,name\nb01,Ann\nb01,Bob\n", 3, "id", "also on line 2"),
    ("id,name,lms_id\nb01,Ann,7\nb02,Bob,7\n", 3, "lms_id", "also on line 2"),
    ("id,name\n,Ann\n", 2, "id", "empty id"),
    ("id,name\nb01,\n", 2, "name", "empty name for id 'b01'"),
    ("id,name\nb01,Ann,extra\n", 2, None, "expected 2 fields, found 3"),
    ("id,name\nb01,A\x07nn\n", 2, "name", "control character"),
    ("id,name\n" + "x" * 129 + ",Ann\n", 2, "id", "longer than 128"),
    ("id,name\n\n", None, None, "no students"),
])
def test_errors_name_line_and_column(text, line, column, words):
    with pytest.raises(RosterError) as e:
        parse_roster(text)
    assert (e.value.line, e.value.column) == (line, column)
    assert words in str(e.value)


def test_not_utf8_and_missing_file(tmp_path):
    with pytest.raises(RosterError, match="not UTF-8"):
        parse_roster("id,name\nb01,Zoë\n".encode("latin-1"))
    with pytest.raises(RosterError, match="roster not found") as e:
        read_roster(tmp_path / "nope.csv")
    assert "nope.csv" in str(e.value)


def test_round_trip(tmp_path):
    students = [Student("b01", "Nguyễn, An", "an@x.edu", "9", "=fox"), Student("b02", 'Li "Lei"')]
    (tmp_path / "r.csv").write_text(roster_csv(students), encoding="utf-8")
    assert read_roster(tmp_path / "r.csv").students == students


def test_fold_matches_accents_and_case_only():
    assert fold("Nguyễn") == fold("NGUYEN") == "nguyen"
    assert fold("Straße") == "strasse"
    assert fold("Đặng Thị Lan") == "dang thi lan" and fold("Łukasz Søren Æsir") == "lukasz soren aesir"
    assert fold("李雷") == "李雷"
    assert fold("Ann") != fold("Anne")
