"""``python -m grader serve`` in-process (--check) and as a real server process killed with SIGKILL mid-upload:
after a restart every acknowledged submission is there and the database passes its integrity check."""
import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from grader.cli import main
from grader.leaderboard.store import Store

from .conftest import csv_bytes, free_port, noisy_scores

REPO = Path(__file__).parents[2]


def write_competition(tmp: Path, key_path: Path, db_url: str | None = None, **extra) -> Path:
    lines = ['title = "Crash test"', f'answers = "{key_path.as_posix()}"', "daily_limit = 1000",
             f'database_url = "{db_url or "sqlite:///lb.sqlite3"}"']
    lines += [f"{k} = {v}" for k, v in extra.items()]
    p = tmp / "competition.toml"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_serve_check_imports_roster_and_writes_tokens(tmp_path, key_path, capsys, monkeypatch):
    monkeypatch.delenv("LEADERBOARD_ADMIN_TOKEN", raising=False)
    comp = write_competition(tmp_path, key_path)
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email\nb01,Ann,ann@x\nb02,Ben,\n")
    assert main(["serve", "--competition", str(comp), "--roster", str(roster), "--check", "--port", "8123"]) == 0
    out = capsys.readouterr().out
    assert f"admin token from {tmp_path / 'admin_token'} (new)" in out and "roster: 2 new student(s)" in out
    for secret in ("admin_token", "tokens.csv", "lb.sqlite3"):      # every secret the server writes: 0600
        assert (tmp_path / secret).stat().st_mode & 0o777 == 0o600, secret
    rows = list(csv.DictReader((tmp_path / "tokens.csv").open()))
    assert [r["id"] for r in rows] == ["b01", "b02"]
    assert rows[0]["login_url"] == f"http://127.0.0.1:8123/login/{rows[0]['token']}"
    with Store(f"sqlite:///{tmp_path / 'lb.sqlite3'}") as s:   # relative to the config file
        assert [st.login for st in s.accounts.all()] == ["b01", "b02"]
    # Importing again skips known ids and keeps their tokens; a new student's tokens never overwrite the first file.
    roster.write_text("id,name,email\nb01,Ann,ann@x\nb02,Ben,\nb03,Cy,\n")
    assert main(["serve", "--competition", str(comp), "--roster", str(roster), "--check", "--public-url",
                 "https://hw8.example.edu"]) == 0
    out = capsys.readouterr().out
    assert "1 new student(s)" in out and "2 already known" in out and "admin token from" in out
    assert [r["id"] for r in csv.DictReader((tmp_path / "tokens.csv").open())] == ["b01", "b02"]
    second = [p for p in tmp_path.glob("tokens-*.csv")]
    assert len(second) == 1 and second[0].stat().st_mode & 0o777 == 0o600
    (row,) = list(csv.DictReader(second[0].open()))
    assert row["id"] == "b03" and row["login_url"] == f"https://hw8.example.edu/login/{row['token']}"


def test_admin_token_never_from_argv_and_only_from_a_private_file(tmp_path, key_path, capsys, monkeypatch):
    monkeypatch.delenv("LEADERBOARD_ADMIN_TOKEN", raising=False)
    comp = write_competition(tmp_path, key_path)
    assert main(["serve", "--competition", str(comp), "--check", "--admin-token", "hunter2"]) == 1
    assert "--admin-token would show the TA token to every user of this machine (ps)" in capsys.readouterr().err
    f = tmp_path / "ta.token"
    f.write_text("s3cret-admin\n")
    f.chmod(0o644)
    assert main(["serve", "--competition", str(comp), "--check", "--admin-token-file", str(f)]) == 1
    assert "readable by other users (mode 0644)" in capsys.readouterr().err
    f.chmod(0o600)
    assert main(["serve", "--competition", str(comp), "--check", "--admin-token-file", str(f)]) == 0
    monkeypatch.setenv("LEADERBOARD_ADMIN_TOKEN", "from-env")
    assert main(["serve", "--competition", str(comp), "--check"]) == 0
    assert "admin token from $LEADERBOARD_ADMIN_TOKEN" in capsys.readouterr().out
    # A database file someone made world-readable is tightened on start, and said so.
    (tmp_path / "lb.sqlite3").chmod(0o644)
    assert main(["serve", "--competition", str(comp), "--check"]) == 0
    assert "now mode 0600" in capsys.readouterr().out and (tmp_path / "lb.sqlite3").stat().st_mode & 0o777 == 0o600


def test_serve_bad_config_exits_1(tmp_path, key_path, capsys):
    comp = write_competition(tmp_path, key_path, colour='"red"')
    assert main(["serve", "--competition", str(comp), "--check"]) == 1
    assert "unknown key(s) colour" in capsys.readouterr().err
    assert main(["serve", "--competition", str(tmp_path / "missing.toml"), "--check"]) == 1


def _start(comp: Path, port: int, db_url: str, extra: list[str] = ()) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "grader", "serve", "--competition", str(comp), "--port", str(port),
           "--database-url", db_url, *extra]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "LEADERBOARD_ADMIN_TOKEN": "admin-secret"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/board", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def test_sigkill_during_uploads_loses_no_acknowledged_submission(tmp_path, key, key_path, db_url):
    comp = write_competition(tmp_path, key_path, rate_upload='"100000/minute"')
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\n" + "".join(f"s{i},Student {i}\n" for i in range(4)))
    port = free_port()
    proc = _start(comp, port, db_url, ["--roster", str(roster)])
    tokens = [r["token"] for r in csv.DictReader((tmp_path / "tokens.csv").open())]
    acked: list[tuple[str, int, float]] = []     # (token, submission id, public) for every 201 received
    lock, stop = threading.Lock(), threading.Event()
    data = [csv_bytes(noisy_scores(key, 0.5 + 0.1 * i, seed=i)) for i in range(8)]

    def uploader(tok: str, w: int):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers={"Authorization": f"Bearer {tok}"}) as c:
            k = 0
            while not stop.is_set():
                try:
                    r = c.post("/api/submissions", files={"file": ("p.csv", data[(w + k) % 8], "text/csv")})
                except httpx.TransportError:
                    return                        # the server died mid-request: not acknowledged
                if r.status_code == 201:
                    with lock:
                        acked.append((tok, r.json()["id"], r.json()["public"]))
                k += 1

    threads = [threading.Thread(target=uploader, args=(t, w)) for w, t in enumerate(tokens)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)             # mid-upload: four clients are sending right now
    proc.wait(10)
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) >= 40, "uploads too slow to test the crash"

    proc = _start(comp, port, db_url)             # restart on the same database
    try:
        for tok in tokens:
            me = httpx.get(f"http://127.0.0.1:{port}/api/me", headers={"Authorization": f"Bearer {tok}"}).json()
            have = {s["id"]: s["public"] for s in me["submissions"]}
            for t, sid, public in acked:
                if t == tok:
                    assert have.get(sid) == public, f"acknowledged submission {sid} lost"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    with Store(db_url) as s:
        assert s.backup.integrity_problems() == []
        assert len(s.uploads.counted()) >= len(acked)
