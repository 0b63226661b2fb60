"""The no-work corpora of 01_simple and 05_report (answer code a student could hand in), and the helpers their tests
share: release once, copy the released course per batch, grade a batch of answers.

``test_no_work.py`` grades 01's, ``test_no_work_report.py`` 05's (two files, so two test processes grade them side by
side); ``test_no_work_models.py`` and the benchmarks reuse the answers.
"""
from __future__ import annotations

import shutil

from grader.autograde.course import REPO_ROOT, CourseConfig

A = "01_simple"
SOLVED = "model, history = build_and_fit(train, cfg)\nscores = anomaly_scores(model, test)"
UNTRAINED = "model, history = build_model(cfg.model_type), None\n"
#: The fcn's last layer outputs tanh(bias) when its weights are zero: the mean face, for every input.
MEAN_FACE_FCN = ("import torch\n"
                 "model, history = build_model('fcn'), None\n"
                 "_mean = train.reshape(len(train), -1).astype(np.float32).mean(axis=0) / 127.5 - 1\n"
                 "_chw = _mean.reshape(64, 64, 3).transpose(2, 0, 1).reshape(-1)\n"
                 "with torch.no_grad():\n"
                 "    for _p in model.parameters():\n"
                 "        _p.zero_()\n"
                 "    model.decoder[-2].bias.copy_(torch.from_numpy(np.arctanh(np.clip(_chw, -0.999, 0.999))))\n")
#: Flattened pixels in [0, 1] of the training and test images.
PIXELS = ("_x = train.reshape(len(train), -1) / 255.0\n"
           "_t = test.reshape(len(test), -1) / 255.0\n")
NO_WORK = {
    "row_index": UNTRAINED + "scores = np.arange(len(test), dtype=float)",
    "untrained": UNTRAINED + "scores = anomaly_scores(model, test)",
    "constant": UNTRAINED + "scores = np.ones(len(test))",
    "random": UNTRAINED + "scores = np.random.default_rng(0).random(len(test))",
    "mean_face": UNTRAINED + PIXELS + "scores = np.linalg.norm(_t - _x.mean(axis=0), axis=1)",
    "pca": UNTRAINED + PIXELS + (
        "_mu = _x.mean(axis=0)\n"
        "_v = np.linalg.svd(_x - _mu, full_matrices=False)[2][:12]\n"
        "scores = np.linalg.norm((_t - _mu) - (_t - _mu) @ _v.T @ _v, axis=1)"),
    "mean_face_model": MEAN_FACE_FCN + "scores = anomaly_scores(model, test)",
    "no_model": "scores = np.arange(len(test), dtype=float)",
}


R = "05_report"
FIGURE = ("import matplotlib.pyplot as plt\n"
           "fig, axes = plt.subplots(len(faces), len(adjusted), figsize=(2 * len(adjusted), 2 * len(faces)))\n"
           "for col, (name, images) in enumerate(adjusted.items()):\n"
           "    for row in range(len(faces)):\n"
           "        axes[row, col].imshow(images[row])\n"
           "    axes[0, col].set_title(name, fontsize=6)\n"
           "fig.savefig(env.path('latent_adjustments.png'))\n"
           "figure = fig")
LATENT = ("import torch\n"
          "from starter_code.data import from_model_output, to_model_input\n"
          "CHANGES = {0: 2.0, 1: -1.0}\n"
          "model.eval()\n"
          "with torch.no_grad():\n"
          "    z = model.encode(to_model_input(faces))\n"
          "    adjusted = {'original': faces, 'reconstruction': from_model_output(model.decode(z))}\n"
          "    for i, factor in CHANGES.items():\n"
          "        changed = z.clone()\n"
          "        changed[:, i] = factor * z[:, i]\n"
          "        adjusted[f'z[:, {i}] = {factor:g} * z[:, {i}]'] = from_model_output(model.decode(changed))\n"
          + FIGURE)
#: Brightness steps named as latent changes, and a blank figure of a plausible size.
BRIGHTNESS = ("CHANGES = {0: 2.0, 1: -1.0}\n"
              "_plain = reconstruct(model, faces)\n"
              "adjusted = {'original': faces, 'reconstruction': _plain,\n"
              "            'z[:, 0] = 2 * z[:, 0]': np.clip(_plain.astype(int) + 40, 0, 255).astype(np.uint8),\n"
              "            'z[:, 1] = -1 * z[:, 1]': np.clip(_plain.astype(int) - 40, 0, 255).astype(np.uint8)}\n"
              "import matplotlib.pyplot as plt\n"
              "figure = plt.figure(figsize=(4, 1))\n"
              "figure.savefig(env.path('latent_adjustments.png'))")
#: 05's ``edit_latent(images, index, factor)``: the trained fcn's decoding with ``z[:, index]`` scaled.
EDIT_LATENT = ("import torch\n"
               "from starter_code.data import from_model_output, to_model_input\n"
               "model.eval()\n"
               "with torch.no_grad():\n"
               "    z = model.encode(to_model_input(np.ascontiguousarray(images)))\n"
               "    z[:, index] = factor * z[:, index]\n"
               "    return from_model_output(model.decode(z))")
#: `z[i] = factor * z[i]` on the batch: face i's whole code, not element i of every code.
ROWS = LATENT.replace("changed[:, i] = factor * z[:, i]", "changed[i] = factor * z[i]")
TRAINED_FCN = "model, history = build_and_fit(train, cfg)\nARCHITECTURE = str(model)"
UNTRAINED_FCN = "model, history = build_model('fcn'), None\nARCHITECTURE = str(model)"
REPORT = {"solved": {"q2_train": TRAINED_FCN, "q2_adjust": LATENT, "q2_edit": EDIT_LATENT}}
REPORT_NO_WORK = {"untrained_latent": {"q2_train": UNTRAINED_FCN, "q2_adjust": LATENT},
                  "mean_face_latent": {"q2_train": MEAN_FACE_FCN + "ARCHITECTURE = str(model)", "q2_adjust": LATENT},
                  "untrained_brightness": {"q2_train": UNTRAINED_FCN, "q2_adjust": BRIGHTNESS},
                  "trained_brightness": {"q2_train": TRAINED_FCN, "q2_adjust": BRIGHTNESS},
                  "trained_rows": {"q2_train": TRAINED_FCN, "q2_adjust": ROWS}}


def release_course(root, *assignments: str) -> CourseConfig:
    """The course's ``assignments`` released into ``root/course``."""
    from grader.autograde.release import release
    course = CourseConfig(source=REPO_ROOT / "assignments", course_dir=root / "course")
    release(course, assignments=list(assignments))
    return course


def tiny_data(root, seed: int):
    """The tiny preset built with data seed ``seed`` and the grading data's kinds (``GRADING_KINDS_VERSION``) into
    ``root/data`` (its answers beside it): the data folder."""
    from data_tools.build import BuildConfig, build_dataset
    from grader.autograde.probes import GRADING_KINDS_VERSION
    config = BuildConfig.from_preset("tiny", seed=seed, kinds_version=GRADING_KINDS_VERSION)
    build_dataset(config, root / "data", root / "answers", progress=False)
    return root / "data"


def grade_answers(course: CourseConfig, data_dir, answers: dict, assignment: str = A) -> dict:
    """Autograde each answer (student id -> code of 01's answer cell, answer cell id -> code, or a whole
    notebook) of ``assignment`` on ``data_dir``: student id -> Result."""
    import nbformat

    from grader.autograde.run import AutogradeConfig, autograde
    from tests.autograde.fixtures import answered_submission, submit_notebooks
    rel = nbformat.read(str(course.course_dir / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
    submit_notebooks(course, assignment, {
        sid: code if isinstance(code, nbformat.NotebookNode) else
        answered_submission(rel, code if isinstance(code, dict) else {"train": code})
        for sid, code in answers.items()})
    cfg = AutogradeConfig(workers=2, cell_timeout=300, notebook_timeout=600, data_dir=data_dir, feedback=False)
    return {r.student: r for r in autograde(course, cfg, assignments=[assignment], progress=False)}


def copy_course(course: CourseConfig, dest) -> CourseConfig:
    shutil.copytree(course.course_dir, dest / "course")
    return CourseConfig(source=course.source, course_dir=dest / "course")
