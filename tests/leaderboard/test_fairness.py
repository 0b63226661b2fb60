"""Fairness and privacy: public names (nickname or pseudonym, never the legal name), display sanitising, probing and
copying signals, the late board, per-student extensions and limits with who/when, the ``counts`` flag, "Last
scored", the file's own problem first at the limit, and acknowledge-or-don't-count."""
import re
import warnings
from datetime import timedelta

import numpy as np
import pytest

from grader.leaderboard import display
from grader.leaderboard.app import create_app
from grader.leaderboard.service import Leaderboard
from grader.leaderboard.store import Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from .conftest import CLOSES, Wall, csv_bytes, make_cfg, noisy_scores, page_csrf

ROSTER = ("id,name,email,nickname\n"
          "s1,Alice Legalname,a@x,\n"
          "s2,Bob Legalname,b@x,Bobcat\n"
          "s3,Carol Legalname,c@x,Carol Legalname\n"            # the roster chose to show the name
          "s4,Dan Legalname,d@x,\u202eevil\u200b Dan\u2066\n")     # bidi override, zero-width, isolate


@pytest.fixture
def wall():
    return Wall()


@pytest.fixture
def lb(key, key_path, clock, tmp_path, wall):
    url = f"sqlite:///{tmp_path / 'lb.sqlite3'}"
    store = Store(url, ack_grace=30, wall=wall)
    board = Leaderboard(make_cfg(key_path, url, rate_upload="1000/minute", rate_pages="1000/minute"),
                        store=store, key=key, clock=clock, admin_token="admin-secret")
    board.tokens = {i.login: i.token for i in board.import_roster(ROSTER.encode()).issued}
    board.users = {k: board.authenticate(t) for k, t in board.tokens.items()}
    yield board
    store.close()


def api(lb, who=None) -> TestClient:
    c = TestClient(create_app(lb), follow_redirects=False)
    if who:
        c.headers["Authorization"] = f"Bearer {lb.tokens[who] if who != 'ta' else 'admin-secret'}"
    return c


def upload(lb, who, seed, noise=0.5) -> dict:
    r = api(lb, who).post("/api/submissions", files={"file": ("p.csv", csv_bytes(noisy_scores(lb.key, noise, seed)),
                                                              "text/csv")})
    assert r.status_code in (201, 422, 429, 403), r.text
    return r


# ----------------------------------------------------------------------------------------------- public names
def test_public_pages_never_show_legal_names(lb, clock):
    for i, who in enumerate(["s1", "s2", "s3", "s4"]):
        assert upload(lb, who, seed=i).status_code == 201
    clock.set(CLOSES + timedelta(minutes=1))
    upload(lb, "s1", seed=9)                                          # a late one: the late board too
    pages = [api(lb).get(p).text for p in ("/", "/api/board", "/api/board?split=private", "/api/board?split=late")]
    pages += [api(lb, "s2").get("/").text]
    for k, text in enumerate(pages):
        for legal in ("Alice Legalname", "Bob Legalname", "Dan Legalname"):
            assert legal not in text
        if k != 3:                                                    # the late board lists only s1
            assert "Bobcat" in text and "Carol Legalname" in text    # nickname; a nickname equal to the name
        assert "\u202e" not in text and "\u200b" not in text and "\u2066" not in text
    pseudonym = lb.public_name(lb.users["s1"])
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+ \d{1,2}", pseudonym) and all(pseudonym in t for t in pages)
    assert api(lb).get("/").text.count("<bdi>") >= 4                # names are isolated from the layout
    assert lb.public_name(lb.users["s4"]) == "evil Dan"


def test_pseudonyms_are_stable_secret_and_distinct(lb, key, key_path, clock):
    again = Leaderboard(lb.cfg, store=Store(lb.cfg.database_url), key=key, clock=clock)   # another process
    assert again.public_name(lb.users["s1"]) == lb.public_name(lb.users["s1"])
    assert display.pseudonym("s1", b"another secret") != display.pseudonym("s1", lb.secret) or \
        display.pseudonym("s2", b"another secret") != display.pseudonym("s2", lb.secret)
    class St:   # noqa: E306 - a tiny stand-in roster row
        def __init__(self, i):
            self.id, self.login, self.nickname = i, f"b{i:05d}", ""
    names = display.public_names([St(i) for i in range(3000)], b"k")
    assert len(set(names.values())) == 3000                          # collisions get a longer number
    again.store.close()


@pytest.mark.parametrize("raw, shown", [
    ("\u202eelif.exe", "elif.exe"), ("Ada\u200d\u200bLove", "AdaLove"), ("  a\tb\n c ", "a b c"),
    ("x" * 60, "x" * 39 + "…"), ("\u2067RTL\u2069 name", "RTL name"), ("Zoë", "Zoë"), ("\U000e0041tag", "tag"),
])
def test_display_names_are_cleaned(raw, shown):
    assert display.clean(raw) == shown


# -------------------------------------------------------------------------------------------------- signals
def test_probing_and_copying_are_flagged_for_the_ta(lb, key):
    lb.cfg.daily_limit = 100
    # A probe: all zeros except one ID, one ID after another.
    for i in range(4):
        s = np.zeros(len(key))
        s[i] = 1.0
        lb.submit(lb.users["s1"], f"probe{i}.csv", csv_bytes(s))
    # Small edits of an earlier file (no improvement needed to be seen).
    base = noisy_scores(key, 2.0, seed=5)
    lb.submit(lb.users["s2"], "m0.csv", csv_bytes(base))
    edited = base.copy()
    edited[[3, 50, 120]] = -5.0
    lb.submit(lb.users["s2"], "m1.csv", csv_bytes(edited))
    # Copying: s3 uploads s2's exact file; s4 uploads a monotone transform of it (same ranking, other bytes).
    lb.submit(lb.users["s3"], "copy.csv", csv_bytes(base))
    lb.submit(lb.users["s4"], "copy2.csv", csv_bytes(3 * base + 7))
    got = {(lb.store.accounts.get(s.student_id).login, s.kind): s.detail for s in lb.signals()}
    assert "near-constant" in "".join(k for _, k in got if _ == "s1")
    assert got[("s1", "small-diff")] == "reorders 1 row(s) of #3"
    assert got[("s2", "small-diff")] == "reorders 3 row(s) of #5"
    assert got[("s3", "same-file")].startswith("the same file as #5")
    assert got[("s2", "same-file")].startswith("the same file as #7")
    assert got[("s4", "same-ranks")].startswith("the same ranking of the rows as #5")
    page = api(lb, "ta").get("/admin").text
    assert "small-diff" in page and "same-ranks" in page and "near-constant" in page
    assert "small-diff ×3" in lb.export_leaderboard_csv()
    for who in ("s1", "s2"):        # never shown to students
        assert "small-diff" not in api(lb, who).get("/me").text and "near-constant" not in api(lb, who).get("/").text


# ------------------------------------------------------------------------------------ late board, extensions
def test_extension_and_limit_override_with_who_and_when(lb, key, clock):
    ta = api(lb, "ta")
    ta.headers["X-CSRFToken"] = page_csrf(ta.get("/admin").text)      # a bearer token does not exempt a form
    s1 = lb.users["s1"]
    assert upload(lb, "s2", seed=1).status_code == 201
    assert upload(lb, "s1", seed=2).status_code == 201
    r = ta.post(f"/admin/students/{s1.id}/override", data={"deadline": "2026-11-25T12:00", "daily_limit": "8",
                                                           "by": "TA Tom", "note": "medical"})
    assert r.status_code == 303
    (d, lim) = lb.overrides()
    assert (d.field, d.value, d.set_by, d.note, d.set_at) == ("deadline", "2026-11-25T12:00:00+00:00", "TA Tom",
                                                              "medical", clock())
    assert (lim.field, lim.value) == ("daily_limit", "8")
    page = ta.get("/admin").text
    assert "TA Tom" in page and "medical" in page and "daily_limit → 8" in page
    assert api(lb, "s1").get("/api/me").json()["left_today"] == 7

    clock.set(CLOSES + timedelta(hours=1))                  # the class has closed; s1 still has time
    on_time = upload(lb, "s1", seed=3, noise=0.1).json()
    assert on_time["late"] is False and "private" not in on_time
    late = upload(lb, "s2", seed=4).json()
    assert late["late"] is True and "private" not in late   # no late private score while an extension runs
    board = api(lb).get("/api/board?split=private").json()["rows"]
    assert lb.public_name(s1) not in [r["name"] for r in board]
    assert "1 student(s) with an extended deadline" in api(lb).get("/").text
    assert api(lb).get("/api/board?split=late").status_code == 403
    assert api(lb, "s1").get(f"/api/submissions/{on_time['id']}").json().get("private") is None
    assert api(lb, "s1").post("/api/selection", json={"ids": [on_time["id"]]}).status_code == 200

    clock.set(d.set_at.replace(year=2026, month=11, day=25, hour=12, minute=0))     # s1's deadline passes
    board = api(lb).get("/api/board?split=private").json()["rows"]
    assert lb.public_name(s1) in [r["name"] for r in board]
    assert api(lb, "s1").get(f"/api/submissions/{on_time['id']}").json()["private"] == pytest.approx(
        lb.store.uploads.get(on_time["id"]).private)
    assert api(lb, "s2").get(f"/api/submissions/{late['id']}").json()["private"] is not None
    assert [r["name"] for r in api(lb).get("/api/board?split=late").json()["rows"]] == [lb.public_name(lb.users["s2"])]
    # Back to the competition's values: recorded too.
    ta.post(f"/admin/students/{s1.id}/override", data={"deadline": "", "daily_limit": "", "by": "TA Ann"})
    assert [(o.field, o.value, o.set_by) for o in lb.overrides()[2:]] == [("deadline", "", "TA Ann"),
                                                                          ("daily_limit", "", "TA Ann")]
    bad = ta.post(f"/admin/students/{s1.id}/override", data={"deadline": "soon", "by": "x"})
    assert bad.status_code == 400 and "must be a UTC date and time" in bad.text


def test_daily_limit_override_is_enforced(lb):
    lb.set_override(lb.users["s2"], daily_limit=1, by="TA")
    lb.users["s2"] = lb.authenticate(lb.tokens["s2"])
    assert upload(lb, "s2", seed=1).status_code == 201
    r = upload(lb, "s2", seed=2)
    assert r.status_code == 429 and "1 scored upload(s) per UTC day" in r.json()["error"]


# ----------------------------------------------------------------------------- counts, Last scored, limit order
def test_counts_flag_and_last_scored(lb, clock):
    first = upload(lb, "s1", seed=1, noise=0.2).json()
    assert first["counts"] is True                                   # the only one: auto-selected, counts
    clock.advance(hours=1)
    worse = upload(lb, "s1", seed=2, noise=0.3).json()
    clock.advance(hours=1)
    third = upload(lb, "s1", seed=3, noise=5.0).json()
    assert third["counts"] is False                                  # two better ones are auto-selected
    me = api(lb, "s1").get("/api/me").json()
    assert {s["id"]: s["counts"] for s in me["submissions"]} == {first["id"]: True, worse["id"]: True,
                                                                 third["id"]: False}
    row = next(r for r in api(lb).get("/api/board").json()["rows"] if not r["baseline"])
    assert row["submitted_at"] == first["submitted_at"]              # the ranked file's time breaks ties
    assert row["last_scored"] == third["submitted_at"]               # "Last scored": the latest upload
    assert third["submitted_at"].replace("T", " ").replace("Z", " UTC") in api(lb).get("/").text


def test_an_invalid_file_at_the_limit_reports_the_file_first(lb):
    for i in range(5):
        assert upload(lb, "s1", seed=i).status_code == 201
    r = api(lb, "s1").post("/api/submissions", files={"file": ("p.csv", b"ID,score\n0,0.1\n1,abc\n", "text/csv")})
    assert r.status_code == 422 and "line 3, column 'score', ID 1" in r.json()["error"]
    assert upload(lb, "s1", seed=9).status_code == 429               # a valid one is then told about the limit


# ------------------------------------------------------------------------------------ acknowledge or not count
def test_an_upload_stored_but_never_answered_stops_counting(lb, key, wall, monkeypatch):
    """Kill -9 between the commit and the answer, simulated: the acknowledgement never runs. The upload counts
    while an answer could still be on its way (so racing uploads cannot pass the limit), then not at all: not
    against the limit, not on a board, and the student sees it as unconfirmed, without a score."""
    answered = upload(lb, "s1", seed=1).json()                      # a normal upload: acknowledged
    monkeypatch.setattr(lb, "ack", lambda sid: None)                # the server "dies" before acknowledging
    lost = upload(lb, "s1", seed=2, noise=0.01).json()
    me = api(lb, "s1").get("/api/me").json()
    assert me["used_today"] == 2 and me["unconfirmed"] == []        # within the grace time: counted
    wall.t += 31                                                    # the grace time passes
    me = api(lb, "s1").get("/api/me").json()
    assert me["used_today"] == 1 and [s["id"] for s in me["submissions"]] == [answered["id"]]
    assert [u["id"] for u in me["unconfirmed"]] == [lost["id"]] and "public" not in me["unconfirmed"][0]
    assert [r["score"] for r in api(lb).get("/api/board").json()["rows"] if not r["baseline"]] == \
        [answered["public"]]
    assert api(lb, "s1").get(f"/api/submissions/{lost['id']}").status_code == 404
    page = api(lb, "s1").get("/me").text
    assert "Not confirmed" in page and "not counted" in page and f"{lost['public']:.5f}" not in page
    assert api(lb, "s1").post("/api/selection", json={"ids": [lost["id"]]}).status_code == 409
