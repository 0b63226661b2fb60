"""Autograding throughput, sandboxed vs not: notebooks/minute with 1 and 2 local workers and a Dask LocalCluster.

    python benchmarks/autograde_throughput.py                       # fixture notebook, 12 submissions per run
    python benchmarks/autograde_throughput.py --real 01_simple -n 6  # a real assignment, solved, on the tiny preset

Every submission is really executed: the student's cells in one kernel, the tests in a second (``execute.py``),
nbgrader's gradebook and feedback. Each setup is measured in this one process in the bubblewrap sandbox (``bwrap``
+ ``setpriv`` as root) and with ``--unsafe-no-sandbox`` (the same two kernels, unconfined), so the ratio is the cost
of the sandbox alone on this machine at this moment (the machine's speed drifts: compare only figures of one run).
Per setup: one unmeasured warm-up run (first imports, page cache, a Dask worker's first task), then the order
sandboxed, unsandboxed, unsandboxed, sandboxed (ABBA: a linear drift of the machine's speed cancels); the table
shows each mode's mean. Worker start-up (imports, ~2 s each) is in the wall time, as a TA would see it; Dask
cluster start-up is not (a course keeps its cluster running).

Whole runs on a shared machine are noisy (other jobs come and go within a run), so the sandbox's own cost is also
measured alone first: kernel start, one cell, kill, alternately sandboxed and not (``--kernel-starts`` each),
medians compared.
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

import test_modules  # tests/ corpora, loaded from their files (benchmarks/test_modules.py)


def _course(root: Path, real: str | None, n: int) -> tuple[CourseConfig, str]:
    import nbformat

    from grader.autograde.release import release
    fixtures = test_modules.load("autograde/fixtures.py")
    if real:
        course = CourseConfig(source=REPO_ROOT / "assignments", course_dir=root / "course")
        assignment = real
    else:
        fixtures.write_fixture_source(root / "src", "ps1")
        course = CourseConfig(source=root / "src", course_dir=root / "course")
        assignment = "ps1"
    release(course, [assignment])
    rel = nbformat.read(str(course.course_dir / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
    if real:
        solved = fixtures.answered_submission(rel, fixtures.STUDENT_ANSWERS[real])
        fixtures.submit_notebooks(course, assignment, {f"s{i:03d}": solved if i % 2 == 0 else rel for i in range(n)})
    else:
        kinds = ["good", "partial", "blank"]
        for i in range(n):
            path = course.course_dir / "submitted" / f"s{i:03d}" / assignment / f"{assignment}.ipynb"
            fixtures.write_submission(path, rel, kinds[i % 3])
    return course, assignment


def _fresh(course: CourseConfig, dest: Path) -> CourseConfig:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(course.course_dir, dest, ignore=shutil.ignore_patterns("autograded", "feedback", "logs"))
    return CourseConfig(source=course.source, course_dir=dest)


def kernel_starts(n: int, root: Path) -> None:
    """Median seconds to start a kernel, run ``1 + 1`` and kill it, sandboxed vs not, alternating."""
    import asyncio
    import statistics

    import nbformat

    from grader.autograde.execute import Kernel
    from grader.autograde.sandbox import Boot, SandboxConfig, Scratch, kernel_command
    times: dict[bool, list[float]] = {True: [], False: []}
    boots = {s: Boot(root / f"boot-{s}", SandboxConfig(enabled=s)) for s in (True, False)}
    for i in range(2 * n + 2):
        sandboxed = i % 2 == 0
        cfg = SandboxConfig(enabled=sandboxed)
        scratch = Scratch(cfg, root)
        boots[sandboxed].seed_home(scratch.home_student)
        scratch.hand_over()
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
        argv, env, cwd = kernel_command(cfg, scratch, boots[sandboxed], tests=False, data_dir=None)
        k = Kernel(nb, argv=argv, env=env if not sandboxed else {"PATH": "/usr/bin:/bin"}, cwd=cwd, ids=scratch.ids,
                    ipc=scratch.ipc_for(False), timeout=60, startup_timeout=120, max_output_bytes=1 << 20)

        async def once():
            await k.start()
            try:
                await k.run()
            finally:
                await k.stop()

        t0 = time.perf_counter()
        asyncio.run(once())
        if i >= 2:                      # the first of each is a warm-up
            times[sandboxed].append(time.perf_counter() - t0)
        scratch.cleanup()
    sb, none = statistics.median(times[True]), statistics.median(times[False])
    print(f"kernel start + 1 cell + kill, median of {n} each (alternating): sandboxed {sb:.3f} s, "
          f"unsandboxed {none:.3f} s: the sandbox adds {sb - none:+.3f} s per kernel ({100 * (sb / none - 1):+.1f} %)",
          flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--notebooks", type=int, default=12, help="submissions to grade per run (default: 12)")
    p.add_argument("--real", metavar="ASSIGNMENT", default=None, choices=["01_simple"],
                   help="grade a real assignment from assignments/ (half solved, half blank) instead of the fixture")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="data for --real (default: build the tiny preset into a temp folder)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="local worker counts (default: 1 2)")
    p.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster runs")
    p.add_argument("--cell-timeout", type=int, default=300)
    p.add_argument("--kernel-starts", type=int, default=10,
                   help="kernels started per mode for the sandbox-alone figure (default: 10; 0 skips it)")
    args = p.parse_args(argv)

    from grader.autograde.run import AutogradeConfig, autograde, summarize
    from grader.autograde.sandbox import unavailable_reason
    reason = unavailable_reason()
    if reason:
        print(f"no sandbox on this machine ({reason}): nothing to compare", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="ag_bench_"))
    try:
        data = args.data_dir
        if args.real and data is None:
            data = root / "data"
            subprocess.run([sys.executable, "-m", "data_tools", "build", "--preset", "tiny", "--out", str(data),
                            "--answers", str(root / "answers"), "--no-progress"], check=True, cwd=REPO_ROOT,
                           stdout=subprocess.DEVNULL)
        if args.kernel_starts:
            kernel_starts(args.kernel_starts, root)
        base, assignment = _course(root, args.real, args.notebooks)
        rows: list[tuple] = []

        def measure(label, sandboxed: bool, **kw):
            course = _fresh(base, root / f"run-{len(rows)}")
            cfg = AutogradeConfig(workers=kw.pop("workers", 2), cell_timeout=args.cell_timeout, data_dir=data,
                                  feedback=True, unsafe_no_sandbox=not sandboxed)
            t0 = time.perf_counter()
            res = autograde(course, cfg, assignments=[assignment], progress=False, **kw)
            dt = time.perf_counter() - t0
            rows.append((label, "bwrap" if sandboxed else "none", len(res), dt, 60 * len(res) / dt, summarize(res)))
            print(f"  {label:<16} {rows[-1][1]:<6} {dt:7.1f} s  {rows[-1][4]:6.2f} nb/min", flush=True)

        def pair(label, i, **kw):
            measure("warm-up", False, **dict(kw))
            rows.pop()
            for sandboxed in (True, False, False, True):
                measure(label, sandboxed, **dict(kw))

        for i, w in enumerate(args.workers):
            pair(f"{w} local worker{'s' if w > 1 else ''}", i, workers=w)
        if not args.no_dask:
            from dask.distributed import Client, LocalCluster
            t0 = time.perf_counter()
            cluster = LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None,
                                   host="127.0.0.1")
            client = Client(cluster)
            print(f"Dask LocalCluster (2 processes x 1 thread) started in {time.perf_counter() - t0:.1f} s")
            try:
                pair("Dask, 2 workers", len(args.workers), dask_scheduler=client)
            finally:
                client.close()
                cluster.close()
        what = f"real assignment {assignment} (tiny preset, smoke mode)" if args.real else "fixture notebook"
        print(f"\nAutograding throughput: {what}, two kernels per notebook, nbgrader with feedback, "
              f"workers started inside the timing")
        print(f"{'setup':<18} {'sandbox':<7} {'runs':>4} {'notebooks':>9} {'wall s':>8} {'nb/min':>8} {'s/nb':>6}  "
              f"statuses (last run)")
        for label in dict.fromkeys(r[0] for r in rows):
            mean = {}
            for kind in ("bwrap", "none"):
                mine = [r for r in rows if r[0] == label and r[1] == kind]
                n, dt = mine[0][2], sum(r[3] for r in mine) / len(mine)
                mean[kind] = dt
                print(f"{label:<18} {kind:<7} {len(mine):>4} {n:>9} {dt:>8.1f} {60 * n / dt:>8.2f} {dt / n:>6.2f}  "
                      f"{mine[-1][5]}")
            print(f"{'':<18} sandbox cost per notebook: {100 * (mean['bwrap'] / mean['none'] - 1):+.1f} %")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
