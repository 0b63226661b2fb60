"""Does judging within strata of the pixel statistics separate the 02 and 03 references from the no-work answers?

    python benchmarks/probe_matching.py                   # the grading preset, data seeds 0-3
    python benchmarks/probe_matching.py --seeds 8 --first-seed 4

On the ``grading`` preset the smoke-trained medium and strong references, scored by their error, rank the probes
about as well as the distance to the mean face (``docs/results.md``, "Secret probes"), so no bar on the plain ROC-AUC
both passes a working model and fails that statistic. 02 and 03 are therefore also judged within strata
(``grader/autograde/probes.py``, ``match_strata``): the probes cut by how anomalous their pixel statistics alone make
them look, only (anomaly, normal) pairs within a stratum counted, beside the bar over all pairs. For each data seed
this builds the preset with the grading data's kinds and scores its test set (every row is a probe) by

- the 02 and 03 references as the autograder measures them (``probes.REFERENCES``, smoke mode); the strong model
  of 03's reference also by its 'pixel_var' and 'residual' scores (the strong stage's other scores);
- 02 and 03 answered from their instructions (``MEDIUM_SOLVED`` and ``STRONG_SOLVED`` of the no-work tests'
  corpus: a wider fcn, a two-encoder model of its own; trained as the config cells set them up in smoke mode,
  scored by ``anomaly_scores``), the answers whose full points the bars must not miss;
- an untrained sample fcn and each no-work statistic (``probe_kinds.STATISTICS``: the distance to the mean face,
  the brightness either way, the pixels' standard deviation),

and prints each one's ROC-AUC over all pairs and within the strata, then the bars of 02 and 03 (over all pairs /
within strata; a reference below the floor prints its ``ProbeError``).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from probe_kinds import STATISTICS, reference_scores

ASSIGNMENTS = ("02_medium", "03_strong")


def strong_scores(train: np.ndarray, test: np.ndarray) -> dict[str, np.ndarray]:
    """03's reference (``probes.REFERENCES``: the strong stage in smoke mode scored by its error), and the same
    trained model scored by the stage's 'pixel_var' and 'residual'."""
    from grader.autograde.probes import REFERENCES
    from kit.run import parse_overrides
    from solutions import strong
    from solutions.stages import split_reference
    cfg = strong.CONFIG.resolve(smoke=True, **parse_overrides(list(REFERENCES["03_strong"].overrides)))
    fitted = strong.fit_and_score(train, test, cfg, progress=False)
    reference, fit_images = split_reference(train, cfg.n_reference, cfg.seed)
    out = {"03_strong": fitted.test_scores}
    for score in ("pixel_var", "residual"):
        out[f"03 {score}"] = strong.make_scorer(fitted.model, reference, fit_images, cfg.replace(score=score))(test)
    return out


#: The notebooks answered from their instructions (the no-work tests' solved answers) and their config cells'
#: settings: what a bar must not fail.
ANSWERS = {"02 answer": ("MEDIUM_SOLVED", {"model_type": "fcn", "epochs": 50, "batch_size": 2000, "lr": 1e-3,
                                          "model_kwargs": {"hidden": (128, 64, 12), "latent_dim": 3}}),
           "03 answer": ("STRONG_SOLVED", {"epochs": 30, "batch_size": 256, "lr": 1e-3})}


def answered(name: str, data_dir: Path, test: np.ndarray) -> np.ndarray:
    """``test`` scored by the notebook answered from its instructions (``ANSWERS``), trained as its config cell
    sets it up in smoke mode."""
    import torch
    from torch import nn

    from starter_code import anomaly_scores, build_and_fit, fit, seed_everything
    from starter_code.notebook import NotebookEnv
    from probe_step_cost import corpora
    answer, settings = ANSWERS[name]
    env = NotebookEnv.from_environ({"HW8_SMOKE": "1", "HW8_DATA_DIR": str(data_dir)})
    cfg = env.train_config(**settings)
    seed_everything(cfg.seed)
    ns = {"np": np, "torch": torch, "nn": nn, "fit": partial(fit, progress=False),
          "build_and_fit": partial(build_and_fit, progress=False), "anomaly_scores": anomaly_scores, "cfg": cfg,
          "train": env.load_train(), "test": env.load_test()}
    exec(getattr(corpora()["models"], answer), ns)                           # the tests' own corpus
    return ns["score_images"](test)


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
        scores = {"02_medium": reference_scores("02_medium", train, test, None)}
        scores |= strong_scores(train, test)
        scores |= {name: answered(name, Path(tmp) / "data", test) for name in ANSWERS}
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
