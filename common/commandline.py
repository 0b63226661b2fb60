"""The one shape of the kit's three command lines: ``python -m data_tools``, ``python -m grader``, ``python -m kit``.

Each CLI is a list of subcommands and a ``main(argv=None) -> int`` that calls ``run_cli``:

    COMMANDS = [("score", "grader.cli:ScoreCommand"), ("serve", "grader.leaderboard.serve"), ...]

    def main(argv=None) -> int:
        return run_cli(COMMANDS, argv, prog="python -m grader", description=..., errors=ERRORS)

A target (``"package.module"`` or ``"package.module:attr"``) has ``add_arguments(parser)`` and
``run(args) -> int``; its help line is a ``HELP`` string or the first line of its docstring. Adding a command is
one line in ``COMMANDS``. Only the chosen command's module is imported; the others' help lines are read from their
source without importing them, so ``--help`` is fast and a heavy import (torch, fastapi, dask) costs only the
command that needs it.

Exit codes, the same in every CLI (tested in-process in ``tests/test_cli_shape.py``):

- ``0`` done (``--help`` included);
- ``1`` a domain error (bad data, missing file, invalid config): one line ``error: ...`` on stderr, no traceback;
- ``2`` a usage error (argparse's: unknown option, missing argument);
- other codes where a CLI documents them (``python -m grader``: ``3`` for an invalid submission).

This module lives at the bottom floor (it imports only the standard library) so that all three can use it.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Sequence

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

#: ``(exception types, exit code, message prefix)``, tried in order; the first match decides.
ErrorMap = Sequence[tuple[tuple[type[BaseException], ...], int, str]]


class UsageError(Exception):
    """argparse's usage error, raised instead of its ``sys.exit(2)`` so that ``main`` returns the code."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors raise ``UsageError`` (``main`` returns 2) instead of exiting."""

    def error(self, message):  # noqa: D401 - argparse API
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: error: {message}")


def load(target: str):
    """The object a ``"package.module[:attr]"`` target names (importing the module)."""
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


def help_line(target: str) -> str:
    """The first line of a target's ``HELP`` or docstring, read from its source file without importing it."""
    module, _, attr = target.partition(":")
    try:
        spec = importlib.util.find_spec(module)
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    except (ImportError, AttributeError, TypeError, ValueError, OSError, SyntaxError):
        return ""
    if attr:
        tree = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == attr), None)
        if tree is None:
            return ""
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "HELP" for t in node.targets)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            return node.value.value.strip().splitlines()[0]
    doc = ast.get_docstring(tree) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def build_parser(commands: Sequence[tuple[str, str]], *, prog: str, description: str,
                 only: str | None = None) -> Parser:
    """The CLI's parser, every command with its help line. ``only``: just that command is imported and given its
    options (``""``: none of them); ``None``: all of them (the whole parser, for tests and docs)."""
    parser = Parser(prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser, required=True)
    for name, target in commands:
        if only is not None and name != only:
            sub.add_parser(name, help=help_line(target))
            continue
        obj = load(target)
        doc = (obj.__doc__ or "").strip()
        line = getattr(obj, "HELP", None) or (doc.splitlines()[0] if doc else "")
        sp = sub.add_parser(name, help=line, description=doc or None,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        obj.add_arguments(sp)
        sp.set_defaults(_run=obj.run)
    return parser


def run_cli(commands: Sequence[tuple[str, str]], argv: Sequence[str] | None = None, *, prog: str,
            description: str, errors: ErrorMap = ()) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the chosen command, return the exit code.

    ``errors`` maps the CLI's domain errors to exit codes and message prefixes; anything else propagates (a bug
    shows its traceback).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    names = {n for n, _ in commands}
    chosen = next((a for a in argv if not a.startswith("-")), None)
    try:
        parser = build_parser(commands, prog=prog, description=description,
                              only=chosen if chosen in names else "")
        args = parser.parse_args(argv)
    except UsageError as e:
        print(e, file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as e:  # --help and --version exit 0 through argparse
        return e.code if isinstance(e.code, int) else EXIT_OK
    try:
        return int(args._run(args) or EXIT_OK)
    except tuple(t for types, _, _ in errors for t in types) as e:
        code, prefix = next((c, p) for types, c, p in errors if isinstance(e, types))
        print(f"{prefix}{e}", file=sys.stderr)
        return code
