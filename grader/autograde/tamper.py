"""Tampering report: compare each graded or locked cell of a submission with the released notebook.

nbgrader's own "checksum changed" warning compares with the *source* notebook's checksum, which differs for every
locked cell with hidden tests even when untouched (nbgrader issue #1961), so it cannot be shown to a TA. Here each
cell's checksum (``nbgrader.utils.compute_checksum``: source, type, flags, id, points) is recomputed on the released
cell and on the submitted one. Solution cells are the student's to edit and are not reported unless their nbgrader
flags changed.
"""
from __future__ import annotations


def _by_id(nb) -> dict:
    out = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid is not None:
            out.setdefault(gid, cell)
    return out


def _flags(cell) -> tuple:
    md = cell.metadata.get("nbgrader", {})
    return (bool(md.get("grade")), bool(md.get("solution")), bool(md.get("locked")),
            float(md.get("points", 0) or 0), cell.cell_type)


def tamper_report(released_nb, submitted_nb) -> list[str]:
    """Human-readable findings (empty if untouched): deleted, edited or unknown graded/locked cells."""
    from nbgrader.utils import compute_checksum
    rel, sub = _by_id(released_nb), _by_id(submitted_nb)
    findings = []
    for gid, rcell in rel.items():
        md = rcell.metadata["nbgrader"]
        scell = sub.get(gid)
        if scell is None:
            if md.get("grade") or md.get("locked"):
                findings.append(f"deleted cell '{gid}'")
            continue
        if md.get("solution") and not md.get("locked"):
            if _flags(scell) != _flags(rcell):
                findings.append(f"changed the nbgrader settings of cell '{gid}'")
            continue
        if md.get("grade") or md.get("locked"):
            try:
                same = compute_checksum(scell) == compute_checksum(rcell)
            except (KeyError, ValueError, TypeError):
                same = False
            if not same:
                what = "test cell" if md.get("grade") else "locked cell"
                findings.append(f"edited {what} '{gid}'")
    for gid in sub:
        if gid not in rel:
            findings.append(f"unknown cell '{gid}'")
    return findings


def overlap(released_nb, submitted_nb) -> int:
    """How many grade ids the two notebooks share (0: probably another assignment's notebook)."""
    return len(set(_by_id(released_nb)) & set(_by_id(submitted_nb)))
