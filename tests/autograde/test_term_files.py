"""A small term through the CLI, checked where the TA's guide says things land: the graders' comments reach the
gradebook, grades.csv and the feedback pages; the gradebook reminds the TA to rewrite feedback after hand grading;
feedback goes out as one zip per student; and every TA-only file in the course folder is the owner's only."""
from __future__ import annotations

import csv
import re
import stat
import zipfile

import pytest

from grader.cli import main
from tests.autograde.fixtures import cli_term

#: What students get (the guide's "Releasing the homework"): everything else in the course folder is TA-only.
STUDENT_FOLDERS = ("release", "student_release", "student_zips")
COMMENT_B01 = "Clear answer; say why the samples are blurry."
COMMENT_B02 = "Názor: too short — one advantage is missing."


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _readable_by_others(root):
    """TA-only paths that group or others can read (files) or enter (folders of submissions)."""
    bad = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if rel.parts[0] in STUDENT_FOLDERS or p.is_symlink():
            continue
        mode = stat.S_IMODE(p.stat().st_mode)
        if p.is_file() and mode & 0o077:
            bad.append(f"{rel} {mode:o}")
        elif p.is_dir() and rel.parts[0] == "submitted" and mode != 0o700:
            bad.append(f"{rel}/ {mode:o}")
    return bad


@pytest.fixture(scope="module")
def term(sandbox, tmp_path_factory):
    """(the term's folder, command-line course options, TA-only paths others could read right after autograde),
    after release, collect of an LMS zip and autograde: b01 and b02 (a non-ASCII name) submitted good work, b03
    nothing."""
    tmp_path = tmp_path_factory.mktemp("term")
    common = cli_term(tmp_path, {"b01": "Ann Lee", "b02": "Nguyễn Văn An", "b03": "Cy Wu"},
                      ["leeann_b01_1001_ps1.ipynb", "nguyenvanan_b02_1002_ps1-2.ipynb"])
    course = tmp_path / "course"
    return tmp_path, common, _readable_by_others(course)


#: Written by autograde's workers (nbgrader's autograded copy, the worker logs) and left as they are by the commands
#: tested here; test_what_autograde_writes_is_private covers them.
AUTOGRADE_OUTPUTS = ("autograded/", "logs/")


def test_comments_feedback_zips_and_private_files(term, tmp_path, capsys):
    root, common, _ = term
    course = root / "course"
    scheme = root / "scheme.toml"
    scheme.write_text("report_assignments = ['ps1']\ncode_points = 0.0\nreport_points = 5.0\nbaselines = []\n")
    gb = [*common, "--scheme", str(scheme)]
    capsys.readouterr()
    assert main(["gradebook", *gb]) == 0
    assert "reminder" not in capsys.readouterr().out          # autograde's pages show the gradebook as it is

    # The TA grades the written answer by CSV, with a comment for each student.
    scores = tmp_path / "r.csv"
    with open(scores, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["id", "vae_answer", "comment"], ["b01", "3", COMMENT_B01],
                                 ["b02", "1", COMMENT_B02]])
    assert main(["gradebook", *gb, "--report-scores", str(scores)]) == 0
    out = capsys.readouterr().out
    assert "stored 2 manual score(s) and 2 comment(s) of ps1 in the gradebook (4 changed)" in out
    assert "reminder: hand scores or comments changed since the feedback pages of 2 submission(s) were written " \
           "(b01/ps1, b02/ps1): run `python -m grader feedback`" in out
    from grader.autograde.course import CourseConfig, open_gradebook
    with open_gradebook(CourseConfig(source=root / "src", course_dir=course)) as db:
        assert db.find_comment("vae_answer", "ps1", "ps1", "b01").manual_comment == COMMENT_B01
    rows = {r["id"]: r for r in csv.DictReader(open(course / "gradebook" / "grades.csv", encoding="utf-8"))}
    assert rows["b01"]["comment"] == f"ps1 vae_answer: {COMMENT_B01}"
    assert rows["b02"]["comment"] == f"ps1 vae_answer: {COMMENT_B02}" and rows["b03"]["comment"] == ""
    assert float(rows["b01"]["total"]) == 5.0

    # Feedback again from the gradebook, one zip per student; the reminder is then gone.
    assert main(["feedback", *common, "--zip", str(tmp_path / "handback")]) == 0
    out = capsys.readouterr().out
    assert "wrote 2 feedback page(s)" in out and "packed 2 student zip(s)" in out
    page = _text((course / "feedback" / "b01" / "ps1" / "ps1.html").read_text(encoding="utf-8"))
    assert "Comments: " + COMMENT_B01 in page and re.search(r"Score:\s*5\.0\s*/\s*5\.0", page)
    zips = sorted((tmp_path / "handback").iterdir())
    assert [z.name for z in zips] == ["b01.zip", "b02.zip"]                 # b03 submitted nothing
    assert stat.S_IMODE((tmp_path / "handback").stat().st_mode) == 0o700
    for z in zips:
        assert stat.S_IMODE(z.stat().st_mode) == 0o600, z
    with zipfile.ZipFile(zips[1]) as zf:
        assert zf.namelist() == ["ps1/ps1.html"]                            # only their own page
        assert COMMENT_B02 in _text(zf.read("ps1/ps1.html").decode("utf-8"))
    assert main(["gradebook", *gb]) == 0
    assert "reminder" not in capsys.readouterr().out
    # A comment changed in the gradebook (formgrader) brings the reminder back, for that student only.
    with open_gradebook(CourseConfig(source=root / "src", course_dir=course)) as db:
        db.find_comment("vae_answer", "ps1", "ps1", "b02").manual_comment = "Good after all."
        db.db.commit()
    assert main(["gradebook", *gb]) == 0
    assert "feedback pages of 1 submission(s) were written (b02/ps1)" in capsys.readouterr().out

    assert main(["similarity", *common]) == 0
    assert (course / "similarity_ps1.html").is_file()
    bad = [b for b in _readable_by_others(course) if not b.startswith(AUTOGRADE_OUTPUTS)]
    assert bad == [], "\n".join(bad)


def test_what_autograde_writes_is_private(term):
    bad = term[2]                 # right after autograde
    assert bad == [], "\n".join(bad)
