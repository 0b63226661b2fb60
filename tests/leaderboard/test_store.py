"""Store and service rules, each run on SQLite and on a throwaway PostgreSQL cluster (``db_url`` is parametrised)."""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from grader.errors import SubmissionError
from grader.leaderboard import rules
from grader.leaderboard.roster import RosterError
from grader.leaderboard.service import NotFound, NotRevealed
from grader.leaderboard.store import Store, StoreError, hash_token
from grader.scoring import score_scores

from .conftest import CLOSES, csv_bytes, noisy_scores


def test_tokens_are_stored_hashed(lb):
    tok = lb.tokens["alice"]
    assert lb.authenticate(tok).login == "alice"
    assert lb.authenticate(tok + "x") is None and lb.authenticate("") is None and lb.authenticate(None) is None
    with lb.store.transaction() as c:
        stored = [r[0] for r in c.exec_driver_sql("SELECT token_hash FROM students")]
    assert tok not in stored and hash_token(tok) in stored


def logins(lb) -> set[str]:
    return {st.login for st in lb.store.accounts.all()}


def test_roster_import_is_all_or_nothing_and_skips_known(lb):
    with pytest.raises(RosterError, match="line 3, column 'name'"):
        lb.import_roster(b"id,name\ndave,Dave\nerin,\n")
    assert "dave" not in logins(lb)
    res = lb.import_roster("\ufeffid,name\r\nalice,Alice again\r\ndave,Dave D\r\n".encode())
    assert [i.login for i in res.issued] == ["dave"] and res.skipped == ["alice"] and res.updated == ["alice"]
    assert lb.authenticate(lb.tokens["alice"]).name == "Alice again"   # same token, roster's new name
    with pytest.raises(RosterError, match="also on line 2"):
        lb.import_roster(b"id,name\nx,X\nx,Y\n")
    with pytest.raises(RosterError, match="'login' is now called 'id'"):
        lb.import_roster(b"login,name\nx,X\n")
    res = lb.import_roster(b"id,name,grade\nx,X,A\n")                 # extra columns: ignored, with a note
    assert [i.login for i in res.issued] == ["x"] and "'grade'" in res.notes[0]


def test_store_rolls_back_a_failed_transaction(lb):
    before = logins(lb)
    with pytest.raises(StoreError, match="duplicate"):
        lb.store.accounts.sync([dict(login="zed", name="Zed", email="", token_hash=hash_token("t1")),
                                dict(login="alice", name="dup", email="", token_hash=hash_token("t2"))])
    assert logins(lb) == before                              # zed was not kept
    with pytest.raises(RuntimeError):
        with lb.store.transaction(write=True) as c:
            c.exec_driver_sql("DELETE FROM students")
            raise RuntimeError("boom")
    assert logins(lb) == before


def test_upload_scores_and_stores_the_exact_file(lb, key):
    alice = lb.users["alice"]
    scores = noisy_scores(key, 0.5, seed=1)
    data = csv_bytes(scores)
    v = lb.submit(alice, "pred.csv", data)
    expected = score_scores(scores, key)
    assert v.public == pytest.approx(expected.public, abs=1e-12)
    assert v.private is None                               # before close
    assert lb.download(alice, v.id) == ("pred.csv", data)
    stored = lb.store.uploads.get(v.id)
    assert stored.private == pytest.approx(expected.private, abs=1e-12)
    assert lb.store.backup.integrity_problems() == []


def test_invalid_upload_is_not_stored_and_not_counted(lb, key):
    alice = lb.users["alice"]
    bad = b"ID,score\n0,0.5\n1,abc\n"
    with pytest.raises(SubmissionError) as e:
        lb.submit(alice, "bad.csv", bad)
    assert e.value.line == 3 and e.value.column == "score"
    assert lb.store.uploads.counted(alice.id) == []
    assert lb.page(alice).left_today == 5


def test_daily_limit_counts_scored_uploads_per_utc_day(lb, key, clock):
    alice = lb.users["alice"]
    data = csv_bytes(noisy_scores(key, 1.0, seed=2))
    clock.set(clock().replace(hour=23, minute=50))
    for i in range(5):
        lb.submit(alice, f"{i}.csv", data)
    with pytest.raises(rules.LimitReached) as e:
        lb.submit(alice, "6.csv", data)
    assert e.value.resets_at == (clock() + timedelta(minutes=10))
    page = lb.page(alice)
    assert (page.used_today, page.left_today) == (5, 0)
    lb.submit(lb.users["bob"], "b.csv", data)              # the limit is per student
    clock.advance(minutes=10)                              # UTC midnight: a new day
    assert lb.page(alice).left_today == 5
    lb.submit(alice, "7.csv", data)
    assert len(lb.store.uploads.counted(alice.id)) == 6


def test_fifty_concurrent_uploads_at_the_limit_never_exceed_it(lb, key):
    """50 threads race one student's uploads: the limit holds under the student's lock."""
    alice = lb.users["alice"]
    lb.submit(alice, "first.csv", csv_bytes(noisy_scores(key, 1.0, seed=3)))   # 4 left
    data = csv_bytes(noisy_scores(key, 1.0, seed=4))

    def one(i):
        try:
            return lb.submit(alice, f"{i}.csv", data).id
        except rules.LimitReached:
            return None

    with ThreadPoolExecutor(50) as ex:
        results = list(ex.map(one, range(50)))
    assert sum(r is not None for r in results) == 4
    assert len(lb.store.uploads.counted(alice.id)) == 5
    assert lb.store.backup.integrity_problems() == []


def test_the_limit_is_a_students_own_and_counts_late_uploads(lb, key, clock):
    """The TA's per-student limit is the one applied, counted in the transaction that stores the upload (late
    uploads too); an id the database does not hold is refused, with nothing stored."""
    bob = lb.users["bob"]
    lb.set_override(bob, daily_limit=2, by="ta")
    bob = lb.store.accounts.get(bob.id)
    data = csv_bytes(noisy_scores(key, 1.0, seed=2))
    for day in (clock(), CLOSES):
        clock.set(day)
        lb.submit(bob, "a.csv", data)
        assert lb.submit(bob, "b.csv", data).left_today == 0
        with pytest.raises(rules.LimitReached):
            lb.submit(bob, "c.csv", data)
    with pytest.raises(StoreError):
        lb.submit(replace(bob, id=999999), "x.csv", data)
    assert [s.late for s in lb.store.uploads.counted()] == [False, False, True, True]


def test_closed_competition_scores_late_or_refuses_and_freezes_selection(lb, key, clock):
    alice = lb.users["alice"]
    v = lb.submit(alice, "a.csv", csv_bytes(noisy_scores(key, 1.0, seed=5)))
    clock.set(CLOSES)
    late = lb.submit(alice, "late.csv", csv_bytes(noisy_scores(key, 1.0, seed=6)))     # late_uploads: on
    assert late.late and not late.counts and late.private is not None
    lb.cfg.late_uploads = False
    with pytest.raises(rules.NotOpen, match="closed"):
        lb.submit(alice, "late2.csv", csv_bytes(noisy_scores(key, 1.0, seed=7)))
    assert [s.late for s in lb.store.uploads.counted(alice.id)] == [False, True]
    with pytest.raises(rules.SelectionError, match="frozen"):
        lb.select(alice, [v.id])


def test_selection_and_final_score(lb, key, clock):
    alice, bob = lb.users["alice"], lb.users["bob"]
    ids = [lb.submit(alice, f"{n}.csv", csv_bytes(noisy_scores(key, n, seed=10 + i))).id
           for i, n in enumerate([0.3, 0.6, 2.0])]
    bob_id = lb.submit(bob, "b.csv", csv_bytes(noisy_scores(key, 0.4, seed=20))).id
    with pytest.raises(rules.SelectionError, match="not one of yours"):
        lb.select(alice, [bob_id])
    with pytest.raises(rules.SelectionError, match="at most 2"):
        lb.select(alice, ids)
    assert lb.select(alice, [ids[2]]) == [ids[2]]
    page = lb.page(alice)
    assert [v.id for v in page.submissions if v.counts] == [ids[2]] and page.final_private is None
    clock.set(CLOSES + timedelta(seconds=1))
    page = lb.page(alice)
    assert page.final_private == pytest.approx(lb.store.uploads.get(ids[2]).private)
    row = next(r for r in lb.board("private") if r.student_id == alice.id)
    assert row.submission_id == ids[2]


def test_other_students_files_are_not_found(lb, key):
    alice, bob = lb.users["alice"], lb.users["bob"]
    v = lb.submit(alice, "a.csv", csv_bytes(noisy_scores(key, 1.0, seed=7)))
    for fn in (lb.download, lb.view, lb.roc_png, lb.intervals):
        with pytest.raises(NotFound):
            fn(bob, v.id)
        with pytest.raises(NotFound):
            fn(bob, v.id + 1000)


def test_private_board_only_after_close_and_reveal_intervals(lb, key, clock):
    alice = lb.users["alice"]
    v = lb.submit(alice, "a.csv", csv_bytes(noisy_scores(key, 0.5, seed=8)))
    with pytest.raises(NotRevealed):
        lb.board("private")
    assert lb.intervals(alice, v.id) is None
    assert [r.name for r in lb.board("public") if not r.baseline] == [lb.public_name(alice)]
    clock.set(CLOSES)
    board = lb.board("private")
    assert len(board) == 5 and sum(r.baseline for r in board) == 4
    iv = lb.intervals(alice, v.id, n_boot=50)
    stored = lb.store.uploads.get(v.id)
    for split in ("public", "private"):
        lo, hi = iv[split]
        assert lo <= getattr(stored, split) <= hi and hi - lo < 0.5


def test_exports_and_probing(lb, key):
    alice, bob = lb.users["alice"], lb.users["bob"]
    lb.cfg.daily_limit = 100
    # Bob probes: each upload swaps one adjacent (anomaly below normal) pair of public rows: +1/(P*N) public AUC.
    s = noisy_scores(key, 3.0, seed=9)
    pub = np.flatnonzero(key.public)
    for k in range(7):
        lb.submit(bob, f"p{k}.csv", csv_bytes(s))
        order = pub[np.argsort(s[pub])]
        j = next(j for j in range(len(order) - 1) if key.labels[order[j]] == 1 and key.labels[order[j + 1]] == 0)
        s[order[j]], s[order[j + 1]] = s[order[j + 1]], s[order[j]]
    lb.submit(alice, "a.csv", csv_bytes(noisy_scores(key, 0.2, seed=1)))
    flags = lb.probing(tiny=0.01, min_steps=3)
    assert [st.login for st, f in flags] == ["bob"]
    lines = lb.export_leaderboard_csv().splitlines()
    assert lines[0].startswith("id,name,email,lms_id,public_name,n_submissions,n_late,best_public")
    rows = {ln.split(",")[0]: ln.split(",") for ln in lines[1:]}
    assert rows["alice"][5] == "1" and rows["alice"][9] == "1" and rows["carol"][5] == "0"
    assert rows["bob"][-1] == "small-diff ×6" and rows["alice"][-1] == ""   # each upload: 2 rows swapped
    bl = lb.export_baselines_csv().splitlines()
    assert bl[0] == ("id,name,best_public,final_private,simple_public,medium_public,strong_public,boss_public,"
                     "simple_private,medium_private,strong_private,boss_private")
    alice_row = next(x for x in bl if x.startswith("alice,")).split(",")
    best = float(alice_row[2])
    assert alice_row[4:8] == [str(int(best >= t)) for t in (0.55, 0.70, 0.80, 0.90)]
    assert next(x for x in bl if x.startswith("carol,")).endswith("0,0,0,0,0,0,0,0")


def test_integrity_check_detects_a_corrupted_file(lb, key):
    v = lb.submit(lb.users["alice"], "a.csv", csv_bytes(noisy_scores(key, 1.0, seed=11)))
    with lb.store.transaction(write=True) as c:
        c.exec_driver_sql(f"UPDATE submissions SET sha256 = 'x' WHERE id = {v.id}")
    assert lb.store.backup.integrity_problems() == [f"submission {v.id}: stored file does not match its sha256"]


def test_store_is_a_context_manager(db_url):
    with Store(db_url) as s:
        assert s.accounts.all() == []


def test_board_candidates_give_the_same_boards_as_every_row(lb):
    """The database's pre-selection (window functions) must not change any board: random scores with many ties,
    random times and random marks, on both backends."""
    rng = np.random.default_rng(3)
    ids = [st.id for st in lb.store.accounts.all()]
    t0 = lb.now()
    rows = []
    for sid in ids:
        for k in range(int(rng.integers(1, 12))):
            rows.append(dict(student_id=sid, submitted_at=t0 - timedelta(minutes=int(rng.integers(0, 50))),
                             data=b"x", public=float(rng.integers(0, 6)) / 5, private=float(rng.integers(0, 6)) / 5,
                             selected=bool(rng.random() < 0.15)))
    lb.store.uploads.add_bulk(rows)
    names = {st.id: st.name for st in lb.store.accounts.all()}
    every = lb.store.uploads.counted()
    for max_sel in (1, 2, 3):
        read = lb.store.boards.read(None, (), max_sel)        # a full read: every student's candidates
        assert read.full and len(read.rows) < len(every)
        for split in ("public", "private"):
            full = rules.build_board(names, every, {}, split=split, max_selected=max_sel)
            fast = rules.build_board(names, read.rows, {}, split=split, max_selected=max_sel, counts=read.counts)
            assert fast == full


def test_roc_curve_shows_only_the_public_rows_before_close(lb, key, clock):
    """The PNG is an image, so the text crawl in test_api cannot see into it: compare it with the figure drawn
    from the public rows alone (Agg output is deterministic)."""
    from grader.leaderboard import plots
    alice = lb.users["alice"]
    scores = noisy_scores(key, 0.8, seed=12)
    v = lb.submit(alice, "a.csv", csv_bytes(scores))
    public_only = plots.roc_png({"public": (key.labels[key.public], scores[key.public])}, title=f"Submission {v.id}")
    assert lb.roc_png(alice, v.id) == public_only
    clock.set(CLOSES)
    assert lb.roc_png(alice, v.id) != public_only


def test_a_database_of_the_first_layout_is_brought_up_to_date(tmp_path):
    """The first release kept the file in ``submissions.content`` and had no roster, override or ack columns:
    opening such a database adds the columns and moves the files, keeping every row."""
    import sqlite3
    import zlib
    path = tmp_path / "old.sqlite3"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE students (id INTEGER PRIMARY KEY, login VARCHAR(128) NOT NULL UNIQUE, name VARCHAR(256) NOT NULL,
            email VARCHAR(256) NOT NULL, token_hash VARCHAR(64) NOT NULL UNIQUE, created_at DATETIME NOT NULL);
        CREATE TABLE submissions (id INTEGER PRIMARY KEY, student_id INTEGER NOT NULL REFERENCES students (id),
            submitted_at DATETIME NOT NULL, day DATE NOT NULL, filename VARCHAR(256) NOT NULL, size INTEGER NOT NULL,
            sha256 VARCHAR(64) NOT NULL, content BLOB NOT NULL, public FLOAT NOT NULL, private FLOAT NOT NULL,
            selected BOOLEAN NOT NULL);
        CREATE TABLE meta (id INTEGER PRIMARY KEY, version INTEGER NOT NULL);
        INSERT INTO meta VALUES (1, 7);
    """)
    data = b"ID,score\n0,0.5\n"
    con.execute("INSERT INTO students VALUES (1, 'b01', 'Ann', '', ?, '2026-11-01 00:00:00')", (hash_token("tok"),))
    con.execute("INSERT INTO submissions VALUES (1, 1, '2026-11-02 10:00:00', '2026-11-02', 'a.csv', ?, ?, ?, "
                "0.7, 0.6, 1)", (len(data), __import__("hashlib").sha256(data).hexdigest(), zlib.compress(data)))
    con.commit()
    con.close()
    with Store(f"sqlite:///{path}") as s:
        assert s.uploads.content(1) == data and s.backup.integrity_problems() == []
        (sub,) = s.uploads.counted()
        assert (sub.public, sub.selected, sub.late) == (0.7, True, False)
        st = s.accounts.by_token_hash(hash_token("tok"))
        assert (st.login, st.nickname, st.deadline) == ("b01", "", None)
        assert len(s.secret()) == 32 and s.version() == 7
