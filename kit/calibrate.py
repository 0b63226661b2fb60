"""Make the reference scores a competition's baselines (``--competition FILE``).

As the course's TAs set theirs: each baseline (simple, medium, strong, boss) is the public and private ROC-AUC of
the matching reference solution. The scores come from a saved ladder (``--ladder FILE``, written by
``python -m kit ladder``; the kit's recorded ones are ``solutions/baselines/<preset>-ladder.json``) or, without one,
from running the ladder now on the preset's data. ``FILE`` is updated in place when it exists (its comments and
every other setting kept), else created from ``python -m grader init``'s commented template with the preset's
answer key. The thresholds are written with their source (``[baselines] source``, and the ladder's data: preset and
seed, or the sha256 of the answer key it scored); a smoke-mode ladder, or one whose data is not the competition's
answer key, is warned about.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from kit.run import add_data_arguments, load_data, set_threads
from starter_code.formats import STAGES


def calibrate(competition: Path, ladder: dict, answers: Path | None = None, where: str = "(run now)"):
    """Write the ladder's scores and their source (``where``: the ladder's file) as the baselines of the
    competition file ``competition``; -> (the new config, warnings).

    An existing file keeps its comments and other settings; a new one gets ``answers`` (the ``solution.csv`` path).
    Warnings: a smoke-mode ladder, and thresholds whose data differ from the competition's answer key
    (``grader.competition.threshold_problems``)."""
    from grader.competition import competition_template, threshold_problems, thresholds_from_ladder, write_thresholds
    baselines, src, warnings = thresholds_from_ladder(ladder, where)    # validate before touching the file
    competition = Path(competition)
    if not competition.is_file():
        if answers is None:
            raise ValueError(f"{competition} does not exist: give --answers (or a preset) for its answer key")
        competition.parent.mkdir(parents=True, exist_ok=True)
        competition.write_text(competition_template(answers=Path(answers).resolve().as_posix()), encoding="utf-8")
    cfg = write_thresholds(competition, baselines, src)
    return cfg, warnings + threshold_problems(cfg)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--competition", type=Path, required=True, help="competition TOML to write the baselines to")
    parser.add_argument("--ladder", type=Path, help="a ladder JSON from `python -m kit ladder` (no training)")
    add_data_arguments(parser)
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES, help="stages to run")


def run(args) -> int:
    if args.ladder is not None:
        from grader.competition import read_ladder
        ladder, where = read_ladder(args.ladder), str(args.ladder)
        answers = args.answers / "solution.csv" if args.answers else None
    else:
        from data_tools.build import cache_paths
        from kit.ladder import data_identity, run_ladder
        train, test, key, data = load_data(args)
        if key is None:
            raise ValueError("running the ladder needs an answer key: give --answers DIR (or use a preset)")
        set_threads(args.threads)
        print(f"running the ladder on {data} ...", flush=True)
        ladder = run_ladder(train, test, key, args.stages, smoke=args.smoke, progress=not args.no_progress)
        ladder.update(data_identity(args, data))
        answers = (args.answers if args.answers else cache_paths(args.preset, args.seed).answers) / "solution.csv"
        where = "(run by calibrate)"
    cfg, warnings = calibrate(args.competition, ladder, answers, where)
    for b in cfg.baselines.values():
        print(f"  {b.name:<7} public {b.public:.4f}  private {b.private:.4f}")
    print(f"wrote {args.competition} (baselines from {cfg.baselines_source.source}; comments kept)")
    for w in warnings:
        print(f"warning: {w}")
    return 0
