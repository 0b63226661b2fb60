"""Does judging within strata of the pixel statistics separate the 02 and 03 references from the no-work answers?

    python benchmarks/probe_matching.py                   # the grading preset, data seeds 0-3
    python benchmarks/probe_matching.py --seeds 8 --first-seed 4

On the ``grading`` preset the smoke-trained medium reference ranks the probes about as well as the distance to the mean
face (``docs/results.md``, "Secret probes"), so no bar on the plain ROC-AUC both passes a working model and fails that
statistic. 02 is therefore also judged within strata (``grader/autograde/probes.py``, ``match_strata``): the probes cut
by how anomalous their pixel statistics alone make them look, only (anomaly, normal) pairs within a stratum counted,
beside the bar over all pairs; 03's reference is measured the same way for comparison (03 keeps its bar over all pairs
only). For each data seed this builds the preset with the grading data's kinds, scores its test set (every row is a
probe) by the 02 and 03 references as the autograder measures them (``probes.REFERENCES``, smoke mode), by an untrained
sample fcn and by each no-work statistic (``probe_kinds.STATISTICS``: the distance to the mean face, the brightness
either way, the pixels' standard deviation), and prints each one's ROC-AUC over all pairs and within the strata, then
the bars the two would get (over all pairs / within strata; a reference below the floor prints its ``ProbeError``).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from probe_kinds import STATISTICS, reference_scores

ASSIGNMENTS = ("02_medium", "03_strong")


def measure(seed: int, preset: str) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    """column -> (ROC-AUC over all pairs, within strata) on data seed ``seed``; assignment -> its bars (``min_auc``,
    ``min_matched_auc``)."""
    import torch

    from common.answer_key import load_answer_key
    from data_tools.build import BuildConfig, build_dataset
    from grader.autograde import probes
    from grader.autograde.exchange import matched_auc
    from starter_code import anomaly_scores, build_model, seed_everything
    cfg = BuildConfig.from_preset(preset, seed=seed, kinds_version=probes.GRADING_KINDS_VERSION)
    with tempfile.TemporaryDirectory(prefix="probe_matching_") as tmp:
        build_dataset(cfg, Path(tmp) / "data", Path(tmp) / "answers", progress=False)
        train, test = np.load(Path(tmp) / "data" / "trainingset.npy"), np.load(Path(tmp) / "data" / "testingset.npy")
        labels = load_answer_key(Path(tmp) / "answers" / "solution.csv").labels.astype(np.int8)
        mean_face = probes.mean_face(Path(tmp) / "data")
    strata = probes.match_strata(test, labels, mean_face)
    pixels = test.reshape(len(test), -1) / 255.0
    scores = {a: reference_scores(a, train, test, None) for a in ASSIGNMENTS}
    seed_everything(0)
    with torch.no_grad():
        scores["untrained fcn"] = anomaly_scores(build_model("fcn"), test)
    scores |= {name: f(pixels, mean_face) for name, f in STATISTICS.items()}
    out = {c: (matched_auc(labels, s), matched_auc(labels, s, strata)) for c, s in scores.items()}
    drawn = probes.ProbeSet(test, labels, np.arange(len(test)), strata)
    bars = {}
    for a in ASSIGNMENTS:
        b = probes.bar(a, drawn, scores[a])
        bars[a] = (b["min_auc"], b["min_matched_auc"])
    return out, bars


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=4, help="how many data seeds (default: 4)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--preset", default="grading", choices=("tiny", "grading"))
    args = p.parse_args(argv)
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        t0 = time.perf_counter()
        try:
            out, bars = measure(seed, args.preset)
        except Exception as e:  # noqa: BLE001 - a reference below the floor is a result too
            print(f"seed {seed}: {type(e).__name__}: {e}")
            continue
        print(f"seed {seed} ({time.perf_counter() - t0:.0f} s): ROC-AUC all pairs / within strata")
        for column, (plain, matched) in out.items():
            print(f"  {column:<14} {plain:.3f} / {matched:.3f}")
        print("  bars: " + ", ".join(f"{a} {b:.3f} / {m:.3f}" for a, (b, m) in bars.items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
