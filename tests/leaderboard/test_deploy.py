"""docs/deploy.md's setup, run for real: ``python -m grader serve`` with ``--workers 2``, ``--public-url https://...``
and a trusted proxy, reached the way the reverse proxy reaches it (Host, X-Forwarded-Proto/-For on loopback).
Login links in the tokens file, redirects and cookies must all use the public https address; the client address
for rate limits comes from X-Forwarded-For only when the proxy is trusted."""
import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .conftest import free_port

REPO = Path(__file__).parents[2]
PUBLIC = "https://hw8.example.test"


def serve(tmp_path: Path, key_path: Path, allow: str, extra=()) -> tuple[subprocess.Popen, str]:
    comp = tmp_path / "competition.toml"
    comp.write_text(f'title = "Deploy test"\nanswers = "{key_path.as_posix()}"\nrate_login = "2/minute"\n'
                    'database_url = "sqlite:///lb.sqlite3"\n')
    port = free_port()
    cmd = [sys.executable, "-m", "grader", "serve", "--competition", str(comp), "--port", str(port),
           "--public-url", PUBLIC, "--forwarded-allow-ips", allow, *extra]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "LEADERBOARD_ADMIN_TOKEN": "admin-secret"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/board", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read())
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def proxied(base: str, client_ip: str) -> httpx.Client:
    """What nginx sends upstream for a visitor at ``client_ip`` on https://hw8.example.test."""
    return httpx.Client(base_url=base, follow_redirects=False, timeout=30, headers={
        "Host": "hw8.example.test", "X-Forwarded-Proto": "https", "X-Forwarded-For": client_ip})


def test_behind_a_tls_proxy_links_redirects_and_cookies_use_the_public_url(tmp_path, key_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns1,Ann\ns2,Ben\n")
    proc, base = serve(tmp_path, key_path, "127.0.0.1", ["--workers", "2", "--roster", str(roster)])
    try:
        tokens = {r["id"]: r for r in csv.DictReader((tmp_path / "tokens.csv").open())}
        assert tokens["s1"]["login_url"] == f"{PUBLIC}/login/{tokens['s1']['token']}"
        with proxied(base, "203.0.113.9") as c:
            r = c.get("/me")
            assert r.status_code == 303 and r.headers["location"] == f"{PUBLIC}/login"
            page = c.get(f"/login/{tokens['s1']['token']}")
            assert page.headers["strict-transport-security"].startswith("max-age=")
            set_cookie = page.headers["set-cookie"]
            assert set_cookie.startswith("__Host-csrftoken=") and "Secure" in set_cookie
            csrf = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
            r = c.post("/login", data={"csrftoken": csrf, "token": tokens["s1"]["token"]},
                       headers={"Origin": PUBLIC, "Cookie": f"__Host-csrftoken={csrf}"})
            assert r.status_code == 303 and r.headers["location"] == f"{PUBLIC}/me"
            session = r.headers["set-cookie"]
            assert session.startswith("__Host-lb_token=") and "Secure" in session and "HttpOnly" in session
            # The same form from the server's own http address (not the public one) is another origin.
            r = c.post("/login", data={"csrftoken": csrf, "token": tokens["s1"]["token"]},
                       headers={"Origin": base, "Cookie": f"__Host-csrftoken={csrf}"})
            assert r.status_code == 403
            # Failed logins are counted per visitor address, as the proxy reports it.
            codes = [c.post("/login", data={"csrftoken": csrf, "token": "x"},
                            headers={"Origin": PUBLIC, "Cookie": f"__Host-csrftoken={csrf}"}).status_code
                     for _ in range(6)]
            assert 429 in codes and 401 in codes     # 2/minute per process; two workers may each count to 2
        with proxied(base, "198.51.100.7") as other:
            assert other.post("/login", data={"csrftoken": csrf, "token": "x"},
                              headers={"Origin": PUBLIC, "Cookie": f"__Host-csrftoken={csrf}"}).status_code == 401
    finally:
        stop(proc)


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(tmp_path, key_path):
    proc, base = serve(tmp_path, key_path, "10.255.255.1")     # the proxy is elsewhere: we are not it
    try:
        for ip in ("203.0.113.9", "203.0.113.9", "198.51.100.7"):   # a spoofed address each time
            with proxied(base, ip) as c:
                page = c.get("/login")
                csrf = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
                r = c.post("/login", data={"csrftoken": csrf, "token": "x"},
                           headers={"Origin": PUBLIC, "Cookie": f"__Host-csrftoken={csrf}"})
        assert r.status_code == 429          # all three counted against 127.0.0.1, the real peer
    finally:
        stop(proc)

