"""Method exploration for the reference stages: which ideas earn their step on the *semantic* family, and which
beat the classical rows?

Run on a CALIBRATION build (another seed than the reported seed-0 demo), e.g.

    python -m data_tools build --preset demo --seed 1 --out .cache/calib/demo-1/data --answers .cache/calib/demo-1/answers
    python benchmarks/boss_methods.py --data .cache/calib/demo-1/data --answers .cache/calib/demo-1/answers \\
        --methods strong cls rotnet svdd --json .cache/calib/methods-demo-1.json
    python benchmarks/boss_methods.py ... --json .cache/calib/methods-demo-1.json --table     # print, no training

Every method trains on the training faces less ``N_REFERENCE`` held-out ones (the same held-out faces for every
method, as the stages do) and scores the test set and those held-out normal faces; each score ("part") is saved
(``<json>.parts/<part>.npz``) so that ``ensemble:a+b+c`` combines parts (each standardised on the held-out faces:
median / IQR, ``solutions.stages.standardise``) without training again. Results accumulate in the JSON (a method
already there is skipped unless ``--force``), so methods can be run one at a time on a shared machine.

Methods (building blocks: ``starter_code``'s engine (``fit``, ``eval_batches``), the strong stage's autoencoder,
the boss stage's corruption classifier; nothing pretrained, no extra data):

- ``simple``, ``medium``, ``strong``, ``boss``: the reference stages as they are (``<stage>.run``).
- ``classical``: PCA reconstruction / Mahalanobis / kNN in PCA space (``solutions.classical``).
- ``rotnet``: self-supervised transformation prediction (Golan & El-Yaniv 2018; RotNet): a CNN learns which of the
  4 rotations was applied to a normal face; score = the summed cross-entropy of the true rotation over all 4 (a
  face it cannot orient is unlike the training faces). Parts also: PaDiM on its feature maps, kNN on its pooled
  features.
- ``cls``: the boss's classifier (normal vs self-made corruptions): its logit, the boss's Gaussian on its pooled
  features (``ensemble:strong+cls.logit_clip+cls.gauss*0.5`` adds the strong AE to them; ``cls.logit+cls.knn*0.5``
  is the boss stage's score), kNN on those features, and PaDiM (Defard et al. 2020): a Gaussian per location of
  its intermediate feature maps, fitted on normal faces; score = the largest (or mean) Mahalanobis distance over
  locations.
- ``ae_padim``: PaDiM on the strong autoencoder's convolutional feature maps (the AE trained for reconstruction).
- ``ae_density``: the strong autoencoder scored by a Gaussian on its latent, and by its 'residual' score.
- ``strong_wide``, ``strong_conv``: the strong stage with a wider latent, trained longer (``STRONG_WIDE``), or with
  a convolutional decoder (``STRONG_CONV``).
- ``inpaint``: the strong stage's encoders trained to fill in blanked tiles of the face (RIAD), scored by how
  badly they fill in each part.
- ``svdd``: Deep SVDD (Ruff et al. 2018): the rotnet's trunk (self-supervised init: avoids the collapse a random
  init invites), bias-free projection head trained to pull normal faces to a centre c; score = |f(x) - c|^2.
- ``ensemble:p1+p2+...``: the sum of standardised parts (``name*w`` weights a part).

Output: one table per family and per kind (AUC of each kind against all normal test rows, all rows), public /
private / overall AUC, and wall time per method.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

N_REFERENCE = 2000   # held-out normal training faces (scores on normal faces no model has seen)
SEED = 48763         # the stages' seed
PARTS_DIR: Path | None = None  # where parts (and the rotnet's weights, for svdd) are saved; set by main


# -- shared helpers ---------------------------------------------------------------------------------------------
def _loader(images, batch_size):
    """Batches ``(B, 3, 64, 64)`` in [-1, 1] of uint8 ``images``, row order, on the CPU (the engine's)."""
    from starter_code.data import make_loader
    return make_loader(images, batch_size, shuffle=False, device="cpu")


def _rotate(x, k: int):
    """(B,3,64,64) rotated by k * 90 degrees."""
    import torch
    return torch.rot90(x, k, dims=(2, 3))


def _cnn(channels=(32, 64, 128, 256), n_out=4):
    """A small CNN: stride-2 3x3 conv + BN + ReLU stages (64 -> 4 px), global average pooling, linear head."""
    from torch import nn

    from solutions.boss import AnomalyClassifier

    class Net(AnomalyClassifier):
        def __init__(self):
            super().__init__(tuple(channels))
            self.head = nn.Linear(2 * channels[-1], n_out)

        def forward(self, x):
            return self.head(self.embed(x))
    return Net()


def feature_maps(features, x, layers):
    """Outputs (B,C,H,W) of the ReLUs of an ``nn.Sequential`` of [conv, bn, relu] stages at stage indices
    ``layers`` (0-based)."""
    from torch import nn
    out, stage = [], 0
    for m in features:
        x = m(x)
        if isinstance(m, (nn.ReLU, nn.LeakyReLU)):
            if stage in layers:
                out.append(x)
            stage += 1
    return out


class PaDiM:
    """A Gaussian per location of feature maps resized to ``grid`` x ``grid``, on ``d`` randomly chosen channels
    (Defard et al. 2020). ``fit(maps_fn, images)``; ``score(maps_fn, images)`` -> (max over locations, mean)."""

    def __init__(self, d: int = 64, grid: int = 16, shrink: float = 0.01, seed: int = 0):
        self.d, self.grid, self.shrink, self.seed = d, grid, shrink, seed

    def _embed(self, maps):
        import torch.nn.functional as F
        import torch
        e = torch.cat([F.adaptive_avg_pool2d(m, self.grid) if m.shape[-1] >= self.grid
                       else F.interpolate(m, size=self.grid, mode="nearest") for m in maps], 1)
        if not hasattr(self, "idx"):
            g = torch.Generator().manual_seed(self.seed)
            self.idx = torch.randperm(e.shape[1], generator=g)[:min(self.d, e.shape[1])]
        return e[:, self.idx].flatten(2).permute(2, 0, 1).double()  # (L, B, d)

    def fit(self, maps_fn, images, batch_size=250):
        import torch
        s1 = s2 = None
        n = 0
        with torch.inference_mode():
            for x in _loader(images, batch_size):
                e = self._embed(maps_fn(x))
                s1 = e.sum(1) if s1 is None else s1 + e.sum(1)
                s2 = torch.einsum("lbi,lbj->lij", e, e) if s2 is None else s2 + torch.einsum("lbi,lbj->lij", e, e)
                n += e.shape[1]
        mean = s1 / n
        cov = s2 / n - torch.einsum("li,lj->lij", mean, mean)
        tr = torch.diagonal(cov, dim1=1, dim2=2).mean(1)[:, None, None]
        eye = torch.eye(cov.shape[-1], dtype=cov.dtype)
        cov = (1 - self.shrink) * cov + self.shrink * tr * eye + 1e-6 * eye
        self.mean, self.prec = mean, torch.linalg.inv(cov)
        return self

    def score(self, maps_fn, images, batch_size=250):
        import torch
        mx, mn = [], []
        with torch.inference_mode():
            for x in _loader(images, batch_size):
                e = self._embed(maps_fn(x)) - self.mean[:, None, :]
                d2 = torch.einsum("lbi,lij,lbj->lb", e, self.prec, e)  # (L, B)
                mx.append(d2.amax(0))
                mn.append(d2.mean(0))
        return torch.cat(mx).numpy(), torch.cat(mn).numpy()


def _pooled(model, images, batch_size=500):
    import torch
    with torch.inference_mode():
        return torch.cat([model.embed(x) for x in _loader(images, batch_size)]).double().numpy()


def knn_distance(train_feats, feats, k=5):
    """Mean distance to the k nearest rows of ``train_feats`` (``solutions.stages.knn_distance``)."""
    from solutions.stages import knn_distance as knn
    return knn(train_feats, [feats], k)[0]


# -- methods: each returns {part: (test scores (M,), reference scores (R,)[, already standardised])} ---------------
def m_stage(name, label=None, **overrides):
    """The stage ``name`` as it is, or with ``overrides`` of its config (then its parts are called ``label``)."""
    label = label or name

    def run(train, test, ref, fit, progress):
        import importlib
        module = importlib.import_module(f"solutions.{name}")
        # stages hold out their own reference faces; score the shared reference set too (it is a subset of
        # train, so for the stages these are faces they *have* seen unless their split matches: the stages use
        # the same seed and size, so strong/boss hold out exactly these faces)
        r = module.run(train, np.concatenate([test, ref]), progress=progress, **overrides)
        out = {label: (r.scores[:len(test)], r.scores[len(test):])}
        for p, v in r.parts.items():
            out[f"{label}.{p}"] = (v[:len(test)], v[len(test):])
        return out
    return run


def m_classical(train, test, ref, fit, progress):
    from solutions import classical
    r = classical.run(fit, np.concatenate([test, ref]))
    return {f"classical.{p}": (v[:len(test)], v[len(test):]) for p, v in r.parts.items()}


class RotationLoss:
    """Each batch in its 4 rotations, cross-entropy of the rotation index (faces mirrored at random first)."""

    def __init__(self, seed):
        import torch
        self.g = torch.Generator().manual_seed(seed)

    def __call__(self, model, x):
        import torch
        import torch.nn.functional as F
        flip = (torch.rand(x.shape[0], generator=self.g) < 0.5).view(-1, 1, 1, 1)
        x = torch.where(flip, x.flip(3), x)
        xs = torch.cat([_rotate(x, k) for k in range(4)])
        y = torch.arange(4).repeat_interleave(len(x))
        return F.cross_entropy(model(xs), y)


ROT = {"channels": (32, 64, 128, 256), "epochs": 3, "batch_size": 64, "lr": 2e-3, "padim_d": 96, "padim_grid": 8,
       "padim_layers": (1, 2)}


def _fit(model, images, progress, loss_fn, **cfg):
    """``starter_code.fit`` with a ``TrainConfig`` of ``cfg`` on the CPU."""
    from starter_code import TrainConfig, fit
    fit(model, images, TrainConfig(device="cpu", **cfg), loss_fn=loss_fn, progress=progress)
    return model.eval()


def train_rotnet(fit, progress, cfg=ROT):
    from starter_code import seed_everything
    seed_everything(SEED)
    net = _cnn(cfg["channels"], 4)
    return _fit(net, fit, progress, RotationLoss(SEED), epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                lr=cfg["lr"], seed=SEED + 2)


def rot_scores(net, images, batch_size=250):
    import torch
    import torch.nn.functional as F
    out = []
    with torch.inference_mode():
        for x in _loader(images, batch_size):
            ce = 0
            for k in range(4):
                ce = ce + F.cross_entropy(net(_rotate(x, k)), torch.full((len(x),), k), reduction="none")
            out.append(ce)
    return torch.cat(out).double().numpy()


def _rotnet(fit, progress):
    """The rotnet trained on ``fit``: loaded from PARTS_DIR/rotnet.pt when an earlier run saved it."""
    import torch
    path = PARTS_DIR / "rotnet.pt" if PARTS_DIR else None
    if path is not None and path.is_file():
        net = _cnn(ROT["channels"], 4)
        net.load_state_dict(torch.load(path, weights_only=True))
        return net.eval()
    net = train_rotnet(fit, progress)
    if path is not None:
        torch.save(net.state_dict(), path)
    return net


def m_rotnet(train, test, ref, fit, progress):
    net = _rotnet(fit, progress)
    out = {"rotnet.ce": (rot_scores(net, test), rot_scores(net, ref))}
    maps = lambda x: feature_maps(net.features, x, ROT["padim_layers"])  # noqa: E731
    pad = PaDiM(ROT["padim_d"], ROT["padim_grid"]).fit(maps, fit[::2])
    (tmx, tmn), (rmx, rmn) = pad.score(maps, test), pad.score(maps, ref)
    out["rotnet.padim_max"], out["rotnet.padim_mean"] = (tmx, rmx), (tmn, rmn)
    ftr = _pooled(net, fit[::4])
    out["rotnet.knn"] = (knn_distance(ftr, _pooled(net, test)), knn_distance(ftr, _pooled(net, ref)))
    return out


def m_svdd(train, test, ref, fit, progress):
    import torch
    from torch import nn

    net = _rotnet(fit, progress)
    trunk = net.features

    class SVDD(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = trunk
            self.proj = nn.Linear(2 * ROT["channels"][-1], 64, bias=False)

        def embed(self, x):
            h = self.trunk(x)
            return self.proj(torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1))

    model = SVDD()
    model.eval()
    with torch.inference_mode():
        c = torch.cat([model.embed(x) for x in _loader(fit[::4], 500)]).mean(0)
    c = torch.where(c.abs() < 0.01, torch.full_like(c, 0.01) * torch.sign(c + 1e-12), c)  # Ruff: keep c off 0
    loss = lambda m, x: ((m.embed(x) - c) ** 2).sum(1).mean()  # noqa: E731
    _fit(model, fit, progress, loss, epochs=2, batch_size=128, lr=1e-4, seed=SEED + 3, weight_decay=1e-6)

    def score(images):
        with torch.inference_mode():
            return torch.cat([((model.embed(x) - c) ** 2).sum(1) for x in _loader(images, 500)]).double().numpy()
    return {"svdd": (score(test), score(ref))}


def _cached_model(filename, build, train):
    """``train()``'s model, its weights kept in PARTS_DIR/``filename``: a later method (or run) loads them into
    ``build()`` instead of training again. In eval mode."""
    import torch
    path = PARTS_DIR / filename if PARTS_DIR else None
    if path is not None and path.is_file():
        model = build()
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    model = train()
    if path is not None:
        torch.save(model.state_dict(), path)
    return model.eval()


def _classifier(fit, progress):
    """The boss stage's corruption classifier (its CONFIG, trained on ``fit``: the same faces and seeds as
    ``boss.run``, so the same weights), cached in PARTS_DIR/classifier.pt."""
    from solutions import boss
    return _cached_model("classifier.pt", lambda: boss.AnomalyClassifier(**boss.CONFIG.classifier.model_kwargs),
                         lambda: boss.train_classifier(fit, boss.CONFIG.classifier, progress)[0])


def m_cls(train, test, ref, fit, progress):
    """The boss's classifier: its logit (raw and one-sided as the boss uses it), the boss's Gaussian on its pooled
    features, kNN on them, and PaDiM on its feature maps. ``ensemble:strong+cls.logit_clip+cls.gauss*0.5`` is the
    boss stage's own score (same parts, same standardisation)."""
    from solutions import boss
    from solutions.stages import Gaussian, standardise, subsample
    cls = _classifier(fit, progress)
    lt, ft = boss.classifier_outputs(cls, test)
    lr, fr = boss.classifier_outputs(cls, ref)
    gauss = Gaussian.fit(boss.classifier_outputs(cls, subsample(fit, boss.CONFIG.n_features,
                                                                boss.CONFIG.classifier.seed))[1])
    maps = lambda x: feature_maps(cls.features, x, (1, 2))  # noqa: E731
    pad = PaDiM(64, 8).fit(maps, fit[::2])
    (tmx, tmn), (rmx, rmn) = pad.score(maps, test), pad.score(maps, ref)
    ff = boss.classifier_outputs(cls, fit[::4])[1]
    clip = (np.maximum(standardise(lt, lr), 0.0), np.maximum(standardise(lr, lr), 0.0), True)
    return {"cls.logit": (lt, lr), "cls.logit_clip": clip, "cls.gauss": (gauss.distance(ft), gauss.distance(fr)),
            "cls.padim_max": (tmx, rmx), "cls.padim_mean": (tmn, rmn),
            "cls.knn": (knn_distance(ff, ft), knn_distance(ff, fr))}


def _strong_ae(fit, progress):
    """The strong stage's autoencoder (its CONFIG, trained on ``fit``: the same faces and seed as ``strong.run``, so
    the same weights), cached in PARTS_DIR/strong_ae.pt for the methods that score it differently."""
    from solutions import strong
    from starter_code import build_and_fit
    return _cached_model("strong_ae.pt", lambda: strong.MultiEncoderAE(**strong.CONFIG.model_kwargs),
                         lambda: build_and_fit(fit, strong.CONFIG, progress=progress)[0])


def m_ae_padim(train, test, ref, fit, progress):
    model = _strong_ae(fit, progress)
    enc = model.encoders["conv"]
    maps = lambda x: feature_maps(enc.features, x, (1, 2))  # noqa: E731
    pad = PaDiM(48, 8).fit(maps, fit[::2])
    (tmx, tmn), (rmx, rmn) = pad.score(maps, test), pad.score(maps, ref)
    return {"ae.padim_max": (tmx, rmx), "ae.padim_mean": (tmn, rmn)}


def m_ae_density(train, test, ref, fit, progress):
    """The strong stage's autoencoder (its CONFIG) scored by a Gaussian on its fused latent z instead of its error,
    fitted on 5,000 of its training faces; ``ae.residual`` is the strong stage's own 'residual' score (a Gaussian
    on its signed residual per cell and channel and its edges, ``strong.make_scorer``) of the same weights."""
    import torch

    from solutions import strong
    from solutions.stages import Gaussian, subsample
    model = _strong_ae(fit, progress)

    def latent(images):
        with torch.inference_mode():
            return torch.cat([model.encode(x).double() for x in _loader(images, 500)]).numpy()
    gz = Gaussian.fit(latent(subsample(fit, 5000, 1)), shrink=0.1)
    residual = strong.make_scorer(model, ref, fit, strong.CONFIG.resolve(score="residual"))
    return {"ae.latent": (gz.distance(latent(test)), gz.distance(latent(ref))),
            "ae.residual": (residual(test), residual(ref))}


INPAINT = {"latent_dim": 128, "code_dim": 64, "hidden": (512,), "epochs": 8, "batch_size": 128, "lr": 2e-3,
           "tiles": (8, 16)}


def _inpaint_masks(tiles):
    """(1, 1, 64, 64) masks, 1 where blanked: per tile size, the 4 tiles of each 2 x 2 block in turn, so each blank
    tile sits between seen ones and the 4 masks of a size cover every pixel once."""
    import torch
    masks = []
    for t in tiles:
        cells = np.add.outer(np.arange(64 // t) % 2 * 2, np.arange(64 // t) % 2)
        masks += [torch.from_numpy(np.kron(cells == k, np.ones((t, t))).astype(np.float32))[None, None]
                  for k in range(4)]
    return masks


class InpaintLoss:
    """Each face with one mask of ``masks`` (at random) blanked: the squared error on the blanked pixels, plus a tenth
    of it on the rest (the model still sees and passes on what it was shown)."""

    def __init__(self, masks, seed):
        import torch
        self.masks, self.g = masks, torch.Generator().manual_seed(seed)

    def __call__(self, model, x):
        import torch
        m = torch.cat([self.masks[j] for j in torch.randint(len(self.masks), (len(x),), generator=self.g)])
        e = ((model.decode(model.encode(x * (1 - m))) - x) ** 2).mean(1, keepdim=True)
        return (e * m).sum() / m.sum() + 0.1 * (e * (1 - m)).mean()


def m_inpaint(train, test, ref, fit, progress):
    """Reconstruction by inpainting (RIAD, Zavrtanik et al. 2021) with the strong stage's three encoders: tiles of
    ``INPAINT["tiles"]`` pixels in a 2 x 2 parity pattern are blanked (a quarter of the face, each blank tile
    between seen ones) and the model learns to fill them in from the rest; a test face is filled in four times
    per tile size, every pixel once blanked, and scored like the strong stage (error over per-pixel variance on
    the held-out faces). A face model predicts a face's eyes, mouth or cheeks from the rest of it: glasses, a
    mask or paint are not what it predicts."""
    import torch

    from solutions import strong
    from starter_code import seed_everything
    cfg = INPAINT
    seed_everything(SEED)
    model = strong.MultiEncoderAE(code_dim=cfg["code_dim"], latent_dim=cfg["latent_dim"], hidden=cfg["hidden"],
                                  channels=(8, 16, 32, 64))
    masks = _inpaint_masks(cfg["tiles"])
    _fit(model, fit, progress, InpaintLoss(masks, SEED), epochs=cfg["epochs"], batch_size=cfg["batch_size"],
         lr=cfg["lr"], schedule="cosine", seed=SEED)

    def errors(images):
        out = []
        with torch.inference_mode():
            for x in _loader(images, 500):
                acc = sum(((model.decode(model.encode(x * (1 - m))) - x) ** 2).mean(1, keepdim=True) * m
                          for m in masks)
                out.append(acc / len(cfg["tiles"]))
        return torch.cat(out)
    er, et = errors(ref), errors(test)
    var = er.var(0, keepdim=True)
    var = var + 1e-3 * var.mean()
    return {"inpaint": ((et / var).sum((1, 2, 3)).numpy(), (er / var).sum((1, 2, 3)).numpy())}


#: the strong stage bigger and longer (within the notebooks' CPU budget), and with a convolutional decoder
STRONG_WIDE = {"model_kwargs.latent_dim": 128, "model_kwargs.code_dim": 64, "model_kwargs.hidden": (512,),
               "epochs": 10}
STRONG_CONV = {"model_kwargs.latent_dim": 128, "model_kwargs.code_dim": 64, "model_kwargs.decoder": "conv",
               "epochs": 6}

METHODS = {"simple": m_stage("simple"), "medium": m_stage("medium"), "strong": m_stage("strong"),
           "boss": m_stage("boss"), "classical": m_classical, "rotnet": m_rotnet, "svdd": m_svdd,
           "cls": m_cls, "ae_padim": m_ae_padim, "ae_density": m_ae_density, "inpaint": m_inpaint,
           "strong_wide": m_stage("strong", "strong_wide", **STRONG_WIDE),
           "strong_conv": m_stage("strong", "strong_conv", **STRONG_CONV)}


# -- scoring and tables -------------------------------------------------------------------------------------------
def evaluate(scores: np.ndarray, key) -> dict:
    from grader.metrics import roc_auc
    from grader.scoring import auc_by_family, auc_by_kind, score_scores
    s = score_scores(scores, key)
    return {"overall": roc_auc(key.labels, scores), "public": s.public, "private": s.private,
            "by_family": auc_by_family(scores, key), "by_kind": auc_by_kind(scores, key)}


def combine(parts_dir: Path, spec: str) -> tuple[np.ndarray, np.ndarray]:
    """``a+b*0.5+c`` -> (test, reference) sum of the standardised parts (weights after ``*``)."""
    from solutions.stages import standardise
    test = ref = 0.0
    for item in spec.split("+"):
        name, _, w = item.partition("*")
        d = np.load(parts_dir / f"{name}.npz")
        w = float(w) if w else 1.0
        if d["standardised"]:   # already on the common scale (e.g. the boss's one-sided logit)
            test, ref = test + w * d["test"], ref + w * d["ref"]
        else:
            test = test + w * standardise(d["test"], d["ref"])
            ref = ref + w * standardise(d["ref"], d["ref"])
    return np.asarray(test), np.asarray(ref)


def table(results: dict, key_kinds: list[str]) -> str:
    from common.answer_key import FAMILIES
    fams = list(FAMILIES)
    head = ["method", "overall", "public", "private", *fams, "seconds", *key_kinds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        cells = [name, f"{r['overall']:.3f}", f"{r['public']:.3f}", f"{r['private']:.3f}",
                 *(f"{r['by_family'].get(f, float('nan')):.3f}" for f in fams), f"{r.get('seconds', 0):.0f}",
                 *(f"{r['by_kind'].get(k, float('nan')):.3f}" for k in key_kinds)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--answers", type=Path, required=True)
    p.add_argument("--methods", nargs="*", default=[], help=f"{', '.join(METHODS)}, or ensemble:a+b*w+...")
    p.add_argument("--json", type=Path, required=True, help="results file (accumulates; parts beside it)")
    p.add_argument("--force", action="store_true", help="rerun methods already in the JSON")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n-train", type=int, default=0, help="use only the first N training faces (quick runs)")
    p.add_argument("--table", action="store_true", help="only print the table of the JSON")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    import torch

    from common.answer_key import load_answer_key
    from solutions.stages import split_reference
    from starter_code.formats import load_images
    torch.set_num_threads(args.threads)
    key = load_answer_key(args.answers / "solution.csv")
    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    global PARTS_DIR
    parts_dir = PARTS_DIR = args.json.with_suffix(".parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    kinds = sorted(set(key.kinds[key.labels == 1]))
    if not args.table:
        train = load_images(args.data / "trainingset.npy")
        if args.n_train:
            train = train[:args.n_train]
        test = load_images(args.data / "testingset.npy")
        ref, fit = split_reference(train, N_REFERENCE, SEED)
        for m in args.methods:
            if m.startswith("ensemble:"):
                t, _ = combine(parts_dir, m.split(":", 1)[1])
                results[m] = {**evaluate(t, key), "seconds": 0}
                continue
            if m not in METHODS:
                raise SystemExit(f"unknown method {m!r}; valid: {', '.join(METHODS)}, ensemble:a+b")
            if m in results and not args.force:
                print(f"{m}: in {args.json} already (--force to rerun)")
                continue
            t0 = time.perf_counter()
            parts = METHODS[m](train, test, ref, fit, not args.no_progress)
            seconds = time.perf_counter() - t0
            for name, (t, r, *flag) in parts.items():
                np.savez(parts_dir / f"{name}.npz", test=np.asarray(t, np.float64), ref=np.asarray(r, np.float64),
                         standardised=bool(flag and flag[0]))
                results[name] = {**evaluate(np.asarray(t, np.float64), key), "seconds": round(seconds, 1)}
                print(f"  {name}: overall {results[name]['overall']:.4f}  "
                      + "  ".join(f"{f} {v:.3f}" for f, v in results[name]["by_family"].items()), flush=True)
            results[m] = {**results[next(iter(parts))], "seconds": round(seconds, 1)}
            args.json.write_text(json.dumps(results, indent=1, default=float) + "\n")
        args.json.write_text(json.dumps(results, indent=1, default=float) + "\n")
    print(table(results, kinds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
