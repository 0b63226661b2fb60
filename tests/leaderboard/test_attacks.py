"""Attacks on cookies, CSRF tokens and rate limits, each with the answer it now gets: a cookie the standard library
cannot parse, a session cookie tossed in from elsewhere, a CSRF token from another session, an ``Authorization``
header that is not a bearer token of the route, a spoofed ``X-Forwarded-For``, token guessing, and a correct token
from an address over its limit."""
import re
import warnings

import pytest
import uvicorn

from grader.leaderboard.app import create_app
from grader.leaderboard.guard import parse_cookies

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from .conftest import cookie_login, page_csrf
from .test_security import EXPIRED, build, good_file, stored


@pytest.fixture
def lb(key, key_path, clock, tmp_path):
    board = build(key, key_path, clock, tmp_path, rate_login="3/minute")
    yield board
    board.store.close()


@pytest.fixture
def app(lb):
    return create_app(lb)


def logged_in(app, lb, who: str) -> tuple[TestClient, str]:
    c = TestClient(app, follow_redirects=False)
    cookie_login(c, lb.tokens[who])
    return c, page_csrf(c.get("/me").text)


def signed_in_as(c: TestClient) -> str:
    m = re.search(r"Signed in as <bdi>([^<]+)</bdi>", c.get("/me").text)
    return m.group(1) if m else ""


# ------------------------------------------------------------------------------------------------- cookies
def test_cookies_are_read_pair_by_pair():
    header = 'prefs={"theme": "dark"}; lb_token=abc; junk; =x; csrftoken="q.r"; lb_token=tossed'
    assert parse_cookies(header) == {"prefs": '{"theme": "dark"}', "lb_token": "abc", "csrftoken": "q.r"}
    assert parse_cookies("") == {} and parse_cookies(";;=;") == {}


def test_a_json_cookie_from_another_page_on_the_host_locks_nobody_out(app, lb):
    """Another app on the same host (cookies ignore ports) sets ``prefs={"theme": "dark"}``, which
    ``http.cookies.SimpleCookie`` refuses as a whole: the login and every form still work."""
    c = TestClient(app, follow_redirects=False)
    c.cookies.set("prefs", '{"theme": "dark"}')
    page = c.get(f"/login/{lb.tokens['alice']}")
    r = c.post("/login", data={"csrftoken": page_csrf(page.text), "token": lb.tokens["alice"]})
    assert r.status_code == 303 and r.headers["location"] == "/me"
    assert 'prefs={"theme": "dark"}' in r.request.headers["cookie"]        # the odd cookie really was sent
    me = c.get("/me")
    assert me.status_code == 200 and signed_in_as(c) == lb.public_name(lb.authenticate(lb.tokens["alice"]))
    assert c.post("/select", data={"csrftoken": page_csrf(me.text), "ids": []}).status_code == 303


# ------------------------------------------------------------------------------------------------------ CSRF
def test_a_csrf_token_from_another_session_is_refused(app, lb):
    alice, alice_csrf = logged_in(app, lb, "alice")
    _, bob_csrf = logged_in(app, lb, "bob")
    # Bob's token is signed by this server, and sent as both cookie and field: it was made for Bob's session.
    alice.cookies.set("csrftoken", bob_csrf)
    r = alice.post("/select", data={"csrftoken": bob_csrf, "ids": []})
    assert r.status_code == 403 and EXPIRED in r.text
    alice.cookies.set("csrftoken", alice_csrf)
    assert alice.post("/select", data={"csrftoken": alice_csrf, "ids": []}).status_code == 303


def test_a_tossed_session_cookie_does_not_carry_the_victims_open_form(app, lb, key):
    """Over plain http a sibling host can evict the HttpOnly cookie (overflowing the jar) and set its own
    ``lb_token``: the victim's upload from the page she had open would then go to the attacker's account. The
    form's token was made for her session, so it is refused."""
    victim, csrf = logged_in(app, lb, "alice")
    victim.cookies.delete("lb_token")                                     # evicted
    victim.cookies.set("lb_token", lb.tokens["bob"])                      # the attacker's own token
    r = victim.post("/submit", data={"csrftoken": csrf}, files={"file": ("p.csv", good_file(key), "text/csv")})
    assert r.status_code == 403 and EXPIRED in r.text
    assert stored(lb, "bob") == 0 and stored(lb, "alice") == 0


def test_a_tossed_csrf_cookie_cannot_log_a_signed_in_visitor_into_another_account(app, lb):
    """The attacker's own valid pair (cookie and field, minted for a visitor without a session) tossed into a
    signed-in victim's jar, with a login form for the attacker's account and no Origin header."""
    attacker = TestClient(app, follow_redirects=False)
    tossed = page_csrf(attacker.get("/login").text)
    victim, _ = logged_in(app, lb, "alice")
    victim.cookies.set("csrftoken", tossed)
    r = victim.post("/login", data={"csrftoken": tossed, "token": lb.tokens["bob"]})
    assert r.status_code == 403 and "lb_token" not in r.headers.get("set-cookie", "")
    assert signed_in_as(victim) == signed_in_as(logged_in(app, lb, "alice")[0])


@pytest.mark.parametrize("auth", ["Basic anVuazpqdW5r", "Bearer not-a-token", "Basic"],
                         ids=["basic-junk", "bad-bearer", "bare-scheme"])
def test_an_authorization_header_does_not_switch_csrf_off_on_forms(app, lb, auth):
    """A browser sends ``Basic`` credentials it has cached by itself, on cross-site forms too."""
    victim = TestClient(app, follow_redirects=False)
    r = victim.post("/login", data={"token": lb.tokens["bob"]}, headers={"Authorization": auth})
    assert r.status_code == 403 and EXPIRED in r.text and "lb_token" not in r.headers.get("set-cookie", "")
    alice, _ = logged_in(app, lb, "alice")
    r = alice.post("/logout", headers={"Authorization": auth})
    assert r.status_code == 403 and alice.get("/me").status_code == 200


def test_a_valid_bearer_token_exempts_only_json_api_routes(app, lb, key):
    c = TestClient(app, follow_redirects=False, headers={"Authorization": f"Bearer {lb.tokens['alice']}"})
    r = c.post("/submit", files={"file": ("p.csv", good_file(key), "text/csv")})
    assert r.status_code == 403 and EXPIRED in r.text and stored(lb) == 0
    assert c.post("/select", data={"ids": []}).status_code == 403
    assert c.post("/api/submissions", files={"file": ("p.csv", good_file(key), "text/csv")}).status_code == 201
    assert c.post("/api/selection", json={"ids": []}).status_code == 200
    # The same form with the token its page carries goes through.
    r = c.post("/select", data={"csrftoken": page_csrf(c.get("/me").text), "ids": []})
    assert r.status_code == 303


# -------------------------------------------------------------------------------------------------- limits
def guesses(c: TestClient, n: int, path: str = "/api/me", start: int = 0) -> list[int]:
    return [c.get(path, headers={"Authorization": f"Bearer guess{start + i}"}).status_code for i in range(n)]


def test_bearer_guesses_are_limited_and_a_correct_token_still_gets_in(app, lb):
    c = TestClient(app, follow_redirects=False)
    assert guesses(c, 4) == [401, 401, 401, 429]
    r = c.get("/api/me", headers={"Authorization": "Bearer guess9"})
    assert r.status_code == 429 and "Too many failed logins" in r.json()["error"] and int(r.headers["retry-after"])
    assert c.get("/admin/export/leaderboard.csv", headers={"Authorization": "Bearer wrong"}).status_code == 429
    # Guesses by cookie count the same.
    c.cookies.set("lb_token", "cookie-guess")
    assert c.get("/me").status_code == 429
    c.cookies.clear()
    # One student guessing does not lock out the rest of the address (a campus NAT): tokens are checked first.
    assert c.get("/api/me", headers={"Authorization": f"Bearer {lb.tokens['bob']}"}).status_code == 200
    assert c.get("/admin/export/leaderboard.csv", headers={"Authorization": "Bearer admin-secret"}).status_code == 200
    page = c.get(f"/login/{lb.tokens['alice']}")
    assert page.status_code == 200
    assert c.post("/login", data={"token": lb.tokens["alice"], "csrftoken": page_csrf(page.text)}).status_code == 303
    assert c.get("/me").status_code == 200


def proxied(app, peer: str) -> TestClient:
    """``app`` as ``python -m grader serve`` runs it (uvicorn's proxy headers, trusting 127.0.0.1), reached from
    ``peer``."""
    config = uvicorn.Config(app, proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    config.load()
    return TestClient(config.loaded_app, follow_redirects=False, client=(peer, 40000))


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing(app):
    c = proxied(app, "203.0.113.9")
    codes = [c.get("/api/me", headers={"Authorization": f"Bearer guess{i}", "X-Forwarded-For": f"10.9.0.{i}"})
             .status_code for i in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    # Behind the trusted proxy each real client has its own count, and the spoofer's does not spill over.
    proxy = proxied(app, "127.0.0.1")
    assert guesses(proxy, 1) == [401]
    r = proxy.get("/api/me", headers={"Authorization": "Bearer x", "X-Forwarded-For": "198.51.100.4"})
    assert r.status_code == 401
    assert proxied(app, "203.0.113.9").get("/api/me", headers={"Authorization": "Bearer y"}).status_code == 429
