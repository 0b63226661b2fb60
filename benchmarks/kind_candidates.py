"""Which constructions of an anomaly does the strong stage see that a hand-made statistic does not?

    python -m data_tools build --preset demo --seed 1 --kinds-version 1 --out .cache/calib/demo-1/data \\
        --answers .cache/calib/demo-1/answers
    python benchmarks/kind_candidates.py --data .cache/calib/demo-1/data --answers .cache/calib/demo-1/answers \\
        --weights .cache/calib/strong-demo-1.pt
    python benchmarks/kind_candidates.py ... --candidates blur swap_tiles tear --n 200

A candidate is an edit of normal faces (drawn afresh from the face generator, the same faces for every candidate) or one
of the kit's own kinds as version 1 builds it. Each is scored against the build's normal test faces (AUC, anomalous =
higher) by the strong stage's model (trained on the build's training faces as ``strong.run`` trains it, its weights kept
in ``--weights``) under its 'residual' score and under 'pixel_var', by PCA reconstruction error and the region and grid
Gaussians (``solutions.classical``, fitted on the training faces), and by the best single statistic of the extended
battery (``data_tools.region_stats``; oriented and chosen on these labels, so optimistic). A construction the ladder
wants has strong above every other column; choose on a calibration build (seed 1), never on the seed the ladder reports.
Run with the other stages' cores free: the figures, not the seconds, are what it reports.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

from data_tools import anomalies


def _swap_tiles(x, rng):
    """Two of the 16 tiles of a 4 x 4 grid swapped."""
    x = x.copy()
    (i, j), (k, m) = [divmod(int(c), 4) for c in rng.choice(16, 2, replace=False)]
    a = x[16 * i:16 * i + 16, 16 * j:16 * j + 16].copy()
    x[16 * i:16 * i + 16, 16 * j:16 * j + 16] = x[16 * k:16 * k + 16, 16 * m:16 * m + 16]
    x[16 * k:16 * k + 16, 16 * m:16 * m + 16] = a
    return x


def _photo_matched(x, rng):
    """One of the kit's photos with each colour channel's mean and spread matched to the face's."""
    p = anomalies.get_kind("photo").generate(None, 1, rng)[0].astype(np.float64)
    f = x.astype(np.float64)
    m, s = p.mean((0, 1)), p.std((0, 1)) + 1e-6
    return np.clip((p - m) / s * f.std((0, 1)) + f.mean((0, 1)), 0, 255).round().astype(np.uint8)


def _tear(x, rng):
    """A band of 8-19 rows shifted sideways by 6-15 pixels (a torn scan line)."""
    x = x.copy()
    r0, h, d = int(rng.integers(10, 40)), int(rng.integers(8, 20)), int(rng.integers(6, 16))
    x[r0:r0 + h] = np.roll(x[r0:r0 + h], d if rng.random() < 0.5 else -d, axis=1)
    return x


def _rot_square(x, rng):
    """A square of 28-40 pixels turned by 90, 180 or 270 degrees in place."""
    x = x.copy()
    s = int(rng.integers(28, 41))
    r0, c0 = rng.integers(6, 64 - s - 2 + 1, 2)
    x[r0:r0 + s, c0:c0 + s] = np.rot90(x[r0:r0 + s, c0:c0 + s], int(rng.integers(1, 4)))
    return x


def _shuffle_tiles(x, rng, tile=8, span=32):
    """The 8 x 8 tiles of a 32 x 32 square shuffled in place (its pixels, and so its statistics, kept)."""
    x = x.copy()
    r0, c0 = rng.integers(8, 64 - span - 4 + 1, 2)
    k = span // tile
    block = x[r0:r0 + span, c0:c0 + span].reshape(k, tile, k, tile, 3).transpose(0, 2, 1, 3, 4)
    block = block.reshape(k * k, tile, tile, 3)[rng.permutation(k * k)]
    x[r0:r0 + span, c0:c0 + span] = block.reshape(k, k, tile, tile, 3).transpose(0, 2, 1, 3, 4).reshape(span, span, 3)
    return x


def _inner_rolled(x, rng):
    """The inner face (rows 18-57, columns 14-49) rolled by 6-10 pixels up, down or sideways."""
    x = x.copy()
    d = int(rng.integers(6, 11)) * (1 if rng.random() < 0.5 else -1)
    x[18:58, 14:50] = np.roll(x[18:58, 14:50], d, axis=int(rng.integers(2)))
    return x


def _ghost(x, rng):
    """A double exposure: 0.6 x the face + 0.4 x itself moved by 4-8 pixels."""
    d = int(rng.integers(4, 9)) * (1 if rng.random() < 0.5 else -1)
    return (0.6 * x + 0.4 * np.roll(x, d, axis=int(rng.integers(2)))).round().astype(np.uint8)


def _noise(x, rng):
    return np.clip(x + rng.normal(0, 20, x.shape), 0, 255).astype(np.uint8)


def _pixelate(x, rng):
    from PIL import Image
    k = int(rng.choice([4, 8]))
    return np.asarray(Image.fromarray(x).resize((64 // k, 64 // k), Image.BOX).resize((64, 64), Image.NEAREST))


def _jpeg(x, rng):
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, "JPEG", quality=int(rng.integers(3, 8)))
    return np.asarray(Image.open(buf))


#: name -> (what it is, an edit of one face (uint8 (64,64,3), rng) -> uint8 (64,64,3), or a kit kind's name).
CANDIDATES = {
    "corrupted": ("the kit's kind as built (version 1: half patches, half blur)", "corrupted"),
    "photo": ("the kit's kind as built (LFW grey faces and scikit-image crops)", "photo"),
    "face_mask": ("the kit's kind as built (version 1)", "face_mask"),
    "face_paint": ("the kit's kind as built (version 1)", "face_paint"),
    "blur": ("corrupted's blurred half: Gaussian blur, radius 2.5-4", anomalies.heavy_blur),
    "patch": ("corrupted's other half: a flat or noise square", anomalies.occluding_patch),
    "swap_tiles": ("two tiles of a 4 x 4 grid swapped", _swap_tiles),
    "swap_inner": ("a tile over the eyes, nose or mouth swapped with one of another row", anomalies.swapped_tile),
    "photo_matched": ("the kit's photos, each channel's mean and spread matched to a face's", _photo_matched),
    "tear": ("a band of rows shifted sideways", _tear),
    "rot_square": ("a 28-40 pixel square turned in place", _rot_square),
    "shuffle_tiles": ("the 8 x 8 tiles of a 32 x 32 square shuffled", _shuffle_tiles),
    "inner_rolled": ("the inner face rolled by 6-10 pixels", _inner_rolled),
    "ghost": ("a double exposure of the face moved by 4-8 pixels", _ghost),
    "noise": ("Gaussian noise, sd 20", _noise),
    "pixelate": ("4 x 4 or 8 x 8 blocks", _pixelate),
    "jpeg": ("JPEG quality 3-7", _jpeg),
}
COLUMNS = ("strong", "strong.pixel_var", "pca", "region_gaussian", "grid_gaussian")


def candidate_images(names, n: int, seed: int) -> dict[str, np.ndarray]:
    """name -> uint8 (n, 64, 64, 3): each edit applied to the same ``n`` normal faces, each kit kind built as the
    data build builds it (its own ``n`` images); a candidate's images do not depend on which others are asked for."""
    from data_tools.faces import FaceGenerator
    faces = FaceGenerator()
    base = faces.render(anomalies.sample_normal_latents(faces, n, np.random.default_rng(seed)))
    out = {}
    for name in names:
        _, how = CANDIDATES[name]
        rng = np.random.default_rng([seed, list(CANDIDATES).index(name)])  # the same images in any selection
        out[name] = (anomalies.get_kind(how, 1).generate(faces, n, rng) if isinstance(how, str)
                     else np.stack([how(face, rng) for face in base]))
    return out


def strong_model(train: np.ndarray, weights: Path | None):
    """The strong stage's model trained as ``strong.run`` trains it on ``train`` (its held-out faces, config and
    seed), loaded from ``weights`` when that file exists and saved there otherwise."""
    import torch

    from solutions import strong
    from solutions.stages import split_reference
    from starter_code import build_and_fit
    cfg = strong.CONFIG.resolve()
    ref, fit = split_reference(train, cfg.n_reference, cfg.seed)
    if weights is not None and weights.is_file():
        model = strong.MultiEncoderAE(**cfg.model_kwargs)
        model.load_state_dict(torch.load(weights, weights_only=True))
    else:
        model = build_and_fit(fit, cfg, progress=True)[0]
        if weights is not None:
            weights.parent.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), weights)
    return model.eval(), ref, fit, cfg


def table(train: np.ndarray, normal: np.ndarray, sets: dict[str, np.ndarray], weights: Path | None) -> list[dict]:
    """One row per candidate: its AUC against ``normal`` for each of ``COLUMNS`` and the best statistic."""
    from sklearn.metrics import roc_auc_score

    from data_tools import region_stats
    from solutions import classical, strong
    model, ref, fit, cfg = strong_model(train, weights)
    scorers = {"strong": strong.make_scorer(model, ref, fit, cfg),
               "strong.pixel_var": strong.make_scorer(model, ref, fit, cfg.replace(score="pixel_var"))}
    names = list(sets)
    images = np.concatenate([normal, *sets.values()])
    parts = classical.run(train, images, progress=False).parts
    scores = {c: f(images) for c, f in scorers.items()} | {c: parts[c] for c in COLUMNS if c in parts}
    rows, start = [], len(normal)
    for name in names:
        sel = np.r_[np.arange(len(normal)), np.arange(start, start + len(sets[name]))]
        y = np.r_[np.zeros(len(normal)), np.ones(len(sets[name]))]
        row = {"candidate": name, **{c: float(roc_auc_score(y, scores[c][sel])) for c in COLUMNS}}
        stat, sep = region_stats.best(region_stats.extended_separability(normal, sets[name], train[:2000]))
        rows.append(row | {"best_statistic": stat, "best_statistic_auc": float(sep)})
        start += len(sets[name])
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="a build's data folder (trainingset.npy, testingset.npy)")
    p.add_argument("--answers", type=Path, required=True, help="its answers folder (solution.csv): the normal rows")
    p.add_argument("--weights", type=Path, help="the strong model's weights: loaded if the file exists, else saved")
    p.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    p.add_argument("--n", type=int, default=400, help="images per candidate (default: 400)")
    p.add_argument("--seed", type=int, default=7, help="seed of the candidates' faces and edits (default: 7)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    args = p.parse_args(argv)

    import torch

    from common.answer_key import load_answer_key
    from starter_code.formats import TEST_FILE, TRAIN_FILE, load_images
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    train = load_images(args.data / TRAIN_FILE)
    normal = load_images(args.data / TEST_FILE)[load_answer_key(args.answers / "solution.csv").labels == 0]
    rows = table(train, normal, candidate_images(args.candidates, args.n, args.seed), args.weights)
    print(f"{len(normal)} normal test faces of {args.data}; {args.n} images per candidate; AUC, anomalous = higher")
    print("| candidate | what | " + " | ".join(COLUMNS) + " | best statistic |")
    print("|---|---|" + "---|" * len(COLUMNS) + "---|")
    for r in rows:
        aucs = " | ".join(f"{r[c]:.3f}" for c in COLUMNS)
        print(f"| {r['candidate']} | {CANDIDATES[r['candidate']][0]} | {aucs} | "
              f"{r['best_statistic_auc']:.3f} {r['best_statistic']} |")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
