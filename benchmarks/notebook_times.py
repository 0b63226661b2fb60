"""Top-to-bottom time of each solved source notebook on a real data set (the demo preset by default).

The budget: every notebook runs top to bottom on the demo data in at most 10 minutes on 2 CPU cores. This
executes ``assignments/source/<name>/<name>.ipynb`` (the solutions filled in) with nbclient in a fresh kernel, not in
smoke mode, with the data folder and an output folder of its own, and prints per notebook the wall time and the
CPU time the kernel process used (user + system: what the notebook cost, whatever else the machine was running),
and the machine's load average, so figures from a shared machine read for what they are.

    .venv/bin/python benchmarks/notebook_times.py                    # all five on the demo preset (built if missing)
    .venv/bin/python benchmarks/notebook_times.py 04_boss 05_report --threads 2

The figures are recorded in docs/results.md, beside this command.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from data_tools.build import cached_dataset

SOURCE = Path(__file__).resolve().parents[1] / "assignments" / "source"
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` and its waited-for children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / TICK


def run_notebook(name: str, data_dir: Path, threads: int, timeout: int) -> dict:
    nb = nbformat.read(SOURCE / name / f"{name}.ipynb", as_version=4)
    with tempfile.TemporaryDirectory(prefix=f"nbtime-{name}-") as out:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HW8_")}
        env.update(HW8_DATA_DIR=str(data_dir), HW8_OUTPUT_DIR=out, OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(SOURCE / name)}})
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        with client.setup_kernel(env=env):
            pid = client.km.provisioner.process.pid
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            cpu = _cpu_seconds(pid)
        wall = time.perf_counter() - t0
    return {"name": name, "wall": wall, "cpu": cpu, "load": (load0 + os.getloadavg()[0]) / 2}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="names under assignments/source (default: all)")
    parser.add_argument("--preset", default="demo", help="data preset built and cached (default: demo)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, help="a data folder instead of the preset")
    parser.add_argument("--threads", type=int, default=2, help="OMP/MKL threads of the kernel (default: 2)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell before giving up")
    args = parser.parse_args(argv)
    names = args.notebooks or sorted(p.name for p in SOURCE.iterdir() if (p / f"{p.name}.ipynb").is_file())
    data_dir = args.data or cached_dataset(args.preset, args.seed).data
    print(f"data: {data_dir}; {args.threads} threads; budget 600 s per notebook on 2 cores")
    print(f"{'notebook':<12} {'wall s':>8} {'kernel CPU s':>13} {'load avg':>9}")
    rows = []
    for name in names:
        row = run_notebook(name, data_dir, args.threads, args.timeout)
        rows.append(row)
        print(f"{name:<12} {row['wall']:>8.0f} {row['cpu']:>13.0f} {row['load']:>9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
