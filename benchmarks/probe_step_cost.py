"""What the secret probes cost the autograder: the probe step's share of a real notebook's grading time.

    python benchmarks/probe_step_cost.py                          # 01-05, 2 solved notebooks each, tiny preset
    python benchmarks/probe_step_cost.py --assignments 01_simple -n 4 --data-dir .cache/data/tiny-0/data

Each assignment's solved answer (the no-work test corpora's, ``tests/autograde/no_work_answers.py`` and ``test_no_work_models.py``) is graded for
real: sandboxed (bubblewrap), smoke mode, nbgrader with feedback, one notebook at a time by the worker's own
``Grader`` (``worker.py``) run in this process, so that the steps inside can be timed (a worker pool's workers log
only failures). Per assignment, the mean over its notebooks of

- ``grade s``: the worker's time per notebook (``Grader.grade``: nbgrader's whole autograde of it: both kernels,
  the secret probes' draw, gradebook, feedback; what ``Result.seconds`` says in a real run);
- ``kernels s``: both kernels, start to stop (``_student_then_tests``; the ``both kernels`` log line);
- ``draw s``: drawing the secret probes and their bars (``probes.prepare``: the answer key and test set read, the
  data fingerprint, the reference's stored scores loaded; the reference itself is measured once before, below);
- ``step s`` and ``step %``: the probe step in the student's kernel (``ProbeStep.seconds``, the ``probe step`` log
  line: writing the probe images and the request, running the grader's cell that calls the notebook's functions),
  and its share of ``grade s``. 01_simple has no probe step: its model is a starter_code class the test kernel
  rebuilds;
- ``tests s``: the test kernel's cells (each test's data import and the test itself, not the kernel's start).
  Every test cell of 01-05 reads ``secret_probes``, so the probes' share of it is not separable here: for 01 and
  05 it holds rebuilding the model from its weights and scoring the probes, beside the imports (torch) and the
  other checks; for 02-04 judging the numbers the probe step returned. ``scoring s`` estimates the compute of that
  scoring for 01 (cnn) and 05 (fcn): the starter_code model (untrained: the same arithmetic) scoring the probe
  images in this process, unsandboxed, without the rebuild and the exchange's file reads;
- ``probes %``: ``draw s`` + ``step s`` + ``scoring s`` as a share of ``grade s``: what the secret probes add beyond
  grading without them (the test kernel's own start and imports are not counted: any test pays them).

The reference measurement (``python -m kit run`` of the assignment's reference stage on the grading data, through
``probes.reference_scores``) is paid once per (assignment, grading data set, smoke mode): printed apart.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from grader.autograde.course import REPO_ROOT, CourseConfig

import test_modules  # tests/ corpora, loaded from their files (benchmarks/test_modules.py)

ASSIGNMENTS = ("01_simple", "02_medium", "03_strong", "04_boss", "05_report")


def corpora() -> dict:
    """The no-work test corpora: ``{"fixtures": ..., "nowork": ..., "models": ...}``. ``tests/`` is no installed
    package, so the two modules the model corpus imports by their package names are registered first."""
    fixtures = test_modules.load("autograde/fixtures.py")
    sys.modules.setdefault("tests.autograde.fixtures", fixtures)
    nowork = test_modules.load("autograde/no_work_answers.py")
    sys.modules.setdefault("tests.autograde.no_work_answers", nowork)
    models = test_modules.load("autograde/test_no_work_models.py")
    return {"fixtures": fixtures, "nowork": nowork, "models": models}


def solved_answers(c: dict) -> dict:
    """Assignment -> the solved answer (grade id -> code), as the no-work tests grade it."""
    n, m = c["nowork"], c["models"]
    return {"01_simple": {"train": n.SOLVED}, "02_medium": {"train": m.MEDIUM_SOLVED},
            "03_strong": {"train": m.STRONG_SOLVED}, "04_boss": dict(m.BOSS_SOLVED), "05_report": dict(m.REPORT_SOLVED)}


def no_work_answers(c: dict) -> dict:
    """Assignment -> {name: answer}: a few answers without the work (untrained, mean face distance, constant)."""
    n, m = c["nowork"], c["models"]
    return {"01_simple": {k: {"train": n.NO_WORK[k]} for k in ("untrained", "mean_face", "constant")},
            "02_medium": {k: {"train": m.MEDIUM_NO_WORK[k]} for k in ("untrained", "mean_face", "constant")},
            "03_strong": {k: m.STRONG_NO_WORK[k] for k in ("untrained", "pixel_statistics")},
            "04_boss": dict(m.BOSS_NO_WORK),
            "05_report": {"untrained": m.REPORT_NO_WORK["untrained_edit"],
                          "mean_face": n.REPORT_NO_WORK["mean_face_latent"]}}


def code_points(course: CourseConfig, assignment: str) -> float:
    """The autograded points of the source notebook: every test cell's."""
    import nbformat
    nb = nbformat.read(str(course.source_dir / assignment / f"{assignment}.ipynb"), as_version=4)
    return sum(c.metadata["nbgrader"].get("points", 0) for c in nb.cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
               and not c.metadata["nbgrader"].get("solution"))


def submit(c: dict, course: CourseConfig, assignment: str, answers: dict) -> None:
    """Write each student's answered notebook (student id -> answers by grade id) into ``submitted/``."""
    import nbformat
    rel = nbformat.read(str(course.course_dir / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
    c["fixtures"].submit_notebooks(course, assignment,
                                   {sid: c["models"]._submission(rel, a) for sid, a in answers.items()})


def build_preset(root: Path, seed: int, preset: str = "tiny", kinds_version: int | None = None) -> Path:
    """``preset`` with data seed ``seed`` in ``root/data`` (answers beside it): the data folder. ``kinds_version``:
    the anomaly kinds' version (default: the builder's)."""
    from data_tools.build import BuildConfig, build_dataset
    version = {} if kinds_version is None else {"kinds_version": kinds_version}
    build_dataset(BuildConfig.from_preset(preset, seed=seed, **version), root / "data", root / "answers",
                  progress=False)
    return root / "data"


def measure_references(course: CourseConfig, assignments, data: Path) -> dict:
    """Assignment -> seconds of its reference run (stored in the course, so grading reuses it)."""
    from grader.autograde import probes
    out = {}
    for a in assignments:
        if a in probes.REFERENCES:
            t0 = time.perf_counter()
            probes.reference_scores(a, data, course.course_dir, smoke=True)
            out[a] = time.perf_counter() - t0
            print(f"  {a}: reference {out[a]:.1f} s", flush=True)
    return out


def instrument() -> list:
    """Time the steps inside a notebook's grading (this process only): ``probes.prepare`` (``draw``), both kernels
    (``kernels``), the probe step (``step``) and the test kernel's cells (``tests``). Returns the list each notebook's records are appended to."""
    from grader.autograde import execute, probes
    records: list = []
    prepare, both = probes.prepare, execute._student_then_tests

    def timed_prepare(*a, **kw):
        t0 = time.perf_counter()
        try:
            return prepare(*a, **kw)
        finally:
            records.append({"draw": time.perf_counter() - t0})

    async def timed_both(student, tests, between=None, probe=None):
        rec = {"tests": 0.0} if tests is not None else {}
        if tests is not None:
            execute_cell = tests.execute

            async def timed_cell(cell, index):
                t0 = time.perf_counter()
                try:
                    return await execute_cell(cell, index)
                finally:
                    rec["tests"] += time.perf_counter() - t0

            tests.execute = timed_cell
        t0 = time.perf_counter()
        try:
            await both(student, tests, between, probe)
        finally:
            rec["kernels"] = time.perf_counter() - t0
            rec["step"] = probe.seconds if probe is not None else None
            records.append(rec)

    probes.prepare, execute._student_then_tests = timed_prepare, timed_both
    return records


def scoring_estimate(assignment: str, data: Path) -> float | None:
    """Median seconds for the assignment's starter_code model (untrained) to score the probe images here,
    unsandboxed: the compute of the test kernel's probe scoring for 01 (cnn) and 05 (fcn); None for the others."""
    model_type = {"01_simple": "cnn", "05_report": "fcn"}.get(assignment)
    if model_type is None:
        return None
    import statistics

    import numpy as np

    from grader.autograde import probes
    from starter_code.formats import TEST_FILE, load_images
    from starter_code.models import build_model
    from starter_code.scoring import anomaly_scores
    images = np.array(load_images(data / TEST_FILE)[:probes.MAX_PROBES])
    model = build_model(model_type)
    anomaly_scores(model, images[:8])           # first call: lazy imports, allocator warm-up
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        anomaly_scores(model, images)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def no_sandbox() -> bool:
    """Whether this machine cannot sandbox notebooks (said on stderr): the figures would not be the course's."""
    from grader.autograde.sandbox import unavailable_reason
    reason = unavailable_reason()
    if reason:
        print(f"no sandbox on this machine ({reason}): the figures would not be the course's", file=sys.stderr)
    return bool(reason)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--assignments", nargs="+", default=list(ASSIGNMENTS), choices=ASSIGNMENTS)
    p.add_argument("-n", "--notebooks", type=int, default=2, help="solved notebooks per assignment (default: 2)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="grading data, with ../answers/solution.csv (default: build the tiny preset, seed 0)")
    p.add_argument("--cell-timeout", type=int, default=300)
    args = p.parse_args(argv)

    from grader.autograde.release import release
    from grader.autograde.run import AutogradeConfig
    if no_sandbox():
        return 1
    c = corpora()
    solved = solved_answers(c)
    root = Path(tempfile.mkdtemp(prefix="probe_cost_"))
    try:
        data = args.data_dir.resolve() if args.data_dir else build_preset(root, 0)
        course = CourseConfig(source=REPO_ROOT / "assignments", course_dir=root / "course")
        release(course, list(args.assignments))
        print("reference runs (once per assignment and grading data set) ...", flush=True)
        refs = measure_references(course, args.assignments, data)
        for a in args.assignments:
            submit(c, course, a, {f"s{i:03d}": solved[a] for i in range(args.notebooks)})
        print(f"grading {args.notebooks} solved notebook(s) each of {', '.join(args.assignments)} ...", flush=True)
        cfg = AutogradeConfig(cell_timeout=args.cell_timeout, data_dir=data, feedback=True)
        records = instrument()
        from grader.autograde.run import _init_message
        from grader.autograde.worker import Grader
        grader = Grader(_init_message(course, cfg))
        rows = {}
        for a in args.assignments:
            for i in range(args.notebooks):
                del records[:]
                out = grader.grade({"assignment": a, "student": f"s{i:03d}"})
                rec = {k: v for r in records for k, v in r.items()}
                rows.setdefault(a, []).append({**rec, "grade": out["seconds"], "status": out["status"],
                                               "points": out.get("code_score"), "message": out.get("message", "")})
                print(f"  {a} s{i:03d}: {out['status']} {out.get('code_score')} points, {out['seconds']:.1f} s, "
                      f"probe step {rec.get('step')}", flush=True)

        def mean(xs):
            xs = [x for x in xs if x is not None]
            return sum(xs) / len(xs) if xs else None

        def f(x, spec=".2f"):
            return "-" if x is None else format(x, spec)

        print(f"\nProbe step cost: solved notebooks, tiny preset ({data}), smoke mode, bubblewrap sandbox, one "
              f"notebook at a time; seconds are means over the notebooks")
        print(f"{'assignment':<11} {'nb':>3} {'points':>7} {'grade s':>8} {'kernels s':>9} {'draw s':>7} "
              f"{'step s':>7} {'step %':>7} {'tests s':>8} {'scoring s':>9} {'probes %':>8} "
              f"{'reference s':>11}")
        for a in args.assignments:
            mine = rows[a]
            grade = mean([r["grade"] for r in mine])
            m = {k: mean([r.get(k) for r in mine]) for k in ("kernels", "draw", "step", "tests")}
            est = scoring_estimate(a, data)
            everything = (m["draw"] or 0) + (m["step"] or 0) + (est or 0)
            pts = f"{min(r['points'] or 0 for r in mine):g}/{code_points(course, a):g}"
            print(f"{a:<11} {len(mine):>3} {pts:>7} {grade:>8.1f} {f(m['kernels'], '.1f'):>9} {f(m['draw']):>7} "
                  f"{f(m['step']):>7} {f(None if m['step'] is None else 100 * m['step'] / grade, '.1f'):>7} "
                  f"{f(m['tests']):>8} {f(est, '.3f'):>9} {100 * everything / grade:>8.1f} "
                  f"{f(refs.get(a), '.1f'):>11}")
            for r in mine:
                if r["status"] != "graded":
                    print(f"  {a}: {r['status']}: {r['message'][:200]}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
