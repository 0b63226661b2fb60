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
# `nn.ModuleDict` with at least two), each mapping a batch `(B, 3, 64, 64)` to a code with batch size `B`.
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
# | at least two encoders | 2 |
# | prediction.csv | 1 |
# | your encoders and what each adds (written) | 2 |
# | **total** | **8** |

# %%
# Config and seed (edit the config line). The environment decides the data folder and smoke mode.
# %matplotlib inline
import numpy as np
from starter_code import (TrainConfig, anomaly_scores, build_and_fit, build_model, fit, plot_images, plot_loss,
                          plot_reconstructions, plot_score_histogram, read_submission_scores, reconstruct,
                          seed_everything, write_submission)
import torch
from torch import nn
from starter_code.notebook import PROBE_KINDS, NotebookEnv, make_probes

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

# %% nbgrader={"grade": false, "grade_id": "probes", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Known images for the autograder, scored together with the test set: training faces, random noise,
# colour-inverted faces and copies of a few test rows. Score every row of images_to_score, in order; only the
# first len(test) scores go into the submission.
probes = make_probes(train, test)
images_to_score = np.concatenate([test, probes.images])
print(f"images_to_score: {len(test)} test images, then {len(probes)} probes ({', '.join(PROBE_KINDS)})")

# %% [markdown] nbgrader={"grade": false, "grade_id": "train_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1. The multi-encoder autoencoder
#
# Define the model (an `nn.Module` with `encoders`, a way to combine their codes, one decoder; input and
# output `(B, 3, 64, 64)` in [-1, 1]), train it on `train` (e.g. `fit(model, train, cfg)`), and set
# `model`, `history` and `scores_all` (one score per row of `images_to_score`, row order kept, higher =
# more anomalous; e.g. `anomaly_scores(model, images_to_score)`).

# %% nbgrader={"grade": false, "grade_id": "train", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
from solutions import strong
result = strong.run(train, images_to_score, smoke=env.smoke)
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

# %% nbgrader={"grade": false, "grade_id": "encoders_check", "locked": true, "schema_version": 3, "solution": false, "task": false}
# What the test below checks about the model, computed here: the tests run in a separate process that gets your
# notebook's results as data (arrays, numbers, files), not its objects. Per encoder of `model.encoders`: its
# parameter count and its code for three training faces.
_encoders = getattr(model, "encoders", None)
encoders_check = {"container": ("ModuleList" if isinstance(_encoders, nn.ModuleList) else
                                "ModuleDict" if isinstance(_encoders, nn.ModuleDict) else type(_encoders).__name__),
                  "count": len(_encoders) if isinstance(_encoders, (nn.ModuleList, nn.ModuleDict)) else 0,
                  "codes": []}
if encoders_check["count"]:
    from starter_code.data import to_model_input
    _x = to_model_input(np.ascontiguousarray(train[:3]), next(model.parameters()).device)
    _was = model.training
    model.eval()
    with torch.no_grad():
        for _enc in (_encoders.values() if isinstance(_encoders, nn.ModuleDict) else _encoders):
            _code = _enc(_x)
            _code = _code[0] if isinstance(_code, (tuple, list)) else _code
            encoders_check["codes"].append({"shape": list(_code.shape), "finite": bool(torch.isfinite(_code).all()),
                                            "parameters": sum(p.numel() for p in _enc.parameters())})
    model.train(_was)

# %% nbgrader={"grade": true, "grade_id": "test_encoders", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Autograder test: a multi-encoder model keeps at least two encoders in `model.encoders`.
assert encoders_check["container"] in ("ModuleList", "ModuleDict"), (
    "keep the encoders in model.encoders (an nn.ModuleList or nn.ModuleDict)")
assert encoders_check["count"] >= 2, (
    f"a multi-encoder autoencoder needs at least two encoders, found {encoders_check['count']}")
### BEGIN HIDDEN TESTS
assert len(encoders_check["codes"]) == encoders_check["count"], "an encoder failed on three training faces"
for _code in encoders_check["codes"]:
    assert _code["shape"][0] == 3 and _code["finite"], "an encoder gave no per-image code"
    assert _code["parameters"] > 0, "an encoder without parameters"
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
