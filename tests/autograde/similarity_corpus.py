"""A class's solution cells for the similarity tests and benchmark: honest students in a few common styles, one
planted copy.

What a plain ranking gets wrong, rebuilt: 23 honest students each write the notebook's ``train`` cell in one of 3
common styles (the notebook's own hints: tune the sample fcn through ``TrainConfig``; a CNN with L1 and a score over
absolute errors; a patch score added to the whole-image error). Within a style, students pick their own names,
numbers, comments, optional lines and sometimes a line of their own, and most keep the release's and the notebook's
suggested lines: after names and layout are normalised many of them are identical (as in a real class).
Student ``p1`` writes a long solution of their own (boss stage: noise probes and a small classifier on top of
the reconstruction error); ``p2`` copies it with every name changed, new comments, other blank lines, two helper
functions swapped and a few constants edited. Everything is generated from a seed: no text is shared by accident of
writing, only by the rules above.
"""
from __future__ import annotations

import random

#: What the released notebook's solution cell already has (removed as boilerplate) and what the notebook's text
#: suggests calling (``anomaly_scores(model, images)`` and friends), which many students paste as they are.
RELEASE_CELL = "# YOUR CODE HERE\nraise NotImplementedError()\nprint(model)\n" \
               "display(plot_loss(history, path=env.path(\"loss.png\")))\n"
SUGGESTED = [
    "scores_all = anomaly_scores(model, images_to_score)",
    "model, history = build_and_fit(train, cfg)",
    "recon = reconstruct(model, images_to_score)",
]

_NAMES = {
    "cfg": ["cfg", "config", "conf", "train_cfg", "c"],
    "err": ["err", "diff", "errors", "sq", "d"],
    "patch": ["patch", "patches", "local", "blocks", "tiles"],
    "w": ["alpha", "w", "weight", "lam", "beta"],
}


def _style_fcn(r: random.Random, n: dict) -> list[str]:
    lines = [f"{n['cfg']} = TrainConfig(model=\"fcn\", epochs={r.choice([20, 30, 40, 60])}, "
             f"batch_size={r.choice([32, 64, 128])}, lr={r.choice(['1e-3', '3e-4', '5e-4'])}, "
             f"latent_dim={r.choice([16, 32, 64, 128])})",
             f"model = build_model(\"fcn\", {n['cfg']})",
             f"history = fit(model, train, {n['cfg']})",
             SUGGESTED[0]]
    if r.random() < 0.5:
        lines.insert(1, f"{n['cfg']}.hidden = [{r.choice([512, 1024])}, {r.choice([256, 128])}]")
    return lines


def _style_cnn(r: random.Random, n: dict) -> list[str]:
    return [f"{n['cfg']} = TrainConfig(model=\"cnn\", epochs={r.choice([20, 40, 50])}, loss=\"l1\", "
            f"schedule=\"cosine\", batch_size={r.choice([32, 64])})",
            SUGGESTED[1].replace("cfg", n["cfg"]), SUGGESTED[2],
            f"{n['err']} = np.abs(recon.astype(np.float32) - images_to_score.astype(np.float32))",
            f"scores_all = {n['err']}.reshape(len({n['err']}), -1).mean(axis=1)"]


def _style_patch(r: random.Random, n: dict) -> list[str]:
    size = r.choice([8, 16])
    k = 64 // size
    return [f"{n['cfg']} = TrainConfig(model=\"cnn\", epochs={r.choice([30, 40])}, lr={r.choice(['1e-3', '2e-3'])})",
            SUGGESTED[1].replace("cfg", n["cfg"]), SUGGESTED[2],
            f"{n['err']} = (recon.astype(np.float32) - images_to_score) ** 2",
            f"{n['patch']} = {n['err']}.reshape(len({n['err']}), {k}, {size}, {k}, {size}, 3).mean(axis=(2, 4, 5))",
            f"{n['w']} = {r.choice(['0.5', '1.0', '2.0'])}",
            f"scores_all = {n['err']}.mean(axis=(1, 2, 3)) + {n['w']} * {n['patch']}.max(axis=(1, 2))"]


STYLES = (_style_fcn, _style_cnn, _style_patch)

# A line of a student's own, drawn from what students commonly add.
_OWN = [
    "print(f\"{{len(train)}} training faces\")",
    "np.random.seed({a})",
    "torch.manual_seed({a})",
    "print(\"final loss\", history[-1])",
    "scores_all = np.asarray(scores_all, dtype=np.float64)",
    "print(scores_all[:{a}])",
    "assert len(scores_all) == len(images_to_score)",
    "print(model.__class__.__name__, sum(p.numel() for p in model.parameters()))",
    "plt.hist(scores_all, bins={a}); plt.show()",
    "scores_all = (scores_all - scores_all.mean()) / (scores_all.std() + 1e-8)",
]

ORIGINAL = '''
def add_noise(batch, sigma):
    """Random Gaussian noise on a uint8 batch, clipped back to the pixel range."""
    noisy = batch.astype(np.float32) + np.random.normal(0.0, sigma, batch.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def error_features(model, images):
    rebuilt = reconstruct(model, images).astype(np.float32)
    sq = (rebuilt - images.astype(np.float32)) ** 2
    per_pixel = sq.mean(axis=3)
    blocks = per_pixel.reshape(len(images), 8, 8, 8, 8).mean(axis=(2, 4))
    feats = np.stack([sq.mean(axis=(1, 2, 3)), blocks.max(axis=(1, 2)), blocks.std(axis=(1, 2)),
                      np.percentile(per_pixel.reshape(len(images), -1), 99, axis=1)], axis=1)
    return np.log1p(feats)


config = TrainConfig(model="cnn", epochs=45, lr=2e-3, batch_size=48, loss="l1")
model, history = build_and_fit(train, config)
rng = np.random.default_rng(7)
held = rng.permutation(len(train))[:600]
clean = error_features(model, train[held])
fake = error_features(model, add_noise(train[held], 40.0))
swapped = train[held].copy()
swapped[:, 20:44, 20:44] = swapped[::-1, 20:44, 20:44]
odd = error_features(model, swapped)
X = np.concatenate([clean, fake, odd])
y = np.concatenate([np.zeros(len(clean)), np.ones(len(fake)), np.ones(len(odd))])
clf = LogisticRegression(C=0.5, max_iter=2000, class_weight="balanced").fit(X, y)
probe_auc = roc_auc_score(y, clf.decision_function(X))
print(f"probe AUC {probe_auc:.3f} on {len(X)} rows")
scores_all = clf.decision_function(error_features(model, images_to_score))
scores_all = scores_all + 0.05 * error_features(model, images_to_score)[:, 0]
'''

DISGUISED = '''
def compute_err_feats(net, imgs):
    # reconstruction errors -> 4 numbers per image
    out = reconstruct(net, imgs).astype(np.float32)
    e2 = (out - imgs.astype(np.float32)) ** 2
    pix = e2.mean(axis=3)
    tiles = pix.reshape(len(imgs), 8, 8, 8, 8).mean(axis=(2, 4))
    f = np.stack([e2.mean(axis=(1, 2, 3)), tiles.max(axis=(1, 2)), tiles.std(axis=(1, 2)),
                  np.percentile(pix.reshape(len(imgs), -1), 99, axis=1)], axis=1)
    return np.log1p(f)

def make_noisy(x, s):
    # my augmentation
    x_n = x.astype(np.float32) + np.random.normal(0.0, s, x.shape)
    return np.clip(x_n, 0, 255).astype(np.uint8)

cfg = TrainConfig(model="cnn", epochs=50, lr=2e-3, batch_size=64, loss="l1")

model, history = build_and_fit(train, cfg)
gen = np.random.default_rng(123)
idx = gen.permutation(len(train))[:600]
normal_f = compute_err_feats(model, train[idx])
noisy_f = compute_err_feats(model, make_noisy(train[idx], 35.0))
mixed = train[idx].copy()
mixed[:, 20:44, 20:44] = mixed[::-1, 20:44, 20:44]
mixed_f = compute_err_feats(model, mixed)

feats = np.concatenate([normal_f, noisy_f, mixed_f])
labels = np.concatenate([np.zeros(len(normal_f)), np.ones(len(noisy_f)), np.ones(len(mixed_f))])
lr_model = LogisticRegression(C=0.5, max_iter=2000, class_weight="balanced").fit(feats, labels)
auc = roc_auc_score(labels, lr_model.decision_function(feats))
print(f"probe AUC {auc:.3f} on {len(feats)} rows")   # sanity check
scores_all = lr_model.decision_function(compute_err_feats(model, images_to_score))
scores_all = scores_all + 0.05 * compute_err_feats(model, images_to_score)[:, 0]
'''


def honest_student(i: int, seed: int = 0) -> str:
    """Student ``i``'s train cell: style ``i % 3``, own names, numbers, optional and own lines."""
    r = random.Random(seed * 1000 + i)
    names = {k: r.choice(v) for k, v in _NAMES.items()}
    lines = STYLES[i % 3](r, names)
    if r.random() < 0.7:
        lines = RELEASE_CELL.splitlines()[:1] + lines          # left the "YOUR CODE HERE" comment in
    if r.random() < 0.4:                                        # a line of their own
        lines.insert(r.randint(1, len(lines)), r.choice(_OWN).format(a=r.randint(3, 99)))
    if r.random() < 0.4:
        lines.insert(r.randint(0, len(lines)), f"# {r.choice(['try', 'v2', 'best so far', 'works'])}")
    return "\n".join(lines) + "\n" + RELEASE_CELL.split("\n", 2)[2]


def corpus(n_honest: int = 23, seed: int = 0) -> dict[str, str]:
    """``{student: train cell code}``: ``h01``..``h23`` honest, ``p1`` the original and ``p2`` the copy."""
    codes = {f"h{i + 1:02d}": honest_student(i, seed) for i in range(n_honest)}
    codes["p1"] = ORIGINAL.strip() + "\n" + RELEASE_CELL.split("\n", 2)[2]
    codes["p2"] = DISGUISED.strip() + "\n" + RELEASE_CELL.split("\n", 2)[2]
    return codes

# A short answer of a student's own (seven lines: a Mahalanobis distance on the encoder's codes) and its copy with
# every name changed: a copy too short for the absolute score to reach ``min_score``.
SHORT = '''
feats = encode_batches(model, train[:3000])
centre = feats.mean(axis=0)
spread = np.cov(feats, rowvar=False) + 1e-3 * np.eye(feats.shape[1])
prec = np.linalg.inv(spread)
z = encode_batches(model, images_to_score) - centre
maha = np.einsum("ij,jk,ik->i", z, prec, z)
scores_all = np.sqrt(maha) + 0.1 * anomaly_scores(model, images_to_score)
'''

SHORT_COPY = '''
f = encode_batches(model, train[:3000])
mu = f.mean(axis=0)
cov = np.cov(f, rowvar=False) + 1e-3 * np.eye(f.shape[1])
inv = np.linalg.inv(cov)
d = encode_batches(model, images_to_score) - mu
m = np.einsum("ij,jk,ik->i", d, inv, d)
scores_all = np.sqrt(m) + 0.1 * anomaly_scores(model, images_to_score)
'''
