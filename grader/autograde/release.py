"""Release the student version of every assignment with real ``nbgrader generate_assignment``; check for leaks.

``python -m grader release`` writes ``COURSE/release/<assignment>/`` (nbgrader's output: solutions replaced by
stubs, hidden tests and mark schemes removed) and the bundle students get, ``COURSE/student_release/``::

    <assignment>/*.ipynb     starter_code/     data/README.md

Before anything is reported as released, every released file is searched for the text of each solution block,
hidden-test block and mark scheme, and for every run of ten words of the rubrics and model answers of the
written questions (:func:`secret_blocks`, :func:`find_leaks`); any hit fails the release (exit 1) and names the
file and the block. The rubrics live in the written answer cells, which nbgrader replaces whole; the graders get
them as ``COURSE/rubrics/<assignment>.md`` (:func:`write_rubrics`), outside the student bundle.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from grader.autograde.course import REPO_ROOT, CourseConfig, add_course_arguments, course_from_args, make_api
from grader.errors import GraderError

HELP = "Release the student notebooks (nbgrader generate_assignment) with starter_code and a data README."

_DELIMS = (("### BEGIN SOLUTION", "### END SOLUTION", "solution"),
           ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS", "hidden tests"),
           ("=== BEGIN MARK SCHEME ===", "=== END MARK SCHEME ===", "mark scheme"))

DATA_README = """# Data

Put the course's two files here (from the course page; they are not part of this release):

| file | shape | dtype | what |
|---|---|---|---|
| `trainingset.npy` | (N, 64, 64, 3) | uint8 | normal faces only: train on these |
| `testingset.npy` | (M, 64, 64, 3) | uint8 | faces to score; row index = ID |

The notebooks look for them in `HW8_DATA_DIR` (default: this folder). Your submission is `prediction.csv` with the
header `ID,score`, one row per test image, IDs 0..M-1, higher score = more anomalous.
"""


class ReleaseLeak(GraderError):
    """Solution, hidden-test, rubric or model-answer text found in a released file."""


@dataclass(frozen=True)
class Block:
    """A piece of source text that must not reach students."""
    assignment: str
    notebook: str
    grade_id: str
    kind: str          # "solution", "hidden tests", "mark scheme", "rubric" or "manual answer"
    text: str          # whitespace-normalised


@dataclass(frozen=True)
class Leak:
    file: Path
    block: Block

    def __str__(self) -> str:
        b = self.block
        return (f"{self.file}: contains the {b.kind} of {b.assignment}/{b.notebook}.ipynb cell "
                f"'{b.grade_id}': {b.text[:60]!r}")


@dataclass
class ReleaseResult:
    assignments: list[str]
    bundle: Path
    files: list[Path] = field(default_factory=list)
    blocks_checked: int = 0
    rubrics: list[Path] = field(default_factory=list)


#: Text a block must have to be searched for: shorter pieces (``pass``) would match anywhere.
MIN_BLOCK_CHARS = 8
#: Rubrics and model answers are searched as every run of this many consecutive words (and shorter paragraphs
#: whole), so that a rubric cannot leak piecemeal: one criterion pasted into a hint or a README is found. Ten
#: words is longer than any phrase the kit's public texts share with its rubrics (tests/assignments).
WINDOW_WORDS = 10
_RUBRIC = re.compile(r"\brubric\b", re.I)


def _norm(text: str) -> str:
    """Text as compared: lower case, markdown emphasis and code marks dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"[*`]", "", text)).strip().lower()


def _regions(lines: list[str]) -> tuple[list[tuple[str, str]], str]:
    """(kind, text) of every delimited secret region in ``lines``, and the text outside them."""
    found, outside = [], list(lines)
    for begin, end, kind in _DELIMS:
        inside, buf, rest = False, [], []
        for line in outside:
            if begin in line:
                inside, buf = True, []
            elif end in line and inside:
                inside = False
                found.append((kind, "\n".join(buf)))
            elif inside:
                buf.append(line)
            else:
                rest.append(line)
        outside = rest
    return found, "\n".join(outside)


def _windows(paragraph: str) -> list[str]:
    """A paragraph's runs of ``WINDOW_WORDS`` consecutive words (the paragraph itself if it is shorter)."""
    words = _norm(paragraph).split(" ")
    if len(words) <= WINDOW_WORDS:
        return [" ".join(words)]
    return [" ".join(words[i:i + WINDOW_WORDS]) for i in range(len(words) - WINDOW_WORDS + 1)]


def secret_blocks(source_dir: Path, assignments: list[str] | None = None) -> list[Block]:
    """Every piece of grading key in the source notebooks, to be searched for in released files.

    - solution, hidden-test and mark-scheme regions (nbgrader's delimiters), each as a whole;
    - manually graded answer cells (markdown answer cells, which nbgrader replaces whole in the release): where
      this course keeps each written question's rubric and model answer. Every run of ``WINDOW_WORDS`` words
      is its own block, of kind "rubric" if its paragraph mentions a rubric and "manual answer" otherwise;
    - any other markdown cell that mentions a rubric: nbgrader releases such a cell as it is, so it is a leak
      by construction (the release names it; move the rubric into the answer cell).

    Pieces shorter than ``MIN_BLOCK_CHARS``, and answer pieces that also occur in the notebook's released text
    (words the question itself says), are skipped: they would match without anything having leaked. Text is
    compared after :func:`_norm` (case, emphasis and whitespace do not hide a leak).
    """
    import nbformat
    blocks = []
    for adir in sorted(p for p in Path(source_dir).iterdir() if p.is_dir()):
        if assignments is not None and adir.name not in assignments:
            continue
        for nbpath in sorted(adir.glob("*.ipynb")):
            nb = nbformat.read(str(nbpath), as_version=4)
            public, answers = [], []
            for i, cell in enumerate(nb.cells):
                md = cell.metadata.get("nbgrader", {})
                gid = md.get("grade_id", f"cell {i}")
                block = partial(Block, adir.name, nbpath.stem, gid)
                regions, outside = _regions(cell.source.split("\n"))
                blocks += [block(kind, _norm(text)) for kind, text in regions]
                if md.get("solution") and cell.cell_type == "markdown" and not regions:
                    for para in re.split(r"\n\s*\n", cell.source):
                        kind = "rubric" if _RUBRIC.search(para) else "manual answer"
                        answers += [block(kind, piece) for piece in _windows(para)]
                elif cell.cell_type == "markdown" and _RUBRIC.search(outside):
                    blocks.append(block("rubric", _norm(outside)))
                else:
                    public.append(outside)
            released = _norm("\n".join(public))
            blocks += [b for b in answers if b.text not in released]
    return [b for b in dict.fromkeys(blocks) if len(b.text) >= MIN_BLOCK_CHARS]


def write_rubrics(source_dir: Path, assignments: list[str], out: Path) -> list[Path]:
    """The graders' sheet per assignment, ``out/<assignment>.md``: each written question (the read-only cell
    above its answer cell) with its points, rubric and model answer, taken from the source notebooks. Never part
    of the student bundle."""
    import nbformat
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for a in assignments:
        parts = [f"# {a}: rubrics for the written answers (graders only)\n"]
        for nbpath in sorted((Path(source_dir) / a).glob("*.ipynb")):
            cells = nbformat.read(str(nbpath), as_version=4).cells
            for i, cell in enumerate(cells):
                md = cell.metadata.get("nbgrader", {})
                if not (md.get("grade") and md.get("solution") and cell.cell_type == "markdown"):
                    continue
                question = cells[i - 1].source.strip() if i else f"## {md['grade_id']}"
                points = md.get("points", 0)
                parts.append(f"{question}\n\n*Answer cell `{md['grade_id']}` of `{nbpath.stem}.ipynb`, {points:g} "
                             f"point{'' if points == 1 else 's'}, graded by hand.*\n\n{cell.source.strip()}\n")
        if len(parts) > 1:
            path = out / f"{a}.md"
            path.write_text("\n".join(parts), encoding="utf-8")
            written.append(path)
    return written


def _released_text(path: Path) -> str:
    if path.suffix == ".ipynb":
        import nbformat
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception:  # noqa: BLE001 - not a notebook after all: search its raw text
            return path.read_text(encoding="utf-8", errors="replace")
        parts = []
        for cell in nb.cells:
            parts.append(cell.source)
            for out in cell.get("outputs", []):
                parts.append(str(out.get("text", "")) + str(out.get("data", "")) + str(out.get("traceback", "")))
        return "\n".join(parts)
    return path.read_bytes().decode("utf-8", errors="replace")


def find_leaks(blocks: list[Block], release_dir: Path) -> list[Leak]:
    """Search every file under ``release_dir`` for each block's text (both compared after :func:`_norm`); return
    the hits."""
    leaks = []
    for path in sorted(p for p in Path(release_dir).rglob("*") if p.is_file()):
        text = _norm(_released_text(path))
        leaks += [Leak(path, b) for b in blocks if _norm(b.text) in text]
    return leaks


def _copy_starter_code(dest: Path) -> None:
    src = REPO_ROOT / "starter_code"
    if not src.is_dir():
        raise GraderError(f"{src}: starter_code package not found")
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)


def release(course: CourseConfig, assignments: list[str] | None = None, *, out: Path | None = None,
            duedate: datetime | None = None) -> ReleaseResult:
    """Generate the student version of ``assignments`` (default: all) and the student bundle ``out``.

    Raises ``GraderError`` if nbgrader fails (with its log) and ``ReleaseLeak`` if any secret text survives.
    """
    known = course.assignments()
    assignments = list(assignments or known)
    unknown = [a for a in assignments if a not in known]
    if unknown:
        raise GraderError(f"unknown assignment(s) {', '.join(unknown)}; in {course.source_dir}: "
                          f"{', '.join(known) or 'none'}")
    api = make_api(course)
    for a in assignments:
        if duedate is not None:
            with api.gradebook as gb:
                gb.update_or_create_assignment(a, duedate=duedate)
        res = api.generate_assignment(a, force=True, create=True)
        if not res["success"]:
            raise GraderError(f"nbgrader generate_assignment {a} failed:\n{res.get('error', '')}\n"
                              f"{res.get('log', '')}")
    out = Path(out) if out is not None else course.course_dir / "student_release"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for a in assignments:
        shutil.copytree(course.course_dir / "release" / a, out / a,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    _copy_starter_code(out / "starter_code")
    (out / "data").mkdir()
    (out / "data" / "README.md").write_text(DATA_README, encoding="utf-8")
    blocks = secret_blocks(course.source_dir, assignments)
    leaks = find_leaks(blocks, course.course_dir / "release") + find_leaks(blocks, out)
    if leaks:
        raise ReleaseLeak(f"{len(leaks)} leak(s) in the release:\n" + "\n".join(f"  {x}" for x in leaks)
                          + "\nRubrics and model answers belong in the written answer cell, which nbgrader "
                            "replaces with YOUR ANSWER HERE (assignments/README.md).")
    rubrics = write_rubrics(course.source_dir, assignments, course.course_dir / "rubrics")
    files = sorted(p for p in out.rglob("*") if p.is_file())
    return ReleaseResult(assignments, out, files, len(blocks), rubrics)


# --- CLI -------------------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="assignment ids (default: all)")
    add_course_arguments(parser)
    parser.add_argument("--out", type=Path, default=None,
                        help="student bundle folder (default: COURSE/student_release)")
    parser.add_argument("--duedate", default=None,
                        help="due date stored in the gradebook (ISO, UTC), used for late penalties")


def run(args) -> int:
    due = None
    if args.duedate:
        try:
            due = datetime.fromisoformat(args.duedate.replace("Z", "+00:00"))
        except ValueError as e:
            raise GraderError(f"--duedate: not an ISO date-time: {args.duedate!r}") from e
    res = release(course_from_args(args), args.assignments or None, out=args.out, duedate=due)
    print(f"released {', '.join(res.assignments)} -> {res.bundle} ({len(res.files)} files); "
          f"checked {res.blocks_checked} solution, hidden-test, rubric and model-answer pieces: no leak")
    if res.rubrics:
        print(f"graders' rubrics (not for students): {res.rubrics[0].parent}/")
    return 0
