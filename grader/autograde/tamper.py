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


# --- the notebook that is executed: the release's layout with the student's answers ------------------------------

def _role(cell) -> str | None:
    """'solution' (the student's to write), 'fixed' (test, locked or task: the release's), None (no grade id)."""
    md = cell.get("metadata", {}).get("nbgrader", {})
    if md.get("grade_id") is None:
        return None
    return "solution" if md.get("solution") and not md.get("locked") else "fixed"


def _longest_increasing(seq: list[int]) -> set[int]:
    """The values of one longest increasing subsequence of ``seq``: the cells that kept their order."""
    best: list[list[int]] = []
    for x in seq:
        chains = [c for c in best if c[-1] < x]
        best.append((max(chains, key=len) if chains else []) + [x])
    return set(max(best, key=len)) if best else set()


def restore_layout(released_nb, submitted_nb):
    """(notebook to grade, findings): every graded, locked and task cell as released and in the release's order.

    The student's cells are kept where they wrote them: a solution cell by its grade id (its source, with the
    release's type and metadata; the release's stub if deleted), and every cell of their own (no grade id, an
    unknown one, or a second copy of a solution cell) after the graded cell it followed. Second copies of test or
    locked cells are dropped. So a deleted, edited, moved or duplicated test cell is graded as released, and the
    findings say per cell what was changed.
    """
    import copy
    rel_cells = [c for c in released_nb.cells if _role(c)]
    roles = {c.metadata["nbgrader"]["grade_id"]: _role(c) for c in rel_cells}
    order = {gid: i for i, gid in enumerate(roles)}
    first: dict = {}
    extra: dict = {None: []}
    findings: list[str] = []
    anchor = None
    for cell in submitted_nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in roles and gid not in first:
            first[gid] = cell
            anchor = gid
            continue
        if gid in roles and roles[gid] == "fixed":
            findings.append(f"duplicated cell '{gid}' (copy ignored)")
            continue
        if gid in roles:
            findings.append(f"duplicated cell '{gid}' (the first copy is graded; the second runs as your code)")
        own = copy.deepcopy(cell)
        own.get("metadata", {}).pop("nbgrader", None)
        extra.setdefault(anchor, []).append(own)
    in_order = _longest_increasing([order[g] for g in first])
    findings += [f"moved cell '{g}'" for g in first if roles[g] == "fixed" and order[g] not in in_order]
    cells = list(extra[None])
    for rcell in rel_cells:
        gid = rcell.metadata["nbgrader"]["grade_id"]
        cell = copy.deepcopy(rcell)
        if roles[gid] == "solution" and gid in first:
            cell.source = first[gid].get("source", "")
        cells.append(cell)
        cells += extra.get(gid, [])
    nb = copy.deepcopy(released_nb)
    nb.cells = cells
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
        if "id" in c or nb.get("nbformat_minor", 0) >= 5:
            c.id = f"cell-{i}"      # unique again after copies were dropped or kept
    return nb, findings


_DELIMITERS = ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "=== BEGIN MARK SCHEME ===")


def is_source_notebook(source_nb, submitted_nb) -> bool:
    """Whether ``submitted_nb`` is the instructor's source notebook (or a copy of it): a graded or solution cell
    still holds nbgrader's delimiters around the source's own solution or hidden-test text."""
    def norm(text: str) -> str:
        return " ".join(text.split())

    src = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source_nb.cells
           if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}
    for cell in submitted_nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        text = cell.get("source", "")
        if gid in src and any(d in text for d in _DELIMITERS) and any(d in src[gid] for d in _DELIMITERS):
            if norm(src[gid]) in norm(text) or norm(text) in norm(src[gid]):
                return True
    return False
