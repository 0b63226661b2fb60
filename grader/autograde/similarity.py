"""``python -m grader similarity``: pairs of students whose solution code is suspiciously alike, for a human to read.

Per student, the code of the assignment's solution cells is taken from the submission, minus every line that the
released notebook already has in that cell (the stub and any given template), then:

1. tokenised with Python's ``tokenize`` (comments and layout dropped; names -> ``V``, numbers -> ``N``, strings ->
   ``S``; keywords and operators kept), so renaming variables or reformatting changes nothing;
2. fingerprinted by winnowing (Schleimer, Wilkerson & Aiken 2003, the method behind MOSS): hashes of all k-token
   windows, keeping the minimum of every w consecutive hashes;
3. fingerprints shared by more than ``max_share`` of the class (common idioms, the reference calls the notebook
   suggests) are dropped, and pairs are scored by Jaccard similarity of the remaining sets.

The report lists pairs at or above ``threshold``; it is evidence for a TA to look at, never a verdict.
"""
from __future__ import annotations

import csv
import hashlib
import io
import itertools
import keyword
import re
import tokenize
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from grader.autograde.course import CourseConfig, add_course_arguments, course_from_args
from grader.errors import GraderError

HELP = "Pairwise similarity of students' solution cells (normalised tokens, winnowing); pairs above a threshold."


@dataclass
class SimilarityConfig:
    k: int = field(default=8, metadata={"help": "Tokens per k-gram (shorter: more sensitive, more noise)."})
    window: int = field(default=4, metadata={"help": "Winnowing window: a match of k+window-1 tokens is always seen."})
    threshold: float = field(default=0.5, metadata={"help": "Report pairs with Jaccard similarity at least this."})
    max_share: float = field(default=0.5, metadata={
        "help": "Ignore fingerprints found in more than this share of students (common code)."})
    min_fingerprints: int = field(default=5, metadata={"help": "Students with less code than this are skipped."})


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    jaccard: float
    shared: int
    containment: float    # shared / the smaller set: one copied part of the other's code


def normalized_tokens(code: str) -> list[str]:
    """Layout- and name-independent tokens of Python ``code`` (a regex fallback for code that does not tokenize)."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.NAME:
                out.append(tok.string if keyword.iskeyword(tok.string) else "V")
            elif tok.type == tokenize.NUMBER:
                out.append("N")
            elif tok.type == tokenize.STRING:
                out.append("S")
            elif tok.type == tokenize.OP:
                out.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        out = []
        for t in re.findall(r"[A-Za-z_]\w*|\d+(?:\.\d*)?|\S", re.sub(r"#.*", "", code)):
            out.append(t if keyword.iskeyword(t) else "V" if t[0].isalpha() or t[0] == "_" else
                       "N" if t[0].isdigit() else t)
    return out


def fingerprints(tokens: list[str], k: int, window: int) -> set[int]:
    """Winnowed k-gram hashes of ``tokens`` (a set of ints)."""
    if len(tokens) < k:
        return set()
    hashes = [int.from_bytes(hashlib.blake2b(" ".join(tokens[i:i + k]).encode(), digest_size=8).digest(), "big")
              for i in range(len(tokens) - k + 1)]
    if len(hashes) <= window:
        return {min(hashes)}
    return {min(hashes[i:i + window]) for i in range(len(hashes) - window + 1)}


def solution_code(submitted_nb, released_nb) -> str:
    """The student's code in the solution cells, without lines the released cell already had."""
    rel = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in released_nb.cells}
    parts = []
    for c in submitted_nb.cells:
        md = c.metadata.get("nbgrader", {})
        if c.cell_type != "code" or not md.get("solution"):
            continue
        given = {ln.strip() for ln in rel[md["grade_id"]].source.splitlines()} if md.get("grade_id") in rel else set()
        parts.append("\n".join(ln for ln in c.source.splitlines() if ln.strip() not in given))
    return "\n".join(parts)


def compare(codes: dict[str, str], cfg: SimilarityConfig | None = None) -> tuple[list[Pair], list[str]]:
    """(pairs at or above the threshold, most similar first; students skipped for too little code)."""
    cfg = cfg or SimilarityConfig()
    fps = {s: fingerprints(normalized_tokens(c), cfg.k, cfg.window) for s, c in codes.items()}
    df = Counter(h for f in fps.values() for h in f)
    limit = max(2, cfg.max_share * len(fps))
    fps = {s: {h for h in f if df[h] <= limit} for s, f in fps.items()}
    skipped = sorted(s for s, f in fps.items() if len(f) < cfg.min_fingerprints)
    fps = {s: f for s, f in fps.items() if len(f) >= cfg.min_fingerprints}
    index = defaultdict(list)
    for s, f in fps.items():
        for h in f:
            index[h].append(s)
    shared = Counter()
    for students in index.values():
        for a, b in itertools.combinations(sorted(students), 2):
            shared[(a, b)] += 1
    pairs = []
    for (a, b), n in shared.items():
        union = len(fps[a]) + len(fps[b]) - n
        j = n / union
        if j >= cfg.threshold:
            pairs.append(Pair(a, b, round(j, 4), n, round(n / min(len(fps[a]), len(fps[b])), 4)))
    pairs.sort(key=lambda p: (-p.jaccard, p.a, p.b))
    return pairs, skipped


def assignment_codes(course: CourseConfig, assignment: str) -> dict[str, str]:
    """``{student: solution code}`` from ``COURSE/submitted`` (unreadable notebooks are skipped)."""
    import nbformat
    rel_dir = course.course_dir / "release" / assignment
    if not rel_dir.is_dir():
        raise GraderError(f"{assignment}: not released in {course.course_dir} (run `python -m grader release`)")
    released = {p.stem: nbformat.read(str(p), as_version=4) for p in rel_dir.glob("*.ipynb")}
    codes = {}
    for sdir in sorted((course.course_dir / "submitted").glob(f"*/{assignment}")):
        parts = []
        for name, rel in released.items():
            path = sdir / f"{name}.ipynb"
            try:
                nb = nbformat.read(str(path), as_version=4)
            except Exception:  # noqa: BLE001 - missing or not a notebook: autograde reports it
                continue
            parts.append(solution_code(nb, rel))
        codes[sdir.parent.name] = "\n".join(parts)
    return codes


def write_pairs(path: Path, pairs: list[Pair]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["student_a", "student_b", "jaccard", "shared_fingerprints", "containment"])
        w.writerows([p.a, p.b, p.jaccard, p.shared, p.containment] for p in pairs)
    return Path(path)


# --- CLI -------------------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    add_course_arguments(parser)
    parser.add_argument("--assignment", action="append", dest="assignments", default=None,
                        help="assignment id (repeatable; default: all released)")
    d = SimilarityConfig()
    for name in ("threshold", "k", "window", "max_share"):
        f = SimilarityConfig.__dataclass_fields__[name]
        parser.add_argument("--" + name.replace("_", "-"), type=type(getattr(d, name)), default=getattr(d, name),
                            help=f"{f.metadata['help']} (default: {getattr(d, name)})")


def run(args) -> int:
    course = course_from_args(args)
    cfg = SimilarityConfig(k=args.k, window=args.window, threshold=args.threshold, max_share=args.max_share)
    assignments = args.assignments or [a for a in course.assignments()
                                       if (course.course_dir / "release" / a).is_dir()]
    for a in assignments:
        codes = assignment_codes(course, a)
        pairs, skipped = compare(codes, cfg)
        out = write_pairs(course.course_dir / f"similarity_{a}.csv", pairs)
        print(f"{a}: {len(codes)} students, {len(pairs)} pair(s) with similarity >= {cfg.threshold:g} -> {out}"
              + (f" ({len(skipped)} with too little code skipped)" if skipped else ""))
        for p in pairs[:20]:
            print(f"  {p.a} ~ {p.b}: jaccard {p.jaccard:.2f}, containment {p.containment:.2f} ({p.shared} shared)")
    return 0
