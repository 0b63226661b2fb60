"""The student bundle's ``requirements.txt`` lists every package that the bundle's code imports.

Scanned: every source notebook (its code cells; the released notebook is the same minus its solution regions,
the solved one is the same with them), the code its hints show (code spans in markdown and in comments, e.g.
``import matplotlib.pyplot as plt``), every module of the packages the bundle ships (``STUDENT_PACKAGES``), and
the reference modules (``solutions/``) that the solved notebooks import, followed import by import, including
imports inside functions. Hidden tests are left out: they run only in the grader's kernel, on the kit's venv.

Each top-level module must be the standard library, a package the bundle ships, a reference package (solved
notebooks only: ``tests/assignments/test_student_bundle.py`` puts ``solutions/`` on that kernel's path), or come
from a distribution listed in the student ``requirements.txt`` by name: what a dependency happens to pull in today
is not counted. Import names map to distributions through the kit's venv, which has every package installed.
The slow check that the list installs and runs the notebooks, in a fresh venv, is ``test_student_bundle.py``.
"""
from __future__ import annotations

import ast
import re
import sys
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from assignments import ASSIGNMENTS, notebook_path
from grader.autograde.course import REPO_ROOT
from grader.autograde.release import STUDENT_PACKAGES, STUDENT_TEMPLATE

#: Put on the solved notebooks' kernel path beside the bundle (tests/assignments/test_student_bundle.py).
REFERENCE_PACKAGES = ("solutions",)
#: Cell magics whose body is Python (``%%time`` above code); any other cell magic (``%%bash``) is not scanned.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*$", re.DOTALL | re.MULTILINE)
_FENCED = re.compile(r"```[a-zA-Z]*\n(.*?)```", re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")

#: {module: [where it is imported]}
Imports = dict[str, list[str]]


def python_of_cell(source: str) -> str:
    """The Python of a code cell: hidden tests removed, IPython magics and shell lines (``%pip``, ``!ls``)
    blanked (line numbers kept); ``""`` for a cell magic whose body is not Python."""
    first = source.lstrip().split("\n", 1)[0]
    if first.startswith("%%"):
        if first[2:].split(" ", 1)[0] not in PYTHON_CELL_MAGICS:
            return ""
        source = source.lstrip().split("\n", 1)[1] if "\n" in source.lstrip() else ""
    source = _HIDDEN.sub("", source)
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


def imported_modules(code: str) -> list[str]:
    """Absolute modules ``code`` imports, anywhere (inside functions too). ``from a import b`` gives ``a`` and
    ``a.b`` (``b`` may be a submodule; callers that follow modules keep the names that are files)."""
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"]
    return found


def hint_modules(text: str) -> list[str]:
    """Modules imported by the code spans of ``text`` (markdown, or a cell's comments): a hint that says
    ``import x`` asks the student for ``x``. Spans that are not Python (``(n, 64, 64, 3)``) are skipped."""
    found = []
    for span in _FENCED.findall(text) + _INLINE.findall(_FENCED.sub("", text)):
        try:
            found += imported_modules(span)
        except SyntaxError:
            continue
    return found


def notebook_imports(path: Path) -> Imports:
    """Every module the notebook at ``path`` imports in its code cells or shows in its hints."""
    nb = nbformat.read(path, as_version=4)
    out: Imports = {}
    for i, cell in enumerate(nb.cells):
        where = f"{path.name} cell {i}"
        if cell.cell_type == "markdown":
            modules = hint_modules(cell.source)
        elif cell.cell_type == "code":
            code = python_of_cell(cell.source)
            try:
                modules = imported_modules(code)
            except SyntaxError as e:
                raise AssertionError(f"{where} is not Python once magics are blanked: {e}") from e
            comments = "\n".join(line.split("#", 1)[1] for line in code.split("\n") if "#" in line)
            modules += hint_modules(comments)
        else:
            continue
        for m in modules:
            out.setdefault(m, []).append(where)
    return out


def module_file(module: str, root: Path) -> Path | None:
    """The source file of ``module`` under ``root`` (``a/b.py`` or ``a/b/__init__.py``), or None."""
    base = root.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def follow(imports: Imports, root: Path, packages: tuple[str, ...]) -> Imports:
    """``imports`` plus, transitively, what the modules of ``packages`` (under ``root``) among them import."""
    out = {m: list(w) for m, w in imports.items()}
    todo, seen = list(imports), set()
    while todo:
        module = todo.pop()
        if module in seen or module.split(".")[0] not in packages:
            continue
        seen.add(module)
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        parts = module.split(".")
        parents = [".".join(parts[:i]) for i in range(1, len(parts))]
        todo += [p for p in parents if p not in seen]
        path = module_file(module, root)
        if path is None:
            continue
        where = str(path.relative_to(root))
        for m in imported_modules(path.read_text(encoding="utf-8")):
            out.setdefault(m, []).append(where)
            todo.append(m)
    return out


def package_imports(root: Path, packages: tuple[str, ...]) -> Imports:
    """Every module that any module of ``packages`` (folders under ``root``, shipped whole) imports."""
    out: Imports = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            for m in imported_modules(path.read_text(encoding="utf-8")):
                out.setdefault(m, []).append(str(path.relative_to(root)))
    return out


def listed_distributions(requirements: Path) -> set[str]:
    """The canonical names of the distributions ``requirements`` lists (comments and pip options skipped)."""
    names = set()
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            names.add(canonicalize_name(Requirement(line).name))
        except InvalidRequirement as e:
            raise AssertionError(f"{requirements}: {line!r} is not a requirement: {e}") from e
    return names


@cache
def _distributions() -> dict[str, tuple[str, ...]]:
    return {m: tuple(canonicalize_name(d) for d in ds) for m, ds in packages_distributions().items()}


def unlisted(imports: Imports, listed: set[str], local: tuple[str, ...]) -> list[str]:
    """One line per top-level module of ``imports`` that is neither the standard library, one of ``local`` nor
    provided by a distribution in ``listed``."""
    problems = []
    tops: Imports = {}
    for module, where in imports.items():
        tops.setdefault(module.split(".")[0], []).extend(where)
    for top, where in sorted(tops.items()):
        if top in sys.stdlib_module_names or top in local or top == "__future__":
            continue
        places = ", ".join(dict.fromkeys(where))
        dists = _distributions().get(top)
        if not dists:
            problems.append(f"{top}: no installed distribution provides it (imported by {places})")
        elif not set(dists) & listed:
            problems.append(f"{top}: from {' or '.join(dists)}, which requirements.txt does not list "
                            f"(imported by {places})")
    return problems


def bundle_imports(root: Path = REPO_ROOT, notebooks: list[Path] | None = None,
                   shipped: tuple[str, ...] = STUDENT_PACKAGES,
                   reference: tuple[str, ...] = REFERENCE_PACKAGES) -> Imports:
    """What the notebooks (default: every source notebook), their hints, the shipped packages and the reference
    modules the notebooks reach import."""
    imports: Imports = {}
    for path in notebooks if notebooks is not None else [notebook_path(a) for a in ASSIGNMENTS]:
        for m, where in notebook_imports(path).items():
            imports.setdefault(m, []).extend(where)
    for m, where in package_imports(root, shipped).items():
        imports.setdefault(m, []).extend(where)
    return follow(imports, root, reference)


def test_student_requirements_list_every_import():
    imports = bundle_imports()
    listed = listed_distributions(STUDENT_TEMPLATE / "requirements.txt")
    problems = unlisted(imports, listed, STUDENT_PACKAGES + REFERENCE_PACKAGES)
    assert not problems, ("add these to assignments/student/requirements.txt (pinned like the kit's "
                          "requirements.txt):\n  " + "\n  ".join(problems))


def test_the_scan_reaches_every_source():
    """Each notebook, each shipped module and the reference modules the solved notebooks call are read."""
    imports = bundle_imports()
    places = {p.split(" cell ")[0] for where in imports.values() for p in where}
    assert {f"{a}.ipynb" for a in ASSIGNMENTS} <= places
    shipped = {str(p.relative_to(REPO_ROOT)) for package in STUDENT_PACKAGES
               for p in (REPO_ROOT / package).rglob("*.py") if imported_modules(p.read_text(encoding="utf-8"))}
    assert shipped and shipped <= places
    assert any(p.startswith(f"{REFERENCE_PACKAGES[0]}/") for p in places), "no reference module was followed"


def _notebook(path: Path, cells) -> Path:
    nb = nbformat.v4.new_notebook(cells=cells)
    nbformat.write(nb, path)
    return path


def test_a_notebook_importing_an_unlisted_package_is_reported(tmp_path):
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / "__init__.py").write_text("import numpy\nimport pandas as pd\n")
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "__init__.py").write_text("")
    (tmp_path / "ref" / "stages.py").write_text("def knn():\n    from sklearn.neighbors import NearestNeighbors\n")
    (tmp_path / "ref" / "unused.py").write_text("import jinja2\n")  # never imported: not followed
    code, md = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    nb = _notebook(tmp_path / "x.ipynb", [
        code("%pip install -q hypothesis\n!ls data\n%env HW8_SMOKE=1"),
        code("import numpy as np\nimport shipped\nfrom ref import stages\nfrom hypothesis import given"),
        code("%%bash\nimport-not-python fastapi"),
        code("%%time\nimport pandas"),
        md("Plot with `import matplotlib.pyplot as plt`, shaped `(n, 64, 64, 3)`."),
        code("x = 1  # or `from httpx import Client`\nimport no_such_module_anywhere"),
        code("assert x\n### BEGIN HIDDEN TESTS\nimport sqlalchemy\n### END HIDDEN TESTS\nimport os"),
    ])
    imports = bundle_imports(tmp_path, [nb], shipped=("shipped",), reference=("ref",))
    listed = {"numpy", "pandas", "matplotlib"}
    problems = unlisted(imports, listed, ("shipped", "ref"))
    reported = {p.split(":")[0] for p in problems}
    assert reported == {"hypothesis", "httpx", "sklearn", "no_such_module_anywhere"}, problems
    (sklearn,) = [p for p in problems if p.startswith("sklearn:")]
    assert "scikit-learn" in sklearn and "ref/stages.py" in sklearn
    assert "x.ipynb cell 1" in next(p for p in problems if p.startswith("hypothesis:"))
    # Listed under its distribution's name, the import is accepted (scikit-learn provides sklearn).
    assert "sklearn" not in {p.split(":")[0] for p in unlisted(imports, listed | {"scikit-learn"}, ("shipped", "ref"))}


def test_a_cell_that_is_not_python_fails_the_scan(tmp_path):
    nb = _notebook(tmp_path / "y.ipynb", [nbformat.v4.new_code_cell("import numpy\nimport (")])
    with pytest.raises(AssertionError, match="y.ipynb cell 0"):
        notebook_imports(nb)


@pytest.mark.parametrize("line, name", [("scikit-learn>=1.4,<2", "scikit-learn"), ("torch==2.13.0", "torch"),
                                        ("psycopg[binary]>=3.2,<4", "psycopg"), ("Pillow>=10  # images", "pillow")])
def test_requirement_lines_give_their_distribution(tmp_path, line, name):
    (tmp_path / "r.txt").write_text(f"# a comment\n\n--index-url https://example.invalid\n{line}\n")
    assert listed_distributions(tmp_path / "r.txt") == {name}
