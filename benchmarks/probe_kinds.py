"""Can the autograder's bars tell a working model from a pixel statistic, kind by kind and in expectation?

    python benchmarks/probe_kinds.py                      # tiny preset, data seeds 0-3, 150 images per kind
    python benchmarks/probe_kinds.py --seeds 1 --n 300
    python benchmarks/probe_kinds.py --epochs 64          # the references trained 8 times longer than smoke mode
    python benchmarks/probe_kinds.py --preset grading     # the autograder's default grading data (1,024 probes)

02-04's secret-probe tests judge the student's own model by the ROC-AUC of its scores on the grading data's test rows,
against a bar of the reference's AUC less a margin (``grader/autograde/probes.py``). On the tiny preset's 128 rows that
AUC is coarse; this measures what it estimates. For each data seed it builds the preset (tiny, or the ``grading`` preset
the autograder builds by default; the grading data's kinds, ``GRADING_KINDS_VERSION``), trains each reference as the
autograder measures it (``probes.REFERENCES``: the stage, its overrides, smoke mode, on the preset's training faces) and
scores ``--n`` fresh normal faces and ``--n`` fresh images of each kind of the preset's mixture, all drawn from the face
generator as the build draws them. Beside the references it scores the no-work statistics of the autograder's no-work
corpora (``tests/autograde/test_no_work_models.py``): the distance to the training faces' mean face, the mean brightness
and its negative, the pixels' standard deviation.

Printed per seed: each column's AUC per kind, its expected AUC on the mixture (the share-weighted mean of its
per-kind AUCs, which is what the probes' AUC estimates) and the standard error of that estimate on the preset's own
probe counts (Hanley and McNeil). A bar excludes a statistic only where the reference's expectation less the margin
lies above the statistic's by a few standard errors.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: The no-work statistics: name -> score of flattened pixels in [0, 1] given the training faces' mean.
STATISTICS = {
    "mean_face": lambda t, mean: np.linalg.norm(t - mean, axis=1),
    "brightness": lambda t, mean: t.mean(axis=1),
    "darkness": lambda t, mean: -t.mean(axis=1),
    "pixel_std": lambda t, mean: t.std(axis=1),
}
ASSIGNMENTS = ("02_medium", "03_strong", "04_boss")


def expected_auc(per_kind: dict[str, float], mixture: dict[str, float]) -> float:
    """The ROC-AUC a test set drawn from ``mixture`` (kind -> share) estimates: the share-weighted mean of the
    per-kind AUCs (each against the same normal faces), exact when the kinds' counts follow their shares."""
    total = sum(mixture.values())
    return sum(share * per_kind[kind] for kind, share in mixture.items()) / total


def auc_standard_error(auc: float, n_normal: int, n_anomalous: int) -> float:
    """Hanley and McNeil's standard error of an ROC-AUC estimated on ``n_normal`` and ``n_anomalous`` images."""
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
    var = (auc * (1 - auc) + (n_anomalous - 1) * (q1 - auc ** 2) + (n_normal - 1) * (q2 - auc ** 2))
    return float(np.sqrt(max(var, 0.0) / (n_normal * n_anomalous)))


def reference_scores(assignment: str, train: np.ndarray, images: np.ndarray, epochs: int | None) -> np.ndarray:
    """The scores of ``images`` by ``assignment``'s reference as the autograder runs it (smoke mode), trained
    ``epochs`` epochs where given and its config has the key (not the boss, whose parts have their own)."""
    from grader.autograde.probes import REFERENCES
    from kit.run import parse_overrides
    from solutions.stages import get_stage
    ref = REFERENCES[assignment]
    stage = get_stage(ref.stage)
    longer = {"epochs": epochs} if epochs and hasattr(stage.CONFIG, "epochs") else {}
    return stage.run(train, images, smoke=True, progress=False, **parse_overrides(list(ref.overrides)), **longer).scores


def measure(seed: int, n: int, epochs: int | None, preset: str = "tiny") -> \
        tuple[dict, dict[str, float], tuple[int, int]]:
    """column -> kind -> AUC on data seed ``seed``; the preset's mixture; its (normal, anomalous) test counts."""
    from sklearn.metrics import roc_auc_score

    from data_tools import anomalies
    from data_tools.build import BuildConfig, build_dataset
    from data_tools.faces import FaceGenerator
    from grader.autograde.probes import GRADING_KINDS_VERSION
    cfg = BuildConfig.from_preset(preset, seed=seed, kinds_version=GRADING_KINDS_VERSION)
    with tempfile.TemporaryDirectory(prefix="probe_kinds_") as tmp:
        build_dataset(cfg, Path(tmp) / "data", Path(tmp) / "answers", progress=False)
        train = np.load(Path(tmp) / "data" / "trainingset.npy")
    faces = FaceGenerator()
    normal = faces.render(anomalies.sample_normal_latents(faces, n, np.random.default_rng([seed, 1])))
    kinds = [k for k, share in cfg.mixture.items() if share > 0]
    sets = [anomalies.get_kind(k, cfg.kinds_version).generate(faces, n, np.random.default_rng([seed, 2, i]))
            for i, k in enumerate(kinds)]
    images = np.concatenate([normal, *sets])
    pixels = images.reshape(len(images), -1) / 255.0
    mean = (train.reshape(len(train), -1) / 255.0).mean(axis=0)
    scores = {a: reference_scores(a, train, images, epochs) for a in ASSIGNMENTS}
    scores |= {name: f(pixels, mean) for name, f in STATISTICS.items()}
    y = np.r_[np.zeros(n), np.ones(n)]
    out = {c: {k: float(roc_auc_score(y, np.r_[s[:n], s[n * (i + 1):n * (i + 2)]])) for i, k in enumerate(kinds)}
           for c, s in scores.items()}
    return out, {k: cfg.mixture[k] for k in kinds}, (cfg.n_test_normal, cfg.n_test_anomalous)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=4, help="how many data seeds (default: 4)")
    p.add_argument("--first-seed", type=int, default=0, help="the first data seed (default: 0)")
    p.add_argument("--preset", default="tiny", choices=("tiny", "grading"), help="the grading data (default: tiny)")
    p.add_argument("--n", type=int, default=150, help="fresh images per kind and normal faces (default: 150)")
    p.add_argument("--epochs", type=int,
                   help="train the medium and strong references this many epochs (default: smoke mode's)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        t0 = time.perf_counter()
        table, mixture, (n0, n1) = measure(seed, args.n, args.epochs, args.preset)
        cols = list(table)
        print(f"\ndata seed {seed}: {args.preset} preset, {args.n} images per kind, AUC (anomalous = higher)")
        print("| kind | share | " + " | ".join(cols) + " |")
        print("|---|---|" + "---|" * len(cols))
        for k, share in mixture.items():
            print(f"| {k} | {share:.2f} | " + " | ".join(f"{table[c][k]:.3f}" for c in cols) + " |")
        exp = {c: expected_auc(table[c], mixture) for c in cols}
        print("| **mixture** | 1 | " + " | ".join(f"**{exp[c]:.3f}**" for c in cols) + " |")
        print(f"| SE on {n0} + {n1} probes | | " + " | ".join(f"{auc_standard_error(exp[c], n0, n1):.3f}"
                                                            for c in cols) + " |")
        best = max(STATISTICS, key=lambda c: exp[c])
        print(f"best statistic {best} {exp[best]:.3f}; reference - best statistic: "
              + ", ".join(f"{a} {exp[a] - exp[best]:+.3f}" for a in ASSIGNMENTS)
              + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
