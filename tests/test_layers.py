"""The kit's floors, drawn from the code: what may import what (every import, at the top of a module or inside a
function), and which modules must start without torch.

    kit/                         the top floor: may import anything below
    solutions/   grader/         side by side: solutions never imports grader, grader never imports solutions
    starter_code/  data_tools/   the ground floor: import nothing of grader, solutions or kit

The grader, the leaderboard and the torch-free part of starter_code (formats, config, submission) must import
without loading torch, so that the web app and ``python -m grader`` start fast.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("starter_code", "data_tools", "solutions", "grader", "kit")
#: package -> the kit's packages it must never import.
FORBIDDEN = {
    "starter_code": {"data_tools", "grader", "solutions", "kit"},
    "data_tools": {"grader", "solutions", "kit"},
    "solutions": {"grader", "kit"},
    "grader": {"solutions", "kit"},
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


def test_the_grader_never_imports_torch_or_the_starter_codes_torch_modules():
    torch_free = {"formats", "config", "submission"}
    for path, _ in module_imports("grader").items():
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
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


def test_grader_leaderboard_and_torch_free_modules_import_without_torch():
    """Every grader module (the web app included) and starter_code's format, config and submission modules."""
    grader_modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "grader").rglob("*.py")
                            if p.name not in ("__main__.py",))
    modules = grader_modules + ["starter_code", "starter_code.formats", "starter_code.config",
                                "starter_code.submission", "data_tools.io", "data_tools.commandline", "kit.cli"]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}:\n"
            "    importlib.import_module(m)\n"
            "    assert 'torch' not in sys.modules, f'{m} loaded torch'\n"
            "print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_nothing_edits_sys_path():
    """The kit is installed (`pip install -e .`): scripts, benchmarks, tests and notebooks import it as is."""
    files = [p for d in ("starter_code", "data_tools", "solutions", "grader", "kit", "benchmarks", "tests",
                         "assignments") for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".ipynb")]
    offenders = [str(p.relative_to(ROOT)) for p in files
                 if p.name != "test_layers.py" and "sys.path" in p.read_text(encoding="utf-8")]
    assert files and not offenders, offenders
