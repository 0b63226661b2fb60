"""Release the student version of every assignment with real ``nbgrader generate_assignment``; check for leaks.

``python -m grader release`` writes ``COURSE/release/<assignment>/`` (nbgrader's output: solutions replaced by
stubs, hidden tests and mark schemes removed) and the bundle students get, ``COURSE/student_release/``::

    README.md  requirements.txt  pyproject.toml     how to set up (local venv, Colab), the data, smoke mode
    starter_code/                                   the course's library (``pip install -e .`` installs it)
    data/README.md                                  where the two data files go
    <assignment>/<assignment>.ipynb                 one folder per released assignment

and the same as zips in ``COURSE/student_zips/``: ``hw8-<assignment>.zip`` per assignment and ``hw8-all.zip``,
each unpacking into one ``hw8/`` folder. The README, requirements and pyproject come from the bundle template
(``<source>/student/``, default: the kit's ``assignments/student/``); nothing from the kit outside it and
``starter_code`` is shipped, and markdown paragraphs that point into the kit (``benchmarks/...``) are left out of
the bundled copies (:func:`student_markdown`), so that no bundled text names a file the student does not have.

Before anything is reported as released, every released file is searched for the text of each solution block,
hidden-test block and mark scheme, and for every run of ten words of the rubrics and model answers of the
written questions (:func:`secret_blocks`, :func:`find_leaks`); any hit fails the release (exit 1) and names the
file and the block. The rubrics live in the written answer cells, which nbgrader replaces whole; the graders get
them as ``COURSE/rubrics/<assignment>.md`` (:func:`write_rubrics`), outside the student bundle.
"""
from __future__ import annotations

import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from grader.autograde.course import (REPO_ROOT, CourseConfig, add_course_arguments, course_from_args, make_api,
                                     protect_gradebook_db)
# The kit's packages a student receives (with the template's pyproject, ``pip install -e .`` installs them).
from grader.autograde.sandbox import STUDENT_PACKAGES
from grader.errors import GraderError

HELP = ("Release the student notebooks (nbgrader generate_assignment) as a bundle that sets itself up: README, "
        "requirements, installable starter_code, zips; no solution, hidden test or rubric.")

_DELIMS = (("### BEGIN SOLUTION", "### END SOLUTION", "solution"),
           ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS", "hidden tests"),
           ("=== BEGIN MARK SCHEME ===", "=== END MARK SCHEME ===", "mark scheme"))

#: The student bundle's own files (README, requirements, pyproject, data/README.md) when a course has none.
STUDENT_TEMPLATE = REPO_ROOT / "assignments" / "student"
#: The folder every student zip unpacks into.
BUNDLE_NAME = "hw8"
_BUNDLE_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")


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
    zips: list[Path] = field(default_factory=list)
    #: bundled markdown paragraphs left out because they point into the kit: (file, first words)
    omitted: list[tuple[str, str]] = field(default_factory=list)


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

    from common.files import write_private
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
            written.append(write_private(out / f"{a}.md", "\n".join(parts)))     # graders only: 0600
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


def _kit_paths() -> re.Pattern:
    """Relative paths into the kit's top-level folders (``benchmarks/x.py``, ``tests/``, ``solutions/``...)."""
    tops = sorted(p.name for p in REPO_ROOT.iterdir() if p.is_dir() and not p.name.startswith("."))
    return re.compile(r"(?<![\w/.~$-])((?:" + "|".join(map(re.escape, tops)) + r")/[\w./-]*)")


def dangling_references(text: str, here: Path, bundle: Path) -> list[str]:
    """Paths into the kit's folders that ``text`` (a markdown file in folder ``here`` of ``bundle``) names but
    the bundle does not hold (looked up from ``here`` and from the bundle's root)."""
    missing = []
    for ref in dict.fromkeys(m.group(1).rstrip(".") for m in _kit_paths().finditer(text)):
        if not ((here / ref).exists() or (bundle / ref).exists()):
            missing.append(ref)
    return missing


def student_markdown(text: str, here: Path, bundle: Path) -> tuple[str, list[str]]:
    """A kit markdown file as students get it: HTML comments (notes for the kit's maintainers) dropped, every
    paragraph that names a path the bundle lacks dropped, then headings left with nothing under them dropped.
    Returns the text and the first words of each paragraph left out."""
    text = re.sub(r"<!--.*?-->\n?", "", text, flags=re.S)
    kept, omitted = [], []
    for para in re.split(r"\n\s*\n", text):
        if dangling_references(para, here, bundle):
            omitted.append(" ".join(para.split()[:8]))
        else:
            kept.append(para)
    level = lambda p: len(p) - len(p.lstrip("#")) if p.startswith("#") and "\n" not in p.strip() else 0  # noqa: E731
    out = [p for i, p in enumerate(kept)
           if not level(p) or (i + 1 < len(kept) and not 0 < level(kept[i + 1]) <= level(p))]
    return "\n\n".join(p for p in out if p.strip()).rstrip() + "\n", omitted


def _student_template(course: CourseConfig) -> Path:
    own = course.source / "student"
    return own if own.is_dir() else STUDENT_TEMPLATE


_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def leaderboard_facts(competition=None) -> dict[str, str]:
    """What the bundle's README says about the leaderboard (``{{name}}`` placeholders), from the competition's
    config (``grader.competition.CompetitionConfig``); without one, words that send the student to the course."""
    if competition is None or not competition.public_url:
        where = {"leaderboard_url": "https://LEADERBOARD", "leaderboard_note": " (your course page gives the real "
                 "address: use it wherever this section says https://LEADERBOARD)"}
    else:
        where = {"leaderboard_url": competition.public_url, "leaderboard_note": ""}
    if competition is None:
        return {**where, "daily_limit": "a few",
                "deadline": "on your course page", "final_selections": "a few",
                "late_rule": "the leaderboard says what happens to uploads after it."}
    deadline = (competition.closes_at.strftime("%Y-%m-%d %H:%M UTC") if competition.closes_at
                else "on your course page")
    late = ("uploads after it are still scored, as *late*: shown to you, never ranked or chosen as final."
            if competition.late_uploads else "uploads after it are refused.")
    return {**where, "daily_limit": str(competition.daily_limit), "deadline": deadline,
            "final_selections": str(competition.final_selections), "late_rule": late}


def fill_placeholders(text: str, facts: dict[str, str], where: str) -> str:
    """``text`` with every ``{{name}}`` replaced by ``facts[name]``; an unknown name raises ``GraderError``."""
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} - set(facts))
    if unknown:
        raise GraderError(f"{where}: unknown placeholder(s) {', '.join('{{' + u + '}}' for u in unknown)}; "
                          f"known: {', '.join(sorted(facts))}")
    return _PLACEHOLDER.sub(lambda m: facts[m.group(1)], text)


def build_bundle(course: CourseConfig, assignments: list[str], out: Path, competition=None) -> list[tuple[str, str]]:
    """Write the student bundle into ``out`` (emptied first) from nbgrader's ``release/`` folder, the bundle
    template and ``STUDENT_PACKAGES``; return the paragraphs of the packages' markdown left out because they
    point into the kit (file, first words). The template's markdown gets the leaderboard's facts
    (``leaderboard_facts(competition)``) in its ``{{name}}`` placeholders."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(_student_template(course), out, ignore=_BUNDLE_IGNORE)
    facts = leaderboard_facts(competition)
    for md in sorted(out.rglob("*.md")):
        md.write_text(fill_placeholders(md.read_text(encoding="utf-8"), facts, str(md.relative_to(out))),
                      encoding="utf-8")
    for package in STUDENT_PACKAGES:
        src = REPO_ROOT / package
        if not src.is_dir():
            raise GraderError(f"{src}: package {package} not found")
        shutil.copytree(src, out / package, ignore=_BUNDLE_IGNORE, dirs_exist_ok=True)
    for a in assignments:
        shutil.copytree(course.course_dir / "release" / a, out / a, ignore=_BUNDLE_IGNORE)
    omitted = []  # the kit's own markdown is trimmed; the template's is the course's and must be right as it is
    for md in sorted(p for package in STUDENT_PACKAGES for p in (out / package).rglob("*.md")):
        text, dropped = student_markdown(md.read_text(encoding="utf-8"), md.parent, out)
        md.write_text(text, encoding="utf-8")
        omitted += [(str(md.relative_to(out)), words) for words in dropped]
    return omitted


def write_zips(bundle: Path, assignments: list[str], dest: Path) -> list[Path]:
    """``dest/hw8-<assignment>.zip`` per assignment (the bundle without the other assignments' folders) and
    ``dest/hw8-all.zip``; each unpacks into one ``hw8/`` folder. Entries are sorted and dated 1980-01-01, so the
    same bundle always gives the same bytes."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    files = sorted(p for p in bundle.rglob("*") if p.is_file())
    written = []
    for name, keep in [(a, {a}) for a in assignments] + [("all", set(assignments))]:
        path = dest / f"{BUNDLE_NAME}-{name}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                rel = f.relative_to(bundle)
                if rel.parts[0] in assignments and rel.parts[0] not in keep:
                    continue
                info = zipfile.ZipInfo(f"{BUNDLE_NAME}/{rel.as_posix()}", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
                zf.writestr(info, f.read_bytes())
        written.append(path)
    return written


def release(course: CourseConfig, assignments: list[str] | None = None, *, out: Path | None = None,
            duedate: datetime | None = None, competition=None) -> ReleaseResult:
    """Generate the student version of ``assignments`` (default: all) and the student bundle ``out``
    (``competition``: the leaderboard's ``CompetitionConfig``, whose address, limits and deadline the bundle's
    README states).

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
    # The gradebook nbgrader just wrote holds every test's full source, hidden parts included; the course folder
    # will hold submissions, grades and feedback: the TA's account only, from the first command on.
    protect_gradebook_db(course)
    os.chmod(course.course_dir, 0o700)
    out = Path(out) if out is not None else course.course_dir / "student_release"
    omitted = build_bundle(course, assignments, out, competition)
    dangling = [f"{md.relative_to(out)}: {ref}" for md in sorted(out.rglob("*.md"))
                for ref in dangling_references(md.read_text(encoding="utf-8"), md.parent, out)]
    if dangling:  # the template's text (the packages' was trimmed above): the course must fix it
        raise GraderError("the student bundle names files it does not hold:\n  " + "\n  ".join(dangling)
                          + f"\n(edit {_student_template(course)})")
    blocks = secret_blocks(course.source_dir, assignments)
    leaks = find_leaks(blocks, course.course_dir / "release") + find_leaks(blocks, out)
    if leaks:
        raise ReleaseLeak(f"{len(leaks)} leak(s) in the release:\n" + "\n".join(f"  {x}" for x in leaks)
                          + "\nRubrics and model answers belong in the written answer cell, which nbgrader "
                            "replaces with YOUR ANSWER HERE (assignments/README.md).")
    rubrics = write_rubrics(course.source_dir, assignments, course.course_dir / "rubrics")
    zips = write_zips(out, assignments, course.course_dir / "student_zips")
    files = sorted(p for p in out.rglob("*") if p.is_file())
    return ReleaseResult(assignments, out, files, len(blocks), rubrics, zips, omitted)


# --- CLI -------------------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="assignment ids (default: all)")
    add_course_arguments(parser)
    parser.add_argument("--out", type=Path, default=None,
                        help="student bundle folder (default: COURSE/student_release)")
    parser.add_argument("--duedate", default=None,
                        help="due date stored in the gradebook (ISO, UTC), used for late penalties")
    parser.add_argument("--competition", type=Path, default=None, metavar="TOML",
                        help="the leaderboard's competition.toml: the bundle's README gives its address (public_url), "
                             "daily limit, deadline and final selections (default: it sends students to the course "
                             "page)")


def run(args) -> int:
    due = None
    if args.duedate:
        try:
            due = datetime.fromisoformat(args.duedate.replace("Z", "+00:00"))
        except ValueError as e:
            raise GraderError(f"--duedate: not an ISO date-time: {args.duedate!r}") from e
    competition = None
    if args.competition is not None:
        from grader.competition import load_competition
        competition = load_competition(args.competition)
    res = release(course_from_args(args), args.assignments or None, out=args.out, duedate=due,
                  competition=competition)
    for file, words in res.omitted:
        print(f"left out of the bundle's {file} (it points into the kit): {words} ...")
    print(f"released {', '.join(res.assignments)} -> {res.bundle} ({len(res.files)} files), "
          f"zips in {res.zips[0].parent}/; "
          f"checked {res.blocks_checked} solution, hidden-test, rubric and model-answer pieces: no leak")
    if res.rubrics:
        print(f"graders' rubrics (not for students): {res.rubrics[0].parent}/")
    return 0
