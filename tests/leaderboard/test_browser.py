"""The student's path in a real browser: Debian's chromium driven by Playwright against uvicorn on loopback.

Log in with the link, upload a valid file and see the score, upload a broken file and see the message, see the
limit, and after the close time (the injected clock moves; nothing sleeps) see the private board. Screenshots go to
``.cache/screenshots/`` (``LEADERBOARD_SCREENSHOTS`` overrides) for the report.
"""
import re
from datetime import timedelta

import pytest

from grader.leaderboard.app import create_app
from grader.leaderboard.service import Leaderboard
from grader.leaderboard.store import Store

from .conftest import CLOSES, SHOTS, Clock, LiveServer, csv_bytes, make_cfg, noisy_scores

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(key, key_path, tmp_path_factory):
    """A competition with a few students and scored uploads, served on a free loopback port."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'lb.sqlite3'}"
    clock = Clock()
    store = Store(url)
    lb = Leaderboard(make_cfg(key_path, url), store=store, key=key, clock=clock, admin_token="admin-secret")
    names = ["Alice Chen", "Bo-Yu Lin", "Chiara Rossi", "Dmitri Volkov", "Emeka Obi", "Fatima Zahra"]
    roster = "id,name\n" + "".join(f"s{i},{n}\n" for i, n in enumerate(names))
    issued = lb.import_roster(roster.encode()).issued
    tokens = {i.name: i.token for i in issued}
    for j, name in enumerate(names[1:]):
        st = lb.authenticate(tokens[name])
        for k in range(1 + j % 3):
            lb.submit(st, f"try{k}.csv", csv_bytes(noisy_scores(key, 0.35 + 0.25 * j - 0.05 * k, seed=100 + 7 * j + k)))
        clock.advance(minutes=7)
    with LiveServer(create_app(lb)) as srv:
        yield srv, lb, clock, tokens["Alice Chen"]
    store.close()


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def test_student_journey_in_chromium(browser, site, key, tmp_path):
    srv, lb, clock, token = site
    # A student in Taipei: the page shows UTC and, through its script, the browser's local time.
    ctx = browser.new_context(viewport={"width": 1100, "height": 800}, timezone_id="Asia/Taipei", locale="en-US")
    page = ctx.new_page()
    page.goto(f"{srv.url}/login/{token}")
    page.click("#confirm-login")
    page.wait_for_url(re.compile(r"/me$"))
    assert page.locator("#limit").inner_text().startswith("5 of 5 uploads left today")
    # UTC times are also shown in the browser's local time by the page's script.
    assert page.locator("#limit .local").inner_text().strip() == "(Nov 11, 2026, 8:00 AM your time)"

    good = tmp_path / "prediction.csv"
    scores = noisy_scores(key, 0.7, seed=1)
    good.write_bytes(csv_bytes(scores))
    page.set_input_files("#file", str(good))
    page.click("#upload")
    page.wait_for_url(re.compile(r"/submissions/\d+$"))
    sid = int(page.url.rsplit("/", 1)[1])
    shown = page.locator("#public-score").inner_text()
    assert shown == f"{lb.store.uploads.get(sid).public:.5f}"
    assert page.locator("#private-score").count() == 0
    assert page.locator("img.roc").evaluate("img => img.complete && img.naturalWidth > 0")

    bad = tmp_path / "broken.csv"
    bad.write_text("ID,score\n0,0.5\n1,abc\n2,0.1\n")
    page.goto(f"{srv.url}/me")
    page.set_input_files("#file", str(bad))
    page.click("#upload")
    err = page.locator("#error").inner_text()
    assert "broken.csv: line 3, column 'score', ID 1: 'abc' is not a number" in err
    assert "not scored, not counted" in err
    assert page.locator("#left").inner_text() == "4"
    shot(page, "error_message.png")

    alice = lb.authenticate(token)
    for k in range(4):
        lb.submit(alice, f"more{k}.csv", csv_bytes(noisy_scores(key, 0.5 + 0.1 * k, seed=200 + k)))
    page.goto(f"{srv.url}/me")
    assert page.locator("#left").inner_text() == "0"
    page.set_input_files("#file", str(good))
    page.click("#upload")
    assert "Daily limit reached" in page.locator("#error").inner_text()
    assert page.locator("#submissions tbody tr").count() == 5

    page.goto(srv.url)
    assert page.locator("#public-board tr.me").count() == 1
    assert page.locator("#public-board .badge").count() == 4
    assert page.locator("#private-board").count() == 0
    shot(page, "board_public.png")

    clock.set(CLOSES + timedelta(minutes=1))
    page.goto(srv.url)
    private = page.locator("#private-board")
    assert private.locator("h2").inner_text() == "Private leaderboard (final)"
    assert private.locator("tbody tr").count() == 6 + 4
    assert private.locator("tr.me").count() == 1
    shot(page, "board_private.png")
    page.goto(f"{srv.url}/submissions/{sid}")
    assert page.locator("#private-score").inner_text() == f"{lb.store.uploads.get(sid).private:.5f}"
    assert "95% bootstrap intervals" in page.locator("#intervals").inner_text()
    shot(page, "submission_after_close.png")
    ctx.close()
