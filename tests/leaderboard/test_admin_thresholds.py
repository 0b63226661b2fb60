"""The TA page says, on every load, when the baseline thresholds were never set or were measured on other data,
and the baselines export (the gradebook's input) is named so; and when the answer key can be rebuilt from its
seed."""
import hashlib
import json
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from grader.competition import ThresholdSource
from grader.leaderboard.app import create_app

from .conftest import page_csrf


def ta_client(lb) -> TestClient:
    c = TestClient(create_app(lb), follow_redirects=False)
    form = c.get("/admin/login")
    assert c.post("/admin/login", data={"token": "admin-secret", "csrftoken": page_csrf(form.text)}
                  ).status_code == 303
    return c


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_thresholds_without_a_source_are_flagged_on_every_load(lb):
    ta = ta_client(lb)
    for _ in range(2):
        page = ta.get("/admin").text
        assert "Baseline thresholds not set for this term" in page and "have no recorded source" in page
    r = ta.get("/admin/export/baselines.csv")
    assert r.status_code == 200 and r.headers["x-thresholds"] == "not-set"
    assert r.headers["content-disposition"] == 'attachment; filename="baselines-THRESHOLDS-NOT-SET.csv"'
    assert r.text.startswith("id,name,best_public,final_private,")      # the gradebook's columns, unchanged


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_thresholds_from_a_ladder_on_this_key_are_shown_with_their_source(lb, key_path):
    sha = hashlib.sha256(key_path.read_bytes()).hexdigest()
    lb.cfg = replace(lb.cfg, baselines_source=ThresholdSource("kit ladder term/ladder.json on data/",
                                                               answers_sha256=sha))
    ta = ta_client(lb)
    page = ta.get("/admin").text
    assert "not set for this term" not in page
    assert "Baseline thresholds from kit ladder term/ladder.json on data/: simple 0.5500 / 0.5500" in page
    r = ta.get("/admin/export/baselines.csv")
    assert r.headers["x-thresholds"] == "set" and 'filename="baselines.csv"' in r.headers["content-disposition"]
    # The same thresholds against another answer key: measured on other data.
    lb.cfg = replace(lb.cfg, baselines_source=ThresholdSource("kit ladder l.json", answers_sha256="0" * 64))
    page = ta_client(lb).get("/admin").text
    assert "Baseline thresholds not set for this term" in page and "the ladder ran on other data" in page


def test_serve_warns_at_start_until_the_thresholds_are_set(tmp_path, key_path, capsys, monkeypatch):
    from grader.cli import main
    monkeypatch.setenv("LEADERBOARD_ADMIN_TOKEN", "admin-secret")
    comp = tmp_path / "competition.toml"
    comp.write_text(f'answers = "{key_path.as_posix()}"\n')
    assert main(["serve", "--competition", str(comp), "--check"]) == 0
    assert "warning: the baseline thresholds are the course's 2023 figures" in capsys.readouterr().out
    sha = hashlib.sha256(key_path.read_bytes()).hexdigest()
    comp.write_text(comp.read_text() + f'[baselines]\nsource = "kit ladder l.json on data/"\nanswers_sha256 = "{sha}"\n'
                    '[baselines.simple]\npublic = 0.6\n')
    assert main(["serve", "--competition", str(comp), "--check"]) == 0
    assert "warning" not in capsys.readouterr().out


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_answer_key_anyone_can_rebuild_is_flagged_on_the_ta_page(lb, key_path):
    from common.answer_key import SECRET_SEED_MIN
    manifest = key_path.parent / "manifest.json"
    manifest.write_text(json.dumps({"source": "generated", "preset": "demo", "seed": 0}))
    try:
        page = ta_client(lb).get("/admin").text
        assert "The answer key is not secret" in page and "built with seed 0" in page
        manifest.write_text(json.dumps({"source": "generated", "preset": "demo", "seed": SECRET_SEED_MIN + 5}))
        assert "The answer key is not secret" not in ta_client(lb).get("/admin").text
    finally:
        manifest.unlink()
