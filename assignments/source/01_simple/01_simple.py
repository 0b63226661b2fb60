# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # HW8 anomaly detection, part 1 of 5: the simple baseline (the sample code)
#
# Train an autoencoder on normal faces only; at test time, a face it cannot reconstruct well is
# probably not like the training faces. **Anomaly score = the reconstruction error of each image**
# (the L2 norm of `reconstruction - image`), higher = more anomalous.
#
# The sample code has three models behind one switch, `model_type` in the config cell: `'fcn'` (fully
# connected autoencoder), `'cnn'` (convolutional autoencoder) and `'vae'` (convolutional variational
# autoencoder). Try all three; keep the best for your submission. This notebook starts from `'cnn'`: the
# sample code ships with `'vae'`, whose loss lets the KL term win, so that it draws one blurry face for every
# input (look at its reconstructions; part 5 asks why).
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
# | the model learned faces | 2 |
# | its scores separate anomalies from faces | 1 |
# | prediction.csv (your model's scores) | 1 |
# | **total** | **4** |
#
# **How it is graded.** The autograder rebuilds your `model` from its weights (so it must be one of the sample
# models: `build_model('fcn' | 'cnn' | 'vae')`, as `build_and_fit` returns it) and scores grading images of its own
# with `anomaly_scores`: images your notebook never sees with their labels. The bars come from the reference
# solution on the same images: your model must reconstruct their normal faces about as well (a median error at most
# twice the reference's) and separate the anomalies (ROC-AUC at most 0.1 below the reference's, and at least 0.55).
# Whatever your notebook prints or writes, only what your trained model does on those images earns these points (the
# sample VAE as it ships, one blurry face for every input, does not pass).

# %%
# Config and seed (edit the config line). The environment decides the data folder and smoke mode.
# %matplotlib inline
import numpy as np
from starter_code import (TrainConfig, anomaly_scores, build_and_fit, build_model, fit, plot_images, plot_loss,
                          plot_reconstructions, plot_score_histogram, read_submission_scores, reconstruct,
                          seed_everything, write_submission)
from starter_code.notebook import NotebookEnv

env = NotebookEnv.from_environ()
cfg = env.train_config(model_type="cnn", epochs=50, batch_size=2000, lr=1e-3)  # the sample code; "fcn" / "cnn" / "vae"
seed_everything(cfg.seed)
print(env)
print(cfg)

# %% nbgrader={"grade": false, "grade_id": "data", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The data: uint8 (N, 64, 64, 3) training faces (all normal) and (M, 64, 64, 3) test images (row i = ID i).
train, test = env.load_train(), env.load_test()
print(f"train {train.shape} {train.dtype} | test {test.shape} {test.dtype}")
display(plot_images(train[:8], title="training faces (all normal)"))

# %% [markdown] nbgrader={"grade": false, "grade_id": "train_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1. Train the model and score the images
#
# Set `model` (the trained `torch.nn.Module`), `history` (its training history) and `scores`: one anomaly score
# per test image (a float numpy array, row order kept, higher = more anomalous). Two calls do it:
# `build_and_fit(train, cfg)` builds `cfg.model_type` and trains it with a progress bar; `anomaly_scores(model,
# test)` is the sample code's score, the reconstruction error of each image.

# %% nbgrader={"grade": false, "grade_id": "train", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
from solutions import simple
result = simple.run(train, test, smoke=env.smoke, model_type=cfg.model_type)
model, history, scores = result.model, result.history, result.scores
### END SOLUTION
display(plot_loss(history, path=env.path("loss.png")))

# %% nbgrader={"grade": true, "grade_id": "test_model_learned", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Autograder test: `model` is a trained sample model and `scores` holds one finite score per test image. Graded on
# the autograder's own images: the model, rebuilt from its weights, reconstructs their normal faces about as well
# as the reference solution (an untrained network's error is three to four times the reference's).
assert type(model).__name__ in ("FCNAutoencoder", "ConvAutoencoder", "VAE"), (
    f"model must be one of the sample models (build_model('fcn' | 'cnn' | 'vae')), got {type(model).__name__}")
assert isinstance(scores, np.ndarray) and scores.shape == (len(test),), (
    f"scores: expected a numpy array of {len(test)} scores (one per test image), got {type(scores).__name__} "
    f"{getattr(scores, 'shape', '')}")
assert np.isfinite(scores).all(), "every score must be a finite number"
### BEGIN HIDDEN TESTS
_face_error = secret_probes.face_error(anomaly_scores(model, secret_probes.images))
assert _face_error <= secret_probes.max_face_error, (
    f"on the grading faces your model's median reconstruction error is {_face_error:.1f}, more than twice the "
    f"reference solution's ({secret_probes.reference_face_error:.1f}): is it trained?")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_model_separates", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Autograder test: on the autograder's own images, the model's scores (higher = more anomalous) separate the
# anomalies from the normal faces: ROC-AUC at most 0.1 below the reference solution's, and at least 0.55.
print(f"{len(scores)} test scores: min {np.min(scores):.4g}, median {np.median(scores):.4g}, "
      f"max {np.max(scores):.4g}")
assert np.ptp(scores) > 0, "every test image got the same score: such scores separate nothing"
### BEGIN HIDDEN TESTS
_probe_scores = anomaly_scores(model, secret_probes.images)
assert secret_probes.face_error(_probe_scores) <= secret_probes.max_face_error, "the model has not learned faces"
_auc = secret_probes.auc(_probe_scores)
assert _auc >= secret_probes.min_auc, (
    f"on the grading images your model's ROC-AUC is {_auc:.3f}, below the bar {secret_probes.min_auc:.3f} "
    f"(the reference solution's {secret_probes.reference_auc:.3f} less a margin)")
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
# Autograder test: prediction.csv is in the course's format (ID,score; IDs 0..M-1) and holds these scores, which
# are your model's: the autograder's rebuilt model ranks the test images as the file does.
submitted = read_submission_scores(env.path("prediction.csv"), expected_rows=len(test))
assert np.allclose(submitted, scores, rtol=1e-6, atol=1e-9), "prediction.csv does not hold the scores above"
### BEGIN HIDDEN TESTS
assert env.path("prediction.csv").read_text(encoding="utf-8").splitlines()[0] == "ID,score"
_probe_scores = anomaly_scores(model, secret_probes.images)
assert secret_probes.face_error(_probe_scores) <= secret_probes.max_face_error, "the model has not learned faces"
_in_file = secret_probes.rows < len(submitted)
_ranks = lambda a: np.argsort(np.argsort(a))
# By rank, so that a model that samples (the VAE) agrees with itself.
_agree = np.corrcoef(_ranks(submitted[secret_probes.rows[_in_file]]), _ranks(_probe_scores[_in_file]))[0, 1]
assert _agree > 0.8, f"prediction.csv does not rank the test images as your model does (rank correlation {_agree:.2f})"
### END HIDDEN TESTS
