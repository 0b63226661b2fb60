"""01_simple's and 05_report's autograded points are earned by a trained model only.

01: every answer below passes what the student's own process can check (it sets ``model``, ``history`` and
``scores`` of the right kinds), and none trains a model: scores that rise with the row index, an untrained
network, constant and random scores, pixel statistics and a numpy PCA, each beside an untrained sample model; the
distance to the mean face put into a sample model's weights; no model at all. 05: latent edits of an untrained
fcn and of one that draws the mean face, brightness edits and a blank figure (beside an untrained fcn, and beside
a trained one), and a trained fcn's codes scaled by row (``z[i]``, face i's whole code) instead of by element. The autograder rebuilds ``model`` from its weights in the test kernel and judges it on the grading
data's secret probes, against bars from the reference solution on the same probes (``grader/autograde/probes.py``):
each gets 0 code points, and the solved answer every one, on each grading data set tried. In the same batch the
unchanged release gets 0 and the source notebook (which calls the kit's reference) a status of its own.

Sandboxed (bubblewrap), smoke mode, the tiny preset: ~3 min for 01's corpus and ~1.5 min for 05's on 2 busy
cores; the solved answers on three more data seeds are slow (~2.5 min per seed).
"""
from __future__ import annotations

import shutil

import pytest

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
_PIXELS = ("_x = train.reshape(len(train), -1) / 255.0\n"
           "_t = test.reshape(len(test), -1) / 255.0\n")
NO_WORK = {
    "row_index": UNTRAINED + "scores = np.arange(len(test), dtype=float)",
    "untrained": UNTRAINED + "scores = anomaly_scores(model, test)",
    "constant": UNTRAINED + "scores = np.ones(len(test))",
    "random": UNTRAINED + "scores = np.random.default_rng(0).random(len(test))",
    "mean_face": UNTRAINED + _PIXELS + "scores = np.linalg.norm(_t - _x.mean(axis=0), axis=1)",
    "pca": UNTRAINED + _PIXELS + (
        "_mu = _x.mean(axis=0)\n"
        "_v = np.linalg.svd(_x - _mu, full_matrices=False)[2][:12]\n"
        "scores = np.linalg.norm((_t - _mu) - (_t - _mu) @ _v.T @ _v, axis=1)"),
    "mean_face_model": MEAN_FACE_FCN + "scores = anomaly_scores(model, test)",
    "no_model": "scores = np.arange(len(test), dtype=float)",
}


R = "05_report"
_FIGURE = ("import matplotlib.pyplot as plt\n"
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
          + _FIGURE)
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


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> CourseConfig:
    from grader.autograde.release import release
    course = CourseConfig(source=REPO_ROOT / "assignments", course_dir=tmp_path_factory.mktemp("nowork") / "course")
    release(course, assignments=[A, R])
    return course


def _grade(course: CourseConfig, data_dir, answers: dict, assignment: str = A) -> dict:
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


def _copy(course: CourseConfig, dest) -> CourseConfig:
    shutil.copytree(course.course_dir, dest / "course")
    return CourseConfig(source=course.source, course_dir=dest / "course")


@pytest.fixture(scope="module")
def corpus(sandbox, released, tiny_dataset, tmp_path_factory):
    """01's answers graded in one batch, beside the unchanged release (``blank``) and the source notebook, which
    calls the kit's reference (``source``)."""
    import nbformat
    course = _copy(released, tmp_path_factory.mktemp("corpus"))
    release_nb = nbformat.read(str(course.course_dir / "release" / A / f"{A}.ipynb"), as_version=4)
    source_nb = nbformat.read(str(course.source_dir / A / f"{A}.ipynb"), as_version=4)
    return course, _grade(course, tiny_dataset.data_dir, {"solved": SOLVED, **NO_WORK, "blank": release_nb,
                                                          "source": source_nb})


def test_the_solved_answer_gets_every_code_point(corpus):
    """4 points: every autograded test cell of 01's source notebook."""
    import nbformat
    course, res = corpus
    src = nbformat.read(str(course.source_dir / A / f"{A}.ipynb"), as_version=4)
    with_tests = sum(c.metadata["nbgrader"].get("points", 0) for c in src.cells
                     if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")
    assert with_tests == 4
    assert res["solved"].status == "graded" and res["solved"].code_score == 4, res["solved"]
    assert res["solved"].tampering == []


def test_the_unchanged_release_gets_nothing_and_the_source_notebook_a_status_of_its_own(corpus):
    _, res = corpus
    assert res["blank"].status == "graded" and res["blank"].code_score == 0.0 and res["blank"].tampering == []
    assert res["source"].status == "source_notebook" and res["source"].score == 0.0


@pytest.mark.parametrize("answer", sorted(NO_WORK))
def test_an_answer_without_a_trained_model_gets_no_code_point(corpus, answer):
    _, res = corpus
    assert res[answer].status == "graded" and res[answer].code_score == 0, res[answer]


@pytest.fixture(scope="module")
def report_corpus(sandbox, released, tiny_dataset, tmp_path_factory):
    course = _copy(released, tmp_path_factory.mktemp("report"))
    return _grade(course, tiny_dataset.data_dir, {**REPORT, **REPORT_NO_WORK}, R)


def test_the_solved_latent_adjustments_get_every_code_point(report_corpus):
    assert report_corpus["solved"].status == "graded" and report_corpus["solved"].code_score == 5, \
        report_corpus["solved"]


@pytest.mark.parametrize("answer", sorted(REPORT_NO_WORK))
def test_latent_adjustments_that_are_not_a_trained_fcns_get_no_code_point(report_corpus, answer):
    assert report_corpus[answer].status == "graded" and report_corpus[answer].code_score == 0, report_corpus[answer]


def test_the_probe_seed_and_reference_stay_on_the_ta_side(corpus):
    """The seed and the reference's scores are the course's, 0600; a regrade draws the same probes."""
    from grader.autograde import probes
    course, _ = corpus
    folder = course.course_dir / probes.FOLDER
    files = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert files[-1] == "seed" and len(files) == 2 and files[0].startswith(f"reference-{A}-"), files
    assert all((folder / f).stat().st_mode & 0o777 == 0o600 for f in files)
    seed = probes.course_seed(course.course_dir)
    assert probes.course_seed(course.course_dir) == seed


@pytest.mark.slow
@pytest.mark.parametrize("data_seed", [1, 2, 3])
def test_the_solved_answers_pass_on_other_grading_data(sandbox, released, tmp_path, data_seed):
    from data_tools.build import BuildConfig, build_dataset
    build_dataset(BuildConfig.from_preset("tiny", seed=data_seed), tmp_path / "data", tmp_path / "answers",
                  progress=False)
    course = _copy(released, tmp_path)
    res = _grade(course, tmp_path / "data", {"solved": SOLVED, "untrained": NO_WORK["untrained"]})
    assert res["solved"].code_score == 4, res["solved"]
    assert res["untrained"].code_score == 0, res["untrained"]
    res = _grade(course, tmp_path / "data", {**REPORT, "untrained": REPORT_NO_WORK["untrained_latent"]}, R)
    assert res["solved"].code_score == 5, res["solved"]
    assert res["untrained"].code_score == 0, res["untrained"]
