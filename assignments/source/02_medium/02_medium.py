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
# | scores: shape and order | 1 |
# | scores: direction (noise > faces) | 2 |
# | prediction.csv | 1 |
# | what you changed and why (written) | 2 |
# | **total** | **6** |

# %%
# Config and seed (edit the config line). The environment decides the data folder and smoke mode.
# %matplotlib inline
import numpy as np
from starter_code import (TrainConfig, anomaly_scores, build_and_fit, build_model, fit, plot_images, plot_loss,
                          plot_reconstructions, plot_score_histogram, read_submission_scores, reconstruct,
                          seed_everything, write_submission)
from starter_code.notebook import PROBE_KINDS, NotebookEnv, make_probes

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

# %% nbgrader={"grade": false, "grade_id": "probes", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Known images for the autograder, scored together with the test set: training faces, random noise,
# colour-inverted faces and copies of a few test rows. Score every row of images_to_score, in order; only the
# first len(test) scores go into the submission.
probes = make_probes(train, test)
images_to_score = np.concatenate([test, probes.images])
print(f"images_to_score: {len(test)} test images, then {len(probes)} probes ({', '.join(PROBE_KINDS)})")

# %% [markdown] nbgrader={"grade": false, "grade_id": "train_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1. Your model, its training and your score
#
# Set `model` (trained), `history` and `scores_all` (one score per row of `images_to_score`, row order
# kept, higher = more anomalous). Start from the sample fcn in the config cell and change it.
# `anomaly_scores(model, images)` is the sample code's score (whole-image L2 error); keep it or write a
# better one.

# %% nbgrader={"grade": false, "grade_id": "train", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
from solutions import medium
result = medium.run(train, images_to_score, smoke=env.smoke)
model, history, scores_all = result.model, result.history, result.scores
### END SOLUTION
print(model)
display(plot_loss(history, path=env.path("loss.png")))

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
# ## 2. Submission

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
