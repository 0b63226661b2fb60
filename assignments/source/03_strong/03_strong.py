# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # HW8 anomaly detection, part 3 of 5: the strong baseline (a multi-encoder autoencoder)
#
# One encoder sees a face one way. Give the autoencoder **several encoders** that look at the same
# image differently, e.g. a fully connected one (the global layout), a convolutional one with small
# kernels (local texture) and one with a wider receptive field (dilated or larger kernels); combine their
# codes (concatenate and fuse with a linear layer, or average) into the one latent that a single decoder
# reconstructs from. A ResNet-style encoder is a fair variant; so is an ensemble of encoders.
#
# **Contract for the tests:** keep the encoders in `model.encoders` (an `nn.ModuleList` or
# `nn.ModuleDict` with at least two), each mapping a batch `(B, 3, 64, 64)` to a code with batch size `B`; define
# `score_images(images)` (your model's anomaly scores) and `encoder_codes(images)` (each encoder's codes), below.
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
# | `score_images`: one finite score per image | 1 |
# | its scores separate anomalies from faces | 2 |
# | at least two encoders | 2 |
# | prediction.csv (your `score_images`' scores) | 1 |
# | your encoders and what each adds (written) | 2 |
# | **total** | **8** |
#
# **How it is graded.** Define `score_images(images)`: uint8 images `(P, 64, 64, 3)` in, a numpy array of `P`
# finite anomaly scores out (higher = more anomalous), your trained model's, for any number of images in any order;
# and `encoder_codes(images)`: the same images in, a list with one numpy array per encoder of your model, each with
# one row per image (its codes of them). After your last cell the autograder writes grading images of its own
# (images your notebook never sees with their labels, in an order it does not know) where your notebook's kernel
# can read them, calls your `score_images` and `encoder_codes` on them there, and judges only the numbers they
# return: the scores' ROC-AUC must be at most 0.05 below that of the reference solution's model scored by the sample
# code's reconstruction error (`anomaly_scores`) on the same images, and at least 0.55, both over all the images and
# counted only between images alike in brightness, contrast, colour and distance to the average face (where those
# pixel statistics alone rank at chance); the codes must come from at least two different encoders. Every test of
# this notebook needs the scores to pass; whatever else your notebook prints, writes or sets earns no point on its
# own. That the encoders are your model's, feeding one decoder, is read by hand with your answer to question 3.

# %%
# Config and seed (edit the config line). The environment decides the data folder and smoke mode.
# %matplotlib inline
import numpy as np
from starter_code import (TrainConfig, anomaly_scores, build_and_fit, build_model, fit, plot_images, plot_loss,
                          plot_reconstructions, plot_score_histogram, read_submission_scores, reconstruct,
                          seed_everything, write_submission)
import torch
from torch import nn
from starter_code.notebook import NotebookEnv

env = NotebookEnv.from_environ()
cfg = env.train_config(epochs=30, batch_size=256, lr=1e-3)  # your training settings
seed_everything(cfg.seed)
print(env)
print(cfg)

# %% nbgrader={"grade": false, "grade_id": "data", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The data: uint8 (N, 64, 64, 3) training faces (all normal) and (M, 64, 64, 3) test images (row i = ID i).
train, test = env.load_train(), env.load_test()
print(f"train {train.shape} {train.dtype} | test {test.shape} {test.dtype}")
display(plot_images(train[:8], title="training faces (all normal)"))

# %% [markdown] nbgrader={"grade": false, "grade_id": "train_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1. The multi-encoder autoencoder
#
# Define the model (an `nn.Module` with `encoders`, a way to combine their codes, one decoder; input and
# output `(B, 3, 64, 64)` in [-1, 1]), train it on `train` (e.g. `fit(model, train, cfg)`), and set `model` and
# `history`. Then define `score_images(images)`: uint8 `(P, 64, 64, 3)` -> one float score per image, a numpy array
# `(P,)`, higher = more anomalous (e.g. `anomaly_scores(model, images)`), and `encoder_codes(images)`: a list with
# one numpy array per encoder, its codes of the images (`(P, ...)`: e.g. `[enc(x).numpy() for enc in
# model.encoders]` with `x = to_model_input(images)` from `starter_code.data`, under `torch.no_grad()`). The
# autograder calls both on its own images after your last cell, so they must work on any images.

# %% nbgrader={"grade": false, "grade_id": "train", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
from solutions import strong
from starter_code.data import to_model_input
result = strong.run(train, test, smoke=env.smoke)
model, history = result.model, result.history


def score_images(images):
    # The strong stage's own score (its docstring): a Gaussian on the cell-averaged reconstruction residual of
    # training faces, fitted once in strong.run.
    return result.score_images(images)


def encoder_codes(images):
    with torch.no_grad():
        x = to_model_input(np.ascontiguousarray(images), next(model.parameters()).device)
        return [code.cpu().numpy() for code in model.codes(x).values()]
### END SOLUTION
print(model)
display(plot_loss(history, path=env.path("loss.png")))

# %% nbgrader={"grade": false, "grade_id": "score_test", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Your score of every test image (submitted below), by the function the autograder calls on its own images.
scores = score_images(test)
print(f"{len(scores)} test scores: min {np.min(scores):.4g}, median {np.median(scores):.4g}, "
      f"max {np.max(scores):.4g}")

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

# %% nbgrader={"grade": false, "grade_id": "encoders_check", "locked": true, "schema_version": 3, "solution": false, "task": false}
# A look at your encoders (and a check of your own: the autograder calls encoder_codes on its own images): each
# encoder's codes of three training faces.
codes_of_three = encoder_codes(train[:3])
for _k, _code in enumerate(codes_of_three):
    print(f"encoder {_k}: codes of shape {np.shape(_code)}")

# %% nbgrader={"grade": true, "grade_id": "test_encoders", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Autograder test: a multi-encoder model: encoder_codes gives the codes of at least two encoders, one row per image.
assert isinstance(codes_of_three, (list, tuple)) and len(codes_of_three) >= 2, (
    "encoder_codes must return a list with one array per encoder, at least two")
assert all(np.shape(_code)[:1] == (3,) for _code in codes_of_three), "each encoder's codes: one row per image"
### BEGIN HIDDEN TESTS
# Graded on the autograder's own images: what your encoder_codes returned there, and scores that pass the bar.
_codes = secret_probes.returned("encoder_codes")
assert isinstance(_codes, list) and len(_codes) >= 2, "encoder_codes must return the codes of at least two encoders"
for _k, _code in enumerate(_codes):
    assert _code.ndim >= 2 and _code.shape[0] == len(secret_probes) and _code[0].size > 0, (
        f"encoder {_k}: expected one code per image ({len(secret_probes)} rows), got shape {_code.shape}")
    assert np.isfinite(_code).all(), f"encoder {_k}: codes with NaN or infinite values"
    assert _code.reshape(len(_code), -1).std(axis=0).max() > 1e-6, f"encoder {_k} gives every image the same code"
_flat = [_code.reshape(len(_code), -1) for _code in _codes]
assert any(a.shape != b.shape or not np.allclose(a, b) for a in _flat for b in _flat), (
    "every encoder gives the same codes: a multi-encoder model's encoders see the image differently")
secret_probes.check_ranking(secret_probes.returned_scores("score_images"))
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "submit_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2. Submission

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

# %% [markdown] nbgrader={"grade": false, "grade_id": "encoders_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3. Your encoders (2 points, graded by hand)
#
# Describe your encoders and how their codes are combined, and what the combination gained over your
# best single-encoder model (public score or loss).

# %% [markdown] nbgrader={"grade": true, "grade_id": "encoders", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Rubric** (for graders; in the release nbgrader replaces this whole cell with *YOUR ANSWER HERE*):
# 2 = encoders and the combination described, with a measured comparison against a single
# encoder and a reason; 1 = described without a comparison; 0 = missing.
#
# **Reference answer** (the model in `solutions/strong.py`; measured AUCs in docs/results.md's ladder table): three
# encoders, fully connected (global layout), convolutional with small kernels (local texture) and
# convolutional with dilated kernels (a wider receptive field at the same cost); their codes are
# concatenated and fused by a linear layer into one latent for a single decoder. The comparison to make is
# against the best single-encoder model (the medium stage): the convolutional codes can describe local
# detail that a fully connected code blurs, so normal faces may be reconstructed more sharply while
# anomalies still are not. A good answer says whether that happened, with numbers.
