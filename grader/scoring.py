"""Score a submission against the answer key: public and private ROC-AUC, AUC per anomaly kind and family for
reports, and a folder of submissions as a terminal leaderboard.

Score contract (also in the students' starter code): ``scores[i]`` is the anomaly score of test image ``i``,
**the higher, the more abnormal**; only the order of the scores matters.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.answer_key import FAMILIES, NORMAL_KIND, AnswerKey
from grader.errors import SubmissionError
from grader.metrics import roc_auc
from grader.validate import MAX_SUBMISSION_BYTES, read_submission


@dataclass(frozen=True)
class Scores:
    """ROC-AUC on the public and the private rows of the answer key (NaN for a split with no rows)."""
    public: float
    private: float


def score_scores(scores: np.ndarray, key: AnswerKey) -> Scores:
    """AUC of ``scores`` (M,) float, indexed by ID, on each split of ``key`` (M rows).

    Raises ``ValueError`` if the lengths differ or a score is not finite (``read_submission`` has already
    rejected both for files, with a student-facing message).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(key),):
        raise ValueError(f"scores must have shape ({len(key)},) to match the answer key, got {scores.shape}")
    return Scores(public=_split_auc(scores, key, key.public), private=_split_auc(scores, key, key.private))


def _split_auc(scores: np.ndarray, key: AnswerKey, mask: np.ndarray) -> float:
    if not mask.any():
        return float("nan")
    return roc_auc(key.labels[mask], scores[mask])


def score_file(source, key: AnswerKey, *, max_bytes: int = MAX_SUBMISSION_BYTES) -> Scores:
    """Validate the submission at ``source`` (path or bytes) and score it. Raises ``SubmissionError``."""
    return score_scores(read_submission(source, len(key), max_bytes=max_bytes), key)


def auc_by_kind(scores: np.ndarray, key: AnswerKey, usage: str | None = None) -> dict[str, float]:
    """AUC of each anomaly kind against all normal rows, for reports ("which anomalies does my model miss?").

    Args:
        scores: (M,) float, indexed by ID.
        key: the answer key (M rows).
        usage: ``"Public"`` or ``"Private"`` to restrict to one split; ``None`` for all rows.

    Returns:
        ``{kind: auc}`` in sorted kind order, for every anomaly kind with at least one row in the selection.
    """
    return _auc_by_group(scores, key, key.kinds, usage)


def auc_by_family(scores: np.ndarray, key: AnswerKey, usage: str | None = None) -> dict[str, float]:
    """AUC of each anomaly family (``imitable``, ``semantic``; ``unknown`` for keys without families) against all
    normal rows, same arguments as ``auc_by_kind``. Over the same normal rows a family's AUC is exactly the mean of
    its kinds' AUCs weighted by their row counts (the identity of ``kit.ladder.mixture_auc``).

    Returns:
        ``{family: auc}`` in ``FAMILIES`` order (then any other family), for families with rows in the selection.
    """
    out = _auc_by_group(scores, key, key.families, usage)
    return {f: out[f] for f in sorted(out, key=lambda f: (FAMILIES.index(f) if f in FAMILIES else len(FAMILIES), f))}


def _auc_by_group(scores: np.ndarray, key: AnswerKey, groups: np.ndarray, usage: str | None) -> dict[str, float]:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(key),):
        raise ValueError(f"scores must have shape ({len(key)},) to match the answer key, got {scores.shape}")
    if usage is None:
        sel = np.ones(len(key), dtype=bool)
    elif usage in ("Public", "Private"):
        sel = key.usage == usage
    else:
        raise ValueError(f"usage must be 'Public', 'Private' or None, got {usage!r}")
    normal = sel & (key.labels == 0)
    if not normal.any():
        raise ValueError(f"no normal rows in the {usage or 'whole'} split: per-kind AUC is undefined")
    out = {}
    for group in sorted(set(groups[sel & (key.labels == 1)].tolist())):
        rows = normal | (sel & (groups == group))
        out[group] = roc_auc(key.labels[rows], scores[rows])
    out.pop(NORMAL_KIND, None)
    return out


@dataclass(frozen=True)
class Board:
    """A terminal leaderboard's content: ``entries`` (dicts: name, public, private, submitted_at, baseline) and
    ``invalid`` (file name, the ``SubmissionError`` text) for files that were not scored."""
    entries: list[dict]
    invalid: list[tuple[str, str]]


def score_folder(folder, key: AnswerKey, *, max_bytes: int = MAX_SUBMISSION_BYTES, baselines=()) -> Board:
    """Score every ``*.csv`` in ``folder`` (name = file stem, time = its modification time) against ``key``; add
    a row per baseline (objects with ``name``, ``public``, ``private``). Invalid files are listed, never scored."""
    entries, invalid = [], []
    for path in sorted(Path(folder).glob("*.csv")):
        try:
            s = score_file(path, key, max_bytes=max_bytes)
        except SubmissionError as e:
            invalid.append((path.name, str(e)))
            continue
        entries.append({"name": path.stem, "public": s.public, "private": s.private,
                        "submitted_at": path.stat().st_mtime, "baseline": False})
    entries += [{"name": f"{b.name} baseline", "public": b.public, "private": b.private, "baseline": True}
                for b in baselines]
    return Board(entries, invalid)


def format_board(board: Board, *, reveal: bool = False, title: str = "") -> str:
    """A plain-text board: ranked by the public AUC, or by the private AUC when ``reveal`` (the final standings;
    the private column is shown only then), then the invalid files with their problems."""
    from grader.ranking import rank_entries
    rows = rank_entries(board.entries, by="private" if reveal else "public")
    width = max([len(r.entry["name"]) for r in rows] + [4])
    head = f"{'rank':>4}  {'name':<{width}}  {'public':>7}" + (f"  {'private':>7}" if reveal else "")
    lines = ([title, ""] if title else []) + [head, "-" * len(head)]
    for r in rows:
        e = r.entry
        line = f"{r.rank if r.rank is not None else '-':>4}  {e['name']:<{width}}  {e['public']:>7.5f}"
        if reveal:
            line += f"  {e['private']:>7.5f}"
        lines.append(line)
    if not reveal:
        lines.append("(ranked by public AUC; --reveal ranks by private AUC and shows it)")
    if board.invalid:
        lines += ["", f"Invalid submissions (not ranked): {len(board.invalid)}"]
        lines += [f"  {name}: {err}" for name, err in board.invalid]
    return "\n".join(lines)
