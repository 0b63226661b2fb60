"""The TA's commands: ``init``, ``tokens`` (import, --reissue), ``backup`` and ``restore`` (SQLite and PostgreSQL),
in-process through ``grader.cli.main`` with their exit codes and the modes of the files they write."""
import csv
import tomllib

import pytest

from grader.cli import main
from grader.competition import load_competition
from grader.leaderboard.service import Leaderboard
from grader.leaderboard.store import Store
from grader.leaderboard.store.schema import TABLES
from grader.roster import read_roster

from .conftest import csv_bytes, noisy_scores


def mode(p) -> int:
    return p.stat().st_mode & 0o777


def count_rows(url: str) -> dict[str, int]:
    with Store(url, create=False) as s, s.transaction() as c:
        return {t.name: c.exec_driver_sql(f"SELECT count(*) FROM {t.name}").scalar_one() for t in TABLES}


def competition(tmp_path, key_path, db_url=None) -> str:
    p = tmp_path / "competition.toml"
    p.write_text(f'title = "T"\nanswers = "{key_path.as_posix()}"\ndaily_limit = 50\n'
                 f'database_url = "{db_url or "sqlite:///lb.sqlite3"}"\n')
    return str(p)


def test_init_writes_a_commented_config_and_an_example_roster(tmp_path, capsys):
    assert main(["init", str(tmp_path / "hw8"), "--title", "HW8 2026"]) == 0
    text = (tmp_path / "hw8" / "competition.toml").read_text()
    raw = tomllib.loads(text)
    cfg = load_competition(tmp_path / "hw8" / "competition.toml")
    assert cfg.title == "HW8 2026" and cfg.answers == tmp_path / "hw8" / "answers" / "solution.csv"
    for key in ("daily_limit", "late_uploads", "public_url", "rate_login", "max_upload_bytes"):
        assert key in raw and "\n# " in text.split(f"\n{key} =")[0][-300:]      # each key after its help
    assert "# closes_at = " in text
    roster = read_roster(tmp_path / "hw8" / "roster.csv")
    assert [s.id for s in roster] == ["b11901001", "b11901002", "b11901003"] and roster.notes == []
    assert "next:" in capsys.readouterr().out
    assert main(["init", str(tmp_path / "hw8")]) == 1                 # never overwrites
    assert "already exist" in capsys.readouterr().err


def test_tokens_import_and_reissue(tmp_path, key, key_path, capsys):
    comp = competition(tmp_path, key_path)
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,section\ns1,Ann,A\ns2,Ben,B\n")
    assert main(["tokens", "--competition", comp, "--roster", str(roster), "--public-url",
                 "https://hw8.example.edu"]) == 0
    out = capsys.readouterr().out
    assert "ignored column(s) 'section'" in out and "2 new student(s)" in out
    first = list(csv.DictReader((tmp_path / "tokens.csv").open()))
    assert mode(tmp_path / "tokens.csv") == 0o600 and first[1]["login_url"].startswith("https://hw8.example.edu/login/")

    assert main(["tokens", "--competition", comp, "--reissue", "s2", "--out", str(tmp_path / "s2.csv")]) == 0
    assert "no public_url set" in capsys.readouterr().out
    (row,) = list(csv.DictReader((tmp_path / "s2.csv").open()))
    assert mode(tmp_path / "s2.csv") == 0o600 and row["id"] == "s2" and row["token"] != first[1]["token"]
    with Store(f"sqlite:///{tmp_path / 'lb.sqlite3'}") as s:
        lb = Leaderboard(load_competition(comp), store=s, key=key)
        assert lb.authenticate(first[1]["token"]) is None and lb.authenticate(row["token"]).login == "s2"
        assert lb.authenticate(first[0]["token"]).login == "s1"
    assert main(["tokens", "--competition", comp, "--reissue", "s2", "nobody"]) == 1
    assert "no student with id 'nobody'" in capsys.readouterr().err
    assert main(["tokens", "--competition", comp]) in (1, 2)         # one of --roster / --reissue is required
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\ns9,\n")
    assert main(["tokens", "--competition", comp, "--roster", str(bad)]) == 1
    assert "line 2, column 'name'" in capsys.readouterr().err


def test_init_takes_the_thresholds_from_a_recorded_or_given_ladder(tmp_path, capsys):
    from grader.competition import RECORDED_LADDERS, threshold_problems
    assert main(["init", str(tmp_path / "plain")]) == 0
    out = capsys.readouterr().out
    assert "warning: the baseline thresholds are the course's 2023 figures" in out
    assert "set the baseline thresholds (above)" in out
    assert main(["init", str(tmp_path / "demo"), "--baselines", "demo"]) == 0
    out = capsys.readouterr().out
    cfg = load_competition(tmp_path / "demo" / "competition.toml")
    recorded = load_competition(RECORDED_LADDERS / "demo.toml").baselines
    assert cfg.baselines == recorded
    assert (cfg.baselines_source.preset, cfg.baselines_source.seed) == ("demo", 0)
    assert cfg.baselines_source.source == "kit ladder solutions/baselines/demo-ladder.json on preset demo (seed 0)"
    assert "baseline thresholds from kit ladder solutions/baselines/demo-ladder.json" in out
    simple = recorded["simple"]
    assert f"simple {simple.public:.4f}/{simple.private:.4f}" in out
    assert "warning" not in out and "set the baseline" not in out
    text = (tmp_path / "demo" / "competition.toml").read_text()
    assert "# Thresholds per baseline" in text and "# Login attempts" in text       # the template's comments stay
    assert threshold_problems(cfg) == []                       # nothing to compare against until the key is there
    assert main(["init", str(tmp_path / "full"), "--baselines", "full"]) == 0
    assert load_competition(tmp_path / "full" / "competition.toml").baselines_source.preset == "full"
    capsys.readouterr()
    assert main(["init", str(tmp_path / "x"), "--baselines", "smoke"]) == 1
    assert "no recorded ladder for preset 'smoke'; recorded: demo, demo-v1, full, full-v1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    ladder = tmp_path / "ladder.json"
    ladder.write_text('{"stages": {"simple": {"public": 0.6, "private": 0.59}}, "data": "data/", "smoke": true}')
    assert main(["init", str(tmp_path / "own"), "--ladder", str(ladder)]) == 0
    out = capsys.readouterr().out
    cfg = load_competition(tmp_path / "own" / "competition.toml")
    assert list(cfg.baselines) == ["simple"] and cfg.baselines_source.source.endswith("on data/, smoke mode")
    assert "ran in smoke mode" in out
    assert main(["init", str(tmp_path / "y"), "--ladder", str(ladder), "--baselines", "demo"]) == 2


def test_tokens_links_remade_for_a_new_address(tmp_path, key, key_path, capsys):
    comp = competition(tmp_path, key_path)
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email,lms_id\ns1,Ann,ann@x,101\ns2,=Ben,ben@x,102\ns3,Cy,,103\n")
    assert main(["tokens", "--competition", comp, "--roster", str(roster), "--public-url", "http://127.0.0.1:8000"]) == 0
    assert main(["tokens", "--competition", comp, "--reissue", "s2"]) == 0       # tokens-<time>.csv beside it
    (tmp_path / "tokens.csv").rename(tmp_path / "tokens-first.csv")              # any tokens*.csv name is read
    first = {r["id"]: r["token"] for r in csv.DictReader((tmp_path / "tokens-first.csv").open())}
    capsys.readouterr()
    assert main(["tokens", "--competition", comp, "--links"]) == 1              # no address to make links for
    assert "set public_url" in capsys.readouterr().err
    assert main(["tokens", "--competition", comp, "--links", "--public-url", "https://hw8.example.edu"]) == 0
    out, err = capsys.readouterr()
    links = dict(line.split("\t") for line in out.splitlines())
    assert links["s1"] == f"https://hw8.example.edu/login/{first['s1']}"
    assert links["s2"] != f"https://hw8.example.edu/login/{first['s2']}"             # the reissued token, not the old one
    with Store(f"sqlite:///{tmp_path / 'lb.sqlite3'}") as s:
        lb = Leaderboard(load_competition(comp), store=s, key=key)
        for login, link in links.items():
            assert lb.authenticate(link.rsplit("/", 1)[1]).login == login
    assert "3 current token(s), 1 replaced since" in err
    # Mail merge: one row per student with a current token, 0600; a student whose token is lost is named.
    assert main(["tokens", "--competition", comp, "--links", "--public-url", "https://hw8.example.edu",
                 "--from", str(tmp_path / "tokens-first.csv"), "--csv", str(tmp_path / "merge.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "merge.csv").open()))
    assert mode(tmp_path / "merge.csv") == 0o600 and [r["id"] for r in rows] == ["s1", "s3"]
    assert rows[0] == {"id": "s1", "name": "Ann", "email": "ann@x", "lms_id": "101",
                       "login_url": f"https://hw8.example.edu/login/{first['s1']}"}
    assert "no current token for 1 student(s) in those files (s2): `--reissue ID ...`" in capsys.readouterr().err
    assert main(["tokens", "--competition", comp, "--links", "--from", str(roster), "--public-url",
                 "https://hw8.example.edu"]) == 1
    assert "roster.csv: line 1: no token column" in capsys.readouterr().err
    assert main(["tokens", "--competition", comp, "--roster", str(roster), "--csv", "x.csv"]) == 2

def _fill(url: str, key) -> dict:
    with Store(url) as s:
        lb = Leaderboard(_cfg(url), store=s, key=key)
        res = lb.import_roster("id,name,nickname\ns1,Ann,\n李雷,Li Lei,Lei\n".encode())
        st = lb.authenticate(res.issued[1].token)
        for i in range(3):
            lb.ack(lb.submit(st, f"f{i}.csv", csv_bytes(noisy_scores(key, 0.5, i))).id)
        lb.set_override(st, daily_limit=9, by="TA Tom", note="lab")
        return {"token": res.issued[1].token, "secret": lb.secret, "board": lb.board("public")}


def _cfg(url):
    from grader.competition import CompetitionConfig
    return CompetitionConfig(database_url=url)


@pytest.mark.parametrize("target", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_backup_and_restore_round_trip(tmp_path, key, key_path, target, request, capsys):
    src = f"sqlite:///{tmp_path / 'lb.sqlite3'}"
    before = _fill(src, key)
    comp = competition(tmp_path, key_path, src)
    out = tmp_path / "backups" / "lb-2026-11-20.sqlite3"
    assert main(["backup", "--competition", comp, "--out", str(out)]) == 0
    assert "3 submissions" in capsys.readouterr().out and mode(out) == 0o600
    assert main(["backup", "--competition", comp, "--out", str(out)]) == 1     # never overwrites
    dst = (f"sqlite:///{tmp_path / 'restored.sqlite3'}" if target == "sqlite"
           else request.getfixturevalue("pg_cluster").new_database())
    assert main(["restore", str(out), "--competition", comp, "--database-url", dst]) == 0
    assert count_rows(dst) == count_rows(src)
    with Store(dst) as s:
        lb = Leaderboard(_cfg(dst), store=s, key=key)
        assert lb.authenticate(before["token"]).login == "李雷"       # tokens, secret, names: all carried over
        assert lb.secret == before["secret"] and lb.board("public") == before["board"]
        assert [(o.set_by, o.note) for o in lb.overrides()] == [("TA Tom", "lab")]
        assert s.backup.integrity_problems() == []
        st = lb.authenticate(before["token"])
        new = lb.submit(st, "after.csv", csv_bytes(noisy_scores(key, 0.4, 9)))   # ids go on after the restored
        assert new.id == 4
    assert main(["restore", str(out), "--competition", comp, "--database-url", dst]) == 1
    assert "already holds students or submissions" in capsys.readouterr().err
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database")
    assert main(["restore", str(junk), "--competition", comp, "--database-url",
                 f"sqlite:///{tmp_path / 'x.sqlite3'}"]) == 1
    assert "not a leaderboard backup" in capsys.readouterr().err
