# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # HW8 anomaly detection, part 5 of 5: the report
#
# Two questions. **Q1** (written): the variational autoencoder. **Q2** (code and written): train a
# fully connected autoencoder, change at least two elements of its latent code and look at what the
# decoder makes of them. Figures are shown here and saved as PNG files next to the notebook.
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
# | Q1a VAE introduction (written) | 2 |
# | Q1b one advantage over a vanilla AE (written) | 1 |
# | Q1c one problem of the VAE (written) | 1 |
# | Q2 latent adjustments (code) | 2 |
# | Q2 figure and architecture (code) | 1 |
# | Q2 a latent edit the autograder chooses (code) | 2 |
# | Q2 the differences (written) | 2 |
# | **total** | **11** |
#
# **How Q2's code is graded.** The autograder rebuilds your `model` from its weights (so it must be the sample fcn,
# `build_model('fcn')`, as `build_and_fit` returns it) and checks it on grading images of its own: it must
# reconstruct their normal faces about as well as the reference solution's fcn (a median error at most 1.5 times
# the reference's), and each image set in `adjusted` must be what that model decodes from the faces' codes with
# your change; the figure point needs those adjustments too. Then your `edit_latent(images, index, factor)`: after
# your last cell the autograder calls it, in your notebook's kernel, on some of its grading images with an element
# and a factor it chooses then, and what it returns must be what the rebuilt model decodes from those images' codes
# with that element of every code multiplied by that factor. Whatever your notebook prints or writes, only what
# your trained model and your `edit_latent` do earns these points.

# %% [markdown] nbgrader={"grade": false, "grade_id": "q1a_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Q1a. A brief introduction to the variational autoencoder (2 points)

# %% [markdown] nbgrader={"grade": true, "grade_id": "q1a", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Rubric** (for graders; in the release nbgrader replaces this whole cell with *YOUR ANSWER HERE*):
# 2 = the encoder outputs a distribution (mean and variance) rather than a point, the latent is
# sampled from it with the reparameterisation trick, and the loss is reconstruction error plus the KL
# divergence to a prior (a standard normal); 1 = two of these; 0 = fewer.
#
# **Reference answer.** A VAE is an autoencoder whose encoder outputs the parameters of a distribution over the latent code,
# a mean and a (log-)variance per dimension, instead of one point. A code is sampled as
# z = mu + sigma * eps with eps ~ N(0, I) (the reparameterisation trick, so gradients flow through the
# sampling), and the decoder reconstructs the input from z. The loss is the reconstruction error plus
# the KL divergence between the encoder's distribution and a prior N(0, I); together they are the
# negative evidence lower bound (ELBO) of the data's likelihood.

# %% [markdown] nbgrader={"grade": false, "grade_id": "q1b_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Q1b. One advantage over a vanilla autoencoder (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "q1b", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# **Rubric** (for graders; in the release nbgrader replaces this whole cell with *YOUR ANSWER HERE*):
# 1 = a correct advantage with its reason (e.g. a smooth, continuous latent space from which new
# samples can be generated, because the KL term packs the codes around the prior); 0 = otherwise.
#
# **Reference answer.** The latent space is regular: the KL term keeps codes close to N(0, I) and the sampling noise makes
# nearby codes decode to similar images, so the space is smooth and has no holes. One can sample
# z ~ N(0, I) and decode new, plausible faces, or interpolate between faces, which a vanilla autoencoder's
# scattered codes do not allow.

# %% [markdown] nbgrader={"grade": false, "grade_id": "q1c_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Q1c. One problem of the VAE (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "q1c", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# **Rubric** (for graders; in the release nbgrader replaces this whole cell with *YOUR ANSWER HERE*):
# 1 = a correct problem with its reason (e.g. blurry reconstructions from the pixel-wise
# Gaussian likelihood averaging over possible outputs; posterior collapse where the decoder ignores z;
# the balance between the KL and reconstruction terms); 0 = otherwise.
#
# **Reference answer.** Its reconstructions and samples are blurry: the pixel-wise squared error (a Gaussian likelihood)
# rewards the average of all plausible outputs, and the noise in z makes the decoder hedge. The KL term
# also competes with reconstruction: weighted too strongly (as in the course's sample loss, where the
# summed KL dominates the mean MSE) the codes carry little information (posterior collapse).

# %%
# Config and seed (edit the config line). The environment decides the data folder and smoke mode.
# %matplotlib inline
import numpy as np
from starter_code import (TrainConfig, anomaly_scores, build_and_fit, build_model, fit, plot_images, plot_loss,
                          plot_reconstructions, plot_score_histogram, read_submission_scores, reconstruct,
                          seed_everything, write_submission)
from starter_code.notebook import NotebookEnv

env = NotebookEnv.from_environ()
cfg = env.train_config(model_type="fcn", epochs=20, batch_size=2000, lr=1e-3)  # the sample fcn autoencoder
seed_everything(cfg.seed)
print(env)
print(cfg)

# %% nbgrader={"grade": false, "grade_id": "data", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The data: uint8 (N, 64, 64, 3) training faces (all normal) and (M, 64, 64, 3) test images (row i = ID i).
train, test = env.load_train(), env.load_test()
print(f"train {train.shape} {train.dtype} | test {test.shape} {test.dtype}")
display(plot_images(train[:8], title="training faces (all normal)"))

# %% [markdown] nbgrader={"grade": false, "grade_id": "q2_train_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Q2. Adjusting the latent code of a fully connected autoencoder
#
# **Step 1.** Train a fully connected autoencoder (the sample fcn: `build_and_fit(train, cfg)`) and set
# `model` and `history`; set `ARCHITECTURE` to a printable description of its layers (e.g. `str(model)`).

# %% nbgrader={"grade": false, "grade_id": "q2_train", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
from solutions import report
model, history = report.train_fcn_autoencoder(train, smoke=env.smoke)
ARCHITECTURE = report.architecture_text(model)
### END SOLUTION
print(ARCHITECTURE)
display(plot_loss(history, path=env.path("loss.png")))

# %% [markdown] nbgrader={"grade": false, "grade_id": "q2_adjust_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Step 2.** With the *same* trained model, encode a few training faces, change at least two different
# elements of the latent code, decode, and plot: the original, the plain reconstruction (decode(encode(x))
# unchanged) and one reconstruction per change.
#
# `model.encode(x)` takes a batch `x` `(n, 3, 64, 64)` and returns `z` of shape `(n, latent)`: **one row per
# face**, one column per latent element. So element `i` of every face's code is the column `z[:, i]`, and
# the slides' "`z[0] = 2 * z[0]`" means, for a batch, `z[:, 0] = 2 * z[:, 0]` (change one element of every
# code). `z[0] = 2 * z[0]` on the batch would double the *whole code of face 0* and leave the other faces
# alone; the test below catches that. Change a copy of `z` (`.clone()`), one change at a time, then
# decode the copy; `to_model_input(faces)` / `from_model_output(...)` (in `starter_code.data`)
# convert between uint8 images and tensors in [-1, 1], and `torch.no_grad()` keeps autograd out of it.
#
# Set `CHANGES` (which elements you changed and how, e.g. `{0: 2.0, 1: -1.0}` for `z[:, 0] = 2 * z[:, 0]`
# and `z[:, 1] = -z[:, 1]`) and `adjusted`: a dict whose first two entries are `"original"` and
# `"reconstruction"`, then one entry per change (named after it, e.g. `"z[:, 0] = 2 * z[:, 0]"`), each a
# uint8 array `(n, 64, 64, 3)`. Plot them (one row per face, one column per entry, titled; e.g.
# `fig, axes = plt.subplots(len(faces), len(adjusted))` after `import matplotlib.pyplot as plt`, then
# `axes[row, col].imshow(images[row])` and `axes[0, col].set_title(name)`), save the figure as
# `latent_adjustments.png` (`fig.savefig(env.path("latent_adjustments.png"))`) and set `figure` to it.

# %% nbgrader={"grade": false, "grade_id": "q2_adjust", "locked": false, "schema_version": 3, "solution": true, "task": false}
faces = np.array(train[:4])
### BEGIN SOLUTION
import torch
from starter_code.data import from_model_output, to_model_input
CHANGES = {0: 2.0, 1: -1.0, 2: 0.0}  # z[:, 0] = 2 * z[:, 0]; z[:, 1] = -z[:, 1]; z[:, 2] = 0
model.eval()
with torch.no_grad():
    z = model.encode(to_model_input(faces, next(model.parameters()).device))  # (n, latent): a row per face
    adjusted = {"original": faces, "reconstruction": from_model_output(model.decode(z))}
    for i, factor in CHANGES.items():
        z_changed = z.clone()
        z_changed[:, i] = factor * z[:, i]  # element i of every face's code
        adjusted[f"z[:, {i}] = {factor:g} * z[:, {i}]"] = from_model_output(model.decode(z_changed))
figure = report.plot_latent_adjustments(adjusted, path=env.path("latent_adjustments.png"))
### END SOLUTION
display(figure)

# %% nbgrader={"grade": true, "grade_id": "test_latent_adjustments", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Autograder test: at least two latent elements changed; original, reconstruction and one image set per change,
# each change made to every face's code.
assert isinstance(adjusted, dict), f"adjusted must be a dict, got {type(adjusted).__name__}"
names = list(adjusted)
assert names[:2] == ["original", "reconstruction"], f"the first two entries must be original, reconstruction; got {names[:2]}"
assert len(CHANGES) >= 2 and len(names) >= 4, "change at least two different latent elements"
for _name, _images in adjusted.items():
    assert isinstance(_images, np.ndarray) and _images.dtype == np.uint8 and _images.shape == faces.shape, (
        f"adjusted[{_name!r}] must be uint8 {faces.shape}, got {getattr(_images, 'dtype', None)} {np.shape(_images)}")
assert np.array_equal(adjusted["original"], faces), "adjusted['original'] must be the faces themselves"
# A latent element belongs to every face's code, so changing it (z[:, i]) changes the faces; z[i], face i's whole
# code, would change face i alone. (A face whose decoding does not depend on that element may stay as it was.)
for _name in names[2:]:
    _moved = np.abs(adjusted[_name].astype(int) - adjusted["reconstruction"].astype(int)).max(axis=(1, 2, 3))
    assert (_moved > 2).sum() >= 2, (
        f"{_name!r} changed only face(s) {np.flatnonzero(_moved > 2).tolist()} of {len(faces)}: z[i] is face i's "
        f"whole code; change element i of every face's code with z[:, i]")
### BEGIN HIDDEN TESTS
# Judged on the model itself, rebuilt from its weights: it learned faces (the autograder's secret grading faces),
# the reconstruction is its decode(encode(x)) and each change its decode of the codes with z[:, i] scaled (within
# rounding), and every change moves the image by more than rounding noise (a few grey levels per pixel on average).
import torch
from starter_code.data import from_model_output, to_model_input
assert type(model).__name__ == "FCNAutoencoder", f"model must be the sample fcn, got {type(model).__name__}"
_face_error = secret_probes.face_error(anomaly_scores(model, secret_probes.images))
assert _face_error <= secret_probes.max_face_error, (
    f"on the grading faces your model's median reconstruction error is {_face_error:.1f}, more than 1.5 times "
    f"the reference solution's ({secret_probes.reference_face_error:.1f}): is it trained?")
with torch.no_grad():
    _z = model.encode(to_model_input(adjusted["original"]))
    _decoded = [from_model_output(model.decode(_z))]
    for _i, _factor in CHANGES.items():
        _changed = _z.clone()
        _changed[:, int(_i)] = float(_factor) * _z[:, int(_i)]
        _decoded.append(from_model_output(model.decode(_changed)))
assert len(names) == 2 + len(CHANGES), "adjusted needs one entry per change in CHANGES, in the same order"
for _name, _want in zip(names[1:], _decoded, strict=True):
    assert np.abs(adjusted[_name].astype(int) - _want.astype(int)).max() <= 2, (
        f"{_name!r} is not what your model decodes from the faces' codes with that change")
for _name in names[2:]:
    _diff = np.abs(adjusted[_name].astype(int) - adjusted["reconstruction"].astype(int)).mean()
    assert _diff > 1.0, f"{_name!r} barely differs from the plain reconstruction (mean {_diff:.2f} grey levels)"
_adjustments_are_the_models = True
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_figure_architecture", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Autograder test: the figure is saved as a PNG and the architecture is shown.
_png = env.path("latent_adjustments.png")
assert _png.is_file() and _png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{_png} is not a saved PNG figure"
assert isinstance(ARCHITECTURE, str) and "Linear" in ARCHITECTURE, "ARCHITECTURE should list the model's layers"
### BEGIN HIDDEN TESTS
import matplotlib.image
_pixels = matplotlib.image.imread(_png)
_height, _width = _pixels.shape[:2]
assert _width >= 4 * 64 and _height >= 64, f"a {_width}x{_height} figure cannot show four faces side by side"
assert _pixels[..., :3].std() > 0.05, "the saved figure is (almost) blank"
# The figure shows the adjustments the test above judged (set there, in this kernel, only when they passed).
assert _adjustments_are_the_models, "the latent adjustments shown are not the trained model's"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "q2_edit_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Step 3.** Write the change of step 2 as a function of any element and factor: `edit_latent(images, index,
# factor)` takes uint8 faces `(n, 64, 64, 3)`, an element `index` (0, 1 or 2: the sample fcn's code has 3) and a
# `factor`, and returns uint8 `(n, 64, 64, 3)`: what your trained `model` decodes from the faces' codes with element
# `index` of every code multiplied by `factor` (the column `z[:, index]`, as in step 2). After your last cell the
# autograder calls it on images, an element and a factor of its own choosing.

# %% nbgrader={"grade": false, "grade_id": "q2_edit", "locked": false, "schema_version": 3, "solution": true, "task": false}
def edit_latent(images, index, factor):
    """uint8 faces (n, 64, 64, 3) -> uint8 (n, 64, 64, 3): model.decode of their codes with z[:, index] scaled."""
    ### BEGIN SOLUTION
    import torch
    from starter_code.data import from_model_output, to_model_input
    model.eval()
    with torch.no_grad():
        z = model.encode(to_model_input(np.ascontiguousarray(images), next(model.parameters()).device))
        z[:, index] = factor * z[:, index]
        return from_model_output(model.decode(z))
    ### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "q2_edit_check", "locked": true, "schema_version": 3, "solution": false, "task": false}
# A check of your own (the autograder calls edit_latent with images, an element and a factor of its own):
# element 0 of the four faces' codes doubled.
edit_check = edit_latent(faces, 0, 2.0)

# %% nbgrader={"grade": true, "grade_id": "test_edit_latent", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Autograder test: edit_latent returns one uint8 face per face. Graded on the autograder's call after your last
# cell, with its own images, element and factor: what edit_latent returned is what your model, rebuilt from its
# weights (and trained: it reconstructs the grading faces), decodes from the images' codes with that element of
# every code scaled by that factor.
assert isinstance(edit_check, np.ndarray) and edit_check.dtype == np.uint8 and edit_check.shape == faces.shape, (
    f"edit_latent(faces, 0, 2.0) must be uint8 {faces.shape}, got {getattr(edit_check, 'dtype', None)} "
    f"{np.shape(edit_check)}")
### BEGIN HIDDEN TESTS
import torch
from starter_code.data import from_model_output, to_model_input
assert type(model).__name__ == "FCNAutoencoder", f"model must be the sample fcn, got {type(model).__name__}"
assert secret_probes.face_error(anomaly_scores(model, secret_probes.images)) <= secret_probes.max_face_error, (
    "on the grading faces your model's reconstruction error is far above the reference's: is it trained?")
_ask = secret_probes.request["latent"]
_edited = secret_probes.returned("edit_latent")
_probe_faces = secret_probes.images[:_ask["images"]]
with torch.no_grad():
    _z = model.encode(to_model_input(_probe_faces))
    _plain = from_model_output(model.decode(_z))
    _z[:, _ask["index"]] = _ask["factor"] * _z[:, _ask["index"]]
    _want = from_model_output(model.decode(_z))
_call = f"edit_latent(images, {_ask['index']}, {_ask['factor']:g})"
assert _edited.shape == _want.shape, f"{_call} must return {_want.shape} images, got shape {_edited.shape}"
# Within rounding; the plain reconstruction (or a brightness step) differs wherever the edit moves the image.
assert np.abs(_edited.astype(int) - _want.astype(int)).max() <= 2, (
    f"{_call} is not what your model decodes from the images' codes with z[:, {_ask['index']}] scaled by "
    f"{_ask['factor']:g} (it differs by {np.abs(_edited.astype(int) - _want.astype(int)).max()} grey levels)")
assert np.abs(_want.astype(int) - _plain.astype(int)).max() <= 4 or \
    np.abs(_edited.astype(int) - _plain.astype(int)).max() > 2, f"{_call} returned the unedited reconstruction"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "q2_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Q2. Describe the differences (2 points)
#
# What did each change do to the face (brightness, colour, pose, hair, background, ...)? Is one latent
# element tied to one visible property? Refer to your figure.

# %% [markdown] nbgrader={"grade": true, "grade_id": "q2_differences", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Rubric** (for graders; in the release nbgrader replaces this whole cell with *YOUR ANSWER HERE*):
# 2 = each change's visible effect described from the figure, and a remark on whether the
# elements act independently (entangled or not); 1 = effects described only in general terms; 0 = missing.
#
# **Reference answer** (what a full answer contains; the effects themselves depend on the trained model, so
# they must be read off the student's own figure): with the sample fcn's three latent numbers the plain
# reconstruction is a blurry face that keeps the overall colouring and lighting of the original. For each
# change, the answer names what moved in the image (e.g. overall brightness, skin or hair tone, the
# background, the lighting side, the contrast of the features) and how strongly; setting an element to 0
# shows what the decoder makes of the "average" value of that element. It then notes that a single
# element changes several attributes at once (the code is entangled, since the autoencoder was trained
# only to reconstruct), and that the same change acts similarly on every face in the figure, or not.

# %% [markdown] nbgrader={"grade": false, "grade_id": "submit_md", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Submission from the report's autoencoder (optional upload)

# %% nbgrader={"grade": false, "grade_id": "score_test", "locked": true, "schema_version": 3, "solution": false, "task": false}
scores = anomaly_scores(model, test)  # the sample code's score: reconstruction error, higher = more anomalous

# %% nbgrader={"grade": false, "grade_id": "submit", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Write the submission (upload prediction.csv), then look at the scores and the best/worst reconstructions.
path = write_submission(scores, env.path("prediction.csv"), expected_rows=len(test))
print(f"wrote {path} ({len(scores)} rows){' (smoke mode: not for upload)' if env.smoke else ''}")
display(plot_score_histogram(scores, path=env.path("score_histogram.png")))
display(plot_reconstructions(test, reconstruct(model, test), scores, k=4,
                             path=env.path("reconstructions.png")))
