"""The TA's whole journey through the CLI alone: release, collect an LMS zip, autograde, grade the report by CSV,
gradebook with the leaderboard export, feedback again, similarity — no hand-written script between the steps."""
from __future__ import annotations

import csv

from grader.cli import main
from tests.autograde.fixtures import cli_term


def test_release_collect_autograde_gradebook_similarity(sandbox, tmp_path, capsys):
    common = cli_term(tmp_path, {"b01": "Ann Lee", "b02": "Bo Chen", "b03": "Cy Wu"},
                      ["leeann_b01_1001_ps1.ipynb", "chenbo_b02_1002_ps1-2.ipynb"])
    assert "3 submissions" in capsys.readouterr().out
    scheme = tmp_path / "scheme.toml"
    scheme.write_text("report_assignments = ['ps1']\ncode_points = 0.0\nreport_points = 5.0\n")
    assert main(["gradebook", *common, "--scheme", str(scheme), "--report-template", str(tmp_path / "r.csv")]) == 0
    (tmp_path / "r.csv").write_text("id,vae_answer,comment\nb01,3,\nb02,1,too short\n")
    (tmp_path / "lb.csv").write_text("login,name,best_public,final_private,simple_public,simple_private\n"
                                     "b01,Ann,0.6,0.6,1,1\nb02,Bo,0.6,0.5,1,0\n")
    out_dir = tmp_path / "grades"
    assert main(["gradebook", *common, "--scheme", str(scheme), "--report-scores", str(tmp_path / "r.csv"),
                 "--leaderboard", str(tmp_path / "lb.csv"), "--out", str(out_dir)]) == 0
    rows = {r["id"]: r for r in csv.DictReader(open(out_dir / "grades.csv"))}
    # b01: simple 0.5 + 0.5; report (2 tests + 3 manual)/5 * 5 = 5  ->  6
    assert float(rows["b01"]["total"]) == 6.0 and float(rows["b02"]["total"]) == 0.5 + 3.0
    assert float(rows["b03"]["total"]) == 0.0 and rows["b03"]["status"] == "ps1:missing"
    canvas = list(csv.reader(open(out_dir / "canvas_import.csv")))
    assert [r[2] for r in canvas[2:]] == ["b01", "b02", "b03"]
    assert main(["autograde", *common, "--feedback-only"]) == 0
    assert main(["similarity", *common]) == 0
    # both wrote the same one-liner: too little code to fingerprint, which the report says instead of a verdict
    assert "ps1: 2 students, 0 pair(s) flagged" in capsys.readouterr().out
