# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # HW8 anomaly detection, part 4 of 5: the boss baseline (random noise and an extra classifier)
#
# The slides' hint: *add random noise and an extra classifier*. You have no anomalies to train on, so
# make some: corrupt normal training faces (random noise, a patch of another face pasted in, a blob of
# colour, stripes, a blurred or recoloured region, ...) and train a **classifier** to tell normal faces
# (label 0) from corrupted ones (label 1). Its output is a second anomaly score; combine it with the
# reconstruction score of your autoencoder (put both on one scale first, e.g. subtract the median and
# divide by the spread measured on normal faces, then add).
#
# Four steps, each with its own answer cell and test: **1** the autoencoder and its score (`ae`,
# `ae_history`, `ae_scores_all`), **2** the self-made anomalies (`make_anomalies`), **3** the classifier and
# its score (`clf`, `clf_history`, `clf_scores_all`), **4** the combined score (`scores_all`), submitted.
#
# These ideas have names (the course's lecture notes on anomaly detection cover them):
# **outlier exposure** (Hendrycks et al., 2019: train against auxiliary outliers; here self-made ones),
# **CutPaste** (Li et al., 2021) and **DRAEM** (Zavrtanik et al., 2021): synthetic local anomalies, and
# **Deep SVDD** (Ruff et al., 2018): map normal data close to one centre and score by the distance to it
# (beware the shortcut of mapping everything to the centre).
#
# **Ruled out here:** kNN on features of a pretrained network and PatchCore/PaDiM are strong anomaly
# detectors, but they need an ImageNet-pretrained backbone: the course's rules forbid pretrained models,
# and the kit runs offline, with nothing to download them from.
#
# > **Course rules.** Train only on `trainingset.npy` (normal faces): no extra data, no pretrained models or
# > downloaded weights (the kit runs offline). Scored uploads per day are limited (the bundle's `README.md`,
# > section 6, says how many). The metric is ROC-AUC, so only the *order* of your scores matters, and **a higher
# > score must mean "more anomalous"**.
#
# **How to work.** Write code only where a cell says `# YOUR CODE HERE` (delete the `raise NotImplementedError()`),
# and answers where a cell says *YOUR ANSWER HERE*. Read-only cells are restored before grading. **Smoke mode**
# runs the whole notebook in seconds on a few hundred images, to check that it runs (not a submission): add a cell
# with the line `%env HW8_SMOKE=1` *above* the config cell and run from there; for the real run delete that cell and
# restart the kernel. The data (`trainingset.npy`, `testingset.npy`) goes in the `data/` folder next to the
# notebook's folder, or set `HW8_DATA_DIR` the same way. Setup on your computer or on Colab: the bundle's
# `README.md`.
#
# | part | points |
# |---|---|
# | the autoencoder | 1 |
# | self-made anomalies | 2 |
# | the classifier | 2 |
# | the combined score | 1 |
# | scores: shape and order | 1 |
# | scores: direction (noise > faces) | 2 |
# | prediction.csv | 1 |
# | your method and why it works (written) | 2 |
# | **total** | **12** |

# %%
# Config and seed (edit the config line). The environment decides the data folder and smoke mode.
# %matplotlib inline
import numpy as np
from starter_code import (TrainConfig, anomaly_scores, build_and_fit, build_model, fit, plot_images, plot_loss,
                          plot_reconstructions, plot_score_histogram, read_submission_scores, reconstruct,
                          seed_everything, write_submission)
import torch
from torch import nn
from starter_code.data import from_model_output, to_model_input
from starter_code.notebook import PROBE_KINDS, NotebookEnv, make_probes

env = NotebookEnv.from_environ()
cfg = env.train_config(model_type="cnn", epochs=30, batch_size=256, lr=1e-3)  # the autoencoder's training
clf_cfg = env.train_config(epochs=3, batch_size=128, lr=2e-3)  # the classifier's training
seed_everything(cfg.seed)
print(env)
print(cfg)

# %% nbgrader={"grade": false, "grade_id": "data", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The data: uint8 (N, 64, 64, 3) training faces (all normal) and (M, 64, 64, 3) test images (row i = ID i).
train, test = env.load_train(), env.load_test()
print(f"train {train.shape} {train.dtype} | test {test.shape} {test.dtype}")
display(plot_images(train[:8], title="training faces (all normal)"))

# %% nbgrader={"grade": false, "grade_id": "probes", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Known images for the autograder, scored together with the test set: training faces, random noise,
# colour-inverted faces and copies of a few test rows. Score every row of images_to_score, in order; only the
# first len(test) scores go into the submission.
probes = make_probes(train, test)
images_to_score = np.concatenate([test, probes.images])
print(f"images_to_score: {len(test)} test images, then {len(probes)} probes ({', '.join(PROBE_KINDS)})")

# %% [markdown] nbgrader={"grade": false, "grade_id": "ae_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1. The autoencoder
#
# The first score is the reconstruction error of an autoencoder trained on normal faces, as in parts 1-3.
# Import it, do not copy it: `starter_code` has the sample models (`build_model("cnn", channels=(...))`,
# `build_model("fcn", hidden=(...), latent_dim=...)`; `build_and_fit(train, cfg)` builds `cfg.model_type` and
# trains it) and the sample score (`anomaly_scores(ae, images)`; `score_fn=` takes a better one, as in part 2).
#
# Keep some training faces out of every training, e.g. `reference, fit_faces = train[:500], train[500:]`
# (in smoke mode, fewer): step 4 puts the scores on one scale with normal faces that no part has seen.
#
# Set `ae` (the trained autoencoder, an `nn.Module` whose `reconstruct(x)` or `forward(x)` gives the
# reconstruction), `ae_history` (its training history) and `ae_scores_all` (its score of every row of
# `images_to_score`, row order kept, higher = more anomalous).

# %% nbgrader={"grade": false, "grade_id": "autoencoder", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
from solutions import boss, strong
from solutions.stages import knn_distance, split_reference, standardise, subsample
boss_cfg = boss.CONFIG.resolve(smoke=env.smoke)  # the reference's settings: the strong stage's autoencoder
reference, fit_faces = split_reference(train, boss_cfg.ae.n_reference, boss_cfg.ae.seed)
ae, ae_history, ae_scores_all, ae_scores_reference = strong.fit_and_score(train, images_to_score, boss_cfg.ae)
### END SOLUTION
display(plot_loss(ae_history, path=env.path("ae_loss.png")))

# %% nbgrader={"grade": false, "grade_id": "ae_check", "locked": true, "schema_version": 3, "solution": false, "task": false}
# What the test below checks, computed here: the tests run in a separate process that gets your notebook's
# results as data (arrays, numbers, files), not its objects. The autoencoder's reconstructions of the probes'
# faces and noise.
_faces = probes.images[probes.rows("face")]
_noise = probes.images[probes.rows("noise")]
ae_check = {"faces": _faces, "faces_reconstructed": reconstruct(ae, _faces),
            "noise": _noise, "noise_reconstructed": reconstruct(ae, _noise)}

# %% nbgrader={"grade": true, "grade_id": "test_autoencoder", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Autograder test: the autoencoder reconstructs faces, and ae_scores_all has one finite score per row.
assert ae_check["faces_reconstructed"].shape == ae_check["faces"].shape, "reconstruct(ae, faces) changed the shape"
assert isinstance(ae_scores_all, np.ndarray) and ae_scores_all.shape == (len(images_to_score),), (
    f"ae_scores_all: expected {len(images_to_score)} scores, got {type(ae_scores_all).__name__} "
    f"{np.shape(ae_scores_all)}")
assert np.isfinite(ae_scores_all).all(), "every score in ae_scores_all must be a finite number"
### BEGIN HIDDEN TESTS
_error = {k: ((ae_check[f"{k}_reconstructed"].astype(float) - ae_check[k]) ** 2).mean(axis=(1, 2, 3))
          for k in ("faces", "noise")}
assert np.median(_error["faces"]) < np.median(_error["noise"]), "ae reconstructs noise better than faces"
_ae_probes = ae_scores_all[len(test):]
assert np.median(_ae_probes[probes.rows("noise")]) > np.median(_ae_probes[probes.rows("face")]), (
    "ae_scores_all: noise should score above faces")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "anomalies_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2. Self-made anomalies
#
# Complete `make_anomalies`: uint8 faces in, the same number of corrupted faces out (same shape and
# dtype, nearly every image visibly changed), repeatable for a given `seed` and different for another.
# `to_model_input` / `from_model_output` (in `starter_code.data`) convert between uint8 images and
# `(B, 3, 64, 64)` tensors in [-1, 1], if you corrupt on tensors.

# %% nbgrader={"grade": false, "grade_id": "make_anomalies", "locked": false, "schema_version": 3, "solution": true, "task": false}
def make_anomalies(faces, seed=0):
    """uint8 normal faces (n, 64, 64, 3) -> uint8 synthetic anomalies (n, 64, 64, 3), repeatable per seed."""
    ### BEGIN SOLUTION
    from solutions import boss
    return from_model_output(boss.corrupt(to_model_input(faces), torch.Generator().manual_seed(seed)))
    ### END SOLUTION

display(plot_images(make_anomalies(train[:8]), title="self-made anomalies"))

# %% nbgrader={"grade": false, "grade_id": "anomalies_check", "locked": true, "schema_version": 3, "solution": false, "task": false}
# What the test below checks, computed here: the tests run in a separate process that gets your notebook's
# results as data (arrays, numbers, files), not its functions. `make_anomalies` on 16 training faces, seeds 3, 3, 4.
_faces = np.array(train[:16])
anomalies_check = {"faces": _faces.copy(), "seed3": make_anomalies(_faces, seed=3),
                   "seed3_again": make_anomalies(_faces, seed=3), "seed4": make_anomalies(_faces, seed=4),
                   "faces_after": _faces}

# %% nbgrader={"grade": true, "grade_id": "test_anomalies", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Autograder test: make_anomalies keeps shape and dtype, changes every image, and repeats per seed.
_faces, _bad = anomalies_check["faces"], anomalies_check["seed3"]
assert isinstance(_bad, np.ndarray) and _bad.dtype == np.uint8 and _bad.shape == _faces.shape, (
    f"expected uint8 {_faces.shape}, got {getattr(_bad, 'dtype', type(_bad))} {np.shape(_bad)}")
assert np.array_equal(_bad, anomalies_check["seed3_again"]), "same faces and seed must give the same images"
### BEGIN HIDDEN TESTS
assert np.array_equal(_faces, anomalies_check["faces_after"]), "make_anomalies must not modify its input"
_changed = np.abs(_bad.astype(int) - _faces.astype(int)).max(axis=(1, 2, 3)) > 20
# A mild corruption may land on a flat region (the reference blurs one now and then): most, not all.
assert _changed.mean() >= 0.75, f"{int((~_changed).sum())} of 16 images were left (almost) unchanged"
assert not np.array_equal(_bad, anomalies_check["seed4"]), "another seed must give other anomalies"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "clf_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3. The classifier
#
# Train a classifier to tell normal faces (label 0) from their corrupted copies (label 1), on `fit_faces`.
# `fit(clf, fit_faces, clf_cfg, loss_fn=...)` trains any module on any loss: `loss_fn(clf, x)` gets a batch `x`
# of normal faces (`(B, 3, 64, 64)` in [-1, 1]); corrupt a copy of it (on tensors, or with
# `to_model_input(make_anomalies(from_model_output(x), seed))`, a new seed per batch) and return the binary
# cross-entropy of "normal" vs "corrupted" (`torch.nn.functional.binary_cross_entropy_with_logits`). A few
# strided `nn.Conv2d` layers with `nn.ReLU`, pooled over the image, then one `nn.Linear` output are enough.
#
# Set `clf` (an `nn.Module`: `(B, 3, 64, 64)` in [-1, 1] -> one logit per image, shape `(B,)` or `(B, 1)`,
# higher = more likely corrupted), `clf_history` (its training history) and `clf_scores_all` (its score of
# every row of `images_to_score`, row order kept, higher = more anomalous; e.g. the logits, computed batch by
# batch with `torch.no_grad()` and `clf.eval()`).

# %% nbgrader={"grade": false, "grade_id": "classifier", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
clf, clf_history = boss.train_classifier(fit_faces, boss_cfg.classifier)
clf_scores_all, _features_all = boss.classifier_outputs(clf, images_to_score)
### END SOLUTION
display(plot_loss(clf_history, path=env.path("clf_loss.png")))

# %% nbgrader={"grade": false, "grade_id": "clf_check", "locked": true, "schema_version": 3, "solution": false, "task": false}
# What the test below checks, computed here (the tests get data, not `clf`): its outputs for the probes'
# training faces and for `make_anomalies` of the same faces (seed 11).
_faces = probes.images[probes.rows("face")]
_device = next(clf.parameters()).device
_was = clf.training
clf.eval()
with torch.no_grad():
    clf_check = {name: clf(to_model_input(images, _device)).detach().float().cpu().numpy()
                 for name, images in (("faces", _faces), ("anomalies", make_anomalies(_faces, seed=11)))}
clf.train(_was)

# %% nbgrader={"grade": true, "grade_id": "test_classifier", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Autograder test: one logit per image, and corrupted faces get higher ones than the faces themselves.
_n = len(probes.rows("face"))
for _name, _out in clf_check.items():
    assert _out.size == _n and np.isfinite(_out).all(), (
        f"clf on {_n} {_name}: expected {_n} finite logits, got shape {_out.shape}")
assert isinstance(clf_scores_all, np.ndarray) and clf_scores_all.shape == (len(images_to_score),), (
    f"clf_scores_all: expected {len(images_to_score)} scores, got {np.shape(clf_scores_all)}")
### BEGIN HIDDEN TESTS
assert np.isfinite(clf_scores_all).all(), "every score in clf_scores_all must be a finite number"
_faces_out, _anomalies_out = clf_check["faces"].ravel(), clf_check["anomalies"].ravel()
_auc = ((_anomalies_out[:, None] > _faces_out[None, :]).mean()
        + 0.5 * (_anomalies_out[:, None] == _faces_out[None, :]).mean())  # ROC-AUC of anomalies vs faces
# 0.6: what the reference classifier clears after smoke mode's ~110 steps on the grading set (a real run: > 0.9).
assert _auc >= 0.6, f"the classifier tells self-made anomalies from their faces only at AUC {_auc:.2f}"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "combine_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 4. The combined score
#
# The two scores live on different scales. Put each on one scale with normal faces neither part trained on
# (`reference`): subtract the median of its scores on them and divide by their spread (e.g. the interquartile
# range, `np.subtract(*np.percentile(s, [75, 25]))`), then add (weights are yours). Set `scores_all`: the
# combined score of every row of `images_to_score` (row order kept, higher = more anomalous).

# %% nbgrader={"grade": false, "grade_id": "combine", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
# The reference (solutions/boss.py) adds a third part: the kNN distance of the classifier's pooled features to
# those of normal training faces. It drops the autoencoder (on its calibration build the AE added nothing to
# logit + kNN); this step asks for it, so it stays here at half weight.
clf_scores_reference, _features_reference = boss.classifier_outputs(clf, reference)
_normal_features = boss.classifier_outputs(clf, subsample(fit_faces, boss_cfg.n_features, boss_cfg.classifier.seed))[1]
_knn_all, _knn_reference = knn_distance(_normal_features, [_features_all, _features_reference], boss_cfg.knn_k)
scores_all = (0.5 * standardise(ae_scores_all, ae_scores_reference)
              + boss_cfg.w_cls * standardise(clf_scores_all, clf_scores_reference)
              + boss_cfg.w_knn * standardise(_knn_all, _knn_reference))
### END SOLUTION
model = ae  # for the reconstruction plots below

# %% nbgrader={"grade": true, "grade_id": "test_combination", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Autograder test: the combined score uses both parts: it follows each of them, and is neither one alone.
assert isinstance(scores_all, np.ndarray) and scores_all.shape == ae_scores_all.shape, (
    f"scores_all: expected {ae_scores_all.shape}, got {type(scores_all).__name__} {np.shape(scores_all)}")
### BEGIN HIDDEN TESTS
_ranks = lambda a: np.argsort(np.argsort(a, kind="stable"), kind="stable")
for _name, _part in (("ae_scores_all", ae_scores_all), ("clf_scores_all", clf_scores_all)):
    _r = np.corrcoef(_ranks(scores_all), _ranks(_part))[0, 1]
    assert 0.1 < _r < 0.995, f"scores_all vs {_name}: rank correlation {_r:.3f} (a sum of both parts lies between)"
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "split_scores", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The test set's scores (submitted) and the probes' scores (checked by the tests below).
scores, probe_scores = scores_all[:len(test)], scores_all[len(test):]
print(f"{len(scores)} test scores: min {np.min(scores):.4g}, median {np.median(scores):.4g}, "
      f"max {np.max(scores):.4g}")

# %% nbgrader={"grade": true, "grade_id": "test_scores_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Autograder test: one finite score per row of images_to_score (the test set, then the probes), in row order.
assert isinstance(scores_all, np.ndarray), f"scores_all must be a numpy array, got {type(scores_all).__name__}"
assert scores_all.shape == (len(images_to_score),), (
    f"expected {len(images_to_score)} scores (one per row of images_to_score), got shape {scores_all.shape}")
assert np.isfinite(scores_all).all(), "every score must be a finite number"
### BEGIN HIDDEN TESTS
# Row order: a copy of a test image scores like its original row (compared by rank, so that a model that
# samples, like the VAE, still passes).
_copies = probes.rows("copy")
_ranks = lambda a: np.argsort(np.argsort(a))
_agree = np.corrcoef(_ranks(probe_scores[_copies]), _ranks(scores[probes.source[_copies]]))[0, 1]
assert _agree > 0.8, f"copies of test images do not score like their rows (rank correlation {_agree:.2f})"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_score_direction", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Autograder test: higher = more anomalous. Random noise is as far from a face as an image gets.
face_scores = probe_scores[probes.rows("face")]
noise_scores = probe_scores[probes.rows("noise")]
assert np.median(noise_scores) > np.median(face_scores), (
    "random noise scores lower than training faces: is the sign of your score flipped?")
### BEGIN HIDDEN TESTS
assert np.mean(noise_scores > np.median(face_scores)) >= 0.9, "most noise images should outscore a typical face"
_negative_scores = probe_scores[probes.rows("negative")]  # the same faces, colour-inverted
assert np.median(_negative_scores) > np.median(face_scores), "colour-inverted faces should score higher"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "submit_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 5. Submission

# %% nbgrader={"grade": false, "grade_id": "submit", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Write the submission (upload prediction.csv), then look at the scores and the best/worst reconstructions.
path = write_submission(scores, env.path("prediction.csv"), expected_rows=len(test))
print(f"wrote {path} ({len(scores)} rows){' (smoke mode: not for upload)' if env.smoke else ''}")
display(plot_score_histogram(scores, path=env.path("score_histogram.png")))
display(plot_reconstructions(test, reconstruct(model, test), scores, k=4,
                             path=env.path("reconstructions.png")))

# %% nbgrader={"grade": true, "grade_id": "test_submission_file", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Autograder test: prediction.csv is in the course's format (ID,score; IDs 0..M-1) and holds these scores.
submitted = read_submission_scores(env.path("prediction.csv"), expected_rows=len(test))
assert np.allclose(submitted, scores, rtol=1e-6, atol=1e-9), "prediction.csv does not hold the scores above"
### BEGIN HIDDEN TESTS
assert env.path("prediction.csv").read_text(encoding="utf-8").splitlines()[0] == "ID,score"
_top = np.argsort(-scores, kind="stable")[:10]
assert np.array_equal(np.argsort(-submitted, kind="stable")[:10], _top), "the file reorders the scores"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "method_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 6. Your method (2 points, graded by hand)
#
# Describe your synthetic anomalies, the classifier and how you combined its score with the
# reconstruction score. Why does a classifier trained on *self-made* anomalies help on *real* ones it
# never saw, and where would you expect it to fail?

# %% [markdown] nbgrader={"grade": true, "grade_id": "method", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Rubric** (for graders; in the release nbgrader replaces this whole cell with *YOUR ANSWER HERE*):
# 2 = method described, a sound reason it generalises (it learns what local departures from
# the training faces look like) and a concrete failure case (anomalies unlike any corruption, e.g. a
# globally different but clean image); 1 = method only; 0 = missing.
#
# **Reference answer** (the method in `solutions/boss.py`; its docstring lists the exact corruptions):
# anomalies are made by one random corruption per face (noise, a pasted patch of another face, blobs,
# stripes, blurred or recoloured regions, ...). A small CNN learns normal (0) vs corrupted (1); its logit,
# the mean distance of its pooled features to their 5 nearest normal training faces' (kNN) and the
# autoencoder's reconstruction score are each standardised on normal faces (median and interquartile
# range) and added. The classifier never sees a real anomaly, but it learns what "locally not like these
# faces" looks like, which transfers to masks, paint and pasted objects; it can miss anomalies that look
# like no corruption (a clean image of another style): the kNN part catches faces whose features lie far
# from every training face's, and the reconstruction score those the autoencoder cannot rebuild.
