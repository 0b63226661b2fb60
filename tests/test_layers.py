"""The kit's floors, drawn from the code: what may import what (every import, at the top of a module or inside a
function), and which modules must start without torch.

    kit/                         the top floor: may import anything below
    solutions/   grader/         side by side: solutions never imports grader, grader never imports solutions or
                                 the face generator (data_tools)
    starter_code/  data_tools/   the ground floor: import nothing of grader, solutions or kit
    common/                      the shared base under everything: imports no package of the kit

Within and across the floors no module imports itself back through others (no import circle): a circle makes
the import order matter and leaves half-initialised modules.

The grader, the leaderboard and the torch-free part of starter_code (formats, config, submission) must import
without loading torch, so that the web app and ``python -m grader`` start fast.
"""
from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "starter_code", "data_tools", "solutions", "grader", "kit")
#: package -> the kit's packages it must never import.
FORBIDDEN = {
    "common": {"starter_code", "data_tools", "grader", "solutions", "kit"},
    "starter_code": {"data_tools", "grader", "solutions", "kit"},
    "data_tools": {"grader", "solutions", "kit"},
    "solutions": {"grader", "kit"},
    "grader": {"data_tools", "solutions", "kit"},
    "kit": set(),
}


def imports_of(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, anywhere in the file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def module_imports(package: str) -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): imports_of(p) for p in sorted((ROOT / package).rglob("*.py"))}


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_down_only(package):
    bad = {path: sorted(names & FORBIDDEN[package]) for path, names in module_imports(package).items()
           if names & FORBIDDEN[package]}
    assert not bad, f"{package} imports an upper floor: {bad}"


#: grader modules whose code runs inside a notebook's kernel (where the student's torch is), not in the grader's
#: process: they may import torch, but only inside a function (a lazy import never taken by the grader itself).
KERNEL_SIDE = {"grader/autograde/exchange.py"}  # rebuilds an exported tensor in the test kernel


def lazy_torch_imports_only(tree: ast.Module) -> bool:
    """True when every ``import torch`` in ``tree`` sits inside a function body."""
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    nested = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    in_functions = {id(m) for f in nested for m in ast.walk(f)}
    return not any(
        (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "torch" for a in n.names)
         or isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "torch")
        and (n in top_level or id(n) not in in_functions)
        for n in ast.walk(tree))


def test_the_grader_never_imports_torch_or_the_starter_codes_torch_modules():
    torch_free = {"formats", "config", "submission"}
    for path, _ in module_imports("grader").items():
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        if path in KERNEL_SIDE:
            assert lazy_torch_imports_only(tree), f"{path} runs in a kernel but imports torch at module level"
            continue
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert name.split(".")[0] != "torch", f"{path} imports torch"
                if name.startswith("starter_code"):
                    sub = name.split(".")[1] if "." in name else None
                    assert sub in torch_free, f"{path} imports {name} (only {sorted(torch_free)} are torch-free)"


def test_the_layer_check_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from grader.scoring import score_file\n    import kit.cli\n")
    assert imports_of(bad) == {"grader", "kit"}


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:``, which only a type checker reads."""
    guards = [node for node in ast.walk(tree) if isinstance(node, ast.If)
              and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"]
    hidden = {id(n) for node in guards for stmt in node.body for n in ast.walk(stmt)}
    return [n for n in ast.walk(tree) if id(n) not in hidden]


def import_graph(root: Path, packages) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` (under ``root``) it imports when it runs, anywhere in the file (not
    under ``if TYPE_CHECKING:``). ``from a import b`` points at ``a.b`` when that is a module, else at ``a``;
    relative imports are resolved."""
    files = {module_name(root, p): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names}
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: each strongly connected group of more than one module (Tarjan), sorted."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def test_no_import_circle():
    graph = import_graph(ROOT, PACKAGES)
    assert len(graph) > 100 and graph["grader.errors"] >= {"common.errors", "common.config"}
    cycles = import_cycles(graph)
    assert not cycles, "import circles (each a group of modules that import one another): " + "; ".join(
        " <-> ".join(c) for c in cycles)


def test_the_circle_check_can_fail(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg import a\n")
    (pkg / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from .. import c\n")
    (pkg / "c.py").write_text("import pkg.a\nimport os\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nfrom pkg import c\n"
                              "if TYPE_CHECKING:\n    from pkg.e import E\n")
    (pkg / "e.py").write_text("from pkg import d\n")
    graph = import_graph(tmp_path, ["pkg"])
    assert graph["pkg.sub.b"] == {"pkg.c"} and graph["pkg.c"] == {"pkg.a"} and graph["pkg.sub"] == set()
    assert graph["pkg.d"] == {"pkg.c"} and graph["pkg.e"] == {"pkg.d"}
    assert import_cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]


def test_grader_leaderboard_and_torch_free_modules_import_without_torch():
    """Every grader module (the web app included) and starter_code's format, config and submission modules."""
    grader_modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "grader").rglob("*.py")
                            if p.name not in ("__main__.py",))
    modules = grader_modules + ["starter_code", "starter_code.formats", "starter_code.config",
                                "starter_code.submission", "data_tools.io", "common.commandline", "kit.cli"]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}:\n"
            "    importlib.import_module(m)\n"
            "    assert 'torch' not in sys.modules, f'{m} loaded torch'\n"
            "print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_the_gradebooks_libraries_build_no_parser_at_import():
    """jsonschema from 4.24 imports rfc3987-syntax where it is installed, which builds a parser grammar at import:
    ~3 s in every process that reads a notebook (requirements.txt pins jsonschema below it)."""
    code = ("import sys, jsonschema, nbformat, nbgrader.api\n"
            "print(sorted({'rfc3987_syntax', 'lark'} & set(sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "[]", (r.stdout, r.stderr[-2000:])


#: The one kind of sys.path edit allowed: the autograder's test kernel taking the student's folder *off* the path.
PATH_FILTER = re.compile(r"^\s*sys\.path\[:\] = \[p for p in sys\.path if ")


def sys_path_uses(path: Path) -> list[str]:
    """The code lines of ``path`` (not comments or strings) that touch ``sys.path``; a notebook's whole text."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        return [line for line in text.splitlines() if "sys.path" in line]
    lines, hits = text.splitlines(), set()
    toks = [t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in (tokenize.NL,)]
    for a, b, c in zip(toks, toks[1:], toks[2:]):
        if (a.string, b.string, c.string) == ("sys", ".", "path") and a.type == tokenize.NAME:
            hits.add(a.start[0])
    return [lines[n - 1] for n in sorted(hits)]


def test_nothing_edits_sys_path():
    """The kit is installed (`pip install -e .`): scripts, benchmarks, tests and notebooks import it as is."""
    files = [p for d in ("starter_code", "data_tools", "solutions", "grader", "kit", "benchmarks", "tests",
                         "assignments") for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".ipynb")]
    offenders = {str(p.relative_to(ROOT)): uses for p in files if p.name != "test_layers.py"
                 for uses in [[u for u in sys_path_uses(p) if not PATH_FILTER.match(u)]] if uses}
    assert files and not offenders, offenders


def test_the_sys_path_check_can_fail(tmp_path):
    script = tmp_path / "s.py"
    edit = "sys.path." + 'insert(0, "..")'  # spelled in two parts so that a grep of the tree finds no edit here
    script.write_text('"""sys.path is only named here"""\nimport sys  # sys.path\n'
                      f'sys.path[:] = [p for p in sys.path if p]\n{edit}\n')
    assert [u for u in sys_path_uses(script) if not PATH_FILTER.match(u)] == [edit]


def test_the_kernel_side_torch_check_can_fail():
    assert lazy_torch_imports_only(ast.parse("def f():\n    import torch\n    return torch\n"))
    assert not lazy_torch_imports_only(ast.parse("import numpy\nimport torch.nn\n"))
    assert not lazy_torch_imports_only(ast.parse("if True:\n    from torch import nn\n"))
