"""gradebook mid-term: only released assignments past their due date count; the rest is not due, never missing."""
from __future__ import annotations

import csv
from datetime import datetime, timezone

import pytest

from grader.autograde.course import CourseConfig, assignments_due, open_gradebook
from grader.autograde.gradebook import GradeScheme, build_gradebook, set_due_dates
from tests.autograde.fixtures import write_fixture_source

pytestmark = pytest.mark.filterwarnings("ignore:Object of type:sqlalchemy.exc.SAWarning")  # nbgrader add_submission
SCHEME = GradeScheme(code_assignments=["code1", "code2", "code3"], report_assignments=["report"], baselines=["simple"])
DUE = {"code1": datetime(2026, 10, 1, 15, 59, tzinfo=timezone.utc),
       "code2": datetime(2026, 11, 1, 15, 59, tzinfo=timezone.utc),
       "report": datetime(2026, 12, 1, 15, 59, tzinfo=timezone.utc)}


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """code1..code3 (2 test points each) and report (2 + 3 manual); code3 is never released. s1 solved code1 and
    half of code2, s2 nothing; stored as autograde would, through nbgrader's API."""
    from grader.autograde.release import release
    from grader.autograde.results import Result, write_results
    root = tmp_path_factory.mktemp("due")
    for a in ("code1", "code2", "code3"):
        write_fixture_source(root / "src", a, manual=False)
    write_fixture_source(root / "src", "report")
    c = CourseConfig(source=root / "src", course_dir=root / "course")
    release(c, ["code1", "code2", "report"])
    set_due_dates(c, DUE)
    (c.course_dir / "roster.csv").write_text("id,name\ns1,Ann Lee\ns2,Bo Chen\n", encoding="utf-8")
    with open_gradebook(c) as gb:
        for sid in ("s1", "s2"):
            gb.update_or_create_student(sid)
        for a, score in (("code1", 2), ("code2", 1)):
            gb.add_submission(a, "s1")
            gb.find_grade("test_squares", a, a, "s1").auto_score = score
        gb.db.commit()
    # autograde, run before code2 and the report were due, called everyone without them missing
    write_results(c.course_dir / "autograde_results.csv",
                  [Result("s1", "code1", "graded", score=2.0), Result("s1", "code2", "graded", score=1.0),
                   Result("s2", "code1", "missing", score=0.0), Result("s2", "code2", "missing", score=0.0),
                   Result("s2", "report", "missing", score=0.0)])
    return c


def test_only_released_and_due_assignments_count(course):
    assert assignments_due(course, ["code1", "code2", "code3", "report"], at(10, 15)) == \
        (["code1"], {"code2": "due 2026-11-01 15:59 UTC", "code3": "not released",
                     "report": "due 2026-12-01 15:59 UTC"})
    by = {r["id"]: r for r in build_gradebook(course, SCHEME, now=at(10, 15))[0]}
    s1 = by["s1"]
    # a perfect code1 is all of the code points so far, out of what was gradable: 1 baseline + code
    assert (s1["code_raw"], s1["code_max"], s1["code_points"]) == (2.0, 2.0, 2.0)
    assert (s1["report_points"], s1["max_total"]) == (0.0, 1.0 + 2.0)
    assert s1["status"] == "code1:graded code2:not_due code3:not_released report:not_due"
    assert by["s2"]["status"] == "code1:missing code2:not_due code3:not_released report:not_due"


def test_each_due_date_adds_its_assignment(course):
    by = {r["id"]: r for r in build_gradebook(course, SCHEME, now=at(11, 15))[0]}
    assert (by["s1"]["code_raw"], by["s1"]["code_max"], by["s1"]["code_points"]) == (3.0, 4.0, 1.5)
    assert by["s1"]["status"] == "code1:graded code2:graded code3:not_released report:not_due"
    assert by["s1"]["max_total"] == 3.0
    after = {r["id"]: r for r in build_gradebook(course, SCHEME, now=at(12, 2))[0]}
    assert after["s1"]["max_total"] == SCHEME.max_total == 1.0 + 2.0 + 4.0
    assert (after["s1"]["report_raw"], after["s1"]["report_max"]) == (0.0, 5.0)
    assert after["s2"]["status"] == "code1:missing code2:missing code3:not_released report:missing"
    # s1 has no report in the gradebook: missing once it is due
    assert after["s1"]["status"] == "code1:graded code2:graded code3:not_released report:missing"


def test_no_due_date_counts_once_released(course, tmp_path):
    from tests.autograde.conftest import fresh_copy
    c = fresh_copy(course, tmp_path)
    with open_gradebook(c) as gb:
        gb.update_or_create_assignment("code2", duedate=None)
        gb.db.commit()
    assert assignments_due(c, ["code1", "code2", "code3"], at(9, 1)) == (["code2"], {
        "code1": "due 2026-10-01 15:59 UTC", "code3": "not released"})


def test_cli_due_dates_as_of_and_canvas_points(course, tmp_path, capsys):
    from grader.cli import main
    from tests.autograde.conftest import fresh_copy
    c = fresh_copy(course, tmp_path)
    scheme = tmp_path / "scheme.toml"
    scheme.write_text("code_assignments = ['code1', 'code2', 'code3']\nreport_assignments = ['report']\n"
                      "baselines = ['simple']\n")
    common = ["--source", str(c.source), "--course", str(c.course_dir), "--scheme", str(scheme)]
    assert main(["gradebook", *common, "--duedate", "code2=2026-10-10T15:59:59Z", "--as-of", "2026-10-15",
                 "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "due dates stored: code2 2026-10-10T15:59:59+00:00" in out
    assert "graded as of --as-of 2026-10-15: code1, code2; not counted: code3 (not released), report (due " \
           "2026-12-01 15:59 UTC)" in out
    rows = {r["id"]: r for r in csv.DictReader(open(tmp_path / "out" / "grades.csv", encoding="utf-8"))}
    assert rows["s1"]["code_points"] == "1.5" and rows["s1"]["max_total"] == "3.0"
    canvas = list(csv.reader(open(tmp_path / "out" / "canvas_import.csv", encoding="utf-8")))
    assert canvas[1][5] == "3"                                       # Points Possible: what was gradable
    assert main(["gradebook", *common, "--duedate", "code9=2026-10-10"]) == 1
    assert "--duedate: unknown assignment 'code9'" in capsys.readouterr().err
    assert main(["gradebook", *common, "--duedate", "code1:2026-10-10"]) == 1
    assert "expected ASSIGNMENT=DATE" in capsys.readouterr().err
    assert main(["gradebook", *common, "--as-of", "soon"]) == 1
    assert "--as-of: not an ISO date-time" in capsys.readouterr().err


def test_autograde_reports_missing_only_after_the_due_date(course, tmp_path):
    """A student who handed nothing in is missing for what is due, and has no row at all for what is not."""
    import shutil

    from grader.autograde.results import read_results
    from grader.autograde.run import AutogradeConfig, autograde
    c = CourseConfig(source=course.source, course_dir=tmp_path / "course")
    shutil.copytree(course.course_dir, c.course_dir)
    (c.course_dir / "autograde_results.csv").unlink(missing_ok=True)
    set_due_dates(c, {"code2": datetime(2100, 1, 1, tzinfo=timezone.utc)})
    res = autograde(c, AutogradeConfig(unsafe_no_sandbox=True, feedback=False), assignments=["code1", "code2"],
                    students=["s2"], progress=False)
    assert [(r.assignment, r.status) for r in res] == [("code1", "missing")]
    assert [(r["assignment"], r["status"]) for r in read_results(c.course_dir / "autograde_results.csv")] == \
        [("code1", "missing")]


def test_gradebook_refuses_thresholds_never_set_for_this_data(course, tmp_path, capsys):
    """The course's 2023 placeholders decide 4 of 10 points: grading with them takes a deliberate switch."""
    from grader.cli import main
    from grader.competition import competition_template
    comp = tmp_path / "competition.toml"
    comp.write_text(competition_template(), encoding="utf-8")
    args = ["gradebook", "--source", str(course.source), "--course", str(course.course_dir), "--competition",
            str(comp), "--out", str(tmp_path / "out")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "grade thresholds are not set" in err and "2023 figures" in err and "--accept-unset-thresholds" in err
    assert not (tmp_path / "out").exists()
    assert main([*args, "--accept-unset-thresholds"]) == 0
    assert "warning:" in capsys.readouterr().out and (tmp_path / "out" / "grades.csv").is_file()
