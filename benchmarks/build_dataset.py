"""Time dataset builds: prints build time and faces/s for the demo and/or full preset.

    .venv/bin/python benchmarks/build_dataset.py                   # demo (~1 min on 2 cores)
    .venv/bin/python benchmarks/build_dataset.py --preset full     # full (~5 min, 1.5 GB written)
    .venv/bin/python benchmarks/build_dataset.py --preset demo full --threads 2
    .venv/bin/python benchmarks/build_dataset.py --kinds-version 1 2    # both versions of the kinds, side by side

Builds into a temporary directory (removed afterwards unless --keep DIR) and also times the bare generator
(normal faces only) so the cost of the anomaly kinds and of writing files shows separately.
Targets: demo <= 90 s, full <= 5 min on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = {"tiny": None, "smoke": None, "demo": 90, "full": 300}


def generator_rate(n: int, batch_size: int, threads: int) -> float:
    """Faces/s of the bare generator (render only) over ``n`` faces."""
    import numpy as np
    import torch

    from data_tools.faces import FaceGenerator

    prev = torch.get_num_threads()
    torch.set_num_threads(threads or (os.cpu_count() or 1))
    try:
        faces = FaceGenerator(batch_size=batch_size)
        z = faces.sample_latents(n, np.random.default_rng(0))
        faces.render(z[:batch_size])  # warm-up: first call allocates
        t = time.perf_counter()
        faces.render(z)
        return n / (time.perf_counter() - t)
    finally:
        torch.set_num_threads(prev)


def main(argv: list[str] | None = None) -> int:
    from data_tools.build import PRESETS, BuildConfig, build_dataset

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", nargs="+", choices=list(PRESETS), default=["demo"], help="preset(s) to build")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--generator-faces", type=int, default=3000,
                   help="faces for the bare-generator timing (0 to skip)")
    p.add_argument("--kinds-version", type=int, nargs="+", choices=(1, 2), default=[1],
                   help="version(s) of the anomaly kinds to build (each with its own default mixture)")
    p.add_argument("--keep", type=Path, help="build into DIR/<preset>[-v2]/{data,answers} and keep the files")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    print(f"cpu cores: {os.cpu_count()}, torch threads: {args.threads or os.cpu_count()}")
    if args.generator_faces:
        rate = generator_rate(args.generator_faces, args.batch_size, args.threads)
        print(f"generator only: {rate:.0f} faces/s ({args.generator_faces} faces, batch {args.batch_size})")
    rows = []
    for preset, version in [(p, v) for p in args.preset for v in args.kinds_version]:
        config = BuildConfig.from_preset(preset, seed=args.seed, threads=args.threads, batch_size=args.batch_size,
                                         kinds_version=version)
        name = preset + ("" if version == 1 else f"-v{version}")
        with tempfile.TemporaryDirectory(prefix=f"build-{name}-") as tmp:
            root = args.keep / name if args.keep else Path(tmp)
            t = time.perf_counter()
            m = build_dataset(config, root / "data", root / "answers", progress=not args.no_progress).manifest
            wall = time.perf_counter() - t
        n = m["counts"]["train"] + m["counts"]["test"]
        target = TARGET_S[preset]
        verdict = "" if target is None else (f"  (target <= {target} s: {'ok' if wall <= target else 'MISSED'})")
        rows.append(f"{name:9s} {n:7d} faces  {wall:7.1f} s  {n / wall:6.0f} faces/s{verdict}")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
