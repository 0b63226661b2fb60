"""Shortcuts: how far image statistics alone separate each anomaly kind, and two Gaussians on them.

    .venv/bin/python benchmarks/shortcuts.py --preset tiny
    .venv/bin/python benchmarks/shortcuts.py --preset demo --seed 0          # the cached build, made if missing
    .venv/bin/python benchmarks/shortcuts.py --data DIR --answers DIR        # a built data set
    .venv/bin/python benchmarks/shortcuts.py --near-sample 320 160           # the near kinds, fresh faces
    .venv/bin/python benchmarks/shortcuts.py --preset demo --seed 1 --kinds-version 2   # kinds of version 2

On a build: per kind (its rows against all normal rows), per family, and per split (public, private, all rows):

- the best single statistic of the extended battery (``data_tools.region_stats.EXTENDED_BATTERY``: the global
  battery of ``anomaly_stats``, ``STATS`` of each part of the face in ``FACE_BOXES`` and of each cell of a 4 x 4
  grid), its name and separability ``max(auc, 1 - auc)``, chosen per row of the table (the best of ~400 on that
  row's labels: optimistic where a row has few images); and the best of the global battery alone, for contrast;
- the AUC of ``region_gaussian`` and ``grid_gaussian`` (``solutions.classical``: Gaussians fitted on the training
  faces' statistics, no labels; not oriented: a detector's AUC).

``--near-sample N_NORMAL N_PER_KIND``: no build; the sample ``tests/data_tools/test_faithfulness.py`` draws (its
seeds: normal faces from ``default_rng(11)``, kind i from ``default_rng(100 + i)``), and per near kind the best
statistic overall, of the global battery, of the face's parts and of the grid. That test bounds the global battery
at 0.75 on this sample; ``tests/data_tools/test_faithfulness_v2.py`` bounds the extended battery for the near
kinds of version 2. ``--sample-seed S`` (S > 0) draws another sample of the same size (normal faces from
``default_rng(11 + 1000 S)``, kind i from ``default_rng(100 + i + 1000 S)``): calibrate on S = 1, test on 0.

``--kinds-version 2``: the kinds of version 2 (``data_tools.anomalies.KINDS_V2``: the near kinds and ``corrupted``);
with a preset, the build cached under ``.cache/data/<preset>-<seed>-v2/``.

The colour-histogram distance is measured to the mean histogram of the first ``--n-reference`` training faces.
Figures: docs/results.md, beside this command.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def groups(key) -> dict[str, np.ndarray]:
    """Row label -> bool mask over the test rows (normal rows included): each kind and each family against all
    normal rows, then the public, private and all rows."""
    normal = key.labels == 0
    out = {}
    for kind in sorted(set(key.kinds[~normal])):
        out[kind] = normal | (key.kinds == kind)
    for fam in sorted(set(key.families[~normal])):
        out[f"family {fam}"] = normal | (key.families == fam)
    out.update(public=key.public, private=key.private, all=np.ones(len(key), bool))
    return out


def table(stats: dict[str, np.ndarray], gaussians: dict[str, np.ndarray], key) -> str:
    """Markdown table: per row of ``groups``, the best statistic (name, separability), the best global one, and
    each Gaussian's AUC."""
    from sklearn.metrics import roc_auc_score

    from data_tools import anomaly_stats, region_stats
    names = list(stats)
    values = np.stack([stats[n] for n in names], 1)
    is_global = np.isin(names, anomaly_stats.BATTERY)
    head = ["rows", "n anomalous", "best statistic", "sep.", "best global statistic", "sep.", *gaussians]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---|---:|---|---:|" + "---:|" * len(gaussians)]
    for label, mask in groups(key).items():
        y = key.labels[mask]
        sep = region_stats.separability_columns(values[mask], y)
        j, g = int(np.argmax(sep)), int(np.flatnonzero(is_global)[np.argmax(sep[is_global])])
        aucs = [f"{roc_auc_score(y, s[mask]):.3f}" for s in gaussians.values()]
        lines.append(f"| {label} | {int(y.sum())} | {names[j]} | {sep[j]:.3f} | {names[g]} | {sep[g]:.3f} | "
                     + " | ".join(aucs) + " |")
    return "\n".join(lines)


def on_build(train, test, key, n_reference: int) -> str:
    from data_tools import region_stats
    from solutions import classical
    t0 = time.perf_counter()
    stats = region_stats.extended_battery(test, np.asarray(train[:n_reference]))
    t1 = time.perf_counter()
    gaussians = classical.statistic_scores(train, test)
    t2 = time.perf_counter()
    print(f"  extended battery on {len(test)} test images: {t1 - t0:.0f} s; both Gaussians (fit on "
          f"{min(len(train), classical.CONFIG.n_fit)} training faces, score): {t2 - t1:.0f} s\n", flush=True)
    return table(stats, gaussians, key)


def near_sample(n_normal: int, n_per_kind: int, kinds_version: int = 1, sample_seed: int = 0) -> str:
    """The near kinds on fresh faces, drawn as ``tests/data_tools/test_faithfulness.py`` does (``sample_seed`` 0)."""
    from data_tools import anomalies as an
    from data_tools import anomaly_stats, region_stats
    from data_tools.faces import FaceGenerator
    faces = FaceGenerator(batch_size=200)
    z = an.sample_normal_latents(faces, 2 * n_normal, np.random.default_rng(11 + 1000 * sample_seed))
    ref, normal = faces.render(z[:n_normal]), faces.render(z[n_normal:])
    kinds = sorted(k for k in an.DEFAULT_MIXTURE if an.KINDS[k].distance == "near")
    parts = {"global": set(anomaly_stats.BATTERY), "face parts": set(region_stats.REGION_FEATURES),
             "grid": set(region_stats.GRID_FEATURES)}
    lines = ["| near kind | family | best statistic | sep. | " + " | ".join(f"best of {p}" for p in parts) + " |",
             "|---|---|---|---:|" + "---|" * len(parts)]
    for i, name in enumerate(kinds):
        anomalous = an.get_kind(name, kinds_version).generate(faces, n_per_kind,
                                                             np.random.default_rng(100 + i + 1000 * sample_seed))
        sep = region_stats.extended_separability(normal, anomalous, ref)
        stat, value = region_stats.best(sep)
        cells = [region_stats.best({k: v for k, v in sep.items() if k in names}) for names in parts.values()]
        lines.append(f"| {name} | {an.KINDS[name].family} | {stat} | {value:.3f} | "
                     + " | ".join(f"{s} {v:.3f}" for s, v in cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny", choices=("tiny", "grading", "smoke", "demo", "full"),
                   help="data preset, built and cached under .cache/data/ when missing (default: tiny)")
    p.add_argument("--seed", type=int, default=0, help="build seed of the preset (default: 0)")
    p.add_argument("--data", type=Path, help="folder with trainingset.npy and testingset.npy (instead of a preset)")
    p.add_argument("--answers", type=Path, help="folder with solution.csv (with --data)")
    p.add_argument("--n-reference", type=int, default=2000,
                   help="training faces whose mean colour histogram the colour-histogram distance is measured to")
    p.add_argument("--near-sample", nargs=2, type=int, metavar=("N_NORMAL", "N_PER_KIND"),
                   help="no build: the near kinds on a fresh sample (the faithfulness test's: 320 160)")
    p.add_argument("--sample-seed", type=int, default=0,
                   help="with --near-sample: 0 (default) the faithfulness tests' sample, S > 0 another one")
    p.add_argument("--kinds-version", type=int, default=1, choices=(1, 2),
                   help="kinds of version 1 (default) or 2 (data_tools.anomalies.KINDS_V2)")
    args = p.parse_args(argv)
    if (args.data is None) != (args.answers is None):
        p.error("give both --data and --answers, or neither")
    t0 = time.perf_counter()
    if args.near_sample:
        n_normal, n_per_kind = args.near_sample
        print(f"near kinds (version {args.kinds_version}) on a fresh sample (seed {args.sample_seed}): {n_normal} "
              f"normal faces (and {n_normal} for the colour histogram), {n_per_kind} per kind\n")
        print(near_sample(n_normal, n_per_kind, args.kinds_version, args.sample_seed))
    else:
        from common.answer_key import load_answer_key
        if args.data is None:
            from data_tools.build import cached_dataset
            paths = cached_dataset(args.preset, seed=args.seed, progress=False, kinds_version=args.kinds_version)
            data, answers, where = paths.data, paths.answers, f"preset {args.preset} (seed {args.seed}" + (
                f", kinds version {args.kinds_version})" if args.kinds_version != 1 else ")")
        else:
            data, answers, where = args.data, args.answers, str(args.data)
        train = np.load(Path(data) / "trainingset.npy", mmap_mode="r")
        test = np.load(Path(data) / "testingset.npy")
        key = load_answer_key(Path(answers) / "solution.csv")
        print(f"shortcuts on {where}: {len(train)} training / {len(test)} test images "
              f"({int(key.labels.sum())} anomalous)")
        print(on_build(train, test, key, args.n_reference))
    print(f"\ndone in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
