"""The secret probes (``grader/autograde/probes.py``) and what crosses to the test kernel for them
(``exchange.py``): the seed, the draw, the bars, the folder the test kernel reads, and sample models as weights.

No sandbox and no notebook here (``test_no_work.py`` runs them through the autograder): one small data folder
made in the test, models at their initial weights.
"""
from __future__ import annotations

import numpy as np
import pytest

from common.answer_key import AnswerKey, write_answer_key
from grader.autograde import exchange, probes
from grader.metrics import roc_auc


@pytest.fixture
def grading_data(tmp_path):
    """A grading data folder as ``data_tools build`` lays it out: 40 test images (every 4th anomalous) and the key."""
    rng = np.random.default_rng(0)
    data = tmp_path / "grading" / "data"
    data.mkdir(parents=True)
    np.save(data / "trainingset.npy", rng.integers(0, 256, (8, 64, 64, 3), dtype=np.uint8))
    np.save(data / "testingset.npy", rng.integers(0, 256, (40, 64, 64, 3), dtype=np.uint8))
    labels = (np.arange(40) % 4 == 0).astype(np.int8)
    write_answer_key(AnswerKey(labels=labels, usage=np.where(np.arange(40) < 20, "Public", "Private"),
                               kinds=np.where(labels == 1, "glasses", "normal")),
                     tmp_path / "grading" / "answers" / "solution.csv")
    return data, labels


def test_the_course_seed_is_made_private_once_and_reused(tmp_path):
    seed = probes.course_seed(tmp_path)
    path = tmp_path / probes.FOLDER / "seed"
    assert path.stat().st_mode & 0o777 == 0o600
    assert probes.course_seed(tmp_path) == seed
    path.write_text("not a number\n")
    with pytest.raises(probes.ProbeError, match="not a seed"):
        probes.course_seed(tmp_path)


def test_the_draw_is_the_seeds_shuffle_of_the_labelled_test_rows(grading_data):
    data, labels = grading_data
    test = np.load(data / "testingset.npy")
    a, again, other = probes.draw(data, 5), probes.draw(data, 5), probes.draw(data, 6)
    assert np.array_equal(a.rows, again.rows) and not np.array_equal(a.rows, other.rows)
    assert sorted(a.rows) == list(range(40)) and not np.array_equal(a.rows, np.arange(40))
    assert np.array_equal(a.images, test[a.rows]) and np.array_equal(a.labels, labels[a.rows])
    assert len(probes.draw(data, 5, n=12).rows) == 12


def test_no_answer_key_no_probes(grading_data):
    data, _ = grading_data
    (data.parent / "answers" / "solution.csv").unlink()
    with pytest.raises(probes.ProbeError, match="answer key is missing"):
        probes.draw(data, 1)


def test_the_bars_come_from_the_references_scores_on_the_probes(grading_data):
    data, labels = grading_data
    drawn = probes.draw(data, 3, n=20)
    reference = np.where(labels == 1, 50.0, 10.0) + np.arange(40) * 0.01     # separates every probe
    bars = probes.bar("01_simple", drawn, reference)
    ref = probes.REFERENCES["01_simple"]
    assert bars["reference_auc"] == 1.0 and bars["min_auc"] == round(1.0 - ref.margin, 4)
    face = float(np.median(reference[drawn.rows][drawn.labels == 0]))
    assert bars["reference_face_error"] == round(face, 4)
    assert bars["max_face_error"] == round(face * ref.face_factor, 4)
    with pytest.raises(probes.ProbeError, match="cannot tell a working model from chance"):
        probes.bar("01_simple", drawn, np.zeros(40))
    # 05's tests judge that its fcn learned faces, not how it ranks: no AUC bar, whatever the reference's AUC.
    report = probes.bar("05_report", drawn, np.full(40, 7.0))
    assert "min_auc" not in report and report["max_face_error"] == 7.0 * probes.REFERENCES["05_report"].face_factor


def test_the_reference_is_measured_once_per_data_set_and_stored_private(grading_data, tmp_path, monkeypatch):
    data, _ = grading_data
    runs = []
    monkeypatch.setattr(probes, "_run_reference", lambda ref, d, smoke: runs.append((ref.stage, smoke)) or
                        np.arange(40, dtype=float))
    first = probes.reference_scores("01_simple", data, tmp_path / "course", smoke=True)
    again = probes.reference_scores("01_simple", data, tmp_path / "course", smoke=True)
    assert np.array_equal(first, again) and runs == [("simple", True)]
    stored = list((tmp_path / "course" / probes.FOLDER).glob("reference-01_simple-*-smoke.npy"))
    assert len(stored) == 1 and stored[0].stat().st_mode & 0o777 == 0o600
    probes.reference_scores("01_simple", data, tmp_path / "course", smoke=False)
    assert runs == [("simple", True), ("simple", False)]


def test_only_assignments_with_a_reference_get_probes(grading_data, tmp_path):
    data, _ = grading_data
    assert probes.prepare("02_medium", data, tmp_path, smoke=True) is None
    with pytest.raises(probes.ProbeError, match="--data"):
        probes.prepare("01_simple", None, tmp_path, smoke=True)


def test_the_test_kernel_reads_the_probes_and_a_planted_link_is_replaced_not_followed(grading_data, tmp_path):
    data, _ = grading_data
    drawn = probes.draw(data, 2)
    export = tmp_path / "export"
    export.mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (export / exchange.GRADER_FOLDER).symlink_to(target, target_is_directory=True)
    meta = {"reference_auc": 0.8, "min_auc": 0.7, "reference_face_error": 10.0, "max_face_error": 20.0}
    probes.write_for_tests(export / exchange.GRADER_FOLDER, drawn, meta)
    assert list(target.iterdir()) == [] and not (export / exchange.GRADER_FOLDER).is_symlink()
    assert (export / exchange.GRADER_FOLDER / exchange.PROBES_FILE).stat().st_mode & 0o777 == 0o644

    ns = {"secret_probes": "the student's own"}
    exchange.load(0, ["secret_probes"], ns, folder=str(export))
    secret = ns["secret_probes"]
    assert isinstance(secret, exchange.SecretProbes) and len(secret) == 40
    assert np.array_equal(secret.images, drawn.images) and np.array_equal(secret.labels, drawn.labels)
    assert np.array_equal(secret.rows, drawn.rows)
    assert (secret.min_auc, secret.max_face_error) == (0.7, 20.0)
    scores = np.random.default_rng(1).integers(0, 5, 40).astype(float)       # ties included
    assert secret.auc(scores) == pytest.approx(roc_auc(drawn.labels, scores), abs=1e-12)
    assert secret.face_error(scores) == float(np.median(scores[drawn.labels == 0]))
    with pytest.raises(ValueError, match="expected 40 scores"):
        secret.auc(scores[:-1])
    del meta["min_auc"]
    probes.write_for_tests(export / exchange.GRADER_FOLDER, drawn, meta)
    assert exchange.SecretProbes(str(export / exchange.GRADER_FOLDER)).min_auc is None


def test_without_the_graders_folder_secret_probes_stay_undefined(tmp_path, capsys):
    ns = {"secret_probes": "the student's own"}
    exchange.load(0, ["secret_probes"], ns, folder=str(tmp_path))
    assert "secret_probes" not in ns and "no secret_probes" in capsys.readouterr().err


def test_the_student_cannot_export_secret_probes(tmp_path):
    exchange.export(0, ["secret_probes", "x"], {"secret_probes": np.ones(3), "x": 1}, folder=str(tmp_path))
    manifest = (tmp_path / "0" / "manifest.json").read_text()
    assert "secret_probes" not in manifest and '"x"' in manifest


# -- sample models as weights -----------------------------------------------------------------------------------

torch = pytest.importorskip("torch")


def _round_trip(value, tmp_path, name="model"):
    exchange.export(0, [name], {name: value}, folder=str(tmp_path))
    ns: dict = {}
    exchange.load(0, [name], ns, folder=str(tmp_path))
    return ns[name]


@pytest.mark.parametrize("kind, kwargs", [("cnn", {"channels": (4, 8)}), ("fcn", {"hidden": (32, 16), "latent_dim": 5}),
                                          ("vae", {"channels": (4, 6, 8), "sample_at_eval": False}),
                                          ("cnn", {})])
def test_a_sample_model_crosses_as_weights_and_is_rebuilt_by_starter_code(kind, kwargs, tmp_path):
    from starter_code import anomaly_scores
    from starter_code.models import build_model
    torch.manual_seed(0)
    model = build_model(kind, **kwargs)
    rebuilt = _round_trip(model, tmp_path)
    assert type(rebuilt) is type(model) and not rebuilt.training
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    assert all(torch.equal(rebuilt.state_dict()[k], v) for k, v in model.state_dict().items())
    if kind == "vae":
        assert rebuilt.sample_at_eval is False
    images = np.random.default_rng(0).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    assert np.allclose(anomaly_scores(rebuilt, images), anomaly_scores(model.eval(), images))


def test_other_models_do_not_cross(tmp_path):
    from starter_code.models import ConvAutoencoder

    class Mine(ConvAutoencoder):
        def reconstruct(self, x):
            return x            # every image reconstructed perfectly

    for value in (Mine(), torch.nn.Linear(2, 2)):
        got = _round_trip(value, tmp_path)
        assert isinstance(got, exchange.Unavailable)
        with pytest.raises(exchange.NotPlainData, match="only starter_code's sample models"):
            got.eval()


def test_tampered_weights_are_not_loaded(tmp_path):
    from starter_code.models import build_model
    exchange.export(0, ["model"], {"model": build_model("cnn")}, folder=str(tmp_path))
    weights = tmp_path / "0" / "m0.npz"
    with np.load(weights) as z:
        state = {k: z[k] for k in z.files}
    state["decoder.0.weight"] = state["decoder.0.weight"][:, :2]
    np.savez(weights, **state)
    ns: dict = {}
    exchange.load(0, ["model"], ns, folder=str(tmp_path))
    assert isinstance(ns["model"], exchange.Unavailable)
    original = (tmp_path / "0" / "manifest.json").read_text()
    for forged in (original.replace("conv.ConvAutoencoder", "conv.Other"),      # a class outside the table
                   original.replace('"m0.npz"', '"../m0.npz"')):                # a file outside the step
        (tmp_path / "0" / "manifest.json").write_text(forged)
        exchange.load(0, ["model"], ns, folder=str(tmp_path))
        assert isinstance(ns["model"], exchange.Unavailable)
