"""02-05's autograded points are earned only by what the student's own model does on the grader's images.

02_medium, 03_strong and 04_boss: the model is the student's own, so the autograder runs a probe step in the
student's kernel after the last cell: it writes the secret probe images (no labels, in a secret order) and calls the
notebook's ``score_images`` (03 also ``encoder_codes``, 04 also ``ae_scores``, ``clf_scores`` and
``make_anomalies``) on them; the tests judge only what those calls returned, against the labels
(``grader/autograde/probes.py``, ``exchange.probe_step``). 05_report: the probe step hands ``edit_latent`` an element
and a factor drawn from the secret seed; the test kernel checks the result against its own rebuild of the fcn.

Each answer below is what a student could hand in without doing the work: scores that rise with the row index,
constant and random scores, a pixel statistic (the distance to the mean face), an untrained model, check values
assigned in an added cell (03's ``encoders_check``; 04's ``ae = clf = None`` with ``ae_check`` and ``clf_check``),
brightness steps named as latent edits (05); each gets 0 code points. The solved answers (starter_code, numpy and
torch only: a sandboxed notebook cannot import the kit's ``solutions``) get every code point.

Sandboxed (bubblewrap), smoke mode, the tiny preset with the grading data's kinds (``grading_tiny``), one autograde run
per batch (two workers). Each assignment in a batch costs a run of its reference (the bars), so the fast batch holds
02's answers that train nothing (one reference run, four notebooks); the rest of the corpus (03, 04, 05, and 02's that
train) and the solved answers are slow.
"""
from __future__ import annotations

import pytest

from tests.autograde.no_work_answers import BRIGHTNESS, EDIT_LATENT, LATENT, PIXELS, TRAINED_FCN, UNTRAINED_FCN, \
    copy_course, release_course

M, S, B, R = "02_medium", "03_strong", "04_boss", "05_report"

#: 02: the sample fcn made wider and deeper, a larger code, a cosine schedule: what the notebook suggests.
MEDIUM_SOLVED = ("cfg = cfg.replace(schedule='cosine', model_kwargs={'hidden': (256, 64), 'latent_dim': 16})\n"
                 "model, history = build_and_fit(train, cfg)\n"
                 "\n"
                 "def score_images(images):\n"
                 "    return anomaly_scores(model, images)")
#: Answers without a trained model. Each leaves ``model`` and ``history`` set, as the later cells need.
_UNTRAINED = "model, history = build_model('fcn'), None\n"


def _scores(expression: str) -> str:
    return _UNTRAINED + f"\ndef score_images(images):\n    return {expression}"


MEDIUM_NO_WORK = {
    # Each image's row in the test set (the autograder's images are test rows, in an order of its own).
    "row_index": _UNTRAINED + ("_row = {image.tobytes(): i for i, image in enumerate(test)}\n"
                               "\ndef score_images(images):\n"
                               "    return np.array([_row.get(image.tobytes(), -1) for image in images], dtype=float)"),
    "probe_order": _scores("np.arange(len(images), dtype=float)"),
    "constant": _scores("np.ones(len(images))"),
    "random": _scores("np.random.default_rng(0).random(len(images))"),
    "mean_face": _UNTRAINED + PIXELS + (
        "_mean_face = _x.mean(axis=0)\n"
        "\ndef score_images(images):\n"
        "    return np.linalg.norm(images.reshape(len(images), -1) / 255.0 - _mean_face, axis=1)"),
    "untrained": _scores("anomaly_scores(model, images)"),
    # A trained model whose score says "more normal" where it should say "more anomalous".
    "flipped": MEDIUM_SOLVED.replace("return anomaly_scores(model, images)", "return -anomaly_scores(model, images)"),
    # No score_images at all: scores of the test set by row.
    "no_function": _UNTRAINED + "scores = np.arange(len(test), dtype=float)",
}


#: 03: two encoders (fully connected, convolutional), their codes fused, one decoder; the encoders' codes by
#: ``encoder_codes``.
STRONG_MODEL = '''
class MultiEncoderAE(nn.Module):
    """Two encoders (fully connected, convolutional), their codes fused into one latent, one decoder."""

    def __init__(self, latent=32):
        super().__init__()
        self.encoders = nn.ModuleList([
            nn.Sequential(nn.Flatten(), nn.Linear(3 * 64 * 64, 256), nn.ReLU(), nn.Linear(256, latent)),
            nn.Sequential(nn.Conv2d(3, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(),
                          nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 8 * 8, latent))])
        self.fuse = nn.Linear(2 * latent, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, 256), nn.ReLU(), nn.Linear(256, 3 * 64 * 64), nn.Tanh())

    def forward(self, x):
        z = self.fuse(torch.cat([enc(x) for enc in self.encoders], 1))
        return self.decoder(z).reshape(-1, 3, 64, 64)

'''
STRONG_SOLVED = "from starter_code.data import to_model_input\n\n" + STRONG_MODEL + '''

model = MultiEncoderAE()
history = fit(model, train, cfg.replace(schedule="cosine"))


def score_images(images):
    return anomaly_scores(model, images)


def encoder_codes(images):
    model.eval()
    with torch.no_grad():
        x = to_model_input(np.ascontiguousarray(images))
        return [enc(x).numpy() for enc in model.encoders]
'''
STRONG_NO_WORK = {
    # The multi-encoder model, untrained.
    "untrained": {"train": STRONG_SOLVED.replace('history = fit(model, train, cfg.replace(schedule="cosine"))',
                                                                   "history = None")},
    # Two "encoders" that are pixel statistics, and the distance to the mean face as the score.
    "pixel_statistics": {"train": _UNTRAINED + PIXELS + (
        "_mean_face = _x.mean(axis=0)\n"
        "\ndef score_images(images):\n"
        "    return np.linalg.norm(images.reshape(len(images), -1) / 255.0 - _mean_face, axis=1)\n"
        "\ndef encoder_codes(images):\n"
        "    flat = images.reshape(len(images), -1) / 255.0\n"
        "    return [flat[:, :64], flat.reshape(len(images), 64, -1).mean(axis=2)]")},
    # No multi-encoder model and no functions: what the old read-only check cells computed, assigned in cells
    # of their own.
    "checks_assigned": {"train": _UNTRAINED + "scores = np.arange(len(test), dtype=float)",
                        "+train": "encoders_check = {'container': 'ModuleList', 'count': 3, 'codes': [\n"
                                  "    {'shape': [3, 16], 'finite': True, 'parameters': 100}] * 3}",
                        "+encoders_check": "codes_of_three = [np.zeros((3, 16)), np.ones((3, 16))]"},
}

#: 04 answered from its instructions alone, with nothing but starter_code, numpy and torch.
BOSS_SOLVED = {"autoencoder": """
reference, fit_faces = train[:len(train) // 8], train[len(train) // 8:]
ae, ae_history = build_and_fit(fit_faces, cfg)


def ae_scores(images):
    return anomaly_scores(ae, images)
""", "make_anomalies": """
rng = np.random.default_rng(seed)
out = np.array(faces)
for i in range(len(out)):  # a square of random pixels somewhere on each face
    y, x = rng.integers(0, 40, size=2)
    out[i, y:y + 24, x:x + 24] = rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
return out
""", "classifier": """
clf = nn.Sequential(nn.Conv2d(3, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(),
                    nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(64, 1))
batches = [0]


def clf_loss(clf, x):
    batches[0] += 1
    bad = to_model_input(make_anomalies(from_model_output(x), seed=batches[0]), x.device)
    logits = clf(torch.cat([x, bad])).squeeze(1)
    target = torch.cat([torch.zeros(len(x)), torch.ones(len(bad))]).to(x.device)
    return nn.functional.binary_cross_entropy_with_logits(logits, target)


clf_history = fit(clf, fit_faces, clf_cfg, loss_fn=clf_loss)


def clf_scores(images):
    clf.eval()
    with torch.no_grad():
        return np.concatenate([clf(to_model_input(images[i:i + 256])).squeeze(1).numpy()
                               for i in range(0, len(images), 256)])
""", "combine": """
def on_one_scale(scores, ref):
    return (scores - np.median(ref)) / np.subtract(*np.percentile(ref, [75, 25]))


_ae_reference, _clf_reference = ae_scores(reference), clf_scores(reference)


def score_images(images):
    return on_one_scale(ae_scores(images), _ae_reference) + 0.5 * on_one_scale(clf_scores(images), _clf_reference)
"""}

BOSS_NO_WORK = {
    # No model at all, the old check values assigned in cells of their own; make_anomalies left as released.
    "none_with_checks": {
        "autoencoder": "ae = clf = None\nae_history = clf_history = None\nreference, fit_faces = train[:32], train[32:]",
        "+autoencoder": "ae_check = {'faces': train[:4], 'faces_reconstructed': train[:4], 'noise': train[:4] * 0,\n"
                        "            'noise_reconstructed': train[:4]}\n"
                        "ae_scores_all = np.arange(len(test) + 128, dtype=float)",
        "classifier": "clf_scores_all = np.arange(len(test) + 128, dtype=float)",
        "+classifier": "clf_check = {'faces': np.zeros(32), 'anomalies': np.ones(32)}",
        "combine": "scores_all = np.arange(len(test) + 128, dtype=float)\nscores = scores_all[:len(test)]"},
}

#: 05: a latent edit for any element and factor, the trained fcn's.
#: Brightness steps named as latent edits (a trained fcn beside them): in the figure and as ``edit_latent``.
BRIGHTNESS_EDIT = "return np.clip(reconstruct(model, images).astype(int) + int(40 * factor), 0, 255).astype(np.uint8)"
REPORT_SOLVED = {"q2_train": TRAINED_FCN, "q2_adjust": LATENT, "q2_edit": EDIT_LATENT}
REPORT_NO_WORK = {"trained_brightness": {"q2_train": TRAINED_FCN, "q2_adjust": BRIGHTNESS, "q2_edit": BRIGHTNESS_EDIT},
                  "untrained_edit": {"q2_train": UNTRAINED_FCN, "q2_adjust": LATENT, "q2_edit": EDIT_LATENT}}

def _submission(release_nb, answers: dict):
    """The released notebook answered: each grade id's stub replaced by its code, and for each ``+<grade id>`` a
    cell of the student's own added after that cell."""
    from nbformat.v4 import new_code_cell

    from tests.autograde.fixtures import answered_submission
    nb = answered_submission(release_nb, {k: v for k, v in answers.items() if not k.startswith("+")})
    for key, code in answers.items():
        if key.startswith("+"):
            i = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == key[1:])
            nb.cells.insert(i + 1, new_code_cell(code))
    return nb


def _grade_batch(course, data_dir, batch: dict) -> dict:
    """Autograde, in one run with two workers, each assignment's answers (assignment -> {student id -> answers by
    grade id}): (assignment, student id) -> Result."""
    import nbformat

    from grader.autograde.run import AutogradeConfig, autograde
    from tests.autograde.fixtures import submit_notebooks
    for assignment, answers in batch.items():
        rel = nbformat.read(str(course.course_dir / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
        submit_notebooks(course, assignment, {sid: _submission(rel, a) for sid, a in answers.items()})
    cfg = AutogradeConfig(workers=2, cell_timeout=300, notebook_timeout=600, data_dir=data_dir, feedback=False)
    return {(r.assignment, r.student): r for r in autograde(course, cfg, assignments=list(batch), progress=False)}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    return release_course(tmp_path_factory.mktemp("nowork_models"), M, S, B, R)


@pytest.fixture(scope="module")
def released_medium(tmp_path_factory):
    """02 alone: what the fast batch grades (a release takes seconds per assignment)."""
    return release_course(tmp_path_factory.mktemp("nowork_medium"), M)


#: The fast batch: 02's answers that train nothing (each assignment graded costs its reference's run).
FAST = {M: {k: MEDIUM_NO_WORK[k] for k in ("constant", "mean_face", "untrained", "no_function")}}


@pytest.fixture(scope="module")
def no_work(sandbox, released_medium, grading_tiny, tmp_path_factory):
    course = copy_course(released_medium, tmp_path_factory.mktemp("fast"))
    batch = {a: {sid: (v if isinstance(v, dict) else {"train": v}) for sid, v in answers.items()}
             for a, answers in FAST.items()}
    return course, _grade_batch(course, grading_tiny.data_dir, batch)


@pytest.mark.parametrize("assignment, answer", [(a, sid) for a, answers in FAST.items() for sid in answers])
def test_an_answer_without_the_work_gets_no_code_point(no_work, assignment, answer):
    r = no_work[1][(assignment, answer)]
    assert r.status == "graded" and r.code_score == 0, r


def test_a_failing_function_is_the_students_failed_test_not_a_grading_error(no_work):
    """Constant scores, and a function the notebook never defined, are graded answers whose autograded page says
    what the autograder's call found."""
    course, res = no_work
    for (a, sid), needle in {(M, "constant"): "ROC-AUC is 0.500",
                             (M, "no_function"): "`score_images`, which is not defined in your notebook"}.items():
        assert res[(a, sid)].status == "graded"
        text = (course.course_dir / "autograded" / sid / a / f"{a}.ipynb").read_text(encoding="utf-8")
        assert needle in text, (a, sid, needle)


def test_the_probe_step_asks_what_the_reference_says(no_work):
    """The probe step's request (04's make_anomalies seed) comes from the course's secret seed: a regrade asks the
    same, another seed something else."""
    from grader.autograde import probes
    course, _ = no_work
    seed = probes.course_seed(course.course_dir)
    asked = probes.request(B, seed)
    assert asked == probes.request(B, seed) and set(asked) == {"score", "ae_score", "clf_score", "anomalies"}
    assert asked["anomalies"]["seed"] != probes.request(B, seed + 1)["anomalies"]["seed"]


@pytest.mark.slow
def test_more_answers_without_the_work_get_no_code_point(sandbox, released, grading_tiny, tmp_path):
    """The rest of the corpus: scores rising with the test row index or with the order of the autograder's images,
    random scores and a trained model's scores with the sign flipped in 02; an untrained multi-encoder model, pixel
    statistics and check values assigned in added cells in 03; no model and assigned checks in 04; and 05's latent
    edits (these train an fcn): brightness steps beside a trained fcn, an untrained fcn's edit."""
    batch = {M: {k: {"train": MEDIUM_NO_WORK[k]} for k in ("row_index", "probe_order", "random", "flipped")},
             S: STRONG_NO_WORK, B: BOSS_NO_WORK, R: REPORT_NO_WORK}
    res = _grade_batch(copy_course(released, tmp_path), grading_tiny.data_dir, batch)
    for key in [(a, sid) for a, answers in batch.items() for sid in answers]:
        assert res[key].status == "graded" and res[key].code_score == 0, res[key]


@pytest.mark.slow
def test_the_solved_answers_get_every_code_point(sandbox, released, grading_tiny, tmp_path):
    batch = {M: {"solved": {"train": MEDIUM_SOLVED}}, S: {"solved": {"train": STRONG_SOLVED}},
             B: {"solved": BOSS_SOLVED}, R: {"solved": REPORT_SOLVED}}
    res = _grade_batch(copy_course(released, tmp_path), grading_tiny.data_dir, batch)
    for a, points in ((M, 4), (S, 6), (B, 10), (R, 5)):
        assert res[(a, "solved")].status == "graded" and res[(a, "solved")].code_score == points, res[(a, "solved")]
        assert res[(a, "solved")].tampering == []
