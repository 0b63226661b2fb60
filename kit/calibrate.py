"""Make the reference scores a competition's baselines (``--competition FILE``).

As the course's TAs set theirs: each baseline (simple, medium, strong, boss) is the public and private ROC-AUC of
the matching reference solution. The scores come from a saved ladder (``--ladder FILE``, written by
``python -m kit ladder``) or, without one, from running the ladder now on the preset's data.
``FILE`` is updated in place when it exists (every other setting kept), else created with the preset's answer key.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from kit.run import add_data_arguments, load_data, set_threads
from starter_code.formats import STAGES


def baselines_from_ladder(ladder: dict) -> dict:
    """``{stage: Baseline(stage, public, private)}`` for the ladder's stages, in ``STAGES`` order."""
    from grader.competition import Baseline
    stages = ladder.get("stages")
    if not isinstance(stages, dict) or not stages:
        raise ValueError("ladder has no 'stages'")
    out = {}
    for name in STAGES:
        if name in stages:
            row = stages[name]
            try:
                out[name] = Baseline(name, round(float(row["public"]), 4), round(float(row["private"]), 4))
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"ladder stage {name!r}: needs numeric 'public' and 'private' ({e})") from e
    if not out:
        raise ValueError(f"ladder has none of the stages {', '.join(STAGES)}")
    return out


def calibrate(competition: Path, ladder: dict, answers: Path | None = None) -> "object":
    """Write the ladder's scores as the baselines of the competition file ``competition``; -> the new config.

    An existing file keeps all its other settings; a new one gets ``answers`` (the ``solution.csv`` path)."""
    from dataclasses import replace

    from grader.competition import CompetitionConfig, dump_competition, load_competition
    baselines = baselines_from_ladder(ladder)  # validate before touching the file
    competition = Path(competition)
    if competition.is_file():
        cfg = load_competition(competition)
    else:
        if answers is None:
            raise ValueError(f"{competition} does not exist: give --answers (or a preset) for its answer key")
        cfg = CompetitionConfig(title="HW8 Anomaly Detection", answers=Path(answers).resolve())
    cfg = replace(cfg, baselines=baselines)
    competition.parent.mkdir(parents=True, exist_ok=True)
    competition.write_text(dump_competition(cfg), encoding="utf-8")
    return cfg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--competition", type=Path, required=True, help="competition TOML to write the baselines to")
    parser.add_argument("--ladder", type=Path, help="a ladder JSON from `python -m kit ladder` (no training)")
    add_data_arguments(parser)
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES, help="stages to run")


def run(args) -> int:
    if args.ladder is not None:
        try:
            ladder = json.loads(Path(args.ladder).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{args.ladder}: not valid JSON: {e}") from e
        answers = args.answers / "solution.csv" if args.answers else None
    else:
        from data_tools.build import cache_paths
        from kit.ladder import run_ladder
        train, test, key, where = load_data(args)
        if key is None:
            raise ValueError("running the ladder needs an answer key: give --answers DIR (or use a preset)")
        set_threads(args.threads)
        print(f"running the ladder on {where} ...", flush=True)
        ladder = run_ladder(train, test, key, args.stages, smoke=args.smoke, progress=not args.no_progress)
        answers = (args.answers if args.answers else cache_paths(args.preset, args.seed).answers) / "solution.csv"
    cfg = calibrate(args.competition, ladder, answers)
    for b in cfg.baselines.values():
        print(f"  {b.name:<7} public {b.public:.4f}  private {b.private:.4f}")
    print(f"wrote {args.competition}")
    return 0
