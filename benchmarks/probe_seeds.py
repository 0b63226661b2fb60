"""Do the solved answers earn every code point on many grading data sets, and the no-work answers none?

    python benchmarks/probe_seeds.py                               # data seeds 0-19, 01-05
    python benchmarks/probe_seeds.py --seeds 4 --assignments 01_simple 02_medium
    python benchmarks/probe_seeds.py --first-seed 4 --seeds 4      # data seeds 4-7
    python benchmarks/probe_seeds.py --preset grading --assignments 02_medium 03_strong 04_boss
    python benchmarks/probe_seeds.py --preset grading --kinds-version 2         # version 2's anomaly kinds

The secret probes' bars are set by the reference on the grading data itself (``grader/autograde/probes.py``); on the
tiny preset's 128 test images they are coarse, so a bar can fall on either side of a working model. For each data seed
this builds the preset (``BuildConfig.from_preset(preset, seed=s, kinds_version=...)``: tiny, or ``--preset grading``,
the autograder's default grading data with its 1,024 probes; the autograder's kinds unless ``--kinds-version`` says
otherwise), grades in one autograde run (sandboxed, smoke mode, the reference measured on first use) each assignment's
solved answer and a few answers that do no work (an untrained model, the distance to the mean face, constant scores: the
no-work tests' corpora, ``tests/autograde/no_work_answers.py`` and ``test_no_work_models.py``), and prints per seed and
assignment the solved answer's code points / the autograded maximum and the best no-work answer's points (``!`` marks a
seed where the solved answer lost points or a no-work answer earned some; ``ERR`` a notebook that was not graded, with
its message below the table).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from grader.autograde.course import REPO_ROOT, CourseConfig
from grader.autograde.probes import GRADING_KINDS_VERSION

from probe_step_cost import (ASSIGNMENTS, build_preset, code_points, corpora, no_sandbox, no_work_answers,
                             solved_answers, submit)


def _cell(solved, no_work: list, top: float) -> str:
    """``4/4 0`` (solved/max, best no-work), ``!`` when either is wrong, ``ERR`` when not graded."""
    if solved is None or solved.status != "graded" or any(r.status != "graded" for r in no_work):
        return "ERR"
    best = max((r.code_score or 0 for r in no_work), default=0)
    mark = "" if (solved.code_score == top and best == 0) else " !"
    return f"{solved.code_score:g}/{top:g} {best:g}{mark}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=20, help="how many data seeds (default: 20)")
    p.add_argument("--first-seed", type=int, default=0, help="the first data seed (default: 0)")
    p.add_argument("--assignments", nargs="+", default=list(ASSIGNMENTS), choices=ASSIGNMENTS)
    p.add_argument("--preset", default="tiny", choices=("tiny", "grading"),
                   help="the grading data's preset (default: tiny; the autograder's own default is grading)")
    p.add_argument("--kinds-version", type=int, choices=(1, 2), default=GRADING_KINDS_VERSION,
                   help="the grading data's anomaly kinds (default: the autograder's, "
                        f"grader.autograde.probes.GRADING_KINDS_VERSION = {GRADING_KINDS_VERSION})")
    p.add_argument("--no-work", choices=["all", "untrained", "none"], default="all",
                   help="no-work answers graded beside the solved one (default: all: untrained, mean face, "
                        "constant where the assignment has them)")
    p.add_argument("--workers", type=int, default=2, help="local workers (default: 2)")
    p.add_argument("--cell-timeout", type=int, default=300)
    args = p.parse_args(argv)

    from grader.autograde.release import release
    from grader.autograde.run import AutogradeConfig, autograde
    if no_sandbox():
        return 1
    c = corpora()
    solved, no_work = solved_answers(c), no_work_answers(c)
    if args.no_work != "all":
        no_work = {a: {k: v for k, v in answers.items() if k == args.no_work} for a, answers in no_work.items()}
    root = Path(tempfile.mkdtemp(prefix="probe_seeds_"))
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    table: dict = {}
    notes: list[str] = []
    try:
        base = CourseConfig(source=REPO_ROOT / "assignments", course_dir=root / "base")
        release(base, list(args.assignments))
        top = {a: code_points(base, a) for a in args.assignments}
        print(f"{'seed':>4}  " + "  ".join(f"{a:>12}" for a in args.assignments) + "   seconds", flush=True)
        for s in seeds:
            t0 = time.perf_counter()
            folder = root / f"seed-{s}"
            folder.mkdir()
            data = build_preset(folder, s, args.preset, args.kinds_version)
            course = CourseConfig(source=base.source, course_dir=folder / "course")
            shutil.copytree(base.course_dir, course.course_dir)
            ids = {a: ["solved", *(f"nw-{k}" for k in no_work[a])] for a in args.assignments}
            for a in args.assignments:
                submit(c, course, a, {"solved": solved[a], **{f"nw-{k}": v for k, v in no_work[a].items()}})
            cfg = AutogradeConfig(workers=args.workers, cell_timeout=args.cell_timeout, notebook_timeout=900,
                                  data_dir=data, feedback=False)
            res = {(r.assignment, r.student): r for r in autograde(course, cfg, assignments=list(args.assignments),
                                                                   progress=False)}
            row = {}
            for a in args.assignments:
                nw = [res[(a, sid)] for sid in ids[a][1:] if (a, sid) in res]
                row[a] = _cell(res.get((a, "solved")), nw, top[a])
                for sid in ids[a]:
                    r = res.get((a, sid))
                    if r is not None and (r.status != "graded" or (sid == "solved" and r.code_score != top[a])
                                    or (sid != "solved" and (r.code_score or 0) > 0)):
                        notes.append(f"seed {s} {a} {sid}: {r.status} {r.code_score}/{top[a]:g} "
                                     f"{r.message[:200]}")
            table[s] = row
            print(f"{s:>4}  " + "  ".join(f"{row[a]:>12}" for a in args.assignments)
                  + f"   {time.perf_counter() - t0:7.0f}", flush=True)
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if table:
            print("\ncells: solved code points/max, best no-work points ('!': solved short or no-work above 0)")
            for n in notes:
                print("  " + n)
            full = {a: sum(1 for row in table.values() if row[a].split(" ")[0] == f"{top[a]:g}/{top[a]:g}")
                    for a in args.assignments}
            zero = {a: sum(1 for row in table.values() if row[a] != "ERR" and row[a].split(" ")[1] == "0")
                    for a in args.assignments}
            n = len(table)
            print(f"solved full points on K of N seeds per assignment (N = {n}): "
                  + ", ".join(f"{a} {full[a]}/{n}" for a in args.assignments))
            print(f"no-work answers at 0 points on K of N seeds per assignment (N = {n}): "
                  + ", ".join(f"{a} {zero[a]}/{n}" for a in args.assignments))
    return 0


if __name__ == "__main__":
    sys.exit(main())
