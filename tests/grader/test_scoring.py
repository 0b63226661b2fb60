"""Scoring against an answer key (public/private/per kind) and leaderboard ranking rules."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from common.answer_key import AnswerKey
from grader.errors import SubmissionError
from grader.ranking import Ranked, rank_entries
from grader.scoring import Scores, auc_by_kind, score_file, score_scores


@pytest.fixture(scope="module")
def key() -> AnswerKey:
    """60 rows: IDs 0-29 public, 30-59 private; 1/3 anomalies of two kinds."""
    rng = np.random.default_rng(0)
    n = 60
    labels = np.zeros(n, dtype=np.int8)
    labels[rng.choice(30, 10, replace=False)] = 1
    labels[30 + rng.choice(30, 10, replace=False)] = 1
    kinds = np.where(labels == 1, np.where(np.arange(n) % 2 == 0, "glasses", "cartoon"), "normal")
    usage = np.where(np.arange(n) < 30, "Public", "Private")
    return AnswerKey(labels=labels, usage=usage, kinds=kinds)


@pytest.fixture(scope="module")
def scores(key) -> np.ndarray:
    return key.labels + np.random.default_rng(1).normal(size=len(key))


def test_score_scores_matches_sklearn_per_split(key, scores):
    s = score_scores(scores, key)
    assert isinstance(s, Scores)
    pub, pri = key.usage == "Public", key.usage == "Private"
    assert abs(s.public - roc_auc_score(key.labels[pub], scores[pub])) < 1e-12
    assert abs(s.private - roc_auc_score(key.labels[pri], scores[pri])) < 1e-12
    assert s.public != s.private  # the two splits really are scored separately


def test_splits_do_not_see_each_others_rows(key, scores):
    # Changing private rows never moves the public score, and the other way round.
    changed = scores.copy()
    changed[30:] = -changed[30:]
    assert score_scores(changed, key).public == score_scores(scores, key).public
    assert score_scores(changed, key).private != score_scores(scores, key).private


def test_scores_is_frozen():
    with pytest.raises(AttributeError):
        Scores(0.5, 0.5).public = 1.0


def test_wrong_length_raises(key):
    with pytest.raises(ValueError, match=r"shape \(60,\)"):
        score_scores(np.zeros(59), key)


def test_empty_split_is_nan():
    k = AnswerKey(labels=np.array([0, 1, 0, 1], dtype=np.int8), usage=np.array(["Public"] * 4),
                  kinds=np.array(["normal", "x", "normal", "x"]))
    s = score_scores(np.array([0.0, 1.0, 0.0, 1.0]), k)
    assert s.public == 1.0 and np.isnan(s.private)


def test_score_file_validates_then_scores(key, scores, tmp_path):
    order = np.random.default_rng(2).permutation(len(key))
    p = tmp_path / "s.csv"
    p.write_text("ID,score\n" + "".join(f"{i},{float(scores[i])!r}\n" for i in order))
    assert score_file(p, key) == score_scores(scores, key)
    assert score_file(p.read_bytes(), key) == score_scores(scores, key)
    with pytest.raises(SubmissionError, match="found 59 data rows"):
        score_file(b"ID,score\n" + b"".join(f"{i},0.5\n".encode() for i in range(59)), key)
    with pytest.raises(SubmissionError, match="limit"):
        score_file(p, key, max_bytes=100)


def test_auc_by_kind(key, scores):
    got = auc_by_kind(scores, key)
    assert list(got) == ["cartoon", "glasses"]
    normal = key.labels == 0
    for kind, auc in got.items():
        rows = normal | (key.kinds == kind)
        assert abs(auc - roc_auc_score(key.labels[rows], scores[rows])) < 1e-12
    pub = auc_by_kind(scores, key, usage="Public")
    rows = (key.usage == "Public") & (normal | (key.kinds == "glasses"))
    assert abs(pub["glasses"] - roc_auc_score(key.labels[rows], scores[rows])) < 1e-12


def test_auc_by_kind_sees_a_missed_kind(key):
    # A model that catches glasses but scores cartoons like normals: the per-kind table shows it.
    s = np.where(key.kinds == "glasses", 10.0, 0.0) + np.random.default_rng(3).normal(size=len(key)) * 0.01
    got = auc_by_kind(s, key)
    assert got["glasses"] == 1.0 and 0.2 < got["cartoon"] < 0.8


def test_auc_by_kind_bad_usage(key, scores):
    with pytest.raises(ValueError, match="usage"):
        auc_by_kind(scores, key, usage="public")


# --- ranking -----------------------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def student(name, public, minutes, private=None):
    return {"name": name, "public": public, "private": public if private is None else private,
            "submitted_at": T0 + timedelta(minutes=minutes)}


def names(rows):
    return [(r.rank, r.entry["name"]) for r in rows]


def test_higher_score_first_and_ties_by_earlier_submission():
    entries = [student("late", 0.9, 10), student("low", 0.5, 0), student("early", 0.9, 5),
               student("top", 0.95, 20)]
    assert names(rank_entries(entries)) == [(1, "top"), (2, "early"), (3, "late"), (4, "low")]


def test_baseline_rows_take_their_place_without_a_rank_and_lose_ties():
    entries = [student("a", 0.80, 0), student("b", 0.70, 1), student("c", 0.719, 2),
               {"name": "medium", "public": 0.719, "baseline": True},
               {"name": "strong", "public": 0.790, "private": 0.79, "baseline": True}]
    assert names(rank_entries(entries)) == [(1, "a"), (None, "strong"), (2, "c"), (None, "medium"), (3, "b")]


def test_rank_by_private():
    entries = [student("a", 0.9, 0, private=0.6), student("b", 0.8, 1, private=0.7)]
    assert names(rank_entries(entries, by="private")) == [(1, "b"), (2, "a")]
    assert names(rank_entries(entries)) == [(1, "a"), (2, "b")]


def test_float_timestamps_objects_and_stability():
    class E:
        def __init__(self, name, public, submitted_at):
            self.name, self.public, self.submitted_at = name, public, submitted_at

    entries = [E("x", 0.5, 100.0), E("y", 0.5, 100.0), E("z", 0.5, 50.0)]
    rows = rank_entries(entries)
    assert [r.entry.name for r in rows] == ["z", "x", "y"]  # equal time: input order kept
    assert all(isinstance(r, Ranked) for r in rows)
    rank, entry = rows[0]
    assert rank == 1 and entry is entries[2]


def test_rank_entries_is_pure():
    entries = [student("b", 0.5, 1), student("a", 0.9, 0)]
    snapshot = [dict(e) for e in entries]
    rank_entries(entries)
    assert entries == snapshot


@pytest.mark.parametrize("bad", [None, float("nan")])
def test_missing_score_raises(bad):
    with pytest.raises(ValueError, match="cannot be ranked"):
        rank_entries([student("a", 0.5, 0), {"name": "b", "public": bad, "submitted_at": 0.0}])


def test_bad_timestamp_raises():
    with pytest.raises(TypeError, match="submitted_at"):
        rank_entries([{"name": "a", "public": 0.5, "submitted_at": "yesterday"}])


def test_empty():
    assert rank_entries([]) == []
