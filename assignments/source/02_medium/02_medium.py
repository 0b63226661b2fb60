# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # HW8 anomaly detection, part 2 of 5: the medium baseline (adjust the model)
#
# The sample code's models are small and trained with fixed settings. Change them until you clear the
# medium baseline. Things worth trying, one at a time (keep notes of what each change did):
#
# - **structure**: depth and width of the layers, the latent size (the sample fcn squeezes a face into 3
#   numbers), fully connected vs convolutional encoder/decoder;
# - **training**: the loss (MSE vs L1), the learning rate and its schedule (`TrainConfig(schedule="cosine",
#   warmup_steps=...)`), epochs, batch size (smaller batches = more steps per epoch);
# - **the score function**: the whole-image error averages a small anomaly away; the error of the worst
#   local patch does not (`anomaly_scores(model, images, score_fn=...)` takes any function of the squared
#   error).
#
# `build_model("fcn", hidden=(...), latent_dim=...)` and `build_model("cnn", channels=(...))` change the
# sample models' sizes; for anything else write your own `torch.nn.Module` (input and output
# `(B, 3, 64, 64)` in [-1, 1]; give it a `loss(x)` method, or pass `loss_fn=`, to change the loss) and train
# it with `fit(model, train, cfg)`.
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
# | prediction.csv (your `score_images`' scores) | 1 |
# | what you changed and why (written) | 2 |
# | **total** | **6** |
#
# **How it is graded.** Define `score_images(images)`: uint8 images `(P, 64, 64, 3)` in, a numpy array of `P` finite
# anomaly scores out (higher = more anomalous), your trained model's, for any number of images in any order. After your
# last cell the autograder writes grading images of its own (images your notebook never sees with their labels, in an
# order it does not know) where your notebook's kernel can read them, calls your `score_images` on them there, and
# judges only the numbers it returns: their ROC-AUC must be at most 0.05 below the reference solution's on the same
# images, and at least 0.55, both over all the images and counted only between images alike in brightness, contrast,
# colour and distance to the average face (where those pixel statistics alone rank at chance). Every test of this
# notebook needs that; whatever else your notebook prints, writes or sets earns no point on its own.

# %%
# Config and seed (edit the config line). The environment decides the data folder and smoke mode.
# %matplotlib inline
import numpy as np
from starter_code import (TrainConfig, anomaly_scores, build_and_fit, build_model, fit, plot_images, plot_loss,
                          plot_reconstructions, plot_score_histogram, read_submission_scores, reconstruct,
                          seed_everything, write_submission)
from starter_code.notebook import NotebookEnv

env = NotebookEnv.from_environ()
cfg = env.train_config(model_type="fcn", epochs=50, batch_size=2000, lr=1e-3,
                       model_kwargs={"hidden": (128, 64, 12), "latent_dim": 3})  # the sample fcn: change it
seed_everything(cfg.seed)
print(env)
print(cfg)

# %% nbgrader={"grade": false, "grade_id": "data", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The data: uint8 (N, 64, 64, 3) training faces (all normal) and (M, 64, 64, 3) test images (row i = ID i).
train, test = env.load_train(), env.load_test()
print(f"train {train.shape} {train.dtype} | test {test.shape} {test.dtype}")
display(plot_images(train[:8], title="training faces (all normal)"))

# %% [markdown] nbgrader={"grade": false, "grade_id": "train_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1. Your model, its training and your score
#
# Set `model` (trained) and `history`, and define `score_images(images)`: uint8 `(P, 64, 64, 3)` -> one float
# score per image, a numpy array `(P,)`, higher = more anomalous. Start from the sample fcn in the config cell and
# change it. `anomaly_scores(model, images)` is the sample code's score (whole-image L2 error); keep it or write a
# better one. The autograder calls `score_images` on its own images after your last cell, so it must work on any
# images, not only on `test`.

# %% nbgrader={"grade": false, "grade_id": "train", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
from solutions import medium
from solutions.stages import reconstruction_scores
result = medium.run(train, test, smoke=env.smoke)
model, history = result.model, result.history


def score_images(images):
    return reconstruction_scores(model, images, score=result.config.score, patch=result.config.patch)
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

# %% [markdown] nbgrader={"grade": false, "grade_id": "changes_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3. What did you change? (2 points, graded by hand)
#
# List the changes you made to the sample code and, for each, its effect on your public score (or on
# the training loss) and why you think it helped or did not.

# %% [markdown] nbgrader={"grade": true, "grade_id": "changes", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Rubric** (for graders; in the release nbgrader replaces this whole cell with *YOUR ANSWER HERE*):
# 2 = at least two concrete changes, each with its measured effect and a plausible reason;
# 1 = changes listed without effects or reasons; 0 = missing.
#
# **Reference answer** (the changes in `solutions/medium.py`; the measured AUCs are in docs/results.md's ladder
# table): a wider and deeper fully connected autoencoder with a larger latent code (the sample fcn squeezes
# a face into 3 numbers, so even normal faces come back as blurry averages and the error separates
# little); a cosine learning-rate schedule and smaller batches (many more optimiser steps per epoch), which
# lower the training loss; and a score that adds the worst local patch's error to the whole-image error,
# because a local anomaly (a mask, face paint) changes few pixels and is averaged away in the whole-image
# L2. A good answer reports the effect of each change it made, measured, not assumed.
