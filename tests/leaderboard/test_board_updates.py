"""Boards kept up to date incrementally (``Leaderboard._versioned`` / ``store.boards.read``) equal boards rebuilt from
scratch, step by step, through random uploads, acknowledgements, selections, extensions, roster imports, the close
and the grace time, written by two server processes (two stores on one database), on SQLite and on PostgreSQL."""
from datetime import timedelta

import numpy as np
import pytest

from grader.leaderboard import rules
from grader.leaderboard.display import public_names
from grader.leaderboard.service import Leaderboard, NotRevealed
from grader.leaderboard.store import Store
from grader.leaderboard.store.schema import changes

from .conftest import CLOSES, Wall, csv_bytes, make_cfg, noisy_scores


class Reads:
    """Counts the full and the partial reads a store answers (so that a test knows the incremental path ran)."""

    def __init__(self, store: Store):
        self.full = self.partial = 0
        inner = store.boards.read

        def counted(*a, **kw):
            read = inner(*a, **kw)
            if read.full:
                self.full += 1
            elif read.reread:
                self.partial += 1
            return read
        store.boards.read = counted


def reference(lb: Leaderboard, store: Store, split: str):
    """The board from every counted row, without any cache: ``split`` as the service would show it now."""
    students = store.accounts.all()
    names = public_names(students, lb.secret)
    every = store.uploads.counted()
    if split == "late":
        return rules.build_late_board(names, [s for s in every if s.late])
    if split == "private":
        now = lb.now()
        pending = {st.id for st in students if st.deadline is not None and now < st.deadline}
        every = [s for s in every if s.student_id not in pending]
    return rules.build_board(names, every, lb.cfg.baselines, split=split, max_selected=lb.cfg.final_selections)


def shown(lb: Leaderboard, split: str):
    try:
        return lb.board(split)
    except NotRevealed:
        return None


@pytest.mark.parametrize("seed", [0, 1])
def test_incremental_boards_equal_a_rebuild_at_every_step(db_url, key, key_path, clock, seed):
    rng = np.random.default_rng(seed)
    wall = Wall()
    cfg = make_cfg(key_path, db_url, daily_limit=1000, late_uploads=True)
    stores = [Store(db_url, wall=wall) for _ in range(3)]     # two server processes and a fresh reader
    a, b = (Leaderboard(cfg, store=s, key=key, clock=clock) for s in stores[:2])
    reads = [Reads(s) for s in stores[:2]]
    a.import_roster(b"id,name\n" + b"".join(b"s%d,Student %d\n" % (i, i) for i in range(6)))
    # Few distinct files: students tie on score (and, with the clock standing still, on time too).
    files = [csv_bytes(noisy_scores(key, noise, seed=i)) for i, noise in enumerate([0.4, 0.6, 0.6, 0.9, 1.2])]
    unacked: list[tuple[Leaderboard, int, float]] = []
    closed_at_step = int(rng.integers(40, 70))
    n_compared, stale = 0, False
    try:
        for step in range(110):
            lb = (a, b)[int(rng.integers(2))]
            who = lb.store.accounts.all()
            st = who[int(rng.integers(len(who)))]
            op = rng.choice(["upload", "upload", "upload", "select", "extend", "tick", "grace", "ack", "roster"])
            if step == closed_at_step:
                clock.set(CLOSES + timedelta(minutes=1))
                op = "tick"
            writes = True
            if op == "upload":
                try:
                    v = lb.submit(lb.store.accounts.get(st.id), "p.csv", files[int(rng.integers(len(files)))])
                except rules.RuleViolation:
                    continue
                if rng.random() < 0.8:
                    lb.ack(v.id)
                else:
                    unacked.append((lb, v.id, wall.t))
            elif op == "select":
                mine = [s.id for s in lb.store.uploads.counted(st.id) if not s.late]
                pick = [i for i in mine if rng.random() < 0.3][:cfg.final_selections]
                try:
                    lb.select(lb.store.accounts.get(st.id), pick)
                except rules.RuleViolation:      # after the deadline, selections are frozen
                    continue
            elif op == "extend":
                until = None if rng.random() < 0.3 else CLOSES + timedelta(hours=int(rng.integers(-2, 48)))
                lb.set_override(st, deadline=until, by="ta")
            elif op == "tick":          # time passes: extensions end, nothing is written
                clock.advance(hours=int(rng.integers(0, 12)))
                writes = False
            elif op == "grace":         # an unacknowledged upload's grace time ends (a killed server)
                wall.t += 31
                writes = False
            elif op == "ack" and unacked:   # the acknowledgement comes, maybe after the grace time
                owner, sid, at = unacked.pop(int(rng.integers(len(unacked))))
                owner.ack(sid)
                writes = False
                late_ack = wall.t >= at + owner.store.ack_grace
            elif op == "roster":
                a.import_roster(b"id,name\nn%d,New %d\n" % (step, step))
            else:
                continue
            if not writes:
                # Time passing, the end of a grace time and an acknowledgement change no version: the boards
                # follow them, except an acknowledgement after the grace time (then the next write shows it).
                stale = stale or (op == "ack" and late_ack)
                if stale:
                    continue
            stale = False
            fresh = Leaderboard(cfg, store=stores[2], key=key, clock=clock)      # an empty cache: a full read
            for lbx in [(a, b)[int(rng.integers(2))]] if rng.random() < 0.5 else [a, b]:
                for split in ("public", "private", "late"):
                    got = shown(lbx, split)
                    assert got == shown(fresh, split), (step, op, split)
                    if got is not None:
                        assert got == reference(lbx, stores[2], split), (step, op, split)
                        n_compared += 1
    finally:
        for s in stores:
            s.close()
    # The incremental path really ran, and the full one too (roster imports, overrides).
    assert all(r.partial >= 15 and r.full >= 2 for r in reads), [(r.partial, r.full) for r in reads]
    assert n_compared >= 100


def test_gaps_in_the_change_log_fall_back_to_a_full_read(lb, key, clock):
    """Versions the log no longer holds (pruned, a restored database, a server of an older version) or too many
    students to read: the next read is a full one, and the boards stay right."""
    other = Store(lb.store.url)
    try:
        writer = Leaderboard(lb.cfg, store=other, key=key, clock=clock)
        reads = Reads(lb.store)
        alice, bob = lb.users["alice"], lb.users["bob"]
        first = lb.submit(alice, "a.csv", csv_bytes(noisy_scores(key, 1.5, seed=1)))
        lb.ack(first.id)
        lb.board("public")
        writer.ack(writer.submit(bob, "b.csv", csv_bytes(noisy_scores(key, 0.2, seed=2))).id)
        full, partial = reads.full, reads.partial
        lb.board("public")
        assert (reads.full, reads.partial) == (full, partial + 1)          # one student read again
        better = writer.submit(alice, "c.csv", csv_bytes(noisy_scores(key, 0.1, seed=3)))
        writer.ack(better.id)
        assert better.public > first.public
        with other.transaction(write=True) as c:                          # the log lost that version
            c.execute(changes.delete())
        board = lb.board("public")
        assert reads.full == full + 1
        assert better.id in [r.submission_id for r in board]                # alice's new best is on it
        assert board == Leaderboard(lb.cfg, store=other, key=key, clock=clock).board("public")
        # More students to read than the limit: a full read as well.
        writer.ack(writer.submit(bob, "d.csv", csv_bytes(noisy_scores(key, 0.05, seed=4))).id)
        read = lb.store.boards.read(lb._cache["version"], (), 2, max_students=0)
        assert read.full and read.version == other.version()
    finally:
        other.close()


def test_rank_board_does_not_depend_on_the_order_of_standings():
    """Ties on score and time go to the lower submission id whatever order the standings come in (a board kept
    up to date holds them in another order than a rebuild)."""
    from datetime import datetime, timezone
    t = datetime(2026, 11, 10, tzinfo=timezone.utc)
    subs = [rules.Submission(i, 10 + i % 4, t, 0.5 + 0.1 * (i % 2), 0.7, False, "", False) for i in range(8)]
    st = list(rules.standings(subs, 2).values())
    names = {10: "A", 11: "B", 12: "C", 13: "D"}
    boards = {tuple(rules.rank_board(names, order, {}, split=split))
              for split in ("public",) for order in (st, st[::-1], st[1:] + st[:1])}
    assert len(boards) == 1
    (board,) = boards
    assert [r.name for r in board] == ["B", "D", "A", "C"]   # 0.6: ids 1, 3; then 0.5: ids 0, 2
