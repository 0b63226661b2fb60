"""``python -m grader <command>``: score one submission, print a leaderboard, and whatever else is registered.

Exit codes (``common.commandline``, the kit's one CLI shape): 0 success, 1 a TA-side problem (a missing or
bad answer key or config, I/O errors), 2 a usage error, 3 an invalid submission (``SubmissionError``: the file,
not the grader, is at fault).

Adding a command is one line in ``COMMANDS``: ``(name, "package.module")`` or ``(name, "package.module:attr")``,
where the target has ``add_arguments(parser)`` and ``run(args) -> int`` (help text: a ``HELP = "..."`` string literal
or the first line of its docstring, read from the source so that ``--help`` imports nothing). Only the chosen
command's module is imported, so keep heavy imports (fastapi, dask) at the top of your command module if you like:
``python -m grader score`` will not load them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import commandline
from common.commandline import EXIT_ERROR, EXIT_OK, EXIT_USAGE  # noqa: F401  (the codes, for callers)
from common.errors import KitError
from grader.errors import GraderError, SubmissionError

#: (name, target) of every subcommand; targets are imported lazily.
COMMANDS: list[tuple[str, str]] = [
    ("score", "grader.cli:ScoreCommand"),
    ("leaderboard", "grader.cli:LeaderboardCommand"),
    ("release", "grader.autograde.release"),
    ("autograde", "grader.autograde.run"),
    ("collect", "grader.autograde.collect"),
    ("gradebook", "grader.autograde.gradebook"),
    ("feedback", "grader.autograde.deliver"),
    ("similarity", "grader.autograde.similarity"),
    ("reproduce", "grader.autograde.reproduce"),
    ("serve", "grader.leaderboard.serve"),
    ("init", "grader.leaderboard.commands:InitCommand"),
    ("tokens", "grader.leaderboard.commands:TokensCommand"),
    ("backup", "grader.leaderboard.commands:BackupCommand"),
    ("restore", "grader.leaderboard.commands:RestoreCommand"),
]

#: Exit code of an invalid submission.
EXIT_INVALID = 3
#: Domain errors and their exit codes: an invalid submission first (it is a KitError too), then every other
#: KitError (GraderError, ConfigError, AnswerKeyError, ...) and I/O errors as TA-side problems.
ERRORS = [((SubmissionError,), EXIT_INVALID, "invalid submission: "),
          ((KitError, OSError), EXIT_ERROR, "error: ")]
_PROG, _DESCRIPTION = "python -m grader", "Anomaly-detection competition grader."


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser (every command imported), or with ``only`` just that command's options."""
    return commandline.build_parser(COMMANDS, prog=_PROG, description=_DESCRIPTION, only=only)


def main(argv=None) -> int:
    return commandline.run_cli(COMMANDS, argv, prog=_PROG, description=_DESCRIPTION, errors=ERRORS)


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
    from common.answer_key import load_answer_key
    from grader.competition import CompetitionConfig, load_competition
    cfg = load_competition(args.competition) if args.competition else CompetitionConfig()
    return cfg, load_answer_key(args.answers or cfg.answers)


class ScoreCommand:
    """Score one submission CSV: print its public AUC (with --reveal also the private AUC, and the overall AUC of
    all rows with each anomaly family's)."""

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
            from grader.metrics import roc_auc
            print(f"private AUC  {result.private:.5f}")
            families = auc_by_family(scores, key)
            print(f"overall AUC  {roc_auc(key.labels, scores):.5f}  (all rows; per family: "
                  + "  ".join(f"{f} {auc:.5f}" for f, auc in families.items()) + ")")
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
        from grader.scoring import format_board, score_folder
        if not args.submissions_dir.is_dir():
            raise GraderError(f"{args.submissions_dir}: not a folder of submissions")
        cfg, key = _config_and_key(args)
        if args.competition:
            from grader.competition import threshold_problems
            for problem in threshold_problems(cfg):
                print(f"warning: {args.competition}: {problem}", file=sys.stderr)
        board = score_folder(args.submissions_dir, key, max_bytes=cfg.max_upload_bytes,
                             baselines=cfg.baselines.values())
        print(format_board(board, reveal=args.reveal, title=cfg.title))
        return EXIT_OK
