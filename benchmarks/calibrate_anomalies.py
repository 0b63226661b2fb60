"""Calibrate the anomaly kinds of ``data_tools/anomalies.py`` and print a per-kind table.

Two jobs:

1. ``--write-directions``: fit the held-out latent directions of the near semantic kinds and write them to
   ``data_tools/anomaly_directions.py`` (a small, reviewed constant: every build uses the same directions).
   For each attribute (glasses, headwear, open_mouth): a logistic regression of the labels in
   ``data_tools/face_attribute_labels.csv`` (832 faces labelled by eye) on their latents z; its unit weight
   vector, less its components along the directions that predict the trivial global statistics
   (``ORTHO_STATS``; regressed on z over ``--n`` rendered faces), Gram-Schmidt among the attributes. The raw
   logistic model is kept too (``LABEL_MODELS``): P(attribute | z) as the labeller would judge it.
2. default: for each kind, on ``--n-normal`` normal faces vs ``--n-per-kind`` anomalies: the separability
   (max(AUC, 1 - AUC)) of every statistic of the battery (``anomaly_stats.BATTERY``: brightness, saturation,
   std, mean absolute gradient in x and y, Laplacian variance, high-frequency energy, colour-histogram distance
   to the training mean), the faithfulness of the near kinds (median ``anomaly_stats.concentration`` of the edit
   in the named region; for the latent kinds also the label model's mean P(attribute) on anomalies and normal
   faces), and the ROC-AUC of two quick detectors (the course's fully connected AE; Mahalanobis in PCA space).

3. ``--choose-mixture RESULTS.json``: choose ``DEFAULT_MIXTURE`` from per-kind AUCs measured on a calibration
   build (``benchmarks/boss_methods.py`` JSON, or a ladder JSON from ``python -m kit ladder``): a stage's
   overall and per-family AUC under a mixture is exactly the share-weighted mean of its per-kind AUCs
   (``kit.ladder.mixture_auc``), so many mixtures are tried without training. Constraints: most mass
   near (``--min-near``), each family and kind a minimum share, each step of ``--stages`` >= ``--min-step``
   overall and >= ``--min-semantic-step`` on the semantic family, the last stage >= ``--top``, and with
   ``--beat-shortcuts`` ``--lead-stage`` (strong) >= every classical row of the ladder JSON + ``--min-lead``
   overall and on the semantic family (``--exclude KIND ...``: kinds given no share); among the mixtures that
   pass, the one with the largest smallest margin, or the best smallest margin when none passes.

    .venv/bin/python benchmarks/calibrate_anomalies.py --n-train 5000 --n-per-kind 500 --epochs 15
    .venv/bin/python benchmarks/calibrate_anomalies.py --choose-mixture .cache/calib/methods-demo-1.json \
        --stages simple medium strong ensemble:...
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from data_tools import anomaly_stats as st  # noqa: E402
from data_tools.faces import FaceGenerator  # noqa: E402

DIRECTIONS_FILE = ROOT / "data_tools" / "anomaly_directions.py"
LABELS_FILE = ROOT / "data_tools" / "face_attribute_labels.csv"
LABEL_POOL_SEED = 777          # the labelled faces are FaceGenerator.sample_latents(832, default_rng(777))
LABEL_C = 0.1                  # logistic regression's inverse L2 strength (8-fold CV AUC 0.91-0.93 at 0.03-1)
ATTRIBUTES = ("glasses", "headwear", "open_mouth")
#: attribute -> battery statistics whose latent directions are projected out of its direction. Measured on
#: contact sheets and by `--n-per-kind 500` (see anomalies.HELD_OUT): ...
ORTHO_STATS: dict[str, tuple[str, ...]] = {a: tuple(st.TRIVIAL_STATS) for a in ATTRIBUTES}


def read_labels(path: Path = LABELS_FILE) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """-> latents z (n,100) float64 of the labelled faces, attribute -> labels (n,) int (1, 0, or -1: unsure)."""
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    n = len(rows)
    if [int(r["index"]) for r in rows] != list(range(n)):
        raise ValueError(f"{path}: rows must be indices 0..{n - 1} in order")
    z = np.random.default_rng(LABEL_POOL_SEED).standard_normal((n, 100), dtype=np.float32).astype(np.float64)
    labels = {a: np.array([int(r[a]) if r[a] != "" else -1 for r in rows]) for a in ATTRIBUTES}
    return z, labels


def fit_label_models(z: np.ndarray, labels: dict[str, np.ndarray]) -> tuple[dict, dict[str, float]]:
    """-> attribute -> (w (100,), b) of a logistic regression on the sure labels, attribute -> 8-fold CV AUC."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict
    models, cv = {}, {}
    for a, y in labels.items():
        m = y >= 0
        clf = LogisticRegression(C=LABEL_C, max_iter=5000)
        pred = cross_val_predict(clf, z[m], y[m], cv=8, method="decision_function")
        cv[a] = float(roc_auc_score(y[m], pred))
        clf.fit(z[m], y[m])
        models[a] = (clf.coef_[0].astype(np.float64), float(clf.intercept_[0]))
    return models, cv


def fit_directions(models: dict, z: np.ndarray, images: np.ndarray) -> dict[str, np.ndarray]:
    """Label-model directions made orthogonal to the latent directions of ``ORTHO_STATS`` (regressed on the
    rendered pool z (n,100) -> images (n,64,64,3)), then to each other in ``ATTRIBUTES`` order."""
    Z = np.c_[z, np.ones(len(z))]
    stat_dirs = {s: np.linalg.lstsq(Z, f(images), rcond=None)[0][:-1] for s, f in st.TRIVIAL_STATS.items()}
    dirs: dict[str, np.ndarray] = {}
    for a in ATTRIBUTES:
        w = models[a][0] / np.linalg.norm(models[a][0])
        if ORTHO_STATS[a]:
            q, _ = np.linalg.qr(np.stack([stat_dirs[s] for s in ORTHO_STATS[a]], 1))
            w = w - q @ (q.T @ w)
        for d in dirs.values():
            w = w - (w @ d) * d
        dirs[a] = w / np.linalg.norm(w)
    return dirs


def write_directions(n: int, seed: int) -> int:
    faces = FaceGenerator()
    zl, labels = read_labels()
    models, cv = fit_label_models(zl, labels)
    for a in ATTRIBUTES:
        y = labels[a]
        print(f"{a:11s} labels: {(y == 1).sum()} yes, {(y == 0).sum()} no, {(y < 0).sum()} unsure; "
              f"logistic 8-fold CV AUC {cv[a]:.3f}")
    z = faces.sample_latents(n, np.random.default_rng(seed))
    t = time.time()
    images = faces.render(z)
    print(f"rendered {n} faces in {time.time() - t:.1f}s")
    dirs = fit_directions(models, z.astype(np.float64), images)
    cos = {a: float(dirs[a] @ models[a][0] / np.linalg.norm(models[a][0])) for a in ATTRIBUTES}
    for a in ATTRIBUTES:
        print(f"{a:11s} cos(final direction, label model) {cos[a]:.3f}")
    fit = {"n_faces": n, "seed": seed, "labelled_faces": len(zl), "label_cv_auc": {a: round(v, 3) for a, v in cv.items()},
           "cos_with_label_model": {a: round(v, 3) for a, v in cos.items()},
           "ortho_stats": {a: list(v) for a, v in ORTHO_STATS.items()}}

    def vec(v):
        return "[" + ", ".join(f"{x:.6f}" for x in v) + "]"
    lines = ['"""Generated by `benchmarks/calibrate_anomalies.py --write-directions '
             f'--n {n} --seed {seed}`; do not edit by hand.\n\n'
             'DIRECTIONS: unit directions in the generator\'s latent space (100,) along which a held-out slab defines\n'
             'a near semantic kind. LABEL_MODELS: attribute -> (w (100,), b), the logistic regression of the labels in\n'
             'face_attribute_labels.csv on z: P(attribute) = sigmoid(z.w + b).\n"""',
             f"FIT = {fit!r}",
             "DIRECTIONS = {"]
    lines += [f"    {a!r}: {vec(dirs[a])}," for a in ATTRIBUTES]
    lines += ["}", "LABEL_MODELS = {"]
    lines += [f"    {a!r}: ({vec(models[a][0])}, {models[a][1]:.6f})," for a in ATTRIBUTES]
    lines.append("}")
    DIRECTIONS_FILE.write_text("\n".join(lines) + "\n")
    print(f"wrote {DIRECTIONS_FILE}")
    return 0


def _fcn_autoencoder():
    """The course's fcn_autoencoder: 12288-128-64-12-3 and back, Tanh output on [-1,1] images."""
    from torch import nn
    dims = [64 * 64 * 3, 128, 64, 12, 3]
    enc, dec = [], []
    for a, b in zip(dims[:-1], dims[1:]):
        enc += [nn.Linear(a, b), nn.ReLU()]
    for a, b in zip(dims[::-1][:-1], dims[::-1][1:]):
        dec += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*enc[:-1], *dec[:-1], nn.Tanh())


def fcn_ae_scores(train: np.ndarray, tests: list[np.ndarray], epochs: int, seed: int) -> list[np.ndarray]:
    """Train the course's fcn AE on uint8 train (n,64,64,3); return per-image reconstruction MSE per test array."""
    import torch
    from tqdm import tqdm
    torch.manual_seed(seed)
    prep = lambda x: torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 127.5 - 1)  # noqa: E731
    net = _fcn_autoencoder()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt = prep(train)
    g = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(epochs), desc="fcn AE", leave=False):
        for idx in torch.randperm(len(xt), generator=g).split(128):
            loss = ((net(xt[idx]) - xt[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.inference_mode():
        return [((net(prep(x)) - prep(x)) ** 2).mean(1).numpy() for x in tests]


def pca_mahalanobis_scores(train: np.ndarray, tests: list[np.ndarray], k: int = 100) -> list[np.ndarray]:
    """A cheap stronger reference: Mahalanobis distance in the top-k PCA space of the training pixels."""
    from sklearn.decomposition import PCA
    k = min(k, len(train) - 1)
    pca = PCA(k, random_state=0).fit(train.reshape(len(train), -1).astype(np.float32) / 255)
    var = pca.explained_variance_
    return [((pca.transform(x.reshape(len(x), -1).astype(np.float32) / 255) ** 2) / var).sum(1) for x in tests]


def generate_kinds(faces, n_per_kind: int, rng: np.random.Generator, kinds=None) -> dict:
    """kind -> (images (n,64,64,3), before (n,64,64,3) or None) for every kind (or ``kinds``)."""
    from data_tools import anomalies as an
    out = {}
    for name in kinds or an.KINDS:
        k = an.KINDS[name]
        if k.edit is not None:
            before, after = k.edit(faces, n_per_kind, rng)
            out[name] = (after, before)
        else:
            out[name] = (k.generate(faces, n_per_kind, rng), None)
    return out


def calibrate(n_train: int, n_normal: int, n_per_kind: int, epochs: int, seed: int) -> int:
    import torch
    from sklearn.metrics import roc_auc_score
    from data_tools import anomalies as an
    torch.set_num_threads(1)  # shared 2-core machine
    faces = FaceGenerator()
    rng = np.random.default_rng(seed)
    t = time.time()
    z_normal = an.sample_normal_latents(faces, n_train + n_normal, rng)
    train, normal = faces.render(z_normal[:n_train]), faces.render(z_normal[n_train:])
    kinds = generate_kinds(faces, n_per_kind, rng)
    print(f"generated {n_train} train / {n_normal} normal test / {n_per_kind} per kind in {time.time() - t:.0f}s")
    names = list(kinds)
    sets = [normal, *(kinds[k][0] for k in names)]
    t = time.time()
    ae = fcn_ae_scores(train, sets, epochs, seed)
    print(f"fcn AE ({epochs} epochs) in {time.time() - t:.0f}s")
    pm = pca_mahalanobis_scores(train, sets)
    stats = [st.battery(x, train) for x in sets]
    # P(attribute) of normal latents, by the label models
    p_normal = {a: float(an.attribute_probability(a, z_normal[n_train:]).mean()) for a in an.HELD_OUT}
    cols = [*st.BATTERY, "max", "fcn_ae", "pca_maha", "conc", "P(attr)"]
    print("\nseparability (max(AUC, 1-AUC)) of each battery statistic, normal vs kind; detectors' AUC; faithfulness "
          "(median concentration of the edit in the kind's region; label model's mean P(attribute) on anomalies, "
          "normal faces in brackets)\n")
    print("| kind | dist | family | share | " + " | ".join(cols) + " |")
    print("|---|---|---|---|" + "---|" * len(cols))
    y = lambda m: np.r_[np.zeros(n_normal), np.ones(m)]  # noqa: E731
    for i, name in enumerate(names, start=1):
        kind = an.KINDS[name]
        seps = [st.separability(stats[0][s], stats[i][s]) for s in st.BATTERY]
        dets = [roc_auc_score(y(n_per_kind), np.r_[m[0], m[i]]) for m in (ae, pm)]
        after, before = kinds[name]
        conc = (f"{np.median(st.concentration(before, after, st.REGIONS[kind.region])):.2f}"
                if before is not None and kind.region else "")
        p_attr = ""
        if name in an.HELD_OUT:
            # the anomalies' latents are not returned by generate: redraw the same way for the label model
            za = an.HELD_OUT[name].sample(faces, n_per_kind, np.random.default_rng(seed + i))
            p_attr = f"{an.attribute_probability(name, za).mean():.2f} ({p_normal[name]:.2f})"
        cells = [f"{v:.3f}" for v in seps] + [f"{max(seps):.3f}"] + [f"{v:.3f}" for v in dets] + [conc, p_attr]
        print(f"| {name} | {kind.distance} | {kind.family} | {an.DEFAULT_MIXTURE.get(name, 0):.2f} | "
              + " | ".join(cells) + " |")
    # Mixture AUC: anomaly rows weighted by kind share / n_per_kind, normals 1/n_normal each: what the default
    # mixture's test set would give in expectation.
    yy = np.r_[np.zeros(n_normal), np.ones(n_per_kind * len(names))]
    for label, subset in (("default mixture", names),
                          ("near only", [k for k in names if an.KINDS[k].distance == "near"]),
                          *((f"{f} family", [k for k in names if an.KINDS[k].family == f]) for f in an.FAMILIES)):
        w = np.r_[np.full(n_normal, 1 / n_normal),
                  np.concatenate([np.full(n_per_kind, an.DEFAULT_MIXTURE.get(k, 0) * (k in subset) / n_per_kind)
                                  for k in names])]
        row = [roc_auc_score(yy, np.concatenate(m), sample_weight=w) for m in (ae, pm)]
        print(f"{label:18s} fcn AE {row[0]:.3f}   PCA Mahalanobis {row[1]:.3f}")
    return 0


def _by_kind(results: dict, name: str) -> dict[str, float]:
    """Per-kind AUCs of ``name`` in a boss_methods JSON ({name: {"by_kind"}}) or a ladder JSON ({"stages": ...})."""
    table = results.get("stages", results)
    if name not in table:
        raise SystemExit(f"--stages: {name!r} is not in the results; there: {', '.join(table)}")
    return table[name]["by_kind"]


def mixture_figures(by_kind: dict[str, dict[str, float]], mixture: dict[str, float]) -> dict[str, dict[str, float]]:
    """stage -> {"overall", <family>...}: AUCs predicted under ``mixture`` (exact over the same normal rows)."""
    from data_tools import anomalies as an
    from kit.ladder import mixture_auc
    out = {}
    for stage, aucs in by_kind.items():
        row = {"overall": mixture_auc(aucs, mixture)}
        for f in an.FAMILIES:
            part = {k: v for k, v in mixture.items() if an.KINDS[k].family == f}
            row[f] = mixture_auc(aucs, part)
        out[stage] = row
    return out


def choose_mixture(by_kind: dict[str, dict[str, float]], *, min_near=0.6, min_family=0.3, min_kind=0.03,
                   min_step=0.03, min_semantic_step=0.02, top=0.90, n_samples=200_000, seed=0,
                   around: dict[str, float] | None = None, shortcuts: dict[str, dict[str, float]] | None = None,
                   lead_stage: str = "strong", min_lead=0.02, exclude=()):
    """Search mixtures (shares on a 0.01 grid) meeting the constraints; -> (mixture, figures, margin) of the one
    whose smallest margin (each constraint's slack, steps and the top target scaled to their thresholds) is
    largest, or (None, None, best margin) if none passes. ``around``: Dirichlet samples are centred on it.
    ``shortcuts``: name -> per-kind AUCs of detectors outside the ladder (the classical rows) that ``lead_stage``
    must lead by ``min_lead`` overall and on the semantic family. ``exclude``: kinds given no share."""
    from data_tools import anomalies as an
    shortcuts = shortcuts or {}
    kinds = sorted(set.intersection(*(set(v) for v in [*by_kind.values(), *shortcuts.values()])) - set(exclude))
    if shortcuts and lead_stage not in by_kind:
        raise ValueError(f"lead_stage {lead_stage!r} is not one of the stages: {', '.join(by_kind)}")
    stages = list(by_kind)
    A = np.array([[by_kind[s][k] for k in kinds] for s in stages])            # (S, K)
    fam = np.array([[an.KINDS[k].family == f for k in kinds] for f in an.FAMILIES], float)  # (F, K)
    near = np.array([an.KINDS[k].distance == "near" for k in kinds], float)
    rng = np.random.default_rng(seed)
    alpha = np.array([(around or {}).get(k, 1 / len(kinds)) for k in kinds]) * 60 if around else np.ones(len(kinds))
    W = rng.dirichlet(alpha, n_samples)
    W = np.maximum(W, min_kind)
    W = np.round(W / W.sum(1, keepdims=True), 2)
    W[:, -1] += 1 - W.sum(1)                                                   # shares sum to exactly 1
    ok = (W >= min_kind - 1e-9).all(1) & (W @ near >= min_near) & ((W @ fam.T) >= min_family).all(1)
    W = W[ok]
    overall = W @ A.T                                                          # (N, S)
    sem = fam[list(an.FAMILIES).index("semantic")]
    semantic = (W * sem) @ A.T / (W @ sem)[:, None]
    margins = [np.diff(overall, axis=1) / min_step - 1, np.diff(semantic, axis=1) / min_semantic_step - 1,
               (overall[:, -1:] - top) / 0.02]
    if shortcuts:
        C = np.array([[shortcuts[c][k] for k in kinds] for c in shortcuts])    # (C, K)
        lead = stages.index(lead_stage)
        margins += [(overall[:, lead:lead + 1] - W @ C.T) / min_lead - 1,
                    (semantic[:, lead:lead + 1] - (W * sem) @ C.T / (W @ sem)[:, None]) / min_lead - 1]
    margin = np.concatenate(margins, 1).min(1)
    best = int(np.argmax(margin)) if len(margin) else None
    if best is None or margin[best] < 0:
        return None, None, float(margin[best]) if best is not None else float("nan")
    mixture = {k: round(float(w), 2) for k, w in zip(kinds, W[best])}
    return mixture, mixture_figures({**by_kind, **shortcuts}, mixture), float(margin[best])


def choose_mixture_cli(args) -> int:
    from data_tools import anomalies as an
    results = json.loads(Path(args.choose_mixture).read_text())
    by_kind = {s: _by_kind(results, s) for s in args.stages}
    shortcuts = {f"({n})": row["by_kind"] for n, row in results.get("outside", {}).items()} if args.beat else {}
    if args.beat and not shortcuts:
        raise SystemExit("--beat-shortcuts: the results hold no rows outside the ladder (a ladder JSON's 'outside')")
    mixture, figures, margin = choose_mixture(by_kind, min_near=args.min_near, min_step=args.min_step,
                                              min_semantic_step=args.min_semantic_step, top=args.top,
                                              around=an.DEFAULT_MIXTURE, shortcuts=shortcuts,
                                              lead_stage=args.lead_stage, min_lead=args.min_lead,
                                              exclude=args.exclude)
    current = mixture_figures({**by_kind, **shortcuts}, an.DEFAULT_MIXTURE)
    print("current DEFAULT_MIXTURE:", an.DEFAULT_MIXTURE)
    for s, row in current.items():
        print(f"  {s:40s} " + "  ".join(f"{k} {v:.3f}" for k, v in row.items()))
    if mixture is None:
        print(f"no mixture meets the constraints (best smallest margin {margin:+.2f})")
        return 1
    print(f"chosen (smallest margin {margin:+.2f}):", mixture)
    for s, row in figures.items():
        print(f"  {s:40s} " + "  ".join(f"{k} {v:.3f}" for k, v in row.items()))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--write-directions", action="store_true", help="refit the latent directions and exit")
    p.add_argument("--n", type=int, default=4000, help="faces rendered to regress the global statistics on z")
    p.add_argument("--seed", type=int, default=20240426, help="seed of the rendered pool / of the calibration run")
    p.add_argument("--n-train", type=int, default=5000, help="normal training faces for the quick models")
    p.add_argument("--n-normal", type=int, default=1000, help="normal test faces")
    p.add_argument("--n-per-kind", type=int, default=500, help="anomalies generated per kind")
    p.add_argument("--epochs", type=int, default=15, help="fcn AE epochs")
    p.add_argument("--choose-mixture", metavar="RESULTS_JSON", help="choose DEFAULT_MIXTURE from per-kind AUCs")
    p.add_argument("--stages", nargs="+", default=["simple", "medium", "strong", "boss"],
                   help="ladder order of the methods in RESULTS_JSON (--choose-mixture)")
    p.add_argument("--min-near", type=float, default=0.6, help="least share of near kinds (course: 0.64)")
    p.add_argument("--min-step", type=float, default=0.03, help="least overall step between stages")
    p.add_argument("--min-semantic-step", type=float, default=0.02, help="least semantic-family step")
    p.add_argument("--top", type=float, default=0.90, help="least overall AUC of the last stage")
    p.add_argument("--beat-shortcuts", dest="beat", action="store_true",
                   help="also require --lead-stage to lead every classical row of a ladder JSON by --min-lead, "
                        "overall and on the semantic family")
    p.add_argument("--lead-stage", default="strong", help="the stage that must lead the classical rows")
    p.add_argument("--min-lead", type=float, default=0.02, help="its least lead (default: 0.02)")
    p.add_argument("--exclude", nargs="+", default=[], metavar="KIND", help="kinds given no share")
    args = p.parse_args(argv)
    if args.choose_mixture:
        return choose_mixture_cli(args)
    if args.write_directions:
        return write_directions(args.n, args.seed)
    return calibrate(args.n_train, args.n_normal, args.n_per_kind, args.epochs, args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
