"""``python -m grader similarity``: pairs of students whose own code is suspiciously alike, for a human to read.

Per student, all the code they wrote is taken from the submission: every code cell, answer or added, minus every
line the released notebook already has (in that cell where the cell is the release's, anywhere otherwise), so an
answer moved into a cell of its own is still compared; then:

1. tokenised and fingerprinted by `copydetect <https://pypi.org/project/copydetect/>`_ (Pygments tokens with names
   and strings replaced, comments and layout dropped; winnowing as in MOSS: every match of ``guarantee`` filtered
   characters is seen, none shorter than ``k``);
2. boilerplate removed: every fingerprint of the release (all its code cells) and of the code the notebook's text
   suggests (fenced blocks and inline code in its markdown) is dropped, as is any fingerprint found in more than
   ``max_share`` of the class;
3. each pair scored by its *rare shared code*: every fingerprint the two share counts ``1 / (n - 1)`` when ``n``
   students have it. Code only these two share counts fully; a line a style group of eight wrote alike counts 1/7
   per pair, so honest students who follow the same hint do not outrank one long copy (on the test corpus of 23
   honest students in 3 styles and one copied pair, plain Jaccard puts 56 honest pairs at 1.00 above the copy:
   ``benchmarks/similarity_ranking.py``). Pairs are listed strongest first;
4. a pair is flagged when its score reaches ``min_score``, or when it is high *relative to the students' own code
   and to the class*: the rare shared code covers at least ``min_coverage`` of the shorter student's own code,
   at least ``class_factor`` times the class's 95th-percentile coverage, and scores at least ``min_short_score``.
   A short answer copied whole covers nearly all of it (a 7-line copy scores ~30 but covers ~0.97; honest pairs
   in the test corpus cover at most ~0.47).

Where the leaderboard's TA export is given (``--leaderboard``: ``login``/``id``, ``best_public``,
``final_private``), students with identical (public, private) scores are joined to the pairs: two different
prediction files give the same six-decimal AUC pair only by copying, unless many students share it (the unchanged
sample code: the group size says so). Two students alone with identical scores are flagged when their rare shared
code covers ``twin_coverage`` of the shorter one's own code.

The report is evidence for a TA to read (``similarity_<assignment>.html`` shows each flagged pair's code side by
side with the shared parts marked), never a verdict. Every file is written 0600.
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import itertools
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from grader.autograde.course import CourseConfig, add_course_arguments, course_from_args
from grader.errors import GraderError

HELP = "Rank pairs of students by rare shared code, all cells they wrote (copydetect winnowing, boilerplate removed)."


@dataclass
class SimilarityConfig:
    k: int = field(default=25, metadata={
        "help": "Noise threshold: matches shorter than this many filtered characters are ignored (copydetect's)."})
    guarantee: int = field(default=30, metadata={
        "help": "Matches at least this many filtered characters long are always found (copydetect's)."})
    max_share: float = field(default=0.5, metadata={
        "help": "Ignore fingerprints found in more than this share of the class (common code)."})
    min_score: float = field(default=40.0, metadata={
        "help": "Flag a pair whose rare shared code scores at least this (about 10 filtered characters a point)."})
    min_coverage: float = field(default=0.6, metadata={
        "help": "Flag a pair whose rare shared code covers at least this share of the shorter student's own code "
                "(with class_factor and min_short_score): a short answer copied whole."})
    class_factor: float = field(default=1.5, metadata={
        "help": "... and at least this many times the class's 95th-percentile coverage."})
    min_short_score: float = field(default=8.0, metadata={
        "help": "... and scores at least this (a one-line match is never enough)."})
    twin_coverage: float = field(default=0.3, metadata={
        "help": "Flag two students alone with identical leaderboard scores when their rare shared code covers at "
                "least this share of the shorter one's own code."})
    min_fingerprints: int = field(default=5, metadata={"help": "Students with less own code than this are skipped."})
    show: int = field(default=20, metadata={"help": "Pairs printed (all are in the CSV)."})

    def __post_init__(self):
        if not 1 <= self.k <= self.guarantee:
            raise GraderError(f"similarity: need 1 <= k ({self.k}) <= guarantee ({self.guarantee})")
        if not 0 < self.max_share <= 1:
            raise GraderError(f"similarity: max_share must be in (0, 1], got {self.max_share}")


@dataclass
class Pair:
    a: str
    b: str
    score: float           # rare shared code: sum over shared fingerprints of 1 / (students having it - 1)
    shared: int            # fingerprints the two share after boilerplate and common code are dropped
    share_a: float         # shared / a's fingerprints: how much of a's own code b also has
    share_b: float
    coverage: float = 0.0  # score / the shorter student's fingerprints: rare shared code relative to own code
    flagged: bool = False
    same_scores: int = 0   # size of the group of students with this pair's identical (public, private) scores
    scores: str = ""       # that (public, private) pair


def _stable_kgram_hashes(text: str, k: int):
    """copydetect's ``hashed_kgrams`` with a hash that is the same in every process (it uses Python's ``hash``,
    salted per process, so the same class would get other fingerprints and scores on every run)."""
    import numpy as np
    return np.array([int.from_bytes(hashlib.blake2b(text[i:i + k].encode(), digest_size=8).digest(), "big",
                                    signed=True) for i in range(len(text) - k + 1)], dtype=np.int64)


def _fingerprint(code: str, cfg: SimilarityConfig, boilerplate=None, window: int | None = None):
    from unittest import mock

    import copydetect.utils
    from copydetect import CodeFingerprint
    with mock.patch.object(copydetect.utils, "hashed_kgrams", _stable_kgram_hashes):
        return CodeFingerprint("solution.py", cfg.k, window or (cfg.guarantee - cfg.k + 1), boilerplate,
                               language="python", fp=io.StringIO(code))


def boilerplate_hashes(texts: list[str], cfg: SimilarityConfig) -> set:
    """Every k-gram hash (window 1, as copydetect does for boilerplate) of the given code texts."""
    out = set()
    for t in texts:
        if t.strip():
            out |= set(_fingerprint(t, cfg, window=1).hashes)
    return out


def compare(codes: dict[str, str], cfg: SimilarityConfig | None = None, boilerplate: list[str] | None = None
            ) -> tuple[list[Pair], list[str], dict]:
    """(pairs sharing any rare code, strongest first; students skipped for too little code; fingerprints).

    ``boilerplate``: code texts whose fingerprints never count (the release, the notebook's suggested code).
    """
    import numpy as np
    cfg = cfg or SimilarityConfig()
    boiler = boilerplate_hashes(boilerplate or [], cfg)
    boiler_arr = np.array(sorted(boiler), dtype=np.int64) if boiler else None
    fps = {s: _fingerprint(c, cfg, boiler_arr) for s, c in codes.items()}
    hashes = {s: set(fp.hashes) - boiler for s, fp in fps.items()}
    df = Counter(h for hs in hashes.values() for h in hs)
    limit = max(2, cfg.max_share * len(hashes))
    hashes = {s: {h for h in hs if df[h] <= limit} for s, hs in hashes.items()}
    skipped = sorted(s for s, hs in hashes.items() if len(hs) < cfg.min_fingerprints)
    hashes = {s: hs for s, hs in hashes.items() if len(hs) >= cfg.min_fingerprints}
    holders = defaultdict(list)
    for s, hs in hashes.items():
        for h in hs:
            holders[h].append(s)
    score, shared = Counter(), Counter()
    for students in holders.values():
        if len(students) < 2:
            continue
        w = 1.0 / (len(students) - 1)
        for a, b in itertools.combinations(sorted(students), 2):
            score[(a, b)] += w
            shared[(a, b)] += 1
    pairs = [Pair(a, b, round(score[(a, b)], 2), n, round(n / len(hashes[a]), 3), round(n / len(hashes[b]), 3),
                  coverage=round(score[(a, b)] / min(len(hashes[a]), len(hashes[b])), 3))
             for (a, b), n in shared.items()]
    typical = _percentile([p.coverage for p in pairs], 95)
    for p in pairs:
        p.flagged = p.score >= cfg.min_score or (
            p.coverage >= max(cfg.min_coverage, cfg.class_factor * typical) and p.score >= cfg.min_short_score)
    pairs.sort(key=lambda p: (-p.score, -p.shared, p.a, p.b))
    kept = {s: fp for s, fp in fps.items() if s in hashes}
    for s, fp in kept.items():         # leave only the rare code in the fingerprints the HTML report marks
        fp.hash_idx = {h: i for h, i in fp.hash_idx.items() if h in hashes[s]}
        fp.hashes = hashes[s]
    return pairs, skipped, kept


def _percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (0 for none)."""
    import numpy as np
    return float(np.percentile(values, q)) if values else 0.0


# --- the leaderboard join -------------------------------------------------------------------------------------

def read_score_pairs(path: Path) -> dict[str, tuple[str, str]]:
    """``{student: (best_public, final_private)}`` from the leaderboard's TA export (either of its CSVs).

    Scores are compared as the export writes them (six decimals); students without both are left out.
    """
    from grader.autograde.gradebook import ScoreFileError, _id_column, _rows
    header, rows = _rows(path, "leaderboard export")
    idc = _id_column(path, header)
    missing = [c for c in ("best_public", "final_private") if c not in header]
    if missing:
        raise ScoreFileError(f"{path}: line 1: no column(s) {', '.join(missing)} in {header} (use the leaderboard's "
                             f"/admin/export/leaderboard.csv)")
    out = {}
    for n, row in rows:
        pub, pri = row.get("best_public", ""), row.get("final_private", "")
        for col, v in (("best_public", pub), ("final_private", pri)):
            if v:
                try:
                    float(v)
                except ValueError:
                    raise ScoreFileError(f"{path}: line {n}, column '{col}', id {row[idc]}: {v!r} is not a number"
                                         ) from None
        if row[idc] and pub and pri:
            out[row[idc]] = (pub, pri)
    return out


def join_scores(pairs: list[Pair], scores: dict[str, tuple[str, str]], students: list[str],
                cfg: SimilarityConfig | None = None) -> list[Pair]:
    """Mark pairs with identical (public, private) scores, flag such a pair of two that shares rare code (see
    ``twin_coverage``), and add such pairs that share no code (score 0)."""
    cfg = cfg or SimilarityConfig()
    groups = defaultdict(list)
    for s in students:
        if s in scores:
            groups[scores[s]].append(s)
    twins = {}
    for key, members in groups.items():
        for a, b in itertools.combinations(sorted(members), 2):
            twins[(a, b)] = (len(members), f"{key[0]}/{key[1]}")
    for p in pairs:
        if (p.a, p.b) in twins:
            p.same_scores, p.scores = twins.pop((p.a, p.b))
            p.flagged = p.flagged or (p.same_scores == 2 and p.coverage >= cfg.twin_coverage)
    for (a, b), (n, text) in sorted(twins.items()):
        pairs.append(Pair(a, b, 0.0, 0, 0.0, 0.0, same_scores=n, scores=text))
    return pairs


# --- inputs from the course ---------------------------------------------------------------------------------------

def student_code(submitted_nb, released_nb) -> str:
    """All the code the student wrote: every code cell (answer, edited or added), without the lines the release
    already has (in that cell for the release's own cells, anywhere in the release for added ones)."""
    def lines(cell) -> set[str]:
        return {ln.strip() for ln in cell.source.splitlines()}

    rel_code = [c for c in released_nb.cells if c.cell_type == "code"]
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in rel_code}
    anywhere = set().union(*map(lines, rel_code)) if rel_code else set()
    parts = []
    for c in submitted_nb.cells:
        if c.cell_type != "code":
            continue
        grade_id = c.metadata.get("nbgrader", {}).get("grade_id")
        given = lines(by_id[grade_id]) if grade_id in by_id else anywhere
        own = [ln for ln in c.source.splitlines() if ln.strip() and ln.strip() not in given]
        if own:
            parts.append("\n".join(own))
    return "\n".join(parts)


_FENCED = re.compile(r"```[^\n]*\n(.*?)```", re.S)
_INLINE = re.compile(r"`([^`\n]+)`")


def release_boilerplate(released_nb) -> list[str]:
    """Code every student was given: the release's code cells and the code its markdown suggests."""
    out = []
    for c in released_nb.cells:
        if c.cell_type == "code":
            out.append(c.source)
        elif c.cell_type == "markdown":
            out += _FENCED.findall(c.source)
            out += [m for m in _INLINE.findall(_FENCED.sub("", c.source)) if "(" in m or "=" in m]
    return out


def assignment_codes(course: CourseConfig, assignment: str) -> tuple[dict[str, str], list[str]]:
    """(``{student: their own code}`` from ``COURSE/submitted``, the release's boilerplate code)."""
    import nbformat
    rel_dir = course.course_dir / "release" / assignment
    if not rel_dir.is_dir():
        raise GraderError(f"{assignment}: not released in {course.course_dir} (run `python -m grader release`)")
    released = {p.stem: nbformat.read(str(p), as_version=4) for p in sorted(rel_dir.glob("*.ipynb"))}
    boiler = [t for nb in released.values() for t in release_boilerplate(nb)]
    codes = {}
    for sdir in sorted((course.course_dir / "submitted").glob(f"*/{assignment}")):
        parts = []
        for name, rel in released.items():
            try:
                nb = nbformat.read(str(sdir / f"{name}.ipynb"), as_version=4)
            except Exception:  # noqa: BLE001 - missing or not a notebook: autograde reports it
                continue
            parts.append(student_code(nb, rel))
        codes[sdir.parent.name] = "\n".join(parts)
    return codes, boiler


# --- output -------------------------------------------------------------------------------------------------------

COLUMNS = ["rank", "student_a", "student_b", "flagged", "score", "coverage", "shared_fingerprints", "share_a",
           "share_b", "same_scores", "public_private"]


def pairs_csv(pairs: list[Pair]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows([i, p.a, p.b, int(p.flagged), p.score, p.coverage, p.shared, p.share_a, p.share_b, p.same_scores,
                 p.scores] for i, p in enumerate(pairs, start=1))
    return buf.getvalue()


def pairs_html(assignment: str, pairs: list[Pair], fps: dict, limit: int = 50) -> str:
    """Flagged pairs (and pairs with identical scores), each student's code with the shared parts marked."""
    from copydetect.detector import compare_files
    from copydetect.utils import highlight_overlap
    parts = [f"<!doctype html><meta charset='utf-8'><title>similarity {html.escape(assignment)}</title>",
             "<style>pre{white-space:pre-wrap;border:1px solid #999;padding:4px}mark{background:#fd7}"
             ".row{display:flex;gap:8px}.row>div{flex:1;min-width:0}</style>",
             f"<h1>Similarity: {html.escape(assignment)}</h1><p>Evidence for a person to read, not a verdict. "
             "Marked: code the two share that few others in the class have.</p>"]
    shown = [p for p in pairs if p.flagged or p.same_scores][:limit]
    if not shown:
        parts.append("<p>No pair flagged.</p>")
    for p in shown:
        head = (f"<h2>{html.escape(p.a)} ~ {html.escape(p.b)}: score {p.score:g}, {p.shared} shared fingerprints"
                + (f", identical leaderboard scores {html.escape(p.scores)} ({p.same_scores} students)"
                   if p.same_scores else "") + "</h2>")
        parts.append(head)
        if p.a in fps and p.b in fps and p.shared:
            _, _, (sa, sb) = compare_files(fps[p.a], fps[p.b])
            docs = [highlight_overlap(fps[s].raw_code, sl, "<mark>", "</mark>", escape_html=True)[0]
                    if len(sl) and sl.shape[-1] else html.escape(fps[s].raw_code) for s, sl in ((p.a, sa), (p.b, sb))]
            parts.append("<div class='row'>" + "".join(f"<div><h3>{html.escape(s)}</h3><pre>{d}</pre></div>"
                                                       for s, d in zip((p.a, p.b), docs)) + "</div>")
    return "\n".join(parts) + "\n"


# --- CLI -------------------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    add_course_arguments(parser)
    parser.add_argument("--assignment", action="append", dest="assignments", default=None,
                        help="assignment id (repeatable; default: all released)")
    parser.add_argument("--leaderboard", type=Path, default=None, metavar="CSV",
                        help="the leaderboard's TA export: join students with identical (public, private) scores")
    d = SimilarityConfig()
    for name in ("min_score", "min_coverage", "twin_coverage", "max_share", "k", "guarantee", "show"):
        f = SimilarityConfig.__dataclass_fields__[name]
        parser.add_argument("--" + name.replace("_", "-"), type=type(getattr(d, name)), default=getattr(d, name),
                            help=f"{f.metadata['help']} (default: {getattr(d, name)})")


def run(args) -> int:
    from common.files import write_private
    course = course_from_args(args)
    cfg = SimilarityConfig(k=args.k, guarantee=args.guarantee, max_share=args.max_share, min_score=args.min_score,
                           min_coverage=args.min_coverage, twin_coverage=args.twin_coverage, show=args.show)
    assignments = args.assignments or [a for a in course.assignments()
                                       if (course.course_dir / "release" / a).is_dir()]
    scores = read_score_pairs(args.leaderboard) if args.leaderboard else None
    for a in assignments:
        codes, boiler = assignment_codes(course, a)
        pairs, skipped, fps = compare(codes, cfg, boiler)
        if scores is not None:
            pairs = join_scores(pairs, scores, sorted(codes), cfg)
        out = write_private(course.course_dir / f"similarity_{a}.csv", pairs_csv(pairs))
        page = write_private(course.course_dir / f"similarity_{a}.html", pairs_html(a, pairs, fps))
        flagged = sum(p.flagged for p in pairs)
        print(f"{a}: {len(codes)} students, {flagged} pair(s) flagged of {len(pairs)} "
              f"sharing any rare code -> {out}, {page}"
              + (f" ({len(skipped)} with too little own code skipped)" if skipped else ""))
        for i, p in enumerate(pairs[:cfg.show], start=1):
            if p.score <= 0 and not p.same_scores:
                break
            mark = "FLAG " if p.flagged else "     "
            print(f"  {mark}{i:3d}. {p.a} ~ {p.b}: score {p.score:g} ({p.shared} shared; "
                  f"{p.share_a:.0%} / {p.share_b:.0%} of their own code; coverage {p.coverage:.2f})"
                  + (f"; identical scores {p.scores} ({p.same_scores} students)" if p.same_scores else ""))
        twins = [p for p in pairs if p.same_scores and p not in pairs[:cfg.show]]
        for p in twins:
            print(f"  identical leaderboard scores {p.scores}: {p.a} ~ {p.b} ({p.same_scores} students; "
                  f"code score {p.score:g})")
    return 0
