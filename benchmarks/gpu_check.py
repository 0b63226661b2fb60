"""The GPU check, in one run: the CUDA tests, training throughput on the GPU, and one reference stage on the
full preset; prints a table of figures and targets (paste it into docs/results.md).

    .venv/bin/python benchmarks/gpu_check.py                       # strong on the full preset (built once, cached)
    .venv/bin/python benchmarks/gpu_check.py --stage boss --preset demo --skip-tests

1. ``pytest -m gpu``: the tests that need CUDA (fit on the GPU with the uint8 images kept there, device choice).
2. ``benchmarks/train_throughput.py --device cuda``: ``starter_code.fit`` against the course's per-item
   Dataset + DataLoader loop, same model and images, side by side; target >= 3x the course's images/s.
3. ``python -m kit run --stage STAGE --preset full --reveal``: the stage's public/private AUC (the CPU figures
   are in docs/results.md, "Reference ladder, full preset") and its wall time on the GPU.

Exit code: 0 when every step ran (targets are reported, not enforced), 1 when there is no CUDA device or a step
failed, 2 on a usage error. GPU figures are in docs/results.md once measured.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THROUGHPUT_TARGET = 3.0


def _run(cmd: list[str], timeout: float) -> tuple[int, str, float]:
    """(exit code, last lines of output, seconds) of ``cmd`` run from the repository root."""
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        code, out = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        code, out = 124, f"timed out after {timeout:.0f} s\n{e.stdout or ''}"
    print(out[-3000:], flush=True)
    return code, out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", default="strong", help="the reference stage to run (default: strong)")
    p.add_argument("--preset", default="full", help="data preset of that run (default: full)")
    p.add_argument("--models", nargs="+", default=["fcn", "vae"], help="model types for the throughput run")
    p.add_argument("--n-images", type=int, default=20000, help="images in the throughput run")
    p.add_argument("--skip-tests", action="store_true", help="skip pytest -m gpu")
    p.add_argument("--timeout", type=float, default=3000, help="seconds allowed per step")
    args = p.parse_args(argv)

    import torch
    if not torch.cuda.is_available():
        print("no CUDA device here: nothing to check (run this where `torch.cuda.is_available()` is true)",
              file=sys.stderr)
        return 1
    gpu = torch.cuda.get_device_name(0)
    print(f"GPU: {gpu}; torch {torch.__version__}", flush=True)
    rows: list[tuple[str, str, str]] = []  # (check, figure, target / verdict)
    failed = False

    if not args.skip_tests:
        code, out, secs = _run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider"],
                               args.timeout)
        summary = next((ln for ln in reversed(out.splitlines()) if " passed" in ln or " failed" in ln), out[-80:])
        rows.append(("pytest -m gpu", summary.strip("= "), "all pass" if code == 0 else "FAILED"))
        failed |= code != 0

    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "throughput.json"
        code, _, _ = _run([sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--device", "cuda",
                           "--models", *args.models, "--n-images", str(args.n_images), "--epochs", "3",
                           "--repeats", "3", "--json", str(result)], args.timeout)
        if code == 0:
            for row in json.loads(result.read_text())["rows"]:
                met = row["speedup"] >= THROUGHPUT_TARGET
                figure = f"kit {row['kit']:.0f} vs course {row['course']:.0f} img/s = {row['speedup']:.2f}x"
                rows.append((f"throughput {row['loop']}", figure,
                             f">= {THROUGHPUT_TARGET:.0f}x: {'met' if met else 'NOT met'}"))
        else:
            rows.append(("throughput", "failed", "-"))
            failed = True

        out_dir = Path(tmp) / "stage"
        code, _, secs = _run([sys.executable, "-m", "kit", "run", "--stage", args.stage, "--preset", args.preset,
                              "--reveal", "--no-progress", "--out", str(out_dir)], args.timeout)
        if code == 0:
            r = json.loads((out_dir / "result.json").read_text())
            rows.append((f"{args.stage} on {args.preset}", f"public {r['public']:.4f}, private {r['private']:.4f}, "
                         f"{r['seconds']:.0f} s training + scoring", "CPU figures: docs/results.md"))
        else:
            rows.append((f"{args.stage} on {args.preset}", "failed", "-"))
            failed = True

    width = max(len(r[0]) for r in rows)
    print(f"\nGPU check on {gpu}\n")
    print(f"| {'check':<{width}} | figure | target |\n|{'-' * (width + 2)}|---|---|")
    for check, figure, target in rows:
        print(f"| {check:<{width}} | {figure} | {target} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
