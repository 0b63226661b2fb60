"""HTTP rules through the app (SQLite): login, upload, errors, limit, the private-score firewall, ownership,
selection, admin pages and exports, and 50 concurrent uploads over real loopback HTTP."""
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest

from grader.leaderboard.app import create_app
from grader.leaderboard.service import Leaderboard
from grader.leaderboard.store import Store

with warnings.catch_warnings():  # starlette warns about its own httpx backend at import: not ours to fix
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from .conftest import CLOSES, LiveServer, cookie_login, csv_bytes, make_cfg, noisy_scores, page_csrf


@pytest.fixture
def lb(key, key_path, clock, tmp_path):
    url = f"sqlite:///{tmp_path / 'lb.sqlite3'}"
    store = Store(url)
    board = Leaderboard(make_cfg(key_path, url, rate_upload="1000/minute", rate_pages="1000/minute"), store=store,
                        key=key, clock=clock, admin_token="admin-secret")
    issued = board.import_roster(b"id,name\nalice,Alice A\nbob,Bob B\n").issued
    board.tokens = {i.login: i.token for i in issued}
    yield board
    store.close()


@pytest.fixture
def app(lb):
    return create_app(lb)


def client(app, who=None, lb=None) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    if who:
        c.headers["Authorization"] = f"Bearer {lb.tokens[who]}"
    return c


def upload(c, data: bytes, name="prediction.csv"):
    return c.post("/api/submissions", files={"file": (name, data, "text/csv")})


def test_login_link_confirms_then_sets_cookie_and_pages_need_login(app, lb):
    c = client(app)
    assert c.get("/me").headers["location"] == "/login"
    form = c.get("/login")
    assert c.post("/login", data={"token": "nope", "csrftoken": page_csrf(form.text)}).status_code == 401
    r = c.get(f"/login/{lb.tokens['alice']}")          # the link alone logs nobody in: it asks first
    assert r.status_code == 200 and "set-cookie" not in r.headers or "lb_token" not in r.headers["set-cookie"]
    assert c.get("/me").status_code == 303
    assert "logs you in as" in r.text and "alice" in r.text
    r = c.post("/login", data={"token": lb.tokens["alice"], "csrftoken": page_csrf(r.text)})
    assert r.status_code == 303 and r.headers["location"] == "/me"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie   # plain http here
    page = c.get("/me")
    assert page.status_code == 200 and "5</strong> of 5 uploads left today" in page.text
    assert "2026-11-11 00:00:00 UTC" in page.text                 # when the limit resets
    assert client(app).get("/api/me").status_code == 401


def test_upload_shows_public_score_at_once(app, lb, key):
    c = client(app, "alice", lb)
    scores = noisy_scores(key, 0.5, seed=1)
    r = upload(c, csv_bytes(scores))
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "submitted_at", "filename", "public", "selected", "counts", "late", "used_today",
                         "left_today"}
    assert body["counts"] is True and body["late"] is False and body["left_today"] == 4   # the only one: it counts
    assert body["public"] == pytest.approx(lb.store.uploads.get(body["id"]).public)
    page = c.get(f"/submissions/{body['id']}")
    assert f"{body['public']:.5f}" in page.text
    png = c.get(f"/submissions/{body['id']}/roc.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert c.get("/api/me").json()["left_today"] == 4


def test_invalid_upload_shows_exact_problem_and_does_not_count(app, lb):
    c = client(app, "alice", lb)
    r = upload(c, b"ID,score\n0,0.1\n1,abc\n", "broken.csv")
    assert r.status_code == 422
    assert r.json()["line"] == 3 and r.json()["column"] == "score" and r.json()["id"] == 1
    assert "line 3, column 'score', ID 1: 'abc' is not a number" in r.json()["error"]
    page = c.post("/submit", files={"file": ("broken.csv", b"ID,score\n0,0.1\n1,abc\n", "text/csv")},
                  headers={"X-CSRFToken": page_csrf(c.get("/me").text)})
    assert page.status_code == 422
    assert "broken.csv: line 3, column &#39;score&#39;, ID 1: &#39;abc&#39; is not a number" in page.text
    assert "not scored, not counted" in page.text and "5</strong> of 5 uploads left" in page.text
    big = upload(c, b"x" * (lb.cfg.max_upload_bytes + 10))
    assert big.status_code == 422 and "the file is 1.0 MB, over the 1.0 MB limit" in big.json()["error"]
    assert c.get("/api/me").json()["submissions"] == []


def test_limit_is_shown_and_enforced(app, lb, key, clock):
    c = client(app, "alice", lb)
    data = csv_bytes(noisy_scores(key, 1.0, seed=2))
    for _ in range(5):
        assert upload(c, data).status_code == 201
    r = upload(c, data)
    assert r.status_code == 429 and "Daily limit reached" in r.json()["error"]
    assert int(r.headers["Retry-After"]) == 12 * 3600            # T0 is 12:00 UTC
    page = c.post("/submit", files={"file": ("p.csv", data, "text/csv")},
                  headers={"X-CSRFToken": page_csrf(c.get("/me").text)})
    assert page.status_code == 429 and "0</strong> of 5 uploads left" in page.text
    clock.advance(hours=12)
    assert upload(c, data).status_code == 201


def test_no_private_score_in_any_response_before_close(app, lb, key, clock):
    """Crawl every page and API response a student or visitor can reach and search each body for the private
    scores (in every format the app writes numbers in) and for the word 'private' as a JSON key."""
    alice, bob = client(app, "alice", lb), client(app, "bob", lb)
    cookie = client(app)
    cookie_login(cookie, lb.tokens["alice"])
    ids = [upload(alice, csv_bytes(noisy_scores(key, n, seed=30 + i))).json()["id"]
           for i, n in enumerate([0.4, 0.8])]
    ids.append(upload(bob, csv_bytes(noisy_scores(key, 0.6, seed=40))).json()["id"])
    privates = [lb.store.uploads.get(i).private for i in ids]
    publics = [lb.store.uploads.get(i).public for i in ids]
    assert all(abs(p - q) > 1e-3 for p in privates for q in publics)   # the search below is meaningful

    def needles(x):
        return {repr(x), f"{x:.5f}", f"{x:.4f}", f"{x:.6f}", f"{x:.3f}", str(round(x, 4))}

    def crawl():
        bodies = []
        for c in (alice, cookie, client(app)):
            for path in ["/", "/me", "/login", "/api/board", "/api/board?split=private", "/api/me",
                         "/api/board?split=public", "/api/board?split=late"] + \
                        [f"/submissions/{i}" for i in ids] + [f"/api/submissions/{i}" for i in ids]:
                r = c.get(path)
                bodies.append((path, r.status_code, r.text))
        return bodies

    for path, status, text in crawl():
        assert status in (200, 303, 401, 403, 404), (path, status)
        for p in privates:
            for n in needles(p):
                assert n not in text, f"private score {n} leaked in {path}"
        assert '"private"' not in text and "final_private" not in text, path
    assert client(app).get("/api/board?split=private").status_code == 403

    clock.set(CLOSES)
    after = "".join(t for _, _, t in crawl())
    assert f"{privates[0]:.5f}" in after and '"private"' in after and "Private leaderboard" in after


def test_student_cannot_fetch_another_students_files(app, lb, key):
    alice, bob = client(app, "alice", lb), client(app, "bob", lb)
    sid = upload(alice, csv_bytes(noisy_scores(key, 1.0, seed=3))).json()["id"]
    assert alice.get(f"/submissions/{sid}/download").status_code == 200
    for path in (f"/submissions/{sid}/download", f"/submissions/{sid}/roc.png", f"/submissions/{sid}",
                 f"/api/submissions/{sid}", f"/submissions/{sid + 99}/download"):
        r = bob.get(path)
        assert r.status_code in (403, 404), path
        assert "ID,score" not in r.text
    anon = client(app).get(f"/submissions/{sid}/download")
    assert anon.status_code == 303 and anon.headers["location"] == "/login"


def test_selection_api(app, lb, key, clock):
    alice, bob = client(app, "alice", lb), client(app, "bob", lb)
    a = [upload(alice, csv_bytes(noisy_scores(key, 1.0, seed=50 + i))).json()["id"] for i in range(3)]
    b = upload(bob, csv_bytes(noisy_scores(key, 1.0, seed=60))).json()["id"]
    assert alice.post("/api/selection", json={"ids": a}).status_code == 409
    assert alice.post("/api/selection", json={"ids": [b]}).status_code == 409
    assert alice.post("/api/selection", json={"ids": "x"}).status_code == 400
    assert alice.post("/api/selection", json={"ids": [a[2]]}).json() == {"selected": [a[2]]}
    me = alice.get("/api/me").json()
    assert [s["id"] for s in me["submissions"] if s["selected"]] == [a[2]]
    clock.set(CLOSES + timedelta(hours=1))
    assert alice.post("/api/selection", json={"ids": [a[0]]}).status_code == 409
    assert alice.get("/api/me").json()["final_private"] == pytest.approx(lb.store.uploads.get(a[2]).private)
    d = alice.get(f"/api/submissions/{a[2]}").json()
    assert set(d["intervals"]) == {"public", "private"}


def test_board_after_close_and_late_uploads(app, lb, key, clock):
    """After the deadline an upload is late: scored and shown to its author with both scores, listed on the late
    board, never ranked on the main boards; with late_uploads = false it is refused."""
    alice, bob = client(app, "alice", lb), client(app, "bob", lb)
    upload(alice, csv_bytes(noisy_scores(key, 0.3, seed=4)))
    clock.set(CLOSES)
    late = upload(bob, csv_bytes(noisy_scores(key, 0.1, seed=5)))
    assert late.status_code == 201 and late.json()["late"] is True and "private" in late.json()
    assert late.json()["counts"] is False
    board = client(app).get("/api/board?split=private").json()
    alice_name = lb.public_name(lb.authenticate(lb.tokens["alice"]))
    assert board["closed"] and [r["name"] for r in board["rows"] if not r["baseline"]] == [alice_name]
    assert sum(r["baseline"] for r in board["rows"]) == 4
    public = client(app).get("/api/board").json()["rows"]
    assert [r["name"] for r in public if not r["baseline"]] == [alice_name]         # bob's late file: not ranked
    lateboard = client(app).get("/api/board?split=late").json()["rows"]
    assert [(r["rank"], r["score"]) for r in lateboard] == [(None, late.json()["private"])]
    assert bob.post("/api/selection", json={"ids": [late.json()["id"]]}).status_code == 409
    html = client(app).get("/").text
    assert "Private leaderboard (final)" in html and html.count(">baseline</span>") == 8  # both boards
    assert "Late submissions (after the deadline, not ranked)" in html
    lb.cfg.late_uploads = False
    refused = upload(bob, csv_bytes(noisy_scores(key, 0.3, seed=6)))
    assert refused.status_code == 403 and "closed" in refused.json()["error"]


def test_admin_pages_roster_and_exports(app, lb, key):
    anon = client(app)
    assert anon.get("/admin").headers["location"] == "/admin/login"
    assert anon.get("/admin/export/leaderboard.csv").status_code == 401
    assert client(app, "alice", lb).get("/admin/export/baselines.csv").status_code == 401  # student token ≠ admin
    form = anon.get("/admin/login")
    assert anon.post("/admin/login", data={"token": "wrong", "csrftoken": page_csrf(form.text)}).status_code == 401
    ta = client(app)
    form = ta.get("/admin/login")
    assert ta.post("/admin/login", data={"token": "admin-secret", "csrftoken": page_csrf(form.text)}
                   ).status_code == 303
    page = ta.get("/admin")
    assert "Students (2)" in page.text and "Log out (TA)" in page.text and ">Log in<" not in page.text
    csrf = page_csrf(page.text)
    r = ta.post("/admin/roster", data={"csrftoken": csrf},
                files={"file": ("r.csv", "id,name\ncarol,Carol\nalice,李雷\n".encode(), "text/csv")})
    assert r.status_code == 200 and r.headers["x-skipped-students"] == "1" and r.headers["x-updated-students"] == "1"
    header, row = r.text.splitlines()
    assert header == "id,name,email,token,login_url" and row.startswith("carol,Carol,,")
    token = row.split(",")[3]
    assert row.endswith(f"/login/{token}") and lb.authenticate(token).login == "carol"
    assert lb.authenticate(lb.tokens["alice"]).name == "李雷"          # known id: profile updated, token kept
    bad = ta.post("/admin/roster", data={"csrftoken": csrf}, files={"file": ("r.csv", b"id,name\n,Nobody\n", "text/csv")})
    assert bad.status_code == 422 and "line 2, column &#39;id&#39;" in bad.text
    upload(client(app, "alice", lb), csv_bytes(noisy_scores(key, 0.2, seed=6)))
    assert ta.get("/admin/export/leaderboard.csv").text.splitlines()[1].startswith("alice,李雷,,,")
    assert ta.get("/admin/export/baselines.csv").status_code == 200


def test_fifty_concurrent_http_uploads_at_the_limit(lb, key):
    """Real loopback HTTP, 50 simultaneous uploads from one student with 5 left: exactly 5 are scored."""
    data = csv_bytes(noisy_scores(key, 1.0, seed=7))
    with LiveServer(create_app(lb)) as srv:
        def one(_):
            with httpx.Client(base_url=srv.url, timeout=60,
                              headers={"Authorization": f"Bearer {lb.tokens['alice']}"}) as c:
                return upload(c, data).status_code
        with ThreadPoolExecutor(50) as ex:
            codes = list(ex.map(one, range(50)))
    assert sorted(set(codes)) == [201, 429] and codes.count(201) == 5
    assert len(lb.store.uploads.counted(lb.authenticate(lb.tokens["alice"]).id)) == 5
