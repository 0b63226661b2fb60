"""Time to score one submission (validate + public/private AUC) against the naive pandas + scikit-learn path.

    .venv/bin/python benchmarks/score_speed.py [--rows 20000] [--repeat 20]

Prints a table of median and best wall times in milliseconds. The naive path is what a TA would write first:
``pd.read_csv`` + ``merge`` with the answer key + ``roc_auc_score`` per split (no validation beyond what pandas
raises). Both paths start from the file's bytes in memory, so disk speed is not measured.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from common.answer_key import AnswerKey
from grader.metrics import roc_auc
from grader.scoring import score_file
from grader.validate import read_submission


def make_case(n: int, seed: int = 0) -> tuple[AnswerKey, bytes]:
    """A random answer key (30% public, 30% anomalies) and a pandas-written float64 submission, shuffled rows."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(np.int8)
    usage = np.where(rng.random(n) < 0.3, "Public", "Private")
    kinds = np.where(labels == 1, "anomaly", "normal")
    scores = labels + rng.normal(size=n)
    order = rng.permutation(n)
    buf = io.StringIO()
    pd.DataFrame({"ID": order, "score": scores[order]}).to_csv(buf, index=False)
    return AnswerKey(labels, usage, kinds), buf.getvalue().encode()


def naive(data: bytes, key_frame: pd.DataFrame) -> tuple[float, float]:
    sub = pd.read_csv(io.BytesIO(data))
    merged = key_frame.merge(sub, on="ID", how="left")
    pub = merged[merged.Usage == "Public"]
    pri = merged[merged.Usage == "Private"]
    return roc_auc_score(pub.label, pub.score), roc_auc_score(pri.label, pri.score)


def timeit(fn, repeat: int) -> tuple[float, float]:
    fn()  # warm-up (imports, caches)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3, min(times) * 1e3


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20000, help="test images in the answer key")
    p.add_argument("--repeat", type=int, default=20, help="timed runs per path")
    args = p.parse_args(argv)
    key, data = make_case(args.rows)
    key_frame = key.to_frame()
    ours = score_file(data, key)
    ref = naive(data, key_frame)
    assert abs(ours.public - ref[0]) < 1e-12 and abs(ours.private - ref[1]) < 1e-12, (ours, ref)

    scores = read_submission(data, len(key))
    y = key.labels
    rows = [
        ("grader.score_file (validate + 2 AUC)", lambda: score_file(data, key)),
        ("naive pandas read_csv + merge + roc_auc_score x2", lambda: naive(data, key_frame)),
        ("  read_submission only", lambda: read_submission(data, len(key))),
        ("  read_submission(fast=False): formats.parse_submission", lambda: read_submission(data, len(key),
                                                                                           fast=False)),
        ("  pd.read_csv only", lambda: pd.read_csv(io.BytesIO(data))),
        ("  grader.metrics.roc_auc, all rows", lambda: roc_auc(y, scores)),
        ("  sklearn roc_auc_score, all rows", lambda: roc_auc_score(y, scores)),
    ]
    print(f"{args.rows} rows, {len(data) / 1e3:.0f} kB, median/best of {args.repeat} runs")
    print(f"{'path':<52} {'median ms':>10} {'best ms':>9}")
    for name, fn in rows:
        med, best = timeit(fn, args.repeat)
        print(f"{name:<52} {med:>10.2f} {best:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
