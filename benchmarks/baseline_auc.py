"""The course's fcn autoencoder's ROC-AUC on the demo data, overall, per anomaly family and per kind.

    .venv/bin/python benchmarks/baseline_auc.py --data DIR --answers DIR     # a built data set
    .venv/bin/python benchmarks/baseline_auc.py                             # demo-sized data made here

``--data`` holds ``trainingset.npy`` and ``testingset.npy``; ``--answers`` holds ``solution.csv``. Without them
the data are generated in memory from ``data_tools.anomalies`` at demo sizes (20,000 train; 2,000 normal +
2,000 anomalous test drawn from ``DEFAULT_MIXTURE``), the way the builder does it (normal latents from
``sample_normal_latents``). The model is the course's fcn autoencoder scored by reconstruction MSE
(``starter_code``'s when it exists, else the same architecture from ``calibrate_anomalies.py``).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

try:  # run as a script: the sibling file is importable by name
    from calibrate_anomalies import fcn_ae_scores
except ModuleNotFoundError:  # imported as ``benchmarks.baseline_auc`` (the tests)
    from benchmarks.calibrate_anomalies import fcn_ae_scores


def make_demo_like(n_train: int, n_normal: int, n_anomalous: int, seed: int):
    """-> train (n_train,64,64,3), test (n_normal+n_anomalous,64,64,3) uint8, labels (M,), kinds (M,) str."""
    from data_tools import anomalies as an
    from data_tools.faces import FaceGenerator
    faces = FaceGenerator()
    rng = np.random.default_rng(seed)
    train = an._normal_faces(faces, n_train, rng)
    normal = an._normal_faces(faces, n_normal, rng)
    names = list(an.DEFAULT_MIXTURE)
    counts = rng.multinomial(n_anomalous, [an.DEFAULT_MIXTURE[k] for k in names])
    parts = [an.KINDS[k].generate(faces, c, rng) for k, c in zip(names, counts)]
    test = np.concatenate([normal, *parts])
    kinds = np.array(["normal"] * n_normal + [k for k, c in zip(names, counts) for _ in range(c)])
    return train, test, (kinds != "normal").astype(int), kinds


def load(data: Path, answers: Path):
    from common.answer_key import load_answer_key
    key = load_answer_key(answers / "solution.csv")
    return (np.load(data / "trainingset.npy"), np.load(data / "testingset.npy"),
            np.asarray(key.labels), np.asarray(key.kinds))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="folder with trainingset.npy and testingset.npy")
    p.add_argument("--answers", type=Path, help="folder with solution.csv")
    p.add_argument("--n-train", type=int, default=20000, help="training faces used (subsampled if fewer)")
    p.add_argument("--n-test", type=int, default=4000, help="test rows when generating (half anomalous)")
    p.add_argument("--epochs", type=int, default=15, help="fcn AE epochs")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if (args.data is None) != (args.answers is None):
        p.error("give both --data and --answers, or neither")
    import torch
    from sklearn.metrics import roc_auc_score
    torch.set_num_threads(1)  # shared 2-core machine
    t = time.time()
    if args.data:
        train, test, labels, kinds = load(args.data, args.answers)
        if len(train) > args.n_train:
            train = train[np.random.default_rng(args.seed).choice(len(train), args.n_train, replace=False)]
    else:
        train, test, labels, kinds = make_demo_like(args.n_train, args.n_test // 2, args.n_test - args.n_test // 2,
                                                    args.seed)
    print(f"data: {len(train)} train, {len(test)} test ({labels.mean():.0%} anomalous) in {time.time() - t:.0f}s")
    t = time.time()
    (scores,) = fcn_ae_scores(train, [test], args.epochs, args.seed)
    print(f"fcn AE, {args.epochs} epochs, trained and scored in {time.time() - t:.0f}s")
    print(f"overall ROC-AUC: {roc_auc_score(labels, scores):.3f}")
    normal = kinds == "normal"
    from data_tools.anomalies import FAMILIES, KINDS
    families = np.array(["normal" if k == "normal" else KINDS[k].family if k in KINDS else "unknown" for k in kinds])
    for f in FAMILIES:
        m = normal | (families == f)
        if (families == f).any():
            print(f"  {f + ' family':18s} n={int((families == f).sum()):5d}  AUC {roc_auc_score(labels[m], scores[m]):.3f}")
    for k in sorted(set(kinds) - {"normal"}):
        m = normal | (kinds == k)
        print(f"  {k:18s} n={int((kinds == k).sum()):5d}  AUC {roc_auc_score(labels[m], scores[m]):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
