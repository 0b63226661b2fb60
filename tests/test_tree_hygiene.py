"""The tree speaks to a reader who has only the tree: no tracker numbers, branch names or stories of who ran what.

A reader of a comment, docstring or document has no issue tracker and no branch list to follow "issue 14", "this
branch" or "main's code" to, and "four engineers' jobs" says nothing about the code. A figure goes beside the
command that reproduces it (docs/results.md), a reason beside the code it explains.

Every file git tracks, or would track (untracked files that are not ignored), is read as text; binary files are
skipped. References to other projects' trackers stay allowed: ``owner/repo#38``, and ``<package> issue #1961``
where the package is one of ``requirements.txt``'s.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()

#: (what it is, pattern), matched case-insensitively line by line.
FORBIDDEN = [
    ("a tracker number", re.compile(r"\b(?:issue|ticket|bug|pull request|PR)\s*#?\d+\b", re.I)),
    ("branch talk", re.compile(r"\bthis branch\b|\bbranch's\b|\bmain's (?:code|version|figures?)\b|\bon main\b"
                               r"|\bthe main branch\b|\bmain vs\.?\b|\bmerged? (?:into|from) main\b", re.I)),
    ("a story of who ran what", re.compile(r"\bengineers' jobs\b|\b(?:two|three|four|five|other) engineers\b"
                                           r"|\bGPU was lent\b|\bwas lent to\b", re.I)),
]
#: In prose (Markdown), a bare "#12" is a tracker reference too; "owner/repo#12", "&#39;" and "file.md#anchor" are not.
BARE_NUMBER = re.compile(r"(?<![\w/&#])#\d+\b")


def upstream_packages() -> set[str]:
    """The dependencies' names (requirements*.txt): "nbgrader issue #1961" names another project's tracker."""
    names = set()
    for req in ROOT.glob("requirements*.txt"):
        for line in req.read_text(encoding="utf-8").splitlines():
            m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
            if m and not line.lstrip().startswith("#"):
                names.add(m.group(1).lower())
    return names


def problems_in(path: str, text: str, upstream: set[str]) -> list[str]:
    """``path:line: what: the line`` for every forbidden phrase in ``text``."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        hits = []
        for what, pattern in FORBIDDEN:
            for m in pattern.finditer(line):
                before = line[:m.start()].split()
                if what == "a tracker number" and before and before[-1].strip("(`'\"").lower() in upstream:
                    continue
                hits.append(what)
        if path.endswith(".md") and BARE_NUMBER.search(line):
            hits.append("a tracker number")
        found += [f"{path}:{number}: {what}: {line.strip()[:120]}" for what in dict.fromkeys(hits)]
    return found


def tree_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: no list of tracked files")
    return sorted({p for p in out.decode().split("\0") if p and p != THIS and (ROOT / p).is_file()})


def test_no_tracker_numbers_branch_names_or_stories_in_the_tree():
    upstream, found = upstream_packages(), []
    for path in tree_files():
        data = (ROOT / path).read_bytes()
        if b"\0" in data:
            continue  # binary
        found += problems_in(path, data.decode("utf-8", errors="replace"), upstream)
    assert not found, "say it for a reader without the tracker or the branches:\n" + "\n".join(found)


def test_the_check_catches_each_kind_and_spares_other_projects_trackers():
    upstream = upstream_packages()
    text = ("ok line\n"
            "# fixed in issue 12, see PR #7\n"
            "Measured on this branch against main's code.\n"
            "taken while four engineers' jobs shared the cores; No GPU was lent.\n"
            "nbgrader issue #1961 and simonw/asgi-csrf#38 are other projects' trackers.\n")
    found = problems_in("x.py", text, upstream)
    assert [f.split(": ")[0:2] for f in found] == [
        ["x.py:2", "a tracker number"], ["x.py:3", "branch talk"], ["x.py:4", "a story of who ran what"]]
    assert problems_in("notes.md", "See #12 and [deploy](deploy.md#6-backup) and &#39;\n", upstream) == [
        "notes.md:1: a tracker number: See #12 and [deploy](deploy.md#6-backup) and &#39;"]
    assert problems_in("x.py", 'assert got == "differs from #3 in 2 row(s)"\n', upstream) == []


# --- the docs' links ------------------------------------------------------------------------------------------------

#: A relative Markdown link: [text](target) or [text](target#anchor), not a URL.
LINK = re.compile(r"\]\((?![a-z]+:)([^)#\s]*)(?:#([^)\s]+))?\)")


def anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def broken_links(md: Path, root: Path = ROOT) -> list[str]:
    """``file: target`` for every relative link in ``md`` whose file, or heading, does not exist."""
    broken = []
    for target, frag in LINK.findall(md.read_text(encoding="utf-8")):
        dest = (md.parent / target).resolve() if target else md
        if not dest.exists():
            broken.append(f"{md.relative_to(root)}: {target}")
        elif frag and dest.suffix == ".md":
            headings = re.findall(r"^#+\s+(.*)$", dest.read_text(encoding="utf-8"), flags=re.M)
            if frag not in {anchor(h) for h in headings}:
                broken.append(f"{md.relative_to(root)}: {target}#{frag}")
    return broken


def test_the_readme_and_docs_link_only_to_what_exists():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert [b for page in pages for b in broken_links(page)] == []


def test_a_broken_link_is_caught(tmp_path):
    page = tmp_path / "a.md"
    (tmp_path / "b.md").write_text("# Two words, here\n")
    page.write_text("[ok](b.md#two-words-here) [gone](c.md) [bad anchor](b.md#nowhere) [web](https://x.org/#y)\n")
    assert broken_links(page, tmp_path) == ["a.md: c.md", "a.md: b.md#nowhere"]
