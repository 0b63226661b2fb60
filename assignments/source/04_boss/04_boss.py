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
# `ae_history`, `ae_scores(images)`), **2** the self-made anomalies (`make_anomalies`), **3** the classifier and
# its score (`clf`, `clf_history`, `clf_scores(images)`), **4** the combined score (`score_images(images)`),
# submitted.
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
# | `score_images`: one finite score per image | 1 |
# | its scores separate anomalies from faces | 2 |
# | prediction.csv (your `score_images`' scores) | 1 |
# | your method and why it works (written) | 2 |
# | **total** | **12** |
#
# **How it is graded.** Each step defines a function of uint8 images `(P, 64, 64, 3)`: `ae_scores(images)` and
# `clf_scores(images)` (each part's scores) and `score_images(images)` (the combined score: a numpy array of `P`
# finite scores, higher = more anomalous, for any number of images in any order); step 2's
# `make_anomalies(faces, seed)`. After your last cell the autograder writes grading images of its own (images your
# notebook never sees with their labels, in an order it does not know) where your notebook's kernel can read them,
# calls these four functions on them there (`make_anomalies` on some of them, with seeds of its own), and judges
# only what they return: the combined scores' ROC-AUC must be at most 0.15 below the reference solution's on the
# same images, and at least 0.55. Every test but step 2's needs that; whatever else your notebook prints, writes or
# sets earns no point on its own.

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
from starter_code.notebook import NotebookEnv

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
# reconstruction) and `ae_history` (its training history), and define `ae_scores(images)`: its score of each image,
# a numpy array `(P,)`, higher = more anomalous (e.g. `anomaly_scores(ae, images)`).

# %% nbgrader={"grade": false, "grade_id": "autoencoder", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
from solutions import boss, strong
from solutions.stages import knn_distance, split_reference, standardise, subsample
boss_cfg = boss.CONFIG.resolve(smoke=env.smoke)  # the reference's settings: the strong stage's autoencoder
reference, fit_faces = split_reference(train, boss_cfg.ae.n_reference, boss_cfg.ae.seed)
ae, ae_history, _, ae_scores_reference, _ae_score = strong.fit_and_score(train, test, boss_cfg.ae)


def ae_scores(images):
    return _ae_score(images)  # the score fit_and_score scored the test and reference faces with
### END SOLUTION
display(plot_loss(ae_history, path=env.path("ae_loss.png")))

# %% nbgrader={"grade": false, "grade_id": "ae_check", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The autoencoder's scores of the test images (a check of your own: the autograder calls ae_scores on its own images).
ae_test_scores = ae_scores(test)
print(f"ae_scores(test): min {np.min(ae_test_scores):.4g}, median {np.median(ae_test_scores):.4g}, "
      f"max {np.max(ae_test_scores):.4g}")

# %% nbgrader={"grade": true, "grade_id": "test_autoencoder", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Autograder test: ae_scores gives one finite score per image. Graded on the autograder's own images: there too,
# its scores rank the anomalies above the faces more often than not, and the combined score passes its bar.
assert isinstance(ae_test_scores, np.ndarray) and ae_test_scores.shape == (len(test),), (
    f"ae_scores(test): expected {len(test)} scores, got {type(ae_test_scores).__name__} {np.shape(ae_test_scores)}")
assert np.isfinite(ae_test_scores).all(), "every score of ae_scores must be a finite number"
### BEGIN HIDDEN TESTS
_ae_auc = secret_probes.auc(secret_probes.returned_scores("ae_scores"))
assert _ae_auc > 0.5, f"on the grading images ae_scores ranks anomalies below faces (ROC-AUC {_ae_auc:.3f})"
assert secret_probes.auc(secret_probes.returned_scores("score_images")) >= secret_probes.min_auc, (
    "your score_images does not separate the anomalies on the grading images")
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
# A check of your own (the autograder calls make_anomalies on its own images, with seeds of its own): 16 training
# faces, seeds 3, 3 and 4.
_faces = np.array(train[:16])
anomalies_seed3, anomalies_seed3_again = make_anomalies(_faces, seed=3), make_anomalies(_faces, seed=3)

# %% nbgrader={"grade": true, "grade_id": "test_anomalies", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Autograder test: make_anomalies keeps shape and dtype, changes every image, and repeats per seed.
assert isinstance(anomalies_seed3, np.ndarray) and anomalies_seed3.dtype == np.uint8 and \
    anomalies_seed3.shape == (16, 64, 64, 3), (
        f"expected uint8 (16, 64, 64, 3), got {getattr(anomalies_seed3, 'dtype', type(anomalies_seed3))} "
        f"{np.shape(anomalies_seed3)}")
assert np.array_equal(anomalies_seed3, anomalies_seed3_again), "same faces and seed must give the same images"
### BEGIN HIDDEN TESTS
# Graded on what make_anomalies returned in the autograder's call: its faces and seeds, not the ones above.
_bad, _again, _other, _after = secret_probes.returned("make_anomalies")
_faces = secret_probes.images[:len(_after)]
assert len(_faces) == secret_probes.request["anomalies"]["images"] and np.array_equal(_after, _faces), (
    "make_anomalies must not modify its input")
assert _bad.dtype == np.uint8 and _bad.shape == _faces.shape, (
    f"make_anomalies: expected uint8 {_faces.shape}, got {_bad.dtype} {_bad.shape}")
assert np.array_equal(_bad, _again), "same faces and seed must give the same images"
_changed = np.abs(_bad.astype(int) - _faces.astype(int)).max(axis=(1, 2, 3)) > 20
# A mild corruption may land on a flat region (the reference blurs one now and then): most, not all.
assert _changed.mean() >= 0.75, f"{int((~_changed).sum())} of {len(_faces)} images were left (almost) unchanged"
assert not np.array_equal(_bad, _other), "another seed must give other anomalies"
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
# higher = more likely corrupted) and `clf_history` (its training history), and define `clf_scores(images)`: its
# score of each image, a numpy array `(P,)`, higher = more anomalous (e.g. the logits, computed batch by batch with
# `torch.no_grad()` and `clf.eval()`).

# %% nbgrader={"grade": false, "grade_id": "classifier", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
clf, clf_history = boss.train_classifier(fit_faces, boss_cfg.classifier)


def clf_scores(images):
    return boss.classifier_outputs(clf, images)[0]
### END SOLUTION
display(plot_loss(clf_history, path=env.path("clf_loss.png")))

# %% nbgrader={"grade": false, "grade_id": "clf_check", "locked": true, "schema_version": 3, "solution": false, "task": false}
# A check of your own (the autograder calls clf_scores on its own images): the classifier's scores of 16 training
# faces and of make_anomalies of the same faces (seed 11).
_faces = np.array(train[:16])
clf_faces, clf_anomalies = clf_scores(_faces), clf_scores(make_anomalies(_faces, seed=11))
print(f"clf_scores: faces median {np.median(clf_faces):.3g}, their anomalies median {np.median(clf_anomalies):.3g}")

# %% nbgrader={"grade": true, "grade_id": "test_classifier", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Autograder test: clf_scores gives one finite score per image. Graded on the autograder's own images: there too,
# its scores rank the anomalies above the faces more often than not, and the combined score passes its bar.
for _name, _out in (("faces", clf_faces), ("anomalies", clf_anomalies)):
    assert isinstance(_out, np.ndarray) and _out.shape == (16,) and np.isfinite(_out).all(), (
        f"clf_scores of 16 {_name}: expected 16 finite scores, got {type(_out).__name__} {np.shape(_out)}")
### BEGIN HIDDEN TESTS
_clf_auc = secret_probes.auc(secret_probes.returned_scores("clf_scores"))
assert _clf_auc > 0.5, f"on the grading images clf_scores ranks anomalies below faces (ROC-AUC {_clf_auc:.3f})"
assert secret_probes.auc(secret_probes.returned_scores("score_images")) >= secret_probes.min_auc, (
    "your score_images does not separate the anomalies on the grading images")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "combine_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 4. The combined score
#
# The two scores live on different scales. Put each on one scale with normal faces neither part trained on
# (`reference`): subtract the median of its scores on them and divide by their spread (e.g. the interquartile
# range, `np.subtract(*np.percentile(s, [75, 25]))`), then add (weights are yours). Define `score_images(images)`:
# the combined score of each image, a numpy array `(P,)`, higher = more anomalous (it calls `ae_scores` and
# `clf_scores`; measure the reference faces' scores once, outside it).

# %% nbgrader={"grade": false, "grade_id": "combine", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
# The reference (solutions/boss.py) adds a third part: the kNN distance of the classifier's pooled features to
# those of normal training faces. It drops the autoencoder (on its calibration build the AE added nothing to
# logit + kNN); this step asks for it, so it stays here at half weight.
clf_scores_reference, _features_reference = boss.classifier_outputs(clf, reference)
_normal_features = boss.classifier_outputs(clf, subsample(fit_faces, boss_cfg.n_features, boss_cfg.classifier.seed))[1]
(_knn_reference,) = knn_distance(_normal_features, [_features_reference], boss_cfg.knn_k)


def score_images(images):
    logits, features = boss.classifier_outputs(clf, images)
    (knn,) = knn_distance(_normal_features, [features], boss_cfg.knn_k)
    return (0.5 * standardise(ae_scores(images), ae_scores_reference)
            + boss_cfg.w_cls * standardise(logits, clf_scores_reference)
            + boss_cfg.w_knn * standardise(knn, _knn_reference))
### END SOLUTION
model = ae  # for the reconstruction plots below

# %% nbgrader={"grade": false, "grade_id": "score_test", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Your score of every test image (submitted below), by the function the autograder calls on its own images.
scores = score_images(test)
print(f"{len(scores)} test scores: min {np.min(scores):.4g}, median {np.median(scores):.4g}, "
      f"max {np.max(scores):.4g}")

# %% nbgrader={"grade": true, "grade_id": "test_combination", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Autograder test: the combined score uses both parts: it follows each of them, and is neither one alone. Graded on
# what score_images, ae_scores and clf_scores returned in the autograder's call on its own images.
assert isinstance(scores, np.ndarray) and scores.shape == ae_test_scores.shape, (
    f"score_images(test): expected {ae_test_scores.shape} scores, got {type(scores).__name__} {np.shape(scores)}")
### BEGIN HIDDEN TESTS
_combined = secret_probes.returned_scores("score_images")
assert secret_probes.auc(_combined) >= secret_probes.min_auc, (
    "your score_images does not separate the anomalies on the grading images")
_ranks = lambda a: np.argsort(np.argsort(a, kind="stable"), kind="stable")
for _name in ("ae_scores", "clf_scores"):
    _r = np.corrcoef(_ranks(_combined), _ranks(secret_probes.returned_scores(_name)))[0, 1]
    assert 0.1 < _r < 0.995, f"score_images vs {_name}: rank correlation {_r:.3f} (a sum of both parts lies between)"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_score_function", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Autograder test: score_images gives one finite score per image (here: the test set). Graded on the autograder's
# own images: its call of your score_images after your last cell returns one finite score per image, and they
# separate the anomalies (the bar of the next test).
assert isinstance(scores, np.ndarray), f"score_images must return a numpy array, got {type(scores).__name__}"
assert scores.shape == (len(test),), f"expected {len(test)} scores (one per test image), got shape {scores.shape}"
assert np.isfinite(scores).all(), "every score must be a finite number"
### BEGIN HIDDEN TESTS
_probe_scores = secret_probes.returned_scores("score_images")
secret_probes.check_ranking(_probe_scores)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_scores_separate", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Autograder test: higher = more anomalous. On the autograder's own images, the scores your score_images returns
# separate the anomalies from the normal faces: their ROC-AUC clears the bar the reference solution sets on the same
# images (the intro says how).
assert np.ptp(scores) > 0, "every test image got the same score: such scores separate nothing"
### BEGIN HIDDEN TESTS
secret_probes.check_ranking(secret_probes.returned_scores("score_images"))
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
# Autograder test: prediction.csv is in the course's format (ID,score; IDs 0..M-1) and holds these scores, which are
# your score_images': the file ranks the test images as the autograder's call of score_images does.
submitted = read_submission_scores(env.path("prediction.csv"), expected_rows=len(test))
assert np.allclose(submitted, scores, rtol=1e-6, atol=1e-9), "prediction.csv does not hold the scores above"
### BEGIN HIDDEN TESTS
assert env.path("prediction.csv").read_text(encoding="utf-8").splitlines()[0] == "ID,score"
_probe_scores = secret_probes.returned_scores("score_images")
secret_probes.check_ranking(_probe_scores)
_in_file = secret_probes.rows < len(submitted)
_ranks = lambda a: np.argsort(np.argsort(a))
# By rank, so that a model that samples (the VAE) agrees with itself.
_agree = np.corrcoef(_ranks(submitted[secret_probes.rows[_in_file]]), _ranks(_probe_scores[_in_file]))[0, 1]
assert _agree > 0.8, f"prediction.csv does not rank the test images as score_images does (rank correlation {_agree:.2f})"
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
