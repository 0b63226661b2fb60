"""Pure rule functions: day boundary, limit, final selection, board order with baselines, probing flags."""
from datetime import datetime, timedelta, timezone

import pytest

from grader.competition import Baseline
from grader.leaderboard import rules
from grader.leaderboard.rules import Submission

UTC = timezone.utc
T = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def sub(i, student, public, private, minutes=0, selected=False):
    return Submission(i, student, T + timedelta(minutes=minutes), public, private, selected)


def test_day_boundary_is_utc_midnight():
    late = datetime(2026, 11, 10, 23, 59, 59, tzinfo=UTC)
    assert rules.utc_day(late).isoformat() == "2026-11-10"
    assert rules.next_reset(late) == datetime(2026, 11, 11, tzinfo=UTC)
    # 01:00 in UTC+8 on the 11th is still the 10th in UTC: the limit counts UTC days, not the student's.
    taipei = datetime(2026, 11, 11, 1, 0, tzinfo=timezone(timedelta(hours=8)))
    assert rules.utc_day(taipei).isoformat() == "2026-11-10"
    times = [late, late - timedelta(hours=23), late + timedelta(seconds=1)]
    assert rules.used_today(times, late) == 2


def test_check_open_and_daily_limit():
    opens, closes = T - timedelta(days=1), T + timedelta(days=1)
    assert rules.check_open(now=T, opens_at=opens, closes_at=closes) is False
    rules.check_daily_limit(now=T, used=4, limit=5)
    with pytest.raises(rules.LimitReached) as e:
        rules.check_daily_limit(now=T, used=5, limit=5)
    assert e.value.resets_at == datetime(2026, 11, 11, tzinfo=UTC) and "2026-11-11 00:00 UTC" in str(e.value)
    with pytest.raises(rules.NotOpen, match="closed"):
        rules.check_open(now=closes, opens_at=opens, closes_at=closes)
    with pytest.raises(rules.NotOpen, match="opens"):
        rules.check_open(now=opens - timedelta(seconds=1), opens_at=opens, closes_at=closes)
    assert rules.uploads_left(7, 5) == 0 and rules.uploads_left(2, 5) == 3


def test_auto_selection_is_best_public_and_ties_go_to_earlier():
    subs = [sub(1, 1, 0.80, 0.70, 0), sub(2, 1, 0.85, 0.60, 1), sub(3, 1, 0.80, 0.90, 2), sub(4, 1, 0.70, 0.99, 3)]
    chosen = rules.effective_selection(subs, 2)
    assert [s.id for s in chosen] == [2, 1]          # 0.85, then the earlier of the two 0.80s
    assert rules.final_submission(subs, 2).id == 1   # best private among {2, 1}: 0.70 — not 0.99 of an unselected
    assert rules.final_submission([], 2) is None


def test_marked_selection_overrides_auto_and_final_is_best_private():
    subs = [sub(1, 1, 0.90, 0.70, 0), sub(2, 1, 0.60, 0.80, 1, selected=True), sub(3, 1, 0.50, 0.85, 2, True)]
    assert [s.id for s in rules.effective_selection(subs, 2)] == [2, 3]
    assert rules.final_submission(subs, 2).id == 3
    tie = [sub(1, 1, 0.9, 0.8, 5, True), sub(2, 1, 0.9, 0.8, 1, True)]
    assert rules.final_submission(tie, 2).id == 2     # equal private: the earlier submission


def test_check_selection():
    assert rules.check_selection([3, 1, 3], owned=[1, 2, 3], max_selected=2) == [1, 3]
    with pytest.raises(rules.SelectionError, match="at most 2"):
        rules.check_selection([1, 2, 3], owned=[1, 2, 3], max_selected=2)
    with pytest.raises(rules.SelectionError, match="Submission 9 is not one of yours"):
        rules.check_selection([9], owned=[1, 2], max_selected=2)
    assert rules.check_selection([], owned=[1], max_selected=2) == []


def test_boards_rank_students_with_baselines_in_place():
    baselines = {"simple": Baseline("simple", 0.6, 0.6), "strong": Baseline("strong", 0.8, 0.75)}
    subs = [sub(1, 10, 0.80, 0.70, 0), sub(2, 20, 0.80, 0.90, 1), sub(3, 30, 0.50, 0.76, 2),
            sub(4, 10, 0.65, 0.95, 3)]
    names = {10: "A", 20: "B", 30: "C", 40: "D (no uploads)"}
    pub = rules.build_board(names, subs, baselines, split="public", max_selected=2)
    # A and B tie at 0.80 with the strong baseline: both students above it, A (earlier) first.
    assert [(r.rank, r.name) for r in pub] == [(1, "A"), (2, "B"), (None, "strong"), (None, "simple"), (3, "C")]
    assert pub[0].submission_id == 1 and pub[0].n_submissions == 2 and pub[2].baseline
    pri = rules.build_board(names, subs, baselines, split="private", max_selected=2)
    # A's final: auto-selected {1 (0.80), 4 (0.65)} → best private 0.95.
    assert [(r.rank, r.name, r.score) for r in pri] == [
        (1, "A", 0.95), (2, "B", 0.90), (3, "C", 0.76), (None, "strong", 0.75), (None, "simple", 0.6)]
    with pytest.raises(ValueError):
        rules.build_board(names, subs, baselines, split="secret", max_selected=2)


def test_baselines_passed_is_at_least_threshold():
    b = {"simple": Baseline("simple", 0.6, 0.5), "boss": Baseline("boss", 0.9, 0.8)}
    assert rules.baselines_passed(0.6, b, "public") == {"simple": True, "boss": False}
    assert rules.baselines_passed(0.8, b, "private") == {"simple": True, "boss": True}
    assert rules.baselines_passed(None, b, "public") == {"simple": False, "boss": False}


def test_probing_flags_many_tiny_climbs_only():
    prober = [sub(i, 1, 0.80 + 0.0005 * i, 0.7, i) for i in range(8)]        # 7 tiny steps
    honest = [sub(100 + i, 2, v, 0.7, i) for i, v in enumerate([0.6, 0.7, 0.78, 0.77, 0.85])]
    flat = [sub(200 + i, 3, 0.8, 0.7, i) for i in range(10)]                  # resubmitting: no gain, no flag
    flags = rules.probing_flags(prober + honest + flat, tiny=0.002, min_steps=5)
    assert [(f.student_id, f.tiny_steps, f.n_submissions) for f in flags] == [(1, 7, 8)]
    assert flags[0].total_gain == pytest.approx(0.0035)
    assert rules.probing_flags(prober, tiny=0.002, min_steps=8) == []


def test_late_uploads_are_scored_only_when_allowed_and_never_ranked_or_selected():
    closes = T + timedelta(hours=1)
    assert rules.check_open(now=T, opens_at=None, closes_at=closes, late_ok=True) is False
    assert rules.check_open(now=closes, opens_at=None, closes_at=closes, late_ok=True)
    with pytest.raises(rules.NotOpen):
        rules.check_open(now=closes, opens_at=None, closes_at=closes)
    subs = [sub(1, 10, 0.70, 0.60, 0), Submission(2, 10, T + timedelta(hours=2), 0.99, 0.99, False, "", True),
            Submission(3, 20, T + timedelta(hours=3), 0.80, 0.85, False, "", True)]
    assert [s.id for s in rules.effective_selection(subs, 2)] == [1]
    board = rules.build_board({10: "A", 20: "B"}, subs, {}, split="public", max_selected=2)
    assert [(r.name, r.score, r.last_at) for r in board] == [("A", 0.70, T)]       # late ones ignored
    late = rules.build_late_board({10: "A", 20: "B"}, subs)
    assert [(r.rank, r.name, r.score, r.public) for r in late] == [(None, "A", 0.99, 0.99), (None, "B", 0.85, 0.80)]
    with pytest.raises(rules.SelectionError, match="after the deadline"):
        rules.check_selection([2], owned=[1], max_selected=2, late=[2])
