"""The upload path's faster parts give the answers of the plain versions they replaced: the signals' fingerprint
(one sort) against np.unique + np.array_split + scipy's rankdata, the in-memory rate limiter against a moving
window written out, the guard's route table against matching every route. Speed itself is measured by
``benchmarks/leaderboard_load.py``, not here."""
import hashlib

import numpy as np
import pytest
from scipy.stats import rankdata

from grader.leaderboard.guard import RateLimits
from grader.leaderboard.signals import BLOCKS, fingerprint, sample_rows
from grader.leaderboard.store import Fingerprint


def reference_fingerprint(scores: np.ndarray) -> Fingerprint:
    """The definition: np.unique's dense ranks and counts; for each of np.array_split's blocks a blake2b of its IDs
    sorted by score (stable) and of which neighbours tie; scipy's mid-ranks of the sampled rows scaled to
    0..65535."""
    scores = np.ascontiguousarray(scores, dtype="<f8")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    rank_sha = hashlib.sha256(inverse.astype("<i4").tobytes()).hexdigest()
    sketch = b""
    for ids in np.array_split(np.arange(len(scores)), BLOCKS):
        ids = ids[np.argsort(scores[ids], kind="stable")]
        ties = scores[ids][1:] == scores[ids][:-1]
        sketch += hashlib.blake2b(ids.astype("<i4").tobytes() + ties.tobytes(), digest_size=8).digest()
    ranks = rankdata(scores) - 1
    sample = np.round(ranks[sample_rows(len(scores))] / max(len(scores) - 1, 1) * 65535).astype("<u2")
    return Fingerprint(rank_sha, int(len(counts)), float(counts.max() / len(scores)), sketch + sample.tobytes())


def cases():
    rng = np.random.default_rng(7)
    yield "normal", rng.standard_normal(20_000)
    yield "rounded (many ties)", np.round(rng.standard_normal(20_000), 2)
    yield "constant", np.zeros(20_000)
    yield "one row differs", np.r_[np.zeros(19_999), 1.0]
    yield "three values", rng.integers(0, 3, 20_000).astype(float)
    yield "signed zeros", np.array([-0.0, 0.0, 1.0] * 50)
    yield "huge and tiny", np.array([1e308, -1e308, 5e-324, -5e-324, 0.0] * 40)
    for n in (1, 7, 63, 64, 65, 129):
        yield f"{n} rows", rng.standard_normal(n)


@pytest.mark.parametrize("name,scores", list(cases()), ids=[c[0] for c in cases()])
def test_fingerprint_equals_its_definition(name, scores):
    assert fingerprint(scores) == reference_fingerprint(scores)


def test_fingerprint_keeps_the_row_order_of_a_copy_apart():
    rng = np.random.default_rng(1)
    a = rng.standard_normal(1000)
    assert fingerprint(a).rank_sha == fingerprint(3 * a + 1).rank_sha          # same ranking: same hash
    assert fingerprint(a).rank_sha != fingerprint(a[::-1].copy()).rank_sha
    b = a + 1e-9                                                               # the same order: no block differs
    b[500] = a.max() + 1                                                       # one row reordered: one block
    sa, sb = fingerprint(a).sketch, fingerprint(b).sketch
    assert sum(sa[i:i + 8] != sb[i:i + 8] for i in range(0, 8 * BLOCKS, 8)) == 1


def moving_window_reference(times: list[float], now: float, amount: int, window: float) -> int | None:
    recent = [t for t in times if t > now - window]
    if len(recent) < amount:
        return None
    return max(1, int(recent[-amount] + window - now) + 1)


def test_rate_limits_follow_a_moving_window():
    now = [1000.0]
    rates = RateLimits({"upload": "3/minute", "login": "2/second"}, clock=lambda: now[0])
    rng = np.random.default_rng(3)
    hits: dict[tuple[str, str], list[float]] = {}
    for _ in range(3000):
        now[0] += float(rng.exponential(8.0))
        name, who = ("upload", "login")[rng.integers(2)], f"s{rng.integers(4)}"
        amount, window = {"upload": (3, 60.0), "login": (2, 1.0)}[name]
        expected = moving_window_reference(hits.get((name, who), []), now[0], amount, window)
        assert rates.retry_after(name, who) == expected
        if expected is None:
            rates.hit(name, who)
            hits.setdefault((name, who), []).append(now[0])


def test_rate_limits_forget_idle_clients():
    now = [0.0]
    rates = RateLimits({"login": "5/minute"}, clock=lambda: now[0])
    for i in range(RateLimits.SWEEP_EVERY * 3):
        now[0] += 0.1
        rates.hit("login", f"10.0.{i // 256}.{i % 256}")      # every address once, as a scan would
    assert len(rates.hits) <= RateLimits.SWEEP_EVERY            # the ones older than a minute are gone
    assert rates.retry_after("login", "10.0.0.0") is None


def test_route_table_gives_the_matching_routes_policy(lb):
    from grader.leaderboard.app import create_app

    guard = create_app(lb)
    fixed = guard._fixed_routes()
    assert ("POST", "/api/submissions") in fixed and ("GET", "/") in fixed
    for (method, path), pol in fixed.items():
        assert pol == guard._match({"type": "http", "method": method, "path": path, "root_path": ""})
    assert fixed[("POST", "/login")] != fixed[("GET", "/login")]             # per method, not per path
    assert guard.policy_of({"type": "http", "method": "POST", "path": "/api/submissions",
                            "root_path": ""}).auth == "student"


def _drop_connections(pg_cluster, url: str) -> int:
    """Terminate every server connection to ``url``'s database, as a database restart would."""
    import psycopg
    db = url.rsplit("/", 1)[1]
    with psycopg.connect(f"host=127.0.0.1 port={pg_cluster.port} user=postgres dbname=postgres",
                         autocommit=True) as c:
        return len(c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                             (db,)).fetchall())


@pytest.mark.postgres
def test_postgres_connection_dropped_while_idle_is_replaced_before_use(pg_cluster):
    from sqlalchemy.exc import DBAPIError

    from grader.leaderboard.store import Store

    url = pg_cluster.new_database()
    with Store(url, ping_idle=0.0) as store:           # every idle connection is checked before use
        version = store.version()
        assert _drop_connections(pg_cluster, url) >= 1
        assert store.version() == version                # the dead one failed its check; a new one answered
    with Store(url, ping_idle=3600.0) as store:        # connections in steady use are not checked ...
        version = store.version()
        assert _drop_connections(pg_cluster, url) >= 1
        with pytest.raises(DBAPIError):                  # ... so one request fails on a dead one,
            store.version()
        assert store.version() == version                # and the renewed pool serves the next
