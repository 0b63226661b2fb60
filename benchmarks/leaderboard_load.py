"""Leaderboard load benchmark (loopback only, bounded count and time), every figure from one run, side by side.

1. The per-upload CPU floor, measured in this process at the start and the end of the run: parse one
   ``--rows``-row (20,000) prediction file, compute its two AUCs (public, private), compress it (zlib level 1), the
   work no server can skip. Median CPU time over ``--floor-repeats``.
2. Uploads, for each configuration (default: SQLite with 1 and 2 server processes, PostgreSQL with 2): a real
   ``python -m grader serve`` on 127.0.0.1 and ``--uploads`` (200) uploads, all in flight at once
   (``--concurrency``), from an asyncio httpx client. Reports throughput, errors (anything but 201), latency
   p50/p99/max, and the server's CPU per upload: user+system time of the server's processes (and of the PostgreSQL
   cluster's, shown apart) over the run, divided by the uploads, next to the floor.
3. Board render: a store with ``--students`` (1,000) × ``--per-student`` (20) scored submissions; ``GET /`` through
   the ASGI app in-process (query + ranking + Jinja2 HTML), before the deadline and after it.

Goals (issue 11): server CPU per upload within 1.5× the floor; p99 < 1 s for 200 simultaneous uploads; board
render < 100 ms. On N cores, 200 simultaneous uploads cannot all finish before 200 × floor / N seconds, which
the report prints as the bound on p99.

    .venv/bin/python benchmarks/leaderboard_load.py                       # SQLite ×1, SQLite ×2, PostgreSQL ×2
    .venv/bin/python benchmarks/leaderboard_load.py --configs sqlite:1 --uploads 50 --skip-board
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import glob
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from data_tools.answer_key import AnswerKey, write_answer_key  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def make_key(n: int, seed: int = 0) -> AnswerKey:
    """(n,) answer key: 30% anomalies, 30% public rows (both classes in both splits)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(np.int8)
    labels[:4] = [0, 1, 0, 1]
    usage = np.where(rng.random(n) < 0.3, "Public", "Private")
    usage[:2], usage[2:4] = "Public", "Private"
    return AnswerKey(labels=labels, usage=usage.astype(str),
                     kinds=np.where(labels == 1, "far", "normal").astype(str))


def submission_bytes(key: AnswerKey, noise: float, seed: int) -> bytes:
    s = key.labels + noise * np.random.default_rng(seed).standard_normal(len(key))
    return ("ID,score\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(s))).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


# ------------------------------------------------------------------------------------------------ CPU floor
def cpu_floor(key: AnswerKey, data: bytes, repeats: int) -> float:
    """Median CPU seconds of parse + two AUCs + compress for one file (what every upload must cost)."""
    from grader.scoring import score_scores
    from grader.validate import read_submission
    times = []
    for _ in range(repeats):
        t = time.process_time()
        scores = read_submission(data, len(key))
        score_scores(scores, key)
        zlib.compress(data, 1)
        times.append(time.process_time() - t)
    return statistics.median(times)


def tree_cpu(root: int) -> tuple[float, float]:
    """(user, system) CPU seconds of process ``root`` and all its live descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for d in glob.glob("/proc/[0-9]*/stat"):
        try:
            raw = Path(d).read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        pid = int(d.split("/")[2])
        stats[pid] = fields
        children.setdefault(int(fields[1]), []).append(pid)
    user = system = 0.0
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            f = stats[pid]
            user, system = user + int(f[11]) / TICK, system + int(f[12]) / TICK     # utime, stime
        todo += children.get(pid, [])
    return user, system


# ----------------------------------------------------------------------------------------------- PostgreSQL
class Postgres:
    """A throwaway cluster (trust auth, loopback only) in a temp dir; ``fsync`` stays on, as in production."""

    def __init__(self, tmp: Path):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb") or ""]
        if not found[-1]:
            raise RuntimeError("no PostgreSQL binaries (initdb); apt-get install postgresql")
        self.bin = Path(found[-1]).parent
        self.dir = tmp / "pg"
        self.dir.mkdir()
        self.root = os.geteuid() == 0
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.port = free_port()
        self._run("initdb", "-D", str(self.dir / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300", "start")
        self.pid = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        self.n = 0

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        cmd = (["runuser", "-u", "postgres", "--"] + cmd) if self.root else cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode:
            raise RuntimeError(r.stderr + r.stdout)

    def new_database(self) -> str:
        import psycopg
        self.n += 1
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f"CREATE DATABASE bench{self.n}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/bench{self.n}"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")


# ----------------------------------------------------------------------------------------------------- uploads
def bench_uploads(args, tmp: Path, db_url: str, workers: int, files: list[bytes], key_path: Path,
                  pg: Postgres | None) -> dict:
    import httpx
    from tqdm import tqdm

    run = tmp / f"run-{len(list(tmp.glob('run-*')))}"
    run.mkdir()
    comp = run / "competition.toml"
    comp.write_text(f'title = "Load test"\nanswers = "{key_path.as_posix()}"\ndaily_limit = {args.uploads + 100}\n'
                    f'database_url = "{db_url}"\nmax_upload_bytes = {16 << 20}\nrate_upload = "1000000/minute"\n')
    n_students = min(args.uploads, 200)
    roster = run / "roster.csv"
    roster.write_text("id,name\n" + "".join(f"u{i},User {i}\n" for i in range(n_students)))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "grader", "serve", "--competition", str(comp), "--port",
                             str(port), "--roster", str(roster), "--workers", str(workers)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "LEADERBOARD_ADMIN_TOKEN": "bench-admin"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/api/board", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        tokens = [r["token"] for r in csv.DictReader((run / "tokens.csv").open())]
        lat, codes = [], {}

        async def go(count: int, offset: int, bar) -> float:
            limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
            sem = asyncio.Semaphore(args.concurrency)
            async with httpx.AsyncClient(base_url=base, timeout=args.time_limit, limits=limits) as client:
                async def one(i: int):
                    async with sem:
                        t = time.perf_counter()
                        try:
                            r = await client.post(
                                "/api/submissions", files={"file": (f"p{i}.csv", files[i % len(files)], "text/csv")},
                                headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"})
                            codes[r.status_code] = codes.get(r.status_code, 0) + 1
                        except httpx.HTTPError as e:
                            codes[type(e).__name__] = codes.get(type(e).__name__, 0) + 1
                        if bar is not None:
                            lat.append(time.perf_counter() - t)
                            bar.update()
                t0 = time.perf_counter()
                await asyncio.wait_for(asyncio.gather(*(one(offset + i) for i in range(count))), args.time_limit)
                return time.perf_counter() - t0

        asyncio.run(go(min(8, args.uploads), 10_000, None))     # warm-up: imports, pools, templates
        codes.clear()
        cpu0, pg0 = tree_cpu(proc.pid), (tree_cpu(pg.pid) if pg else (0.0, 0.0))
        bar = tqdm(total=args.uploads, desc=f"uploads {db_url.split(':')[0]} ×{workers}", unit="file",
                   disable=args.quiet)
        wall = asyncio.run(go(args.uploads, 0, bar))
        bar.close()
        cpu1, pg1 = tree_cpu(proc.pid), (tree_cpu(pg.pid) if pg else (0.0, 0.0))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    errors = sum(n for c, n in codes.items() if c != 201)
    return {"db": db_url.split("+")[0].split(":")[0], "workers": workers, "wall_s": wall,
            "throughput": args.uploads / wall, "errors": errors, "codes": codes, "p50": pct(lat, 50),
            "p99": pct(lat, 99), "max": max(lat),
            "cpu_per_upload": (sum(cpu1) - sum(cpu0)) / args.uploads,
            "sys_per_upload": (cpu1[1] - cpu0[1]) / args.uploads,
            "pg_cpu_per_upload": (sum(pg1) - sum(pg0)) / args.uploads}


# ------------------------------------------------------------------------------------------------------- board
def bench_board(args, tmp: Path) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from grader.competition import CompetitionConfig
    from grader.leaderboard.app import create_app
    from grader.leaderboard.roster import new_token
    from grader.leaderboard.service import Leaderboard
    from grader.leaderboard.store import Store, hash_token

    key = make_key(200)
    db = f"sqlite:///{tmp / 'board.sqlite3'}"
    now = {"t": datetime(2026, 11, 10, 12, tzinfo=timezone.utc)}
    closes = datetime(2026, 11, 20, tzinfo=timezone.utc)
    cfg = CompetitionConfig(title="Board benchmark", database_url=db, closes_at=closes)
    store = Store(db)
    lb = Leaderboard(cfg, store=store, key=key, clock=lambda: now["t"])
    t0 = time.perf_counter()
    store.add_students([(f"s{i:04d}", f"Student {i:04d}", "", hash_token(new_token())) for i in range(args.students)])
    ids = [s.id for s in store.students()]
    rng = np.random.default_rng(0)
    placeholder = b"ID,score\n"   # the board never reads file content; real files would only make the DB larger
    rows = []
    for sid in ids:
        skill = rng.uniform(0.5, 0.9)
        for k in range(args.per_student):
            pub = float(np.clip(skill + rng.normal(0, 0.03), 0, 1))
            rows.append(dict(student_id=sid, submitted_at=now["t"] - timedelta(minutes=int(rng.integers(0, 14400))),
                             data=placeholder, public=pub, private=float(np.clip(pub + rng.normal(0, 0.02), 0, 1)),
                             selected=bool(k < 2 and sid % 3 == 0)))
    for i in range(0, len(rows), 5000):
        store.add_submissions_bulk(rows[i:i + 5000])
    setup = time.perf_counter() - t0
    client = TestClient(create_app(lb))
    cpu = {}

    def timed(fn, n):
        fn()  # warm-up (template compilation, first connection)
        out, c = [], []
        for _ in range(n):
            t, p0 = time.perf_counter(), time.process_time()
            fn()
            out.append(time.perf_counter() - t)
            c.append(time.process_time() - p0)
        cpu[id(out)] = c
        return out

    def get_root():
        r = client.get("/")
        assert r.status_code == 200 and r.text.count("<tr") > args.students

    def cold(fn):
        def run():
            lb.clear_cache()   # as right after an upload: read the rows, rank the boards, then render
            fn()
        return run

    res = {"students": args.students, "submissions": len(rows), "setup_s": setup}
    res["page_public_cold"] = timed(cold(get_root), args.repeats)
    res["page_public"] = timed(get_root, args.repeats)
    now["t"] = closes + timedelta(hours=1)
    res["page_private_cold"] = timed(cold(get_root), args.repeats)
    res["page_private"] = timed(get_root, args.repeats)
    res["cpu"] = {k: statistics.median(cpu[id(v)]) for k, v in res.items() if isinstance(v, list)}
    store.close()
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="sqlite:1,sqlite:2,postgres:2",
                   help="comma-separated DATABASE:WORKERS (database: sqlite or postgres)")
    p.add_argument("--uploads", type=int, default=200)
    p.add_argument("--rows", type=int, default=20_000, help="rows per uploaded file (= test set size)")
    p.add_argument("--concurrency", type=int, default=200, help="uploads in flight at once")
    p.add_argument("--students", type=int, default=1000)
    p.add_argument("--per-student", type=int, default=20)
    p.add_argument("--repeats", type=int, default=15, help="timed board renders per case")
    p.add_argument("--floor-repeats", type=int, default=30)
    p.add_argument("--time-limit", type=float, default=300, help="seconds before an upload run is abandoned")
    p.add_argument("--skip-uploads", action="store_true")
    p.add_argument("--skip-board", action="store_true")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    configs = []
    for c in args.configs.split(","):
        db, _, w = c.partition(":")
        if db not in ("sqlite", "postgres") or not w.isdigit():
            p.error(f"--configs: {c!r} is not DATABASE:WORKERS with DATABASE sqlite or postgres")
        configs.append((db, int(w)))
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="lb_load_") as d:
        tmp = Path(d)
        os.chmod(tmp, 0o755)         # PostgreSQL, run as its own user, needs to reach its folder
        key = make_key(args.rows)
        key_path = write_answer_key(key, tmp / "solution.csv")
        files = [submission_bytes(key, 0.5 + 0.05 * i, seed=i) for i in range(8)]
        floors = [cpu_floor(key, files[0], args.floor_repeats)]
        results = []
        if not args.skip_uploads:
            pg = Postgres(tmp) if any(db == "postgres" for db, _ in configs) else None
            try:
                for db, workers in configs:
                    url = pg.new_database() if db == "postgres" else f"sqlite:///{tmp / f'load{len(results)}.sqlite3'}"
                    results.append(bench_uploads(args, tmp, url, workers, files, key_path,
                                                 pg if db == "postgres" else None))
            finally:
                if pg:
                    pg.stop()
        floors.append(cpu_floor(key, files[0], args.floor_repeats))
        floor = statistics.mean(floors)
        print(f"\nper-upload CPU floor (parse + two AUCs + zlib, one {args.rows}-row file, "
              f"{len(files[0]) / 1e6:.2f} MB): {floor * 1e3:.1f} ms "
              f"(start {floors[0] * 1e3:.1f} ms, end {floors[1] * 1e3:.1f} ms); {cores} core(s)")
        if results:
            bound = args.uploads * floor / cores
            print(f"{args.uploads} uploads, {args.concurrency} in flight; on {cores} cores the last of "
                  f"{args.uploads} simultaneous uploads cannot finish before {bound:.2f} s (floor × n / cores)")
            print(f"  {'database':<10} {'procs':>5} {'uploads/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
                  f"{'errors':>6}  {'server CPU/upload':>17} {'(system)':>9} {'× floor':>7}  {'+ PostgreSQL':>12}")
            for r in results:
                pg_part = f"{r['pg_cpu_per_upload'] * 1e3:9.1f} ms" if r["db"] == "postgresql" else ""
                print(f"  {r['db']:<10} {r['workers']:>5} {r['throughput']:9.1f} {r['p50'] * 1e3:7.0f} "
                      f"{r['p99'] * 1e3:7.0f} {r['max'] * 1e3:7.0f} {r['errors']:>6}  "
                      f"{r['cpu_per_upload'] * 1e3:14.1f} ms {r['sys_per_upload'] * 1e3:6.1f} ms "
                      f"{r['cpu_per_upload'] / floor:7.2f}  {pg_part:>12}")
                if r["errors"]:
                    print(f"     statuses: {r['codes']}")
            worst = max(r["cpu_per_upload"] / floor for r in results)
            p99 = max(r["p99"] for r in results)
            print(f"  [goals: CPU/upload <= 1.5 × floor: {'met' if worst <= 1.5 else 'NOT met'} (worst "
                  f"{worst:.2f}×); p99 < 1000 ms: {'met' if p99 < 1 else 'NOT met'} (worst {p99 * 1e3:.0f} ms; "
                  f"bound {bound * 1e3:.0f} ms); 0 errors: "
                  f"{'met' if not any(r['errors'] for r in results) else 'NOT met'}]")
        if not args.skip_board:
            b = bench_board(args, tmp)
            print(f"\nboard: {b['students']} students × {args.per_student} = {b['submissions']} submissions "
                  f"(setup {b['setup_s']:.1f} s); wall median / p95, CPU median, over {args.repeats}")
            for name, label in [
                    ("page_public_cold", "GET / before close, just after a change"),
                    ("page_public", "GET / before close, boards cached"),
                    ("page_private_cold", "GET / after close, just after a change"),
                    ("page_private", "GET / after close, boards cached")]:
                xs = b[name]
                print(f"  {label:<44} {statistics.median(xs) * 1e3:7.1f} ms  {pct(xs, 95) * 1e3:7.1f} ms  "
                      f"cpu {b['cpu'][name] * 1e3:6.1f} ms")
            worst = max(statistics.median(b[k]) for k in b if k.startswith("page_"))
            worst_cpu = max(b["cpu"].values())
            print(f"  [goal: board render < 100 ms: {'met' if worst < 0.1 else 'NOT met'} on wall time, "
                  f"{'met' if worst_cpu < 0.1 else 'NOT met'} on CPU time]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
