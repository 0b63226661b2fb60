"""``python -m grader <command>``: score one submission, print a leaderboard, and whatever else is registered.

Exit codes: 0 success, 2 invalid submission (``SubmissionError``), 1 anything else (usage errors, a missing or bad
answer key or config, I/O errors). argparse's own exit code 2 for usage errors is overridden, since 2 means
"invalid submission" here.

Adding a command is one line in ``COMMANDS``: ``(name, "package.module")`` or ``(name, "package.module:attr")``,
where the target has ``add_arguments(parser)`` and ``run(args) -> int`` (help text: a ``HELP`` string or the first
line of its docstring). Only the chosen command's module is imported, so keep heavy imports (fastapi, dask) at the
top of your command module if you like: ``python -m grader score`` will not load them.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from grader.errors import GraderError, SubmissionError

#: (name, target) of every subcommand; targets are imported lazily.
COMMANDS: list[tuple[str, str]] = [
    ("score", "grader.cli:ScoreCommand"),
    ("leaderboard", "grader.cli:LeaderboardCommand"),
    ("release", "grader.autograde.release"),
    ("autograde", "grader.autograde.run"),
    ("collect", "grader.autograde.collect"),
    ("gradebook", "grader.autograde.gradebook"),
    ("similarity", "grader.autograde.similarity"),
    ("serve", "grader.leaderboard.serve"),
]

EXIT_OK, EXIT_ERROR, EXIT_INVALID = 0, 1, 2


class UsageError(Exception):
    """Raised instead of argparse's exit(2): a usage error is exit code 1 here."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # noqa: D401 - argparse API
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: error: {message}")


def _load(target: str):
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


def _help(obj) -> str:
    text = getattr(obj, "HELP", None) or (obj.__doc__ or "").strip()
    return text.splitlines()[0] if text else ""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or (``only``) one where just that command's module is imported and its options added."""
    parser = _Parser(prog="python -m grader", description="Anomaly-detection competition grader.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)
    for name, target in COMMANDS:
        if only is not None and name != only:
            sub.add_parser(name)
            continue
        obj = _load(target)
        sp = sub.add_parser(name, help=_help(obj), description=(obj.__doc__ or "").strip() or None,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        obj.add_arguments(sp)
        sp.set_defaults(_run=obj.run)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = {n for n, _ in COMMANDS}
    chosen = next((a for a in argv if not a.startswith("-")), None)
    try:
        parser = build_parser(chosen if chosen in names else None)
        args = parser.parse_args(argv)
    except UsageError as e:
        print(e, file=sys.stderr)
        return EXIT_ERROR
    except SystemExit as e:  # --help / --version exit 0 through argparse
        return int(e.code or 0)
    try:
        return int(args._run(args) or 0)
    except SubmissionError as e:
        print(f"invalid submission: {e}", file=sys.stderr)
        return EXIT_INVALID
    except (GraderError, ValueError, OSError) as e:
        # AnswerKeyError is a ValueError; all are TA-side problems with a message of their own.
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR


# --- score -----------------------------------------------------------------------------------------------------

def _add_answer_options(parser: argparse.ArgumentParser) -> None:
    from grader.competition import CompetitionConfig
    parser.add_argument("--answers", type=Path, default=None,
                        help="TA-only answer key (solution.csv); default: the competition config's `answers`, "
                             f"else {CompetitionConfig.answers}")
    parser.add_argument("--competition", type=Path, default=None,
                        help="competition.toml (answer key path, baselines)")
    parser.add_argument("--reveal", action="store_true",
                        help="also show private AUCs (TAs, or after the deadline)")


def _config_and_key(args):
    from data_tools.answer_key import load_answer_key
    from grader.competition import CompetitionConfig, load_competition
    cfg = load_competition(args.competition) if args.competition else CompetitionConfig()
    return cfg, load_answer_key(args.answers or cfg.answers)


class ScoreCommand:
    """Score one submission CSV: print its public AUC (and the private AUC with --reveal)."""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("submission", type=Path, help="the student's CSV with columns ID,score")
        _add_answer_options(parser)
        parser.add_argument("--by-kind", action="store_true",
                            help="also print the AUC of each anomaly kind and family against all normals")

    @staticmethod
    def run(args) -> int:
        from grader.scoring import auc_by_family, auc_by_kind, score_scores
        from grader.validate import read_submission
        cfg, key = _config_and_key(args)
        scores = read_submission(args.submission, len(key), max_bytes=cfg.max_upload_bytes)
        result = score_scores(scores, key)
        print(f"public AUC   {result.public:.5f}")
        if args.reveal:
            print(f"private AUC  {result.private:.5f}")
        if args.by_kind:
            kinds = auc_by_kind(scores, key, usage=None if args.reveal else "Public")
            print(f"AUC per anomaly kind ({'all rows' if args.reveal else 'public rows'}):")
            width = max(map(len, kinds), default=0)
            for kind, auc in kinds.items():
                print(f"  {kind:<{width}}  {auc:.5f}")
            families = auc_by_family(scores, key, usage=None if args.reveal else "Public")
            print("AUC per anomaly family: " + "  ".join(f"{f} {auc:.5f}" for f, auc in families.items()))
        return EXIT_OK


# --- leaderboard -----------------------------------------------------------------------------------------------

class LeaderboardCommand:
    """Rank every *.csv in a folder (name = file stem) with the baselines in their place; list invalid files."""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("submissions_dir", type=Path, metavar="SUBMISSIONS_DIR",
                            help="folder of submission CSVs, one per student (name = file stem)")
        _add_answer_options(parser)

    @staticmethod
    def run(args) -> int:
        from grader.scoring import score_file
        folder = args.submissions_dir
        if not folder.is_dir():
            raise GraderError(f"{folder}: not a folder of submissions")
        cfg, key = _config_and_key(args)
        entries, invalid = [], []
        for path in sorted(folder.glob("*.csv")):
            try:
                s = score_file(path, key, max_bytes=cfg.max_upload_bytes)
            except SubmissionError as e:
                invalid.append((path.name, str(e)))
                continue
            entries.append({"name": path.stem, "public": s.public, "private": s.private,
                            "submitted_at": path.stat().st_mtime, "baseline": False})
        for b in cfg.baselines.values():
            entries.append({"name": f"{b.name} baseline", "public": b.public, "private": b.private,
                            "baseline": True})
        print(format_leaderboard(entries, reveal=args.reveal, title=cfg.title))
        if invalid:
            print(f"\nInvalid submissions (not ranked): {len(invalid)}")
            for name, err in invalid:
                print(f"  {name}: {err}")
        return EXIT_OK


def format_leaderboard(entries, *, reveal: bool = False, title: str = "") -> str:
    """A plain-text board of ``entries`` (dicts with name/public/private/submitted_at/baseline).

    Ranked by the public AUC, or by the private AUC when ``reveal`` (the final standings); the private column
    is shown only when ``reveal``.
    """
    from grader.ranking import rank_entries
    rows = rank_entries(entries, by="private" if reveal else "public")
    width = max([len(r.entry["name"]) for r in rows] + [4])
    head = f"{'rank':>4}  {'name':<{width}}  {'public':>7}" + (f"  {'private':>7}" if reveal else "")
    lines = ([title, ""] if title else []) + [head, "-" * len(head)]
    for r in rows:
        e = r.entry
        line = f"{r.rank if r.rank is not None else '-':>4}  {e['name']:<{width}}  {e['public']:>7.5f}"
        if reveal:
            line += f"  {e['private']:>7.5f}"
        lines.append(line)
    if not reveal:
        lines.append("(ranked by public AUC; --reveal ranks by private AUC and shows it)")
    return "\n".join(lines)
