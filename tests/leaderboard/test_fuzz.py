"""schemathesis over every route of the app's OpenAPI schema (/api/openapi.json), with data that fits the schema
and data that does not, as a visitor, a student and the TA: no input may get a 500.

``make test`` runs a bounded set (``FAST`` examples per route and identity); ``make test-slow`` (and CI) adds the slow
run with ``SLOW`` examples. Both go through the whole ASGI stack (the Guard's limits, CSRF and authentication included).
"""
import atexit
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from common.answer_key import write_answer_key
from grader.leaderboard.app import create_app
from grader.leaderboard.service import Leaderboard
from grader.leaderboard.store import Store

from .conftest import Clock, csv_bytes, make_cfg, make_key, noisy_scores

FAST, SLOW = 6, 150


def _site():
    """A small competition with uploads by two students (module scope: schemathesis reads the schema at import)."""
    tmp = Path(tempfile.mkdtemp(prefix="lb_fuzz_"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    key = make_key()
    url = f"sqlite:///{tmp / 'lb.sqlite3'}"
    cfg = make_cfg(write_answer_key(key, tmp / "solution.csv"), url, daily_limit=100000, max_upload_bytes=64 << 10,
                   rate_login="100000/minute", rate_upload="100000/minute", rate_pages="100000/minute")
    lb = Leaderboard(cfg, store=Store(url), key=key, clock=Clock(), admin_token="admin-secret")
    tokens = {i.login: i.token for i in lb.import_roster(b"id,name\nalice,Alice\nbob,Bob\n").issued}
    for i, who in enumerate(("alice", "alice", "bob")):
        lb.ack(lb.submit(lb.authenticate(tokens[who]), f"f{i}.csv", csv_bytes(noisy_scores(key, 0.5, i))).id)
    return create_app(lb), tokens


APP, TOKENS = _site()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])

IDENTITIES = {"visitor": {}, "student": {"Authorization": f"Bearer {TOKENS['alice']}"},
              "ta": {"Authorization": "Bearer admin-secret"}}


def _check(case, who: str) -> None:
    response = case.call(headers=IDENTITIES[who])
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                        response.content[:500])
    assert b"Traceback" not in response.content


def test_the_schema_lists_every_route():
    paths = set(APP.fastapi.openapi()["paths"])
    for route in APP.fastapi.routes:
        if getattr(route, "include_in_schema", False):
            assert route.path in paths
    assert {"/api/submissions", "/api/selection", "/submit", "/select", "/login", "/admin/roster",
            "/submissions/{sid}/roc.png"} <= paths


@pytest.mark.parametrize("who", list(IDENTITIES))
@schema.parametrize()
@settings(max_examples=FAST, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
          database=None)
def test_no_input_gets_a_server_error(case, who):
    _check(case, who)


@pytest.mark.slow
@pytest.mark.parametrize("who", list(IDENTITIES))
@schema.parametrize()
@settings(max_examples=SLOW, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_input_gets_a_server_error_long_run(case, who):
    _check(case, who)
