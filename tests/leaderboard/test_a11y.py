"""Accessibility in Debian's chromium: axe-core (axe-playwright-python; its axe.min.js ships inside the PyPI package
and is injected from disk) on every page, as a visitor, a student and the TA, before and after the close: no
serious or critical violation. At 390 px nothing scrolls sideways. Upload and final selection work with the
keyboard alone. Screenshots of every page at 1280 and 390 px go to ``.cache/screenshots/``.

Every request the browser makes is checked: only this loopback server is contacted (no network is needed).
"""
import json
import re
from datetime import timedelta

import pytest

from grader.leaderboard.app import create_app
from grader.leaderboard.service import Leaderboard
from grader.leaderboard.store import Store

from .conftest import CLOSES, SHOTS, Clock, LiveServer, csv_bytes, make_cfg, noisy_scores

pytestmark = pytest.mark.browser
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def site(key, key_path, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('a11y') / 'lb.sqlite3'}"
    clock = Clock()
    store = Store(url)
    lb = Leaderboard(make_cfg(key_path, url, rate_pages="10000/minute", rate_upload="10000/minute",
                              rate_login="10000/minute"), store=store, key=key, clock=clock, admin_token="admin-secret")
    roster = ("id,name,email,nickname\n"
              "b11901001,Alice Chen,alice@example.edu,\n"
              "b11901002,Bo-Yu Lin,bo@example.edu,Bobo\n"
              "b11901003,Chiara Rossi-Longname-Hyphenated-Double-Barrelled,chiara.rossi.longname@example.edu,\n"
              "b11901004,محمد علي,m@example.edu,محمد\n"
              "b11901005,Emeka Obi,e@example.edu,\u202eevil\n")
    tokens = {i.login: i.token for i in lb.import_roster(roster.encode()).issued}
    for j, login in enumerate(tokens):
        st = lb.authenticate(tokens[login])
        for k in range(1 + j % 3):
            name = f"a-rather-long-prediction-file-name-{k}.csv"
            lb.ack(lb.submit(st, name, csv_bytes(noisy_scores(key, 0.35 + 0.2 * j + 0.05 * k, 300 + 7 * j + k))).id)
        clock.advance(minutes=9)
    alice = lb.authenticate(tokens["b11901001"])
    lb.set_override(lb.authenticate(tokens["b11901002"]), daily_limit=8, by="TA Tom", note="lab machine broke")
    with LiveServer(create_app(lb)) as srv:
        yield srv, lb, clock, tokens["b11901001"], alice
    store.close()


def new_page(browser, srv, width: int, contacted: list):
    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="en-US", timezone_id="UTC")
    page = ctx.new_page()

    def note(request):
        if not request.url.startswith(srv.url) and not request.url.startswith("data:"):
            contacted.append(request.url)
    page.on("request", note)
    return ctx, page


def log_in(page, srv, token):
    page.goto(f"{srv.url}/login/{token}")
    page.click("#confirm-login")
    page.wait_for_url(re.compile(r"/me$"))


def log_in_ta(page, srv):
    page.goto(f"{srv.url}/admin/login")
    page.fill("#admin-token", "admin-secret")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin$"))


def serious(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}" for v in bad]


def pages(srv, lb, alice, identity: str) -> dict[str, str]:
    sid = lb.store.uploads.counted(alice.id)[-1].id
    common = {"board": "/", "error": "/nowhere"}
    if identity == "visitor":
        return {**common, "login": "/login", "login_link": None, "admin_login": "/admin/login"}
    if identity == "student":
        return {**common, "me": "/me", "submission": f"/submissions/{sid}"}
    return {**common, "admin": "/admin"}


@pytest.mark.parametrize("phase", ["open", "closed"])
def test_every_page_passes_axe_and_fits_390px(browser, site, phase):
    srv, lb, clock, token, alice = site
    clock.set(CLOSES + timedelta(minutes=5) if phase == "closed" else CLOSES - timedelta(days=2))
    problems, contacted = {}, []
    SHOTS.mkdir(parents=True, exist_ok=True)
    for identity in ("visitor", "student", "ta"):
        for width in WIDTHS:
            ctx, page = new_page(browser, srv, width, contacted)
            if identity == "student":
                log_in(page, srv, token)
            elif identity == "ta":
                log_in_ta(page, srv)
            for name, path in pages(srv, lb, alice, identity).items():
                page.goto(f"{srv.url}{path}" if path else f"{srv.url}/login/{token}")
                if name == "admin":
                    page.locator("details").first.evaluate("d => d.open = true")
                found = serious(page) if width == 1280 else []
                scroll = page.evaluate("document.documentElement.scrollWidth")
                if width == 390 and scroll > 390:
                    found.append(f"scrolls sideways: {scroll} px wide at 390 px")
                if found:
                    problems[f"{phase}/{identity}/{name}@{width}"] = found
                page.screenshot(path=str(SHOTS / f"{phase}_{identity}_{name}_{width}.png"), full_page=True)
            ctx.close()
    assert contacted == [], f"the pages asked for something else than this server: {contacted[:5]}"
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)


def tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching ``selector`` has the focus (as a keyboard user would)."""
    target = page.locator(selector)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            visible = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert visible != "none", f"{selector} has no visible focus outline"
            return
    raise AssertionError(f"{selector} cannot be reached with Tab")


def open_chooser_with_space(page, selector: str, tries: int = 3):
    """Space on the focused file input opens its chooser; pressed again (as a person would) if a slow browser shows
    none within 10 s, the focus still on ``selector``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    for _ in range(tries):
        assert page.locator(selector).evaluate("el => el === document.activeElement"), f"{selector} lost the focus"
        try:
            with page.expect_file_chooser(timeout=10_000) as chooser:
                page.keyboard.press("Space")
            return chooser.value
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"Space on {selector} opened no file chooser in {tries} tries")


def test_upload_and_selection_with_the_keyboard_only(browser, site, tmp_path):
    srv, lb, clock, token, alice = site
    clock.set(CLOSES - timedelta(days=1))
    ctx, page = new_page(browser, srv, 1280, [])
    log_in(page, srv, token)
    good = tmp_path / "keyboard.csv"
    good.write_bytes(csv_bytes(noisy_scores(lb.key, 0.6, 77)))
    tab_to(page, "#file")
    open_chooser_with_space(page, "#file").set_files(str(good))
    tab_to(page, "#upload")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/submissions/\d+$"))
    sid = int(page.url.rsplit("/", 1)[1])
    assert lb.store.uploads.get(sid).filename == "keyboard.csv"

    page.goto(f"{srv.url}/me")
    tab_to(page, f"#sel-{sid}")
    page.keyboard.press("Space")
    tab_to(page, "#save-selection")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert [s.id for s in lb.store.uploads.counted(alice.id) if s.selected] == [sid]
    assert page.locator(f"#sel-{sid}").is_checked()
    lb.select(alice, [])
    ctx.close()


def test_the_axe_run_finds_what_it_should(browser, site):
    """The check above can fail: the same run flags a page with an unlabelled input and low-contrast text."""
    srv = site[0]
    ctx, page = new_page(browser, srv, 1280, [])
    page.set_content('<html lang="en"><head><title>t</title></head><body><main><h1>x</h1>'
                     '<input type="text"><p style="color:#bbb;background:#fff">faint</p></main></body></html>')
    found = " ".join(serious(page))
    assert "label" in found and "color-contrast" in found
    ctx.close()
