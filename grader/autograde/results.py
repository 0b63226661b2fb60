"""``autograde_results.csv``: one row per (student, assignment), written as each submission finishes.

The file is the batch's memory: a rerun keeps a row whose submission (``submission_sha256``) and confinement
(``sandbox``) are unchanged, so a run killed at any moment loses at most the submissions in flight. It is replaced
atomically and readable by the TA only (``common.files.write_private``). ``summarize`` and ``score_distribution``
are what ``python -m grader autograde`` prints at the end.
"""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common.files import write_private

#: ``infrastructure_error``: the grading machinery (not the notebook) failed twice; no score, never kept by a rerun.
INFRASTRUCTURE_ERROR = "infrastructure_error"
STATUSES = ("graded", "timeout", "error", "source_notebook", "missing", INFRASTRUCTURE_ERROR)
RESULT_COLUMNS = ("student", "assignment", "status", "score", "max_score", "code_score", "written_score",
                  "needs_manual_grade", "seconds_late", "tampering", "message", "seconds", "sandbox",
                  "submission_sha256", "graded_at")
#: The ``sandbox`` column: how the submission's code was confined. A worker that lacks a per-sandbox limit adds what
#: it lacks in parentheses, e.g. ``bwrap (rlimits only; no scratch quota)``: no writable cgroup, no tmpfs quota.
SANDBOXED = "bwrap"
UNSANDBOXED = "NONE (--unsafe-no-sandbox)"


def confinement(label: str) -> str:
    """The kind of confinement a ``sandbox`` label names (``bwrap`` or ``NONE``), without the details."""
    return (label or "").split(" (")[0]


@dataclass
class Result:
    """The outcome for one (student, assignment): a value even when everything went wrong."""
    student: str
    assignment: str
    status: str
    score: float | None = None
    max_score: float | None = None
    code_score: float | None = None
    written_score: float | None = None
    needs_manual_grade: bool | None = None
    seconds_late: float | None = None
    tampering: list[str] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0
    sandbox: str = ""
    submission_sha256: str = ""
    graded_at: str = ""
    worker_pid: int | None = None   # which worker process graded it (not written to the CSV)
    kept: bool = False              # taken from an earlier run's row (not written to the CSV)

    def row(self) -> dict:
        d = asdict(self)
        d["tampering"] = "; ".join(self.tampering)
        return {k: ("" if d[k] is None else d[k]) for k in RESULT_COLUMNS}

    @classmethod
    def from_row(cls, row: dict) -> "Result":
        def num(k):
            return float(row[k]) if row.get(k) not in (None, "") else None
        return cls(student=row["student"], assignment=row["assignment"], status=row["status"], score=num("score"),
                   max_score=num("max_score"), code_score=num("code_score"), written_score=num("written_score"),
                   needs_manual_grade=(row.get("needs_manual_grade") == "True") if row.get("needs_manual_grade")
                   else None, seconds_late=num("seconds_late"),
                   tampering=[t for t in (row.get("tampering") or "").split("; ") if t],
                   message=row.get("message") or "", seconds=num("seconds") or 0.0, sandbox=row.get("sandbox") or "",
                   submission_sha256=row.get("submission_sha256") or "", graded_at=row.get("graded_at") or "",
                   kept=True)


def read_results(path: Path) -> list[dict]:
    if not Path(path).is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_results(path: Path, results: list[Result]) -> Path:
    """Merge ``results`` into the CSV at ``path`` (rows of other students/assignments are kept); the file is
    replaced atomically and flushed to disk, so a crash leaves either the old or the new version."""
    new = {(r.student, r.assignment): r.row() for r in results}
    rows = {(r["student"], r["assignment"]): r for r in read_results(path)}
    rows.update(new)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=RESULT_COLUMNS, lineterminator="\n")
    w.writeheader()
    for k in sorted(rows):
        w.writerow({c: rows[k].get(c, "") for c in RESULT_COLUMNS})
    write_private(path, buf.getvalue())       # scores and statuses of every student: the TA's eyes only
    return Path(path)


def summarize(results: list[Result]) -> str:
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n or s != INFRASTRUCTURE_ERROR)


def infrastructure_note(results: list[Result]) -> str | None:
    """The end-of-run line about ``infrastructure_error`` rows, or None when there are none."""
    n = sum(r.status == INFRASTRUCTURE_ERROR for r in results)
    if not n:
        return None
    return (f"{n} submission(s) not graded because the grading machinery failed twice (infrastructure_error, not the "
            f"students' doing; messages above and in the worker logs): run the same command again, a plain rerun "
            f"grades them again; the gradebook leaves them out until then")


def score_distribution(results: list[Result], bins: int = 5) -> list[str]:
    """Per assignment: min/median/mean/max of the autograded score and a histogram of score / max (text lines)."""
    import statistics
    lines = []
    for a in sorted({r.assignment for r in results}):
        rows = [r for r in results if r.assignment == a and r.status != "missing" and r.score is not None]
        if not rows:
            continue
        scores = [r.score for r in rows]
        top = max((r.max_score or 0.0) for r in rows) or 1.0
        counts = [0] * bins
        for x in scores:
            counts[min(bins - 1, int(bins * max(0.0, x) / top))] += 1
        hist = "  ".join(f"{100 * i // bins}-{100 * (i + 1) // bins}%: {n}" for i, n in enumerate(counts))
        lines.append(f"{a}: score of {top:g} over {len(rows)} submission(s): min {min(scores):g}, median "
                     f"{statistics.median(scores):g}, mean {statistics.fmean(scores):.2f}, max {max(scores):g} "
                     f"| {hist}")
    return lines
