"""Autograding throughput: notebooks/minute with 1 and 2 local workers and through a Dask LocalCluster.

    python benchmarks/autograde_throughput.py                       # fixture notebook, 12 submissions
    python benchmarks/autograde_throughput.py --real 01_simple -n 6  # a real assignment, solved, on the tiny preset

Every submission is really executed by nbgrader (kernel start included: that is most of the cost of the fixture
notebook). Worker start-up (imports, ~2 s each) is included in the wall time, as a TA would see it; Dask cluster
start-up is not (a course keeps its cluster running). Figures taken on a shared 2-core machine are noisy.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.autograde.course import REPO_ROOT, CourseConfig


def _course(root: Path, real: str | None, n: int, data_dir: Path | None) -> tuple[CourseConfig, str]:
    import nbformat

    from grader.autograde.fixtures import solved_submission, write_fixture_source, write_submission
    from grader.autograde.release import release
    if real:
        course = CourseConfig(source=REPO_ROOT / "assignments", course_dir=root / "course")
        assignment = real
    else:
        write_fixture_source(root / "src", "ps1")
        course = CourseConfig(source=root / "src", course_dir=root / "course")
        assignment = "ps1"
    release(course, [assignment])
    rel = nbformat.read(str(course.course_dir / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
    src = nbformat.read(str(course.source_dir / assignment / f"{assignment}.ipynb"), as_version=4)
    kinds = ["good", "partial", "blank"]
    for i in range(n):
        path = course.course_dir / "submitted" / f"s{i:03d}" / assignment / f"{assignment}.ipynb"
        if real:
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(solved_submission(src, rel) if i % 2 == 0 else rel, str(path))
        else:
            write_submission(path, rel, kinds[i % 3])
    return course, assignment


def _fresh(course: CourseConfig, dest: Path) -> CourseConfig:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(course.course_dir, dest, ignore=shutil.ignore_patterns("autograded", "feedback", "logs"))
    return CourseConfig(source=course.source, course_dir=dest)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--notebooks", type=int, default=12, help="submissions to grade per run (default: 12)")
    p.add_argument("--real", metavar="ASSIGNMENT", default=None,
                   help="grade a real assignment from assignments/ (half solved, half blank) instead of the fixture")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="data for --real (default: build the tiny preset into a temp folder)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="local worker counts (default: 1 2)")
    p.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster run")
    p.add_argument("--cell-timeout", type=int, default=300)
    args = p.parse_args(argv)

    from grader.autograde.run import AutogradeConfig, autograde, summarize
    root = Path(tempfile.mkdtemp(prefix="ag_bench_"))
    try:
        data = args.data_dir
        if args.real and data is None:
            data = root / "data"
            subprocess.run([sys.executable, "-m", "data_tools", "build", "--preset", "tiny", "--out", str(data),
                            "--answers", str(root / "answers"), "--no-progress"], check=True, cwd=REPO_ROOT,
                           stdout=subprocess.DEVNULL)
        base, assignment = _course(root, args.real, args.notebooks, data)
        rows = []

        def measure(label, **kw):
            course = _fresh(base, root / f"run-{len(rows)}")
            cfg = AutogradeConfig(workers=kw.pop("workers", 2), cell_timeout=args.cell_timeout, data_dir=data,
                                  feedback=True)
            t0 = time.perf_counter()
            res = autograde(course, cfg, assignments=[assignment], progress=True, **kw)
            dt = time.perf_counter() - t0
            rows.append((label, len(res), dt, 60 * len(res) / dt, summarize(res)))

        for w in args.workers:
            measure(f"{w} local worker{'s' if w > 1 else ''}", workers=w)
        if not args.no_dask:
            from dask.distributed import Client, LocalCluster
            t0 = time.perf_counter()
            cluster = LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None)
            client = Client(cluster)
            print(f"Dask LocalCluster (2 processes x 1 thread) started in {time.perf_counter() - t0:.1f} s")
            try:
                measure("Dask, 2 workers", dask_scheduler=client)
            finally:
                client.close()
                cluster.close()
        what = f"real assignment {assignment} (tiny preset, smoke mode)" if args.real else "fixture notebook"
        print(f"\nAutograding throughput: {what}, nbgrader with feedback, workers started inside the timing")
        print(f"{'setup':<18} {'notebooks':>9} {'wall s':>8} {'nb/min':>8}  statuses")
        for label, n, dt, rate, summary in rows:
            print(f"{label:<18} {n:>9} {dt:>8.1f} {rate:>8.1f}  {summary}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
