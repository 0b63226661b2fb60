"""The test suite's corpora for the benchmarks: ``load("autograde/fixtures.py")`` imports ``tests/<path>`` from its
file, since ``tests/`` is not an installed package (and no script edits ``sys.path``)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"


def load(relative: str):
    """The module at ``tests/<relative>``, executed once per call."""
    path = TESTS / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
