"""The secret probes (``grader/autograde/probes.py``) and what crosses to the test kernel for them
(``exchange.py``): the seed, the draw, the bars, the folder the test kernel reads, and sample models as weights.

No sandbox and no notebook here (``test_no_work.py`` runs them through the autograder): one small data folder
made in the test, models at their initial weights.
"""
from __future__ import annotations

import dataclasses
import os

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


def test_03s_bar_is_set_by_the_strong_stage_scored_by_the_sample_codes_error():
    """03 asks for a score of the student's own model and suggests the sample code's error: its bar comes from the
    strong stage scored by 'l2' (``anomaly_scores``' score), not by the stage's own 'residual' score or by
    'pixel_var', which a working model scored by its error would not reach (docs/results.md, "Secret probes");
    the override is one ``kit run --set`` parses into a key the stage has."""
    from kit.run import parse_overrides
    from solutions import strong
    ref = probes.REFERENCES["03_strong"]
    cfg = strong.CONFIG.resolve(smoke=True, **parse_overrides(list(ref.overrides)))
    assert ref.stage == "strong" and cfg.score == "l2" and strong.CONFIG.resolve(smoke=True).score == "residual"


def test_a_changed_reference_is_measured_again(grading_data, tmp_path, monkeypatch):
    """The stored scores are named by the reference's stage and overrides too: a kit whose reference changed does
    not judge with the scores of the old one."""
    data, _ = grading_data
    runs = []
    monkeypatch.setattr(probes, "_run_reference", lambda ref, d, smoke: runs.append(ref.overrides) or
                        np.arange(40, dtype=float))
    probes.reference_scores("03_strong", data, tmp_path / "course", smoke=True)
    before = probes.reference_path("03_strong", data, tmp_path / "course", smoke=True)
    changed = dataclasses.replace(probes.REFERENCES["03_strong"], overrides=('score="pixel_var"',))
    monkeypatch.setitem(probes.REFERENCES, "03_strong", changed)
    probes.reference_scores("03_strong", data, tmp_path / "course", smoke=True)
    assert runs == [('score="l2"',), ('score="pixel_var"',)] and before.is_file()
    assert probes.reference_path("03_strong", data, tmp_path / "course", smoke=True) != before


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
    assert probes.prepare("ps1", data, tmp_path, smoke=True) is None
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


def test_the_students_own_models_are_judged_by_their_ranking_against_their_references_bar(grading_data):
    """02-04 judge what score_images returns: by the ROC-AUC (02 and 03 also within strata), the reference's less a
    margin."""
    data, labels = grading_data
    drawn = probes.draw(data, 3)
    reference = np.where(labels == 1, 50.0, 10.0) - (np.arange(40) % 5 == 0) * 45.0     # some anomalies missed
    for a in ("02_medium", "03_strong", "04_boss"):
        ref = probes.REFERENCES[a]
        bars = probes.bar(a, drawn, reference)
        assert "score" in ref.calls and bars["min_auc"] == round(max(bars["reference_auc"] - ref.margin, ref.floor), 4)
    assert probes.REFERENCES["01_simple"].calls == ()


def test_the_matched_auc_counts_only_the_pairs_within_a_stratum():
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(size=300) + labels, 1)            # ties included
    strata = rng.integers(0, 4, 300)
    assert exchange.matched_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert exchange.matched_auc(labels, scores) == pytest.approx(roc_auc(labels, scores), abs=1e-12)
    pairs = [(labels[strata == s] == 1).sum() * (labels[strata == s] == 0).sum() for s in range(4)]
    per_stratum = [roc_auc_score(labels[strata == s], scores[strata == s]) for s in range(4)]
    assert exchange.matched_auc(labels, scores, strata) == pytest.approx(np.average(per_stratum, weights=pairs))
    # A stratum of one class holds no pair; strata that hold no pair at all judge nothing.
    strata[labels == 1] = 7
    strata[(labels == 0) & (np.arange(300) < 150)] = 8
    with pytest.raises(ValueError, match="no stratum"):
        exchange.matched_auc(labels, scores, strata)


def test_matched_strata_leave_a_pixel_statistic_near_chance_and_a_model_its_lead():
    """On 1,024 probes whose anomalies are a little brighter, brightness ranks them as well over all pairs as the
    pixel statistics rank the grading data (~0.6) and near chance within strata; a score that sees something the
    pixel statistics do not keeps its lead."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 512)
    level = rng.normal(120, 20, 1024) + 8 * labels
    images = np.clip(level[:, None, None, None] + rng.normal(0, 30, (1024, 64, 64, 3)), 0, 255).astype(np.uint8)
    strata = probes.match_strata(images, labels, np.full(64 * 64 * 3, 0.5))
    assert strata.dtype == np.int8 and np.bincount(strata).tolist() == [205, 205, 204, 205, 205]
    assert np.array_equal(strata, probes.match_strata(images, labels, np.full(64 * 64 * 3, 0.5)))
    brightness = images.reshape(1024, -1).mean(axis=1)
    assert exchange.matched_auc(labels, brightness) > 0.59
    assert abs(exchange.matched_auc(labels, brightness, strata) - 0.5) < 0.03
    model = labels + rng.normal(0, 1.2, 1024)                    # independent of the statistics
    assert abs(exchange.matched_auc(labels, model, strata) - exchange.matched_auc(labels, model)) < 0.03


def test_02_and_03_are_also_judged_within_strata_and_the_test_kernel_gets_them(tmp_path, grading_data):
    data, labels = grading_data
    assert {a for a, r in probes.REFERENCES.items() if r.matched} == {"02_medium", "03_strong"}
    (tmp_path / "course" / probes.FOLDER).mkdir(parents=True)
    reference = np.where(labels == 1, 50.0, 10.0) + np.arange(40) * 0.01
    seed = probes.course_seed(tmp_path / "course")
    for a in ("02_medium", "04_boss"):
        np.save(probes.reference_path(a, data, tmp_path / "course", smoke=True), reference)
    matched, bars = probes.prepare("02_medium", data, tmp_path / "course", smoke=True)
    plain, _ = probes.prepare("04_boss", data, tmp_path / "course", smoke=True)
    assert plain.strata is None and np.array_equal(matched.rows, probes.draw(data, seed).rows)
    train = np.load(data / "trainingset.npy").reshape(8, -1) / 255.0
    assert np.array_equal(matched.strata, probes.match_strata(matched.images, matched.labels, train.mean(axis=0)))
    scores = reference[matched.rows]
    assert bars["reference_matched_auc"] == round(exchange.matched_auc(matched.labels, scores, matched.strata), 4)
    assert bars["reference_auc"] == round(exchange.matched_auc(matched.labels, scores), 4)
    assert "min_matched_auc" in bars and "min_matched_auc" not in probes.bar("04_boss", plain, reference)
    folder = tmp_path / "export" / exchange.GRADER_FOLDER
    (tmp_path / "export").mkdir()
    probes.write_for_tests(folder, matched, bars)
    seen = exchange.SecretProbes(str(folder))
    assert np.array_equal(seen.strata, matched.strata) and seen.min_matched_auc == bars["min_matched_auc"]
    assert seen.matched_auc(scores) == exchange.matched_auc(matched.labels, scores, matched.strata)
    assert seen.auc(scores) == exchange.matched_auc(matched.labels, scores)
    probes.write_for_tests(folder, plain, probes.bar("04_boss", plain, reference))
    unmatched = exchange.SecretProbes(str(folder))
    assert unmatched.strata is None and unmatched.min_matched_auc is None
    with pytest.raises(ValueError, match="no strata"):
        unmatched.matched_auc(reference[plain.rows])


def test_check_ranking_asks_both_bars_where_there_are_strata(tmp_path, grading_data):
    """A score that ranks well over all pairs but not within strata (a pixel statistic) fails; one that ranks well
    within them too passes; without strata only the bar over all pairs counts."""
    data, _ = grading_data
    drawn = probes.draw(data, 3)
    # Stratum 1 holds 8 of the 10 anomalies and 10 of the 30 faces: a statistic that is the stratum ranks well over
    # all pairs (0.733) and at chance within the strata.
    strata = np.zeros(40, np.int8)
    strata[np.flatnonzero(drawn.labels == 1)[:8]] = strata[np.flatnonzero(drawn.labels == 0)[:10]] = 1
    drawn = probes.ProbeSet(drawn.images, drawn.labels, drawn.rows, strata)
    meta = {"reference_auc": 0.9, "min_auc": 0.7, "reference_matched_auc": 0.8, "min_matched_auc": 0.6,
            "reference_face_error": 10.0, "max_face_error": 20.0}
    folder = tmp_path / exchange.GRADER_FOLDER
    probes.write_for_tests(folder, drawn, meta)
    seen = exchange.SecretProbes(str(folder))
    good = drawn.labels + 0.01 * np.arange(40)
    assert seen.check_ranking(good) is None and seen.auc(good) == seen.matched_auc(good) == 1.0
    statistic = 10.0 * strata
    assert seen.auc(statistic) == pytest.approx(0.7333, abs=1e-4) and seen.matched_auc(statistic) == 0.5
    with pytest.raises(AssertionError, match="alike in their pixel statistics"):
        seen.check_ranking(statistic, "score_images")
    with pytest.raises(AssertionError, match=r"ROC-AUC is 0\.500, below the bar 0\.700"):
        seen.check_ranking(np.ones(40))
    probes.write_for_tests(folder, probes.ProbeSet(drawn.images, drawn.labels, drawn.rows), meta)
    assert exchange.SecretProbes(str(folder)).check_ranking(statistic) is None


def test_each_notebook_tells_students_its_bars():
    """What each notebook's text says of its ROC-AUC bar ("at most X below the reference ..., and at least F") is
    its reference's margin and floor."""
    import re

    from grader.autograde.course import REPO_ROOT
    for a, ref in probes.REFERENCES.items():
        if ref.margin is None:
            continue
        text = (REPO_ROOT / "assignments" / "source" / a / f"{a}.py").read_text(encoding="utf-8")
        prose = " ".join(line.removeprefix("#").strip() for line in text.splitlines() if line.startswith("#"))
        margins = {float(m) for m in re.findall(r"at most (0\.\d+) below", prose)}
        floors = {float(m) for m in re.findall(r"at least (0\.\d+)", prose)}
        assert margins == {ref.margin} and ref.floor in floors, (a, margins, floors)


def test_the_probe_steps_request_is_drawn_from_the_secret_seed():
    """The element and factor of 05's latent edit, 04's make_anomalies seed: the same for a regrade, other for
    another course; the element is one of the sample fcn's code."""
    from starter_code.notebook import LATENT_ELEMENTS, PROBE_FUNCTIONS
    assert probes.LATENT_ELEMENTS == LATENT_ELEMENTS
    assert all(set(r.calls) <= set(PROBE_FUNCTIONS) for r in probes.REFERENCES.values())
    asks = [probes.request("05_report", seed) for seed in range(40)]
    assert asks[7] == probes.request("05_report", 7)
    assert {a["latent"]["index"] for a in asks} == set(range(LATENT_ELEMENTS))
    assert {a["latent"]["factor"] for a in asks} == set(probes.LATENT_FACTORS) and 1.0 not in probes.LATENT_FACTORS
    assert len({probes.request("04_boss", seed)["anomalies"]["seed"] for seed in range(40)}) == 40
    assert probes.request("01_simple", 7) == {}


def _probe_step(tmp_path, drawn, ns: dict, request: dict, outcome: str = "ran") -> exchange.SecretProbes:
    """The probe step as the worker and the student's kernel run it (no sandbox), then the test kernel's view."""
    export = tmp_path / "export"
    export.mkdir(exist_ok=True)
    os.close(probes.write_for_student(export, "probe-1", drawn, request, None))
    assert sorted(p.name for p in (export / "probe-1").iterdir()) == ["images.npy", "out", "request.json"]
    if outcome == "ran":
        exchange.probe_step(str(export / "probe-1"), ns)
    meta = {"reference_auc": 0.8, "min_auc": 0.7, "reference_face_error": 10.0, "max_face_error": 20.0,
            "request": request, "probe_step": {"outcome": outcome, "timeout": 5, "out": "probe-1/out"}}
    probes.write_for_tests(export / exchange.GRADER_FOLDER, drawn, meta)
    return exchange.SecretProbes(str(export / exchange.GRADER_FOLDER))


def test_the_probe_step_hands_the_images_without_labels_and_returns_only_numbers(grading_data, tmp_path):
    data, labels = grading_data
    drawn = probes.draw(data, 2)
    seen = []

    def score_images(images):
        seen.append(images)
        return images.reshape(len(images), -1).mean(axis=1)          # a pixel statistic: judged, not trusted

    ask = {"score": {}, "anomalies": {"images": 4, "seed": 9}, "latent": {"images": 3, "index": 1, "factor": 2.0}}
    secret = _probe_step(tmp_path, drawn, {"score_images": score_images,
                                           "make_anomalies": lambda faces, seed: 255 - faces,
                                           "edit_latent": lambda images, i, f: images[:, ::-1]}, ask)
    assert np.array_equal(seen[0], drawn.images)          # in the drawn (secret) order
    student_folder = tmp_path / "export" / "probe-1"
    assert b"labels" not in (student_folder / "request.json").read_bytes()
    scores = secret.returned_scores("score_images")
    assert np.allclose(scores, drawn.images.reshape(40, -1).mean(axis=1))
    assert secret.auc(scores) == pytest.approx(roc_auc(drawn.labels, scores))
    bad, again, other, after = secret.returned("make_anomalies")
    assert np.array_equal(bad, 255 - drawn.images[:4]) and np.array_equal(after, drawn.images[:4])
    assert np.array_equal(secret.returned("edit_latent"), drawn.images[:3, ::-1])


@pytest.mark.parametrize("ns, outcome, message", [
    ({}, "ran", "`score_images`, which is not defined in your notebook"),
    ({"score_images": 3}, "ran", "(`score_images` is a int)"),
    ({"score_images": lambda images: 1 / 0}, "ran", "raised ZeroDivisionError"),
    ({"score_images": lambda images: np.zeros(3)}, "ran", "must return 40 scores (shape (40,)), got shape (3,)"),
    ({"score_images": lambda images: np.full(len(images), np.nan)}, "ran", "NaN or infinite scores for 40 of 40"),
    ({"score_images": lambda images: ["a"] * len(images)}, "ran", "must return numbers"),
    ({"score_images": lambda images: np.zeros(len(images))}, "timeout", "did not finish within the cell time limit"),
    ({"score_images": lambda images: np.zeros(len(images))}, "died", "the notebook's kernel was dead"),
])
def test_whatever_goes_wrong_in_the_probe_step_is_a_failed_test_that_says_what(grading_data, tmp_path, ns, outcome,
                                                                               message):
    data, _ = grading_data
    secret = _probe_step(tmp_path, probes.draw(data, 2), ns, {"score": {}}, outcome)
    with pytest.raises(AssertionError) as e:
        secret.returned_scores("score_images")
    assert message in str(e.value)


@pytest.mark.parametrize("alive, outputs, outcome", [
    (True, [], "ran"), (True, [{"output_type": "error", "ename": "CellTimeoutError", "evalue": ""}], "timeout"),
    (False, [], "died")])
def test_the_probe_step_runs_its_own_cell_in_a_fresh_folder_and_says_how_it_ended(grading_data, tmp_path, alive,
                                                                                   outputs, outcome):
    """``execute.ProbeStep`` with a stand-in for the student's kernel: the cell is the grader's, the folder is new
    (a random name), the images go when the kernel is gone and the answers stay for the test kernel."""
    import asyncio

    import nbformat

    from grader.autograde.execute import ProbeStep
    data, _ = grading_data
    ran = []

    class Kernel:
        nb = nbformat.v4.new_notebook()

        async def execute(self, cell, index):
            ran.append((cell.source, index, sorted(p.name for p in step.folder.iterdir())))
            cell.outputs = outputs
            return alive

    step = ProbeStep(probes.draw(data, 4), {"score": {}}, tmp_path, "/hw8/export", None, timeout=7)
    other = ProbeStep(probes.draw(data, 4), {"score": {}}, tmp_path, "/hw8/export", None, timeout=7)
    assert step.name != other.name and step.name.startswith("probe-") and not step.folder.exists()
    asyncio.run(step.run(Kernel()))
    (source, index, files), = ran
    assert source == f"__import__('hw8_exchange').probe_step('/hw8/export/{step.name}', globals())" and index == 0
    assert files == ["images.npy", "out", "request.json"] and step.outcome == outcome
    step.remove_inputs()
    assert sorted(p.name for p in step.folder.iterdir()) == ["out"]
    assert step.summary() == {"outcome": outcome, "timeout": 7, "out": f"{step.name}/out"}


def test_the_probe_steps_folder_is_new_and_a_link_in_its_place_is_not_followed(grading_data, tmp_path):
    data, _ = grading_data
    drawn = probes.draw(data, 1)
    export, elsewhere = tmp_path / "export", tmp_path / "elsewhere"
    export.mkdir()
    elsewhere.mkdir()
    (export / "probe-2").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(FileExistsError):
        probes.write_for_student(export, "probe-2", drawn, {"score": {}}, None)
    fd = probes.write_for_student(export, "probe-3", drawn, {"score": {}}, None)
    # The student's kernel swaps the folder for a link: what the grader still writes goes into the folder it made.
    (export / "probe-3").rename(export / "moved")
    (export / "probe-3").symlink_to(elsewhere, target_is_directory=True)
    os.unlink("images.npy", dir_fd=fd)
    os.close(fd)
    assert list(elsewhere.iterdir()) == [] and sorted(p.name for p in (export / "moved").iterdir()) == [
        "out", "request.json"]


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
