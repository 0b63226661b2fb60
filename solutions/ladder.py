"""`python -m solutions ladder`: run the reference stages in order and print the ladder.

For each stage: public and private ROC-AUC, AUC per anomaly kind (all rows) and wall time; then the check the
kit promises: strictly simple < medium < strong < boss, each step >= ``--min-step`` (0.03) on public AND on
private. The ladder is saved as JSON (``--json``, default ``.cache/solutions/ladder-<preset>.json``) so that
``python -m solutions calibrate --ladder FILE`` can write the baselines without training again.
Exit code: 0, or 1 with ``--check`` when the ladder is not strict (or on a data error).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from solutions.run import DEFAULT_OUT, add_data_arguments, load_data, set_threads, write_outputs
from solutions.stages import STAGES, get_stage

MIN_STEP = 0.03


def run_ladder(train, test, key, stages=STAGES, *, smoke: bool = False, progress: bool = True,
               out: Path | None = None) -> dict:
    """Run ``stages`` on uint8 ``train`` ``(N,64,64,3)`` / ``test`` ``(M,64,64,3)``, score against ``key``.

    Returns ``{"stages": {name: {"public", "private", "by_kind", "seconds"}}, "n_train", "n_test", ...}``;
    with ``out``, each stage's submission and config are written to ``out/<stage>/``.
    """
    import torch

    from grader.scoring import auc_by_kind, score_scores
    rows = {}
    for name in stages:
        module = get_stage(name)
        t0 = time.perf_counter()
        result = module.run(train, test, smoke=smoke, progress=progress)
        seconds = time.perf_counter() - t0
        s = score_scores(result.scores, key)
        rows[name] = {"public": s.public, "private": s.private, "by_kind": auc_by_kind(result.scores, key),
                      "seconds": round(seconds, 1)}
        if result.parts:
            rows[name]["parts"] = {p: {"public": score_scores(v, key).public, "private": score_scores(v, key).private}
                                   for p, v in result.parts.items()}
        if out is not None:
            write_outputs(result, Path(out) / name, name)
        if progress:
            print(f"  {name}: public {s.public:.4f}  private {s.private:.4f}  ({seconds:.0f} s)", flush=True)
    return {"stages": rows, "n_train": int(len(train)), "n_test": int(len(test)), "smoke": smoke,
            "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
            "device": "cuda" if torch.cuda.is_available() else "cpu"}


def check_ladder(ladder: dict, min_step: float = MIN_STEP) -> list[str]:
    """Problems with the ladder (empty when strict): each stage must beat the previous one by ``min_step`` on
    public and on private."""
    problems = []
    names = list(ladder["stages"])
    for lo, hi in zip(names[:-1], names[1:]):
        for split in ("public", "private"):
            step = ladder["stages"][hi][split] - ladder["stages"][lo][split]
            if not step >= min_step:
                problems.append(f"{hi} beats {lo} by {step:+.4f} on {split} (needs >= {min_step})")
    return problems


def mixture_auc(by_kind: dict[str, float], mixture: dict[str, float]) -> float:
    """The overall AUC (all rows) a stage would get if its anomalies came in the shares ``mixture``.

    AUC is the mean, over anomalous rows, of the fraction of normal rows each one outscores, so over a fixed set of
    normal rows the overall AUC is exactly the share-weighted mean of the per-kind AUCs. That is how the default
    mixture (``data_tools.anomalies.DEFAULT_MIXTURE``) is calibrated from one ladder run without retraining:
    ``benchmarks/ladder.py --from-json FILE --mixture kind=share ...``. Shares are renormalised over the kinds
    given; a kind with a share but no AUC in ``by_kind`` raises ``KeyError``.
    """
    weights = {k: float(w) for k, w in mixture.items() if w > 0}
    missing = sorted(set(weights) - set(by_kind))
    if missing:
        raise KeyError(f"no per-kind AUC for {', '.join(missing)} (kinds measured: {', '.join(sorted(by_kind))})")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("mixture: no kind has a positive share")
    return sum(w * by_kind[k] for k, w in weights.items()) / total


def format_table(ladder: dict) -> str:
    """Markdown table: one row per stage (public, private, wall time, then AUC per kind), one column per kind."""
    stages = ladder["stages"]
    kinds = sorted({k for row in stages.values() for k in row["by_kind"]})
    head = ["stage", "public", "private", "seconds", *kinds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in stages.items():
        cells = [name, f"{row['public']:.4f}", f"{row['private']:.4f}", f"{row['seconds']:.0f}",
                 *(f"{row['by_kind'][k]:.3f}" if k in row["by_kind"] else "" for k in kinds)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES, help="stages to run, in order")
    parser.add_argument("--json", type=Path, help="where to save the ladder (default: "
                                                  ".cache/solutions/ladder-<preset>.json)")
    parser.add_argument("--out", type=Path, help="also write each stage's submission to OUT/<stage>/")
    parser.add_argument("--min-step", type=float, default=MIN_STEP, help="required AUC step between stages")
    parser.add_argument("--check", action="store_true", help="exit 1 when the ladder is not strict")


def run(args) -> int:
    try:
        train, test, key, where = load_data(args)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if key is None:
        print("error: the ladder needs an answer key: give --answers DIR (or use a preset)", file=sys.stderr)
        return 1
    set_threads(args.threads)
    print(f"ladder on {where}: {len(train)} training / {len(test)} test images; stages {', '.join(args.stages)}",
          flush=True)
    ladder = run_ladder(train, test, key, args.stages, smoke=args.smoke, progress=not args.no_progress,
                        out=args.out)
    ladder["data"] = where
    path = args.json or DEFAULT_OUT / f"ladder-{'smoke' if args.smoke else args.preset}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ladder, indent=2) + "\n")
    print()
    print(format_table(ladder))
    problems = check_ladder(ladder, args.min_step)
    print("\nladder strict (each step >= {:.2f} on public and private): {}".format(
        args.min_step, "yes" if not problems else "NO"))
    for p in problems:
        print(f"  {p}")
    print(f"saved {path}")
    return 1 if (args.check and problems) else 0
