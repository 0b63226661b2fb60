"""Write the five nbgrader source notebooks (``assignments/source/<assignment>/<assignment>.ipynb``) from this file.

The notebooks are generated so that they stay readable and reviewable as Python, their nbgrader metadata is
always well formed, and cells shared by every stage (setup, data, tests, submission) are written once.

    python -m assignments.build_notebooks            # (re)write the notebooks
    python -m assignments.build_notebooks --check    # exit 1 if a committed notebook differs from this file

Cell kinds (nbgrader's, schema version 3):

- ``md``/``code``: read-only ("locked") instructions and glue, restored by nbgrader before grading;
- ``editable``: a plain cell the student may change (the config cell);
- ``solution``: an autograded answer; the text between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` is the
  instructor's (one-line calls into ``solutions/<stage>.py``) and becomes ``raise NotImplementedError()`` in
  the release;
- ``tests``: autograder tests worth ``points``; lines between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS`` are removed from the release and put back when grading;
- ``answer``: a manually graded markdown answer worth ``points`` (the rubric is the read-only cell above it).

Notebook contract shared by stages 1-4: a read-only cell appends known probe images (training faces, noise,
colour-inverted faces, copies of test rows; ``starter_code.notebook.make_probes``) to the test set as
``images_to_score``; the student's cells leave ``model`` (trained), ``history`` and ``scores_all`` (float ``(len(
images_to_score),)``, row order kept, higher = more anomalous). The tests check the probes' scores, so the
reference solutions are single calls of ``solutions.<stage>.run(train, images_to_score)`` whatever state their
scoring keeps, and nothing has to be trained or scored twice.
"""
from __future__ import annotations

import argparse
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent
SOURCE_DIR = ROOT / "source"
#: The assignments in the order students do them (folder names under source/, and nbgrader assignment ids).
ASSIGNMENTS = ("01_simple", "02_medium", "03_strong", "04_boss", "05_report")
DAILY_LIMIT = 5  # grader/competition.py's default daily_limit (CompetitionConfig); repeated here for students

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


@dataclass(frozen=True)
class Cell:
    """One notebook cell before it becomes JSON. ``role``: readonly, editable, solution, tests or answer."""
    cell_type: str
    source: str
    role: str
    grade_id: str
    points: float = 0

    def metadata(self) -> dict:
        if self.role == "editable":
            return {}
        meta = {"grade": self.role in ("tests", "answer"), "grade_id": self.grade_id,
                "locked": self.role in ("readonly", "tests"), "schema_version": 3,
                "solution": self.role in ("solution", "answer"), "task": False}
        if meta["grade"]:
            meta["points"] = self.points
        return {"nbgrader": meta}


def _text(s: str) -> str:
    return textwrap.dedent(s).strip("\n")


def md(grade_id: str, text: str) -> Cell:
    return Cell("markdown", _text(text), "readonly", grade_id)


def code(grade_id: str, src: str) -> Cell:
    return Cell("code", _text(src), "readonly", grade_id)


def editable(cell_id: str, src: str) -> Cell:
    return Cell("code", _text(src), "editable", cell_id)


def solution(grade_id: str, src: str) -> Cell:
    return Cell("code", _text(src), "solution", grade_id)


def tests(grade_id: str, points: float, src: str) -> Cell:
    return Cell("code", _text(src), "tests", grade_id, points)


def answer(grade_id: str, points: float, text: str) -> Cell:
    return Cell("markdown", _text(text), "answer", grade_id, points)


# -- pieces shared by the notebooks --------------------------------------------------------------------------------
def reference_train_cell(stage: str, run_args: str = "**env.smoke_training()", show_model: bool = True) -> Cell:
    """The solution cell of a stage whose reference is one ``solutions.<stage>.run`` call with the notebook's
    smoke settings (``run_args``): the student sets ``model``, ``history`` and ``scores_all``; then the model is
    printed (``show_model``) and its loss curve plotted."""
    return solution("train", "\n".join([
        "### BEGIN SOLUTION",
        f"from solutions import {stage}",
        f"result = {stage}.run(train, images_to_score, smoke=env.smoke, {run_args})",
        "model, history, scores_all = result.model, result.history, result.scores",
        "### END SOLUTION",
        *(["print(model)"] if show_model else []),
        'display(plot_loss(history, path=env.path("loss.png")))',
    ]))


RULES = f"""
> **Course rules.** Train only on `trainingset.npy` (normal faces): no extra data, no pretrained models or
> downloaded weights (the kit runs offline). At most **{DAILY_LIMIT} scored uploads per day**. The metric is ROC-AUC,
> so only the *order* of your scores matters, and **a higher score must mean "more anomalous"**.

**How to work.** Write code only where a cell says `# YOUR CODE HERE` (delete the `raise NotImplementedError()`),
and answers where a cell says *YOUR ANSWER HERE*. Read-only cells are restored before grading. Set the
environment variable `HW8_SMOKE=1` to run the whole notebook in seconds on a few hundred images (a check that it
runs, not a submission); unset it for the real run. `HW8_DATA_DIR` points at the folder with `trainingset.npy`
and `testingset.npy` (default: the nearest `data/` folder, here or up to three levels above).
"""


def setup_cell(config_line: str, extra_imports: str = "") -> Cell:
    """The first code cell: find the kit, import, read the environment, set the config and the seed.

    ``config_line`` and ``extra_imports`` are inserted as written (no indentation to strip)."""
    template = _text("""
        # Config and seed (edit the config line). The environment decides the data folder and smoke mode.
        %matplotlib inline
        import importlib.util, sys
        from pathlib import Path
        if importlib.util.find_spec("starter_code") is None:  # not installed: use the kit this notebook sits in
            sys.path[:0] = [str(p) for p in Path.cwd().resolve().parents if (p / "starter_code").is_dir()][:1]
        import numpy as np
        from starter_code import (TrainConfig, anomaly_scores, build_and_fit, build_model, fit, plot_images, plot_loss,
                                  plot_reconstructions, plot_score_histogram, read_submission_scores, reconstruct,
                                  seed_everything, write_submission)
        @IMPORTS@from starter_code.notebook import PROBE_KINDS, NotebookEnv, make_probes

        env = NotebookEnv.from_environ()
        @CONFIG@
        seed_everything(cfg.seed)
        print(env)
        print(cfg)
    """)
    imports = f"{extra_imports}\n" if extra_imports else ""
    return Cell("code", template.replace("@IMPORTS@", imports).replace("@CONFIG@", config_line), "editable", "setup")


DATA = code("data", """
    # The data: uint8 (N, 64, 64, 3) training faces (all normal) and (M, 64, 64, 3) test images (row i = ID i).
    train, test = env.load_train(), env.load_test()
    print(f"train {train.shape} {train.dtype} | test {test.shape} {test.dtype}")
    display(plot_images(train[:8], title="training faces (all normal)"))
""")

PROBES = code("probes", """
    # Known images for the autograder, scored together with the test set: training faces, random noise,
    # colour-inverted faces and copies of a few test rows. Score every row of images_to_score, in order; only the
    # first len(test) scores go into the submission.
    probes = make_probes(train, test)
    images_to_score = np.concatenate([test, probes.images])
    print(f"images_to_score: {len(test)} test images, then {len(probes)} probes ({', '.join(PROBE_KINDS)})")
""")

SPLIT_SCORES = code("split_scores", """
    # The test set's scores (submitted) and the probes' scores (checked by the tests below).
    scores, probe_scores = scores_all[:len(test)], scores_all[len(test):]
    print(f"{len(scores)} test scores: min {np.min(scores):.4g}, median {np.median(scores):.4g}, "
          f"max {np.max(scores):.4g}")
""")

TEST_SHAPES = tests("test_scores_shape", 1, """
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
""")

TEST_DIRECTION = tests("test_score_direction", 2, """
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
""")


def submit_cell(plot_model: str = "model") -> Cell:
    return code("submit", f"""
        # Write the submission (upload prediction.csv), then look at the scores and the best/worst reconstructions.
        path = write_submission(scores, env.path("prediction.csv"), expected_rows=len(test))
        print(f"wrote {{path}} ({{len(scores)}} rows){{' (smoke mode: not for upload)' if env.smoke else ''}}")
        display(plot_score_histogram(scores, path=env.path("score_histogram.png")))
        display(plot_reconstructions(test, reconstruct({plot_model}, test), scores, k=4,
                                     path=env.path("reconstructions.png")))
    """)


TEST_SUBMISSION = tests("test_submission_file", 1, """
    # Autograder test: prediction.csv is in the course's format (ID,score; IDs 0..M-1) and holds these scores.
    submitted = read_submission_scores(env.path("prediction.csv"), expected_rows=len(test))
    assert np.allclose(submitted, scores, rtol=1e-6, atol=1e-9), "prediction.csv does not hold the scores above"
    ### BEGIN HIDDEN TESTS
    assert env.path("prediction.csv").read_text(encoding="utf-8").splitlines()[0] == "ID,score"
    _top = np.argsort(-scores, kind="stable")[:10]
    assert np.array_equal(np.argsort(-submitted, kind="stable")[:10], _top), "the file reorders the scores"
    ### END HIDDEN TESTS
""")


def points_table(rows: list[tuple[str, str]]) -> str:
    lines = ["| part | points |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)


def intro(body: str, points: list[tuple[str, str]]) -> Cell:
    """The first (read-only) cell: the stage's task, the course's rules and the points table."""
    return Cell("markdown", "\n\n".join([_text(body), _text(RULES), points_table(points)]), "readonly", "intro")


# -- 01 simple -----------------------------------------------------------------------------------------------------
def simple() -> list[Cell]:
    return [
        intro("""
            # HW8 anomaly detection, part 1 of 5: the simple baseline (the sample code)

            Train an autoencoder on normal faces only; at test time, a face it cannot reconstruct well is
            probably not like the training faces. **Anomaly score = the reconstruction error of each image**
            (the L2 norm of `reconstruction - image`), higher = more anomalous.

            The sample code has three models behind one switch, `model_type` in the config cell: `'fcn'` (fully
            connected autoencoder), `'cnn'` (convolutional autoencoder) and `'vae'` (convolutional variational
            autoencoder, the sample code's choice). Try all three; keep the best for your submission.
        """, [("scores: shape and order", "1"), ("scores: direction (noise > faces)", "2"),
                           ("prediction.csv", "1"), ("**total**", "**4**")]),
        setup_cell('cfg = env.train_config(model_type="vae", epochs=50, batch_size=2000, lr=1e-3)  '
                   '# the sample code; "fcn" / "cnn" / "vae"'),
        DATA,
        PROBES,
        md("train_md", """
            ## 1. Train the model and score the images

            Set `model` (the trained `torch.nn.Module`), `history` (its training history) and `scores_all`: one
            anomaly score per row of `images_to_score` (a float numpy array, row order kept, higher = more
            anomalous). Two calls do it: `build_and_fit(train, cfg)` builds `cfg.model_type` and trains it with a
            progress bar; `anomaly_scores(model, images_to_score)` is the sample code's score, the reconstruction
            error of each image.
        """),
        reference_train_cell("simple", "model_type=cfg.model_type, **env.smoke_training()", show_model=False),
        SPLIT_SCORES,
        TEST_SHAPES,
        TEST_DIRECTION,
        md("submit_md", "## 3. Submission"),
        submit_cell(),
        TEST_SUBMISSION,
    ]


# -- 02 medium -----------------------------------------------------------------------------------------------------
def medium() -> list[Cell]:
    return [
        intro("""
            # HW8 anomaly detection, part 2 of 5: the medium baseline (adjust the model)

            The sample code's models are small and trained with fixed settings. Change them until you clear the
            medium baseline. Things worth trying, one at a time (keep notes of what each change did):

            - **structure**: depth and width of the layers, the latent size (the sample fcn squeezes a face into 3
              numbers), fully connected vs convolutional encoder/decoder;
            - **training**: the loss (MSE vs L1), the learning rate and a schedule (e.g. cosine decay), epochs,
              batch size (smaller batches = more steps per epoch);
            - **the score function**: the whole-image error averages a small anomaly away; the error of the worst
              local patch does not.

            `build_model("fcn", hidden=(...), latent_dim=...)` and `build_model("cnn", channels=(...))` change the
            sample models' sizes; for anything else write your own `torch.nn.Module` (input and output
            `(B, 3, 64, 64)` in [-1, 1]; give it a `loss(x)` method to change the loss) and train it with
            `fit(model, train, cfg)`.
        """, [("scores: shape and order", "1"), ("scores: direction (noise > faces)", "2"),
                           ("prediction.csv", "1"), ("what you changed and why (written)", "2"),
                           ("**total**", "**6**")]),
        setup_cell('cfg = env.train_config(model_type="fcn", epochs=50, batch_size=2000, lr=1e-3,\n'
                   '                       model_kwargs={"hidden": (128, 64, 12), "latent_dim": 3})  '
                   '# the sample fcn: change it'),
        DATA,
        PROBES,
        md("train_md", """
            ## 1. Your model, its training and your score

            Set `model` (trained), `history` and `scores_all` (one score per row of `images_to_score`, row order
            kept, higher = more anomalous). Start from the sample fcn in the config cell and change it.
            `anomaly_scores(model, images)` is the sample code's score (whole-image L2 error); keep it or write a
            better one.
        """),
        reference_train_cell("medium"),
        SPLIT_SCORES,
        TEST_SHAPES,
        TEST_DIRECTION,
        md("submit_md", "## 3. Submission"),
        submit_cell(),
        TEST_SUBMISSION,
        md("changes_rubric", """
            ## 4. What did you change? (2 points, graded by hand)

            List the changes you made to the sample code and, for each, its effect on your public score (or on
            the training loss) and why you think it helped or did not.

            *Rubric:* 2 = at least two concrete changes, each with its measured effect and a plausible reason;
            1 = changes listed without effects or reasons; 0 = missing.
        """),
        answer("changes", 2, """
            Reference answer (the changes in `solutions/medium.py`; the measured AUCs are in README.md's ladder
            table): a wider and deeper fully connected autoencoder with a larger latent code (the sample fcn squeezes
            a face into 3 numbers, so even normal faces come back as blurry averages and the error separates
            little); a cosine learning-rate schedule and smaller batches (many more optimiser steps per epoch), which
            lower the training loss; and a score that adds the worst local patch's error to the whole-image error,
            because a local anomaly (a mask, face paint) changes few pixels and is averaged away in the whole-image
            L2. A good answer reports the effect of each change it made, measured, not assumed.
        """),
    ]


# -- 03 strong -----------------------------------------------------------------------------------------------------
def strong() -> list[Cell]:
    return [
        intro("""
            # HW8 anomaly detection, part 3 of 5: the strong baseline (a multi-encoder autoencoder)

            One encoder sees a face one way. Give the autoencoder **several encoders** that look at the same
            image differently, e.g. a fully connected one (the global layout), a convolutional one with small
            kernels (local texture) and one with a wider receptive field (dilated or larger kernels); combine their
            codes (concatenate and fuse with a linear layer, or average) into the one latent that a single decoder
            reconstructs from. A ResNet-style encoder is a fair variant; so is an ensemble of encoders.

            **Contract for the tests:** keep the encoders in `model.encoders` (an `nn.ModuleList` or
            `nn.ModuleDict` with at least two), each mapping a batch `(B, 3, 64, 64)` to a code with batch size `B`.
        """, [("scores: shape and order", "1"), ("scores: direction (noise > faces)", "2"),
                           ("at least two encoders", "2"), ("prediction.csv", "1"),
                           ("your encoders and what each adds (written)", "2"), ("**total**", "**8**")]),
        setup_cell('cfg = env.train_config(epochs=30, batch_size=256, lr=1e-3)  # your training settings',
                   "import torch\nfrom torch import nn"),
        DATA,
        PROBES,
        md("train_md", """
            ## 1. The multi-encoder autoencoder

            Define the model (an `nn.Module` with `encoders`, a way to combine their codes, one decoder; input and
            output `(B, 3, 64, 64)` in [-1, 1]), train it on `train` (e.g. `fit(model, train, cfg)`), and set
            `model`, `history` and `scores_all` (one score per row of `images_to_score`, row order kept, higher =
            more anomalous; e.g. `anomaly_scores(model, images_to_score)`).
        """),
        reference_train_cell("strong"),
        SPLIT_SCORES,
        TEST_SHAPES,
        TEST_DIRECTION,
        tests("test_encoders", 2, """
            # Autograder test: a multi-encoder model keeps at least two encoders in `model.encoders`.
            encoders = getattr(model, "encoders", None)
            assert isinstance(encoders, (nn.ModuleList, nn.ModuleDict)), (
                "keep the encoders in model.encoders (an nn.ModuleList or nn.ModuleDict)")
            assert len(encoders) >= 2, f"a multi-encoder autoencoder needs at least two encoders, found {len(encoders)}"
            ### BEGIN HIDDEN TESTS
            from starter_code.data import to_model_input
            _device = next(model.parameters()).device
            _x = to_model_input(np.ascontiguousarray(train[:3]), _device)
            _was = model.training
            model.eval()
            with torch.no_grad():
                for _enc in (encoders.values() if isinstance(encoders, nn.ModuleDict) else encoders):
                    _code = _enc(_x)
                    _code = _code[0] if isinstance(_code, (tuple, list)) else _code
                    assert _code.shape[0] == 3 and torch.isfinite(_code).all(), "an encoder gave no per-image code"
                    assert sum(p.numel() for p in _enc.parameters()) > 0, "an encoder without parameters"
            model.train(_was)
            ### END HIDDEN TESTS
        """),
        md("submit_md", "## 3. Submission"),
        submit_cell(),
        TEST_SUBMISSION,
        md("encoders_rubric", """
            ## 4. Your encoders (2 points, graded by hand)

            Describe your encoders and how their codes are combined, and what the combination gained over your
            best single-encoder model (public score or loss).

            *Rubric:* 2 = encoders and the combination described, with a measured comparison against a single
            encoder and a reason; 1 = described without a comparison; 0 = missing.
        """),
        answer("encoders", 2, """
            Reference answer (the model in `solutions/strong.py`; measured AUCs in README.md's ladder table): three
            encoders, fully connected (global layout), convolutional with small kernels (local texture) and
            convolutional with dilated kernels (a wider receptive field at the same cost); their codes are
            concatenated and fused by a linear layer into one latent for a single decoder. The comparison to make is
            against the best single-encoder model (the medium stage): the convolutional codes can describe local
            detail that a fully connected code blurs, so normal faces may be reconstructed more sharply while
            anomalies still are not. A good answer says whether that happened, with numbers.
        """),
    ]


# -- 04 boss -------------------------------------------------------------------------------------------------------
def boss() -> list[Cell]:
    return [
        intro("""
            # HW8 anomaly detection, part 4 of 5: the boss baseline (random noise and an extra classifier)

            The slides' hint: *add random noise and an extra classifier*. You have no anomalies to train on, so
            make some: corrupt normal training faces (random noise, a patch of another face pasted in, a blob of
            colour, stripes, a blurred or recoloured region, ...) and train a **classifier** to tell normal faces
            (label 0) from corrupted ones (label 1). Its output is a second anomaly score; combine it with the
            reconstruction score of your autoencoder (put both on one scale first, e.g. subtract the median and
            divide by the spread measured on normal faces, then add).

            These ideas have names (the course's lecture notes on anomaly detection cover them):
            **outlier exposure** (Hendrycks et al., 2019: train against auxiliary outliers; here self-made ones),
            **CutPaste** (Li et al., 2021) and **DRAEM** (Zavrtanik et al., 2021): synthetic local anomalies, and
            **Deep SVDD** (Ruff et al., 2018): map normal data close to one centre and score by the distance to it
            (beware the shortcut of mapping everything to the centre).

            **Ruled out here:** kNN on features of a pretrained network and PatchCore/PaDiM are strong anomaly
            detectors, but they need an ImageNet-pretrained backbone: the course's rules forbid pretrained models,
            and the kit runs offline, with nothing to download them from.
        """, [("scores: shape and order", "1"), ("scores: direction (noise > faces)", "2"),
                           ("synthetic anomalies", "2"), ("prediction.csv", "1"),
                           ("your method and why it works (written)", "2"), ("**total**", "**8**")]),
        setup_cell('cfg = env.train_config(epochs=30, batch_size=256, lr=1e-3)  # your training settings',
                   "import torch\nfrom torch import nn\nfrom starter_code.data import from_model_output, to_model_input"),
        DATA,
        PROBES,
        md("anomalies_md", """
            ## 1. Self-made anomalies

            Complete `make_anomalies`: uint8 faces in, the same number of corrupted faces out (same shape and
            dtype, nearly every image visibly changed), repeatable for a given `seed` and different for another.
        """),
        solution("make_anomalies", '''
            def make_anomalies(faces, seed=0):
                """uint8 normal faces (n, 64, 64, 3) -> uint8 synthetic anomalies (n, 64, 64, 3), repeatable per seed."""
                ### BEGIN SOLUTION
                from solutions import boss
                return from_model_output(boss.corrupt(to_model_input(faces), torch.Generator().manual_seed(seed)))
                ### END SOLUTION

            display(plot_images(make_anomalies(train[:8]), title="self-made anomalies"))
        '''),
        tests("test_anomalies", 2, """
            # Autograder test: make_anomalies keeps shape and dtype, changes every image, and repeats per seed.
            _faces = np.array(train[:16])
            _bad = make_anomalies(_faces, seed=3)
            assert isinstance(_bad, np.ndarray) and _bad.dtype == np.uint8 and _bad.shape == _faces.shape, (
                f"expected uint8 {_faces.shape}, got {getattr(_bad, 'dtype', type(_bad))} {np.shape(_bad)}")
            assert np.array_equal(_bad, make_anomalies(_faces, seed=3)), "same faces and seed must give the same images"
            ### BEGIN HIDDEN TESTS
            assert np.array_equal(_faces, np.array(train[:16])), "make_anomalies must not modify its input"
            _changed = np.abs(_bad.astype(int) - _faces.astype(int)).max(axis=(1, 2, 3)) > 20
            # A mild corruption may land on a flat region (the reference blurs one now and then): most, not all.
            assert _changed.mean() >= 0.75, f"{int((~_changed).sum())} of 16 images were left (almost) unchanged"
            assert not np.array_equal(_bad, make_anomalies(_faces, seed=4)), "another seed must give other anomalies"
            ### END HIDDEN TESTS
        """),
        md("train_md", """
            ## 2. The autoencoder, the classifier and the combined score

            Train your autoencoder (e.g. the strong stage's) and a classifier on normal faces vs
            `make_anomalies(...)` of them; set `model` (an `nn.Module` whose `reconstruct(x)` or `forward(x)` gives
            the autoencoder's reconstruction, for the plots), `history` and `scores_all`: the combined score of
            every row of `images_to_score` (row order kept, higher = more anomalous).

            `fit(module, train, cfg)` trains any module that has a `loss(x)` method (`x`: a batch of normal faces,
            `(B, 3, 64, 64)` in [-1, 1]): give the classifier one that corrupts a copy of the batch (on tensors, or
            via `from_model_output` / `to_model_input` and `make_anomalies`) and returns the binary cross-entropy
            of "normal" vs "corrupted". Score the two parts on the same normal faces to put them on one scale.
        """),
        reference_train_cell("boss", '**env.smoke_training("ae_", "cls_")', show_model=False),
        SPLIT_SCORES,
        TEST_SHAPES,
        TEST_DIRECTION,
        md("submit_md", "## 3. Submission"),
        submit_cell(),
        TEST_SUBMISSION,
        md("method_rubric", """
            ## 4. Your method (2 points, graded by hand)

            Describe your synthetic anomalies, the classifier and how you combined its score with the
            reconstruction score. Why does a classifier trained on *self-made* anomalies help on *real* ones it
            never saw, and where would you expect it to fail?

            *Rubric:* 2 = method described, a sound reason it generalises (it learns what local departures from
            the training faces look like) and a concrete failure case (anomalies unlike any corruption, e.g. a
            globally different but clean image); 1 = method only; 0 = missing.
        """),
        answer("method", 2, """
            Reference answer (the method in `solutions/boss.py`; its docstring lists the exact corruptions):
            anomalies are made by one random corruption per face (noise, a pasted patch of another face, blobs,
            stripes, blurred or recoloured regions, ...). A small CNN learns normal (0) vs corrupted (1); its logit,
            the distance of its pooled features from their Gaussian fit on normal faces, and the multi-encoder
            autoencoder's reconstruction score are each standardised on normal faces (median and interquartile
            range) and added. The classifier never sees a real anomaly, but it learns what "locally not like these
            faces" looks like, which transfers to masks, paint and pasted objects; it can miss anomalies that look
            like no corruption (a clean image of another style), which is why the reconstruction score stays in the
            sum.
        """),
    ]


# -- 05 report -----------------------------------------------------------------------------------------------------
def report() -> list[Cell]:
    return [
        intro("""
            # HW8 anomaly detection, part 5 of 5: the report

            Two questions. **Q1** (written): the variational autoencoder. **Q2** (code and written): train a
            fully connected autoencoder, change at least two elements of its latent code and look at what the
            decoder makes of them. Figures are shown here and saved as PNG files next to the notebook.
        """, [("Q1a VAE introduction (written)", "2"), ("Q1b one advantage over a vanilla AE (written)", "1"),
                           ("Q1c one problem of the VAE (written)", "1"), ("Q2 latent adjustments (code)", "2"),
                           ("Q2 figure and architecture (code)", "1"), ("Q2 the differences (written)", "2"),
                           ("**total**", "**9**")]),
        md("q1a_rubric", """
            ## Q1a. A brief introduction to the variational autoencoder (2 points)

            *Rubric:* 2 = the encoder outputs a distribution (mean and variance) rather than a point, the latent is
            sampled from it with the reparameterisation trick, and the loss is reconstruction error plus the KL
            divergence to a prior (a standard normal); 1 = two of these; 0 = fewer.
        """),
        answer("q1a", 2, """
            A VAE is an autoencoder whose encoder outputs the parameters of a distribution over the latent code,
            a mean and a (log-)variance per dimension, instead of one point. A code is sampled as
            z = mu + sigma * eps with eps ~ N(0, I) (the reparameterisation trick, so gradients flow through the
            sampling), and the decoder reconstructs the input from z. The loss is the reconstruction error plus
            the KL divergence between the encoder's distribution and a prior N(0, I); together they are the
            negative evidence lower bound (ELBO) of the data's likelihood.
        """),
        md("q1b_rubric", """
            ## Q1b. One advantage over a vanilla autoencoder (1 point)

            *Rubric:* 1 = a correct advantage with its reason (e.g. a smooth, continuous latent space from which new
            samples can be generated, because the KL term packs the codes around the prior); 0 = otherwise.
        """),
        answer("q1b", 1, """
            The latent space is regular: the KL term keeps codes close to N(0, I) and the sampling noise makes
            nearby codes decode to similar images, so the space is smooth and has no holes. One can sample
            z ~ N(0, I) and decode new, plausible faces, or interpolate between faces, which a vanilla autoencoder's
            scattered codes do not allow.
        """),
        md("q1c_rubric", """
            ## Q1c. One problem of the VAE (1 point)

            *Rubric:* 1 = a correct problem with its reason (e.g. blurry reconstructions from the pixel-wise
            Gaussian likelihood averaging over possible outputs; posterior collapse where the decoder ignores z;
            the balance between the KL and reconstruction terms); 0 = otherwise.
        """),
        answer("q1c", 1, """
            Its reconstructions and samples are blurry: the pixel-wise squared error (a Gaussian likelihood)
            rewards the average of all plausible outputs, and the noise in z makes the decoder hedge. The KL term
            also competes with reconstruction: weighted too strongly (as in the course's sample loss, where the
            summed KL dominates the mean MSE) the codes carry little information (posterior collapse).
        """),
        setup_cell('cfg = env.train_config(model_type="fcn", epochs=20, batch_size=2000, lr=1e-3)  '
                   '# the sample fcn autoencoder'),
        DATA,
        md("q2_train_md", """
            ## Q2. Adjusting the latent code of a fully connected autoencoder

            **Step 1.** Train a fully connected autoencoder (the sample fcn: `build_and_fit(train, cfg)`) and set
            `model` and `history`; set `ARCHITECTURE` to a printable description of its layers (e.g. `str(model)`).
        """),
        solution("q2_train", """
            ### BEGIN SOLUTION
            from solutions import report
            model, history = report.train_fcn_autoencoder(train, smoke=env.smoke, **env.smoke_training())
            ARCHITECTURE = report.architecture_text(model)
            ### END SOLUTION
            print(ARCHITECTURE)
            display(plot_loss(history, path=env.path("loss.png")))
        """),
        md("q2_adjust_md", """
            **Step 2.** With the *same* trained model, encode a few training faces, change at least two different
            elements of the encoder's output `z` (for instance `z[0] = 2 * z[0]`), decode, and plot: the original,
            the plain reconstruction (decode(encode(x)) unchanged) and one reconstruction per change. Set
            `CHANGES` (which elements you changed and how) and `adjusted`: a dict whose first two entries are
            `"original"` and `"reconstruction"`, then one entry per change, each a uint8 array `(n, 64, 64, 3)`.
            Save the figure as `latent_adjustments.png` (`env.path("latent_adjustments.png")`).
            `model.encode(x)` and `model.decode(z)` work on `(B, 3, 64, 64)` tensors and `(B, latent)` codes;
            `starter_code.data.to_model_input` / `from_model_output` convert images.
        """),
        solution("q2_adjust", """
            faces = np.array(train[:4])
            ### BEGIN SOLUTION
            CHANGES = {0: 2.0, 1: -1.0, 2: 0.0}  # z[0] = 2*z[0]; z[1] = -z[1]; z[2] = 0
            adjusted = report.adjust_latent(model, faces, CHANGES)
            figure = report.plot_latent_adjustments(adjusted, path=env.path("latent_adjustments.png"))
            ### END SOLUTION
            display(figure)
        """),
        tests("test_latent_adjustments", 2, """
            # Autograder test: at least two latent elements changed; original, reconstruction and one image set per change.
            assert isinstance(adjusted, dict), f"adjusted must be a dict, got {type(adjusted).__name__}"
            names = list(adjusted)
            assert names[:2] == ["original", "reconstruction"], f"the first two entries must be original, reconstruction; got {names[:2]}"
            assert len(CHANGES) >= 2 and len(names) >= 4, "change at least two different latent elements"
            for _name, _images in adjusted.items():
                assert isinstance(_images, np.ndarray) and _images.dtype == np.uint8 and _images.shape == faces.shape, (
                    f"adjusted[{_name!r}] must be uint8 {faces.shape}, got {getattr(_images, 'dtype', None)} {np.shape(_images)}")
            assert np.array_equal(adjusted["original"], faces), "adjusted['original'] must be the faces themselves"
            ### BEGIN HIDDEN TESTS
            # The plain reconstruction is the same model's (within rounding), and every change changes the image.
            _plain = reconstruct(model, faces).astype(int)
            assert np.abs(_plain - adjusted["reconstruction"].astype(int)).max() <= 2, "the reconstruction is not decode(encode(x))"
            for _name in names[2:]:
                _diff = np.abs(adjusted[_name].astype(int) - adjusted["reconstruction"].astype(int)).mean()
                assert _diff > 0, f"{_name!r} decodes to the plain reconstruction: the change did nothing"
            ### END HIDDEN TESTS
        """),
        tests("test_figure_architecture", 1, """
            # Autograder test: the figure is saved as a PNG and the architecture is shown.
            _png = env.path("latent_adjustments.png")
            assert _png.is_file() and _png.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n", f"{_png} is not a saved PNG figure"
            assert isinstance(ARCHITECTURE, str) and "Linear" in ARCHITECTURE, "ARCHITECTURE should list the model's layers"
            ### BEGIN HIDDEN TESTS
            import matplotlib.image
            _height, _width = matplotlib.image.imread(_png).shape[:2]
            assert _width >= 4 * 64 and _height >= 64, f"a {_width}x{_height} figure cannot show four faces side by side"
            ### END HIDDEN TESTS
        """),
        md("q2_rubric", """
            ## Q2. Describe the differences (2 points)

            What did each change do to the face (brightness, colour, pose, hair, background, ...)? Is one latent
            element tied to one visible property? Refer to your figure.

            *Rubric:* 2 = each change's visible effect described from the figure, and a remark on whether the
            elements act independently (entangled or not); 1 = effects described only in general terms; 0 = missing.
        """),
        answer("q2_differences", 2, """
            Reference answer (what a full answer contains; the effects themselves depend on the trained model, so
            they must be read off the student's own figure): with the sample fcn's three latent numbers the plain
            reconstruction is a blurry face that keeps the overall colouring and lighting of the original. For each
            change, the answer names what moved in the image (e.g. overall brightness, skin or hair tone, the
            background, the lighting side, the contrast of the features) and how strongly; setting an element to 0
            shows what the decoder makes of the "average" value of that element. It then notes that a single
            element changes several attributes at once (the code is entangled, since the autoencoder was trained
            only to reconstruct), and that the same change acts similarly on every face in the figure, or not.
        """),
        md("submit_md", "## Submission from the report's autoencoder (optional upload)"),
        code("score_test", """
            scores = anomaly_scores(model, test)  # the sample code's score: reconstruction error, higher = more anomalous
        """),
        submit_cell(),
    ]


BUILDERS = {"01_simple": simple, "02_medium": medium, "03_strong": strong, "04_boss": boss, "05_report": report}


def build_notebook(assignment: str) -> nbformat.NotebookNode:
    """The source notebook of ``assignment`` (one of ``ASSIGNMENTS``) as an nbformat v4.5 notebook."""
    try:
        cells = BUILDERS[assignment]()
    except KeyError:
        raise KeyError(f"unknown assignment {assignment!r}; valid: {', '.join(ASSIGNMENTS)}") from None
    ids = [c.grade_id for c in cells]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:  # nbgrader refuses duplicate grade ids; catch it here with the notebook's name
        raise ValueError(f"{assignment}: duplicate cell id(s) {', '.join(dup)}")
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for c in cells:
        make = nbformat.v4.new_markdown_cell if c.cell_type == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(c.source, id=c.grade_id, metadata=c.metadata()))
    nbformat.validate(nb)
    return nb


def notebook_path(assignment: str, root: Path = SOURCE_DIR) -> Path:
    return Path(root) / assignment / f"{assignment}.ipynb"


def write_notebooks(root: Path = SOURCE_DIR, assignments=ASSIGNMENTS) -> list[Path]:
    """Write each assignment's source notebook under ``root``; return the paths written."""
    out = []
    for a in assignments:
        path = notebook_path(a, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(nbformat.writes(build_notebook(a)) + "\n", encoding="utf-8")
        out.append(path)
    return out


def stale_notebooks(root: Path = SOURCE_DIR, assignments=ASSIGNMENTS) -> list[Path]:
    """Notebooks under ``root`` that are missing or differ from what this file generates."""
    stale = []
    for a in assignments:
        path = notebook_path(a, root)
        want = nbformat.writes(build_notebook(a)) + "\n"
        if not path.is_file() or path.read_text(encoding="utf-8") != want:
            stale.append(path)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assignments.build_notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=SOURCE_DIR, help="the course's source folder (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook is stale")
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                        help=f"which to build (default: all of {', '.join(ASSIGNMENTS)})")
    args = parser.parse_args(argv)
    unknown = [a for a in args.assignments if a not in ASSIGNMENTS]
    if unknown:
        parser.error(f"unknown assignment(s) {', '.join(unknown)}; valid: {', '.join(ASSIGNMENTS)}")
    args.assignments = args.assignments or list(ASSIGNMENTS)
    if args.check:
        stale = stale_notebooks(args.root, args.assignments)
        for p in stale:
            print(f"stale: {p} (run python -m assignments.build_notebooks)", file=sys.stderr)
        return 1 if stale else 0
    for p in write_notebooks(args.root, args.assignments):
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
