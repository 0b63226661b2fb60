"""Leaderboard ordering, a pure function shared by the terminal leaderboard and the web service.

Rules (documented once, here):

1. Higher score first (``by`` names the score field, ``"public"`` or ``"private"``).
2. Equal scores: a student's entry goes above a baseline row (reaching a threshold counts as passing it:
   ``score >= threshold``), then the earlier ``submitted_at`` first (the first to reach a score keeps it, as on
   Kaggle), then the input order (the sort is stable).
3. Students are numbered 1, 2, 3, ... with no shared ranks; baseline rows are placed in their ranked position
   but get ``rank = None`` and do not use up a number.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any, NamedTuple


class Ranked(NamedTuple):
    """One row of a board: ``rank`` (1-based; ``None`` for baseline rows) and the caller's ``entry`` unchanged."""
    rank: int | None
    entry: Any


def _get(entry, name: str, default=None):
    if isinstance(entry, dict):
        return entry.get(name, default)
    return getattr(entry, name, default)


def _timestamp(value, entry) -> float:
    if value is None:
        return -math.inf  # baselines have no submission time
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    raise TypeError(f"submitted_at must be a datetime or a number, got {value!r} in {entry!r}")


def rank_entries(entries, *, by: str = "public") -> list[Ranked]:
    """Order leaderboard entries and number them.

    Args:
        entries: iterable of dicts or objects with a numeric field named ``by``, a ``submitted_at`` (datetime or
            float seconds; may be missing for baselines) and optionally ``baseline`` (truthy for a baseline row).
        by: the score field to rank by, e.g. ``"public"`` before the deadline, ``"private"`` after it.

    Returns:
        ``[Ranked(rank, entry), ...]`` best first (see the module docstring for ties).

    Raises:
        ValueError: an entry's score is missing or NaN (invalid submissions are never ranked: leave them out).
    """
    keyed = []
    for i, entry in enumerate(entries):
        score = _get(entry, by)
        if score is None or (isinstance(score, float) and math.isnan(score)):
            raise ValueError(f"entry has no {by!r} score and cannot be ranked: {entry!r}")
        is_baseline = bool(_get(entry, "baseline", False))
        keyed.append(((-float(score), is_baseline, _timestamp(_get(entry, "submitted_at"), entry), i), entry))
    keyed.sort(key=lambda t: t[0])
    out, rank = [], 0
    for (_, is_baseline, _, _), entry in keyed:
        if is_baseline:
            out.append(Ranked(None, entry))
        else:
            rank += 1
            out.append(Ranked(rank, entry))
    return out
