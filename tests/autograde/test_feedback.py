"""Feedback pages that help and leak nothing, attacked through the page a student (or the TA's formgrader) opens.

A graded notebook whose student outputs and markdown carry scripts, event handlers, ``javascript:`` links,
iframes, a typed hidden-test marker, host paths and a 3 MB output goes through the feedback preprocessor and
nbconvert's HTML exporter as ``feedback_config`` sets them up; Debian's chromium then opens the page: no dialog,
no request beyond what an empty notebook's page makes, no hidden assertion text, no host path.
"""
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from traitlets.config import Config

from grader.autograde.feedback import FAILURE_MESSAGE, feedback_config, hide_hidden_tests_preprocessor

HOST = "/srv/course-secret/grading-data"
HIDDEN_ASSERTION = "copies of test images do not score like their rows (rank correlation -0.01)"
ATTACKS = [
    '<script>alert("script")</script>',
    '<img src="x" onerror="alert(\'onerror\')">',
    '<a href="javascript:alert(\'link\')">click</a>',
    '<iframe src="https://attacker.invalid/frame"></iframe>',
    '<svg onload="alert(\'svg\')"><circle r="4"/></svg>',
    '<img src="https://attacker.invalid/pixel.png">',
]


def _nb(meta_grade: str = "test_scores") -> nbformat.NotebookNode:
    answer = new_code_cell("scores = model_scores()\n# ### BEGIN HIDDEN TESTS typed in my own comment\n",
                           metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "answer",
                                                  "locked": False, "schema_version": 3}})
    answer.outputs = [new_output("display_data", data={"text/html": "\n".join(ATTACKS), "text/plain": "x"}),
                      new_output("display_data", data={"application/javascript": 'alert("js output")'}),
                      new_output("stream", name="stdout", text=f"loaded {HOST}/trainingset.npy\n" + "y" * 3_000_000)]
    test = new_code_cell(f"assert scores is not None\n### BEGIN HIDDEN TESTS\nassert False, {HIDDEN_ASSERTION!r}\n"
                         "### END HIDDEN TESTS\n",
                         metadata={"nbgrader": {"solution": False, "grade": True, "grade_id": meta_grade,
                                                "points": 2, "locked": True, "schema_version": 3}})
    test.outputs = [new_output("error", ename="AssertionError", evalue=HIDDEN_ASSERTION,
                               traceback=[f'File "{HOST}/x.py", line 3', f"AssertionError: {HIDDEN_ASSERTION}"])]
    md = new_markdown_cell("My notes: " + " ".join(ATTACKS) + " [link](javascript:alert('md'))",
                           metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "notes",
                                                  "locked": False, "schema_version": 3}})
    return new_notebook(cells=[md, answer, test], metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                           "display_name": "Python 3"}})


def render(nb, **traits) -> str:
    """The feedback page of ``nb``: the feedback preprocessor, then the HTML exporter as feedback_config sets
    them (the grade summary's GetGrades needs a gradebook and is left out)."""
    from nbconvert import HTMLExporter
    entries = feedback_config([HOST])
    cfg = Config()
    for key, value in {**entries, **{f"HideHiddenTests.{k}": v for k, v in traits.items()}}.items():
        cls, _, trait = key.partition(".")
        cfg[cls][trait] = value
    nb, resources = hide_hidden_tests_preprocessor()(config=cfg).preprocess(nb, {})
    exporter = HTMLExporter(config=cfg, template_name="classic")
    assert exporter.sanitize_html
    html, _ = exporter.from_notebook_node(nb, resources)
    return html


def test_a_failed_hidden_test_shows_its_name_and_the_tas_message_only():
    html = render(_nb())
    assert HIDDEN_ASSERTION not in html and "rank correlation" not in html
    assert "test_scores failed" in html and FAILURE_MESSAGE.split(":")[0] in html
    assert "BEGIN HIDDEN TESTS\nassert False" not in html
    custom = render(_nb(), failure_messages={"test_scores": "Your scores do not separate the hidden probes."})
    assert "Your scores do not separate the hidden probes." in custom and HIDDEN_ASSERTION not in custom


def test_a_marker_typed_by_a_student_cannot_break_the_page():
    # A student's own cell with an unmatched BEGIN marker used to stop nbgrader's preprocessor (no page at all).
    html = render(_nb())
    assert "typed in my own comment" in html


def test_no_host_path_and_capped_sizes():
    html = render(_nb())
    assert HOST not in html and "course-secret" not in html
    assert len(html) < 1_000_000, len(html)
    assert "more characters left out of this page" in html


class _Elements(HTMLParser):
    """Every element of a page as (tag, attributes), and the text inside its scripts."""

    def __init__(self, html: str):
        super().__init__()
        self.elements, self.scripts, self._in_script = [], [], False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def dangerous(html: str) -> list[str]:
    """What in ``html`` would run or load something: handlers, javascript: URLs, iframes, planted scripts and
    sources (escaped text such as ``&lt;img onerror=...&gt;`` is inert and not counted)."""
    page = _Elements(html)
    found = [f"<{tag} {name}>" for tag, attrs in page.elements for name in attrs if name.lower().startswith("on")]
    found += [f"<{tag} {name}={value}>" for tag, attrs in page.elements for name, value in attrs.items()
              if value and (value.strip().lower().startswith("javascript:") or "attacker.invalid" in value)]
    found += [f"<{tag}>" for tag, _ in page.elements if tag in ("iframe", "object", "embed")]
    found += [f"script: {text[:40]}" for text in page.scripts if "alert(" in text]
    return found


def test_outputs_and_markdown_are_sanitised_in_the_markup():
    assert dangerous(render(_nb())) == []


def test_the_markup_check_can_fail():
    from nbconvert import HTMLExporter
    html, _ = HTMLExporter(template_name="classic").from_notebook_node(_nb())
    assert len(dangerous(html)) >= 5


def test_the_page_runs_nothing_in_chromium(browser, tmp_path):
    """Opened as a student would open it: no dialog, no request beyond an empty notebook's page."""
    def visit(html: str) -> tuple[list[str], list[str]]:
        page_file = tmp_path / f"page{len(list(tmp_path.iterdir()))}.html"
        page_file.write_text(html, encoding="utf-8")
        page = browser.new_page()
        dialogs, requests = [], []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: requests.append(r.url))
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                   else route.abort())
        page.goto(page_file.as_uri())
        page.wait_for_timeout(500)
        for selector in ("a", "img", "svg"):        # hover and click whatever the page offers
            for el in page.query_selector_all(selector)[:20]:
                try:
                    el.click(timeout=200, no_wait_after=True)
                except Exception:  # noqa: BLE001 - hidden or detached elements are not clickable; that is fine
                    pass
        page.close()
        return dialogs, requests

    _, baseline = visit(render(new_notebook()))
    dialogs, requests = visit(render(_nb()))
    assert dialogs == []
    extra = [u for u in requests if u not in baseline and not u.startswith("file:")]
    assert extra == [], extra


def test_the_check_can_fail(browser, tmp_path):
    """Without the sanitiser the same page does raise dialogs: the browser test sees an attack when there is one."""
    from nbconvert import HTMLExporter
    html, _ = HTMLExporter(template_name="classic").from_notebook_node(_nb())
    page_file = tmp_path / "raw.html"
    page_file.write_text(html, encoding="utf-8")
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
    page.goto(page_file.as_uri())
    page.wait_for_timeout(500)
    page.close()
    assert dialogs, "an unsanitised page should have run the planted scripts"


def test_the_course_config_sanitises_the_tas_formgrader_too():
    from traitlets.config.loader import PyFileConfigLoader
    root = Path(__file__).resolve().parents[2] / "assignments"
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    assert cfg.HTMLExporter.sanitize_html is True
