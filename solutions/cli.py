"""`python -m solutions COMMAND`: the TA's reference runs.

Each command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
register a new one by adding a line to ``COMMANDS``.
"""
from __future__ import annotations

import argparse
import importlib

#: (command name, module path, one-line help)
COMMANDS = [
    ("demo", "solutions.demo", "the whole loop on the embedded demo data: build, train, submit, score, leaderboard"),
    ("run", "solutions.run", "train one reference stage (simple, medium, strong, boss) and write its submission"),
    ("ladder", "solutions.ladder", "run the reference stages in order: public/private AUC, per kind, wall time"),
    ("calibrate", "solutions.calibrate", "write the reference scores as the competition config's baselines"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m solutions", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module, help_ in COMMANDS:
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_, description=help_)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args._run(args)
