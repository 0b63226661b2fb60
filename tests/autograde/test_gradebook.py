"""gradebook: baselines (leaderboard export) + code + report (nbgrader manual scores or CSV) + late -> CSVs."""
from __future__ import annotations

import csv
import io
import re
import stat
import zipfile
from datetime import datetime, timezone

import nbformat
import pytest

from grader.autograde.course import CourseConfig
from grader.autograde.gradebook import GradeScheme, ScoreFileError, build_gradebook, compute, \
    import_report_scores, load_scheme, read_baselines, report_template, StudentGrade, write_gradebook
from grader.autograde.results import read_results
from grader.errors import ConfigError
from grader.roster import Student
from tests.autograde.fixtures import write_fixture_source, write_submission

DUE = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def course(tmp_path_factory, sandbox):
    """Assignments ``code1`` (2 test points) and ``report`` (2 test points + 3 manual), graded for s1..s3."""
    from grader.autograde.release import release
    from grader.autograde.run import AutogradeConfig, autograde
    root = tmp_path_factory.mktemp("gb")
    write_fixture_source(root / "src", "code1", manual=False)
    write_fixture_source(root / "src", "report")
    c = CourseConfig(source=root / "src", course_dir=root / "course")
    release(c, duedate=DUE.replace(tzinfo=None))
    sub = c.course_dir / "submitted"
    rel = {a: nbformat.read(str(c.course_dir / "release" / a / f"{a}.ipynb"), as_version=4) for a in ("code1", "report")}
    write_submission(sub / "s1" / "code1" / "code1.ipynb", rel["code1"], "good")
    write_submission(sub / "s1" / "report" / "report.ipynb", rel["report"], "good")
    write_submission(sub / "s2" / "code1" / "code1.ipynb", rel["code1"], "blank")
    write_submission(sub / "s2" / "report" / "report.ipynb", rel["report"], "good")
    write_submission(sub / "s3" / "code1" / "code1.ipynb", rel["code1"], "good")
    # s3 handed code1 in 1 day and 1 hour late: 2 started days
    (sub / "s3" / "code1" / "timestamp.txt").write_text("2026-11-21 13:00:00.000000 UTC")
    (c.course_dir / "roster.csv").write_text("id,name,email,lms_id\ns1,Ann Lee,ann@u.edu,111\ns2,Bo Chen,,222\n"
                                             "s3,Cy Wu,,333\ns4,Di Ng,,444\n")
    autograde(c, AutogradeConfig(workers=2, cell_timeout=20, feedback=False), progress=False)
    rows = read_results(c.course_dir / "autograde_results.csv")
    ungraded = [(r["student"], r["assignment"], r["status"], r["message"]) for r in rows
                if r["status"] != "graded" and (r["student"], r["assignment"]) not in MISSING]
    assert not ungraded and len(rows) == 8, ungraded
    return c


#: The roster's (student, assignment) pairs the fixture hands nothing in for.
MISSING = {("s3", "report"), ("s4", "code1"), ("s4", "report")}
SCHEME = GradeScheme(code_assignments=["code1"], report_assignments=["report"])


def _lb(tmp_path, text):
    p = tmp_path / "baselines.csv"
    p.write_text(text, encoding="utf-8")
    return p


LB = ("login,name,best_public,final_private,simple_public,medium_public,strong_public,boss_public,"
      "simple_private,medium_private,strong_private,boss_private\n"
      "s1,Ann,0.80,0.79,1,1,1,0,1,1,0,0\ns2,Bo,0.6,0.6,1,0,0,0,1,0,0,0\ns9,Zed,0.5,0.5,0,0,0,0,0,0,0,0\n")


def test_default_scheme_is_half_public_half_private_per_baseline():
    s = GradeScheme()
    assert s.baselines == ["simple", "medium", "strong", "boss"]
    assert (s.baseline_public, s.baseline_private) == (0.5, 0.5)
    assert s.max_total == 4 + s.code_points + s.report_points


def test_join_before_manual_grading(course, tmp_path):
    rows, warnings = build_gradebook(course, SCHEME, baselines_csv=_lb(tmp_path, LB))
    by = {r["id"]: r for r in rows}
    assert sorted(by) == ["s1", "s2", "s3", "s4", "s9"]
    s1 = by["s1"]
    assert (s1["simple_public"], s1["strong_public"], s1["strong_private"]) == (1, 1, 0)
    assert s1["baseline_points"] == 2.5
    assert (s1["code_raw"], s1["code_max"], s1["code_points"]) == (2.0, 2.0, 2.0)
    # report: 2 of 5 so far (tests passed, the 3-point answer not graded yet)
    assert (s1["report_raw"], s1["report_max"]) == (2.0, 5.0) and s1["report_points"] == 1.6
    assert s1["needs_manual_grade"] == 1 and "report not fully graded yet" in s1["notes"]
    assert s1["total"] == 2.5 + 2.0 + 1.6
    assert by["s2"]["code_points"] == 0.0
    assert by["s4"]["total"] == 0 and by["s4"]["status"] == "code1:missing report:missing"   # roster only
    assert "not on the roster" in by["s9"]["notes"]
    assert by["s3"]["late_days"] == 2 and by["s3"]["late_penalty"] == 0.0   # default: no penalty
    assert (by["s3"]["late"], by["s3"]["late_source"]) == (1, "timestamp")
    assert (by["s1"]["late"], by["s1"]["late_days"], by["s1"]["late_source"]) == (0, 0, "")
    assert "code1:graded" in by["s3"]["status"] and "report:missing" in by["s3"]["status"]


def test_late_penalty_from_the_scheme(course):
    scheme = GradeScheme(code_assignments=["code1"], report_assignments=["report"], late_penalty_per_day=0.1)
    rows, _ = build_gradebook(course, scheme)
    s3 = {r["id"]: r for r in rows}["s3"]
    assert s3["late_days"] == 2 and s3["late_penalty"] == pytest.approx(0.2 * s3["code_points"])
    g = StudentGrade("x", code_raw=1, code_max=1, late_days=9)
    assert compute(g, scheme)["total"] == 0.0          # past late_max_days: nothing for code and report


def test_report_scores_by_csv_are_checked_then_stored_all_or_nothing(course, tmp_path):
    tmpl = report_template(course, "report", ["s1", "s2"])
    assert tmpl.splitlines() == ["id,vae_answer,comment", "s1,,", "s2,,"]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,vae_answer,comment\ns1,3,great\ns2,4,too many\n")
    with pytest.raises(ScoreFileError, match=re.escape("line 3, column 'vae_answer', id s2: 4 is outside 0..3")):
        import_report_scores(course, "report", bad)
    rows, _ = build_gradebook(course, SCHEME)
    assert {r["id"]: r for r in rows}["s1"]["report_raw"] == 2.0       # nothing of the bad file was stored
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("id,vae_answer\ns3,1\n")
    with pytest.raises(ScoreFileError, match="id s3: no autograded report submission"):
        import_report_scores(course, "report", stranger)
    with pytest.raises(ScoreFileError, match=re.escape("unknown column(s) ['q9']")):
        (tmp_path / "q9.csv").write_text("id,q9\ns1,1\n")
        import_report_scores(course, "report", tmp_path / "q9.csv")
    good = tmp_path / "good.csv"
    good.write_text("id,vae_answer,comment\ns1,3,great\ns2,1.5,\n")
    assert import_report_scores(course, "report", good) == 2
    by = {r["id"]: r for r in build_gradebook(course, SCHEME)[0]}
    assert by["s1"]["report_raw"] == 5.0 and by["s1"]["report_points"] == 4.0 and by["s1"]["needs_manual_grade"] == 0
    assert by["s2"]["report_raw"] == 3.5
    # feedback rewritten after manual grading shows the manual score (nothing is executed again)
    from grader.autograde.feedback import regenerate_feedback
    pages, errors = regenerate_feedback(course, ["report"], ["s1"])
    assert errors == [] and [p.name for p in pages] == ["report.html"]
    text = re.sub(r"<[^>]+>", " ", pages[0].read_text(encoding="utf-8"))
    assert re.search(r"Score:\s*5\.0\s*/\s*5\.0", text), text[:2000]


def test_leaderboard_export_read_tolerantly(tmp_path):
    from grader.competition import Baseline
    p = _lb(tmp_path, "login,best_public,final_private,simple_public\nu1,0.80,0.70,yes\n")
    passed, warnings = read_baselines(p, GradeScheme())
    assert passed["u1"]["simple_public"] is True and passed["u1"]["boss_private"] is False
    assert len(warnings) == 7 and any("no column medium_public" in w for w in warnings)
    thr = {n: Baseline(n, v, v) for n, v in {"simple": 0.5, "medium": 0.75, "strong": 0.79, "boss": 0.9}.items()}
    passed, warnings = read_baselines(p, GradeScheme(), thr)
    assert warnings == []
    assert passed["u1"] == {"simple_public": True, "simple_private": True, "medium_public": True,
                            "medium_private": False, "strong_public": True, "strong_private": False,
                            "boss_public": False, "boss_private": False}
    bad = _lb(tmp_path, "login,simple_public\nu1,maybe\n")
    with pytest.raises(ScoreFileError, match=re.escape("line 2, column 'simple_public', id u1: 'maybe' is not 0/1")):
        read_baselines(bad, GradeScheme())
    with pytest.raises(ScoreFileError, match="no student id column"):
        read_baselines(_lb(tmp_path, "who,simple_public\nu1,1\n"), GradeScheme())


def test_scheme_toml_and_unknown_keys(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("[gradebook]\ncode_points = 3.0\nreport_points = 3.0\nbaselines = ['simple', 'medium']\n")
    s = load_scheme(p)
    assert s.max_total == 2 + 6
    p.write_text("code_point = 3\n")
    with pytest.raises(ConfigError, match="unknown key.*code_point"):
        load_scheme(p)


def test_canvas_csv_has_points_possible_and_one_row_per_student(tmp_path):
    rows = [compute(StudentGrade("s1", "Ann Lee", code_raw=1, code_max=2), GradeScheme())]
    grades, canvas = write_gradebook(rows, tmp_path, GradeScheme(), {"s1": Student("s1", "Ann Lee", "ann@u.edu", "111")})
    lines = list(csv.reader(open(canvas)))
    assert lines[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW8 Anomaly Detection"]
    assert lines[1][0] == "Points Possible" and lines[1][5] == "10"
    assert lines[2] == ["Ann Lee", "111", "s1", "ann", "", "1"]
    assert next(csv.DictReader(open(grades)))["code_points"] == "1.0"


def test_gradebook_cli(course, tmp_path, capsys):
    from grader.cli import main
    scheme = tmp_path / "scheme.toml"
    scheme.write_text("code_assignments = ['code1']\nreport_assignments = ['report']\n")
    common = ["--source", str(course.source), "--course", str(course.course_dir), "--scheme", str(scheme)]
    assert main(["gradebook", *common, "--report-template", str(tmp_path / "t.csv")]) == 0
    assert "vae_answer (0..3)" in capsys.readouterr().out
    assert (tmp_path / "t.csv").read_text().startswith("id,vae_answer,comment\ns1,,")
    out_dir = tmp_path / "out"
    assert main(["gradebook", *common, "--leaderboard", str(_lb(tmp_path, LB)), "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "5 students" in out and (out_dir / "grades.csv").is_file() and (out_dir / "canvas_import.csv").is_file()
    (tmp_path / "late.csv").write_text("id,late_days\ns1,abc\n")
    assert main(["gradebook", *common, "--late", str(tmp_path / "late.csv")]) == 1
    assert "line 2, column 'late_days', id s1: 'abc' is not a number" in capsys.readouterr().err


def test_late_csv_overrides_and_says_so(course, tmp_path):
    (tmp_path / "late.csv").write_text("id,late_days\ns1,0.5\ns3,0\n")
    scheme = GradeScheme(code_assignments=["code1"], report_assignments=["report"], late_penalty_per_day=0.1)
    by = {r["id"]: r for r in build_gradebook(course, scheme, late_csv=tmp_path / "late.csv")[0]}
    assert (by["s1"]["late"], by["s1"]["late_days"], by["s1"]["late_source"]) == (1, 1, "csv")
    assert by["s1"]["late_penalty"] == pytest.approx(0.1 * (by["s1"]["code_points"] + by["s1"]["report_points"]))
    assert (by["s3"]["late"], by["s3"]["late_days"], by["s3"]["late_penalty"]) == (0, 0, 0.0)


def _canvas_zip(entries: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.filterwarnings("ignore:Object of type:sqlalchemy.exc.SAWarning")  # nbgrader add_submission
def test_lms_late_mark_flows_from_collect_to_the_exported_grades(released_course, tmp_path, capsys):
    """collect (Canvas zip, one LATE) -> grades in nbgrader's gradebook (no autograde run) -> gradebook CLI:
    grades.csv and the Canvas CSV show the late flag, one late day from the LMS mark and the penalty applied."""
    from nbgrader.api import Gradebook

    from grader.autograde.course import open_gradebook
    from grader.cli import main
    from tests.autograde.conftest import fresh_copy
    course = fresh_copy(released_course, tmp_path)
    (tmp_path / "roster.csv").write_text("id,name,lms_id\nb01,Ann Lee,11111\nb02,Nguyễn Văn An,22222\n",
                                         encoding="utf-8")
    (tmp_path / "canvas.zip").write_bytes(_canvas_zip({"leeann_11111_900001_ps1.ipynb": b"{}",
                                                       "nguyenvanan_LATE_22222_900002_ps1-1.ipynb": b"{}"}))
    common = ["--source", str(course.source), "--course", str(course.course_dir)]
    assert main(["collect", str(tmp_path / "canvas.zip"), "--assignment", "ps1", "--roster",
                 str(tmp_path / "roster.csv"), *common]) == 0
    assert "marked late by the LMS: b02" in capsys.readouterr().out
    # Both solved everything: what autograde plus a TA's manual grade would store, written through nbgrader's API.
    with open_gradebook(course) as gb:
        assert isinstance(gb, Gradebook)
        for sid in ("b01", "b02"):
            gb.update_or_create_student(sid)
            gb.add_submission("ps1", sid)
            gb.find_grade("test_squares", "ps1", "ps1", sid).auto_score = 2
            gb.find_grade("vae_answer", "ps1", "ps1", sid).manual_score = 3
        gb.db.commit()
    scheme = tmp_path / "scheme.toml"
    scheme.write_text("code_assignments = ['ps1']\nreport_assignments = []\ncode_points = 4.0\nreport_points = 0.0\n"
                      "baselines = []\nlate_penalty_per_day = 0.25\n")
    out = tmp_path / "out"
    assert main(["gradebook", *common, "--scheme", str(scheme), "--out", str(out)]) == 0
    rows = {r["id"]: r for r in csv.DictReader(open(out / "grades.csv", encoding="utf-8"))}
    assert (rows["b01"]["late"], rows["b01"]["late_days"], rows["b01"]["late_penalty"], rows["b01"]["total"]) == \
        ("0", "0", "0.0", "4.0")
    assert (rows["b02"]["late"], rows["b02"]["late_days"], rows["b02"]["late_source"]) == ("1", "1", "lms")
    assert (rows["b02"]["late_penalty"], rows["b02"]["total"]) == ("1.0", "3.0")
    assert rows["b02"]["name"] == "Nguyễn Văn An"
    canvas = list(csv.reader(open(out / "canvas_import.csv", encoding="utf-8")))
    assert canvas[2] == ["Ann Lee", "11111", "b01", "b01", "", "4"]
    assert canvas[3] == ["Nguyễn Văn An", "22222", "b02", "b02", "", "3"]


def test_gradebook_files_are_private(course, tmp_path):
    from common.files import write_private
    from grader.autograde.gradebook import protect_gradebook_db
    db = course.course_dir / "gradebook.db"
    # as release and autograde left them
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE((course.course_dir / "autograde_results.csv").stat().st_mode) == 0o600
    db.chmod(0o644)
    rows, _ = build_gradebook(course, SCHEME)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    grades, canvas = write_gradebook(rows, tmp_path / "out", SCHEME, {})
    for p in (grades, canvas):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    # an existing world-readable file is replaced by a private one, not rewritten in place
    old = tmp_path / "old.csv"
    old.write_text("x")
    old.chmod(0o644)
    write_private(old, "grades")
    assert stat.S_IMODE(old.stat().st_mode) == 0o600 and old.read_text() == "grades"
    db.chmod(0o666)
    protect_gradebook_db(course)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
