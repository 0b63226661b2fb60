"""The reference ladder as README figures: public/private ROC-AUC per stage, per anomaly kind, wall time.

    .venv/bin/python benchmarks/ladder.py                          # run every stage on the demo preset (~30 min
                                                                   # on 2 shared CPU cores)
    .venv/bin/python benchmarks/ladder.py --from-json FILE         # format a saved `python -m solutions ladder` run
    .venv/bin/python benchmarks/ladder.py --preset full --threads 2

Prints a markdown table (paste into README.md), the step between consecutive stages on each split, whether the
ladder is strict (each step >= 0.03 on public AND private), and where the boss stands against 0.90.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from solutions.ladder import MIN_STEP, check_ladder, format_table  # noqa: E402
from solutions.stages import STAGES  # noqa: E402

BOSS_TARGET = 0.90


def steps_table(ladder: dict) -> str:
    """Markdown table of the AUC step from each stage to the next, on public and private."""
    names = list(ladder["stages"])
    rows = ["| step | public | private |", "|---|---|---|"]
    for lo, hi in zip(names[:-1], names[1:]):
        a, b = ladder["stages"][lo], ladder["stages"][hi]
        rows.append(f"| {lo} -> {hi} | {b['public'] - a['public']:+.4f} | {b['private'] - a['private']:+.4f} |")
    return "\n".join(rows)


def report(ladder: dict, min_step: float = MIN_STEP) -> str:
    lines = [f"data: {ladder.get('data', '?')}  ({ladder.get('n_train')} train / {ladder.get('n_test')} test; "
             f"torch threads {ladder.get('torch_threads')}, device {ladder.get('device')})", "",
             format_table(ladder), "", steps_table(ladder), ""]
    problems = check_ladder(ladder, min_step)
    lines.append(f"strict (each step >= {min_step} on public and private): {'yes' if not problems else 'NO'}")
    lines += [f"  {p}" for p in problems]
    boss = ladder["stages"].get("boss")
    if boss:
        lines.append(f"boss: public {boss['public']:.4f}, private {boss['private']:.4f} "
                     f"(target {BOSS_TARGET}: {'met' if min(boss['public'], boss['private']) >= BOSS_TARGET else 'not met'})")
        for part, s in boss.get("parts", {}).items():
            lines.append(f"  boss part {part}: public {s['public']:.4f}, private {s['private']:.4f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from-json", type=Path, help="a ladder JSON written by `python -m solutions ladder`")
    p.add_argument("--preset", default="demo", help="data preset to run on (default: demo)")
    p.add_argument("--seed", type=int, default=0, help="data build seed")
    p.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--min-step", type=float, default=MIN_STEP)
    args = p.parse_args(argv)
    if args.from_json:
        ladder = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        from solutions.cli import main as solutions_main
        out = ROOT / ".cache" / "solutions" / f"ladder-{args.preset}.json"
        rc = solutions_main(["ladder", "--preset", args.preset, "--seed", str(args.seed), "--threads",
                             str(args.threads), "--json", str(out), "--stages", *args.stages])
        if rc:
            return rc
        ladder = json.loads(out.read_text(encoding="utf-8"))
    print(report(ladder, args.min_step))
    return 0


if __name__ == "__main__":
    sys.exit(main())
