"""The answer key's family column, per-family AUC, ``--private-only-kinds`` and the file modes of a build."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from data_tools import anomalies
from common.answer_key import (FAMILIES, AnswerKey, AnswerKeyError, load_answer_key, write_answer_key)
from data_tools.build import ANSWER_MODE, DATA_MODE, BuildConfig, build_dataset
from data_tools.io import DatasetError
from data_tools.splits import stratified_usage, stream

SMALL = dict(n_train=16, n_test_normal=40, n_test_anomalous=40)
MIX = {"glasses": 0.25, "face_mask": 0.25, "cartoon": 0.25, "inverted": 0.25}


@pytest.fixture(scope="module")
def private_only_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("private_only")
    c = BuildConfig.from_preset("tiny", seed=3, mixture=MIX, private_only_kinds=["glasses"], **SMALL)
    return build_dataset(c, root / "data", root / "answers", progress=False)


# -- the family column ---------------------------------------------------------------------------------------
def test_family_column_follows_the_registry(tiny_dataset):
    key = tiny_dataset.key
    assert set(key.families[key.labels == 0]) == {"normal"}
    for kind, family in zip(key.kinds[key.labels == 1], key.families[key.labels == 1]):
        assert family == anomalies.get_kind(kind).family
    assert set(key.families[key.labels == 1]) == set(FAMILIES)
    header = tiny_dataset.paths.solution.read_text().splitlines()[0]
    assert header == "ID,label,Usage,kind,family"
    m = tiny_dataset.manifest
    assert m["families"] == {k: anomalies.get_kind(k).family for k in m["counts"]["kinds"]}
    assert m["counts"]["families"] == {f: int((key.families == f).sum()) for f in FAMILIES}


def test_family_never_reaches_the_students(tiny_dataset):
    for p in tiny_dataset.paths.data.iterdir():
        data = p.read_bytes()
        for word in (*FAMILIES, "family", *anomalies.KINDS):
            assert word.encode() not in data, (p.name, word)


def test_a_key_without_the_family_column_still_loads(tmp_path, tiny_dataset):
    old = tmp_path / "solution.csv"
    lines = tiny_dataset.paths.solution.read_text().splitlines()
    old.write_text("\n".join(",".join(line.split(",")[:4]) for line in lines) + "\n")
    key = load_answer_key(old)
    np.testing.assert_array_equal(key.kinds, tiny_dataset.key.kinds)
    assert set(key.families) == {"normal", "unknown"}
    assert ((key.families == "normal") == (key.labels == 0)).all()


@pytest.mark.parametrize("families, match", [
    (["normal", "semantic", "normal", "weird"], "family must be one of"),
    (["normal", "semantic", "semantic", "imitable"], "family must be 'normal' exactly for label 0"),
    (["normal", "normal", "normal", "imitable"], "family must be 'normal' exactly for label 0"),
])
def test_bad_families_are_refused(tmp_path, families, match):
    key = AnswerKey(labels=np.array([0, 1, 0, 1], np.int8), usage=np.array(["Public", "Public", "Private", "Private"]),
                    kinds=np.array(["normal", "glasses", "normal", "face_mask"]), families=np.array(families))
    with pytest.raises(AnswerKeyError, match=match):
        write_answer_key(key, tmp_path / "k.csv")


# -- per-family AUC --------------------------------------------------------------------------------------------
def test_auc_by_family_is_the_count_weighted_mean_of_its_kinds(tiny_dataset):
    from grader.metrics import roc_auc
    from grader.scoring import auc_by_family, auc_by_kind
    from kit.ladder import mixture_auc
    key = tiny_dataset.key
    rng = np.random.default_rng(0)
    scores = rng.normal(size=len(key)) + np.where(key.families == "semantic", 1.0, 0.0) + \
        np.where(key.kinds == "face_mask", 0.5, 0.0)
    for usage in (None, "Public", "Private"):
        fam = auc_by_family(scores, key, usage)
        kinds = auc_by_kind(scores, key, usage)
        assert list(fam) == list(FAMILIES)
        sel = np.ones(len(key), bool) if usage is None else key.usage == usage
        for f in FAMILIES:
            rows = sel & ((key.labels == 0) | (key.families == f))
            assert fam[f] == pytest.approx(roc_auc(key.labels[rows], scores[rows]), abs=1e-12)
            counts = {k: int((sel & (key.kinds == k)).sum()) for k in kinds if anomalies.get_kind(k).family == f}
            assert fam[f] == pytest.approx(mixture_auc(kinds, counts), abs=1e-12)  # the exact identity
    assert fam["semantic"] > fam["imitable"]


def test_auc_by_family_of_a_key_without_families_reports_unknown():
    from grader.scoring import auc_by_family
    key = AnswerKey(labels=np.array([0, 1, 0, 1], np.int8), usage=np.array(["Public"] * 4),
                    kinds=np.array(["normal", "a", "normal", "b"]))
    assert auc_by_family(np.array([0.0, 1.0, 0.5, 2.0]), key) == {"unknown": 1.0}


# -- --private-only-kinds ----------------------------------------------------------------------------------------
def test_private_only_kinds_never_reach_the_public_board(private_only_build):
    key = load_answer_key(private_only_build.paths.solution)
    glasses = key.kinds == "glasses"
    assert glasses.sum() == 10 and (key.usage[glasses] == "Private").all()
    for kind in ("normal", "face_mask", "cartoon", "inverted"):  # the others keep the stratified 30%
        rows = key.kinds == kind
        assert key.public[rows].sum() == int(np.floor(0.3 * rows.sum() + 0.5)), kind
    m = private_only_build.manifest
    assert m["private_only_kinds"] == ["glasses"] and m["config"]["private_only_kinds"] == ["glasses"]
    assert m["counts"]["public_kinds"]["glasses"] == 0 and m["counts"]["public_kinds"]["cartoon"] == 3


def test_private_only_kinds_leave_the_other_rows_where_they_were():
    labels = np.array([0] * 20 + [1] * 30)
    kinds = np.array(["normal"] * 20 + ["a"] * 10 + ["b"] * 10 + ["c"] * 10)
    plain = stratified_usage(labels, kinds, 0.3, stream(5, "split"))
    held = stratified_usage(labels, kinds, 0.3, stream(5, "split"), private_only_kinds=["b"])
    other = kinds != "b"
    np.testing.assert_array_equal(plain[other], held[other])
    assert (held[kinds == "b"] == "Private").all() and (plain[kinds == "b"] == "Public").sum() == 3
    with pytest.raises(DatasetError, match="public board no anomalies"):
        stratified_usage(labels, kinds, 0.3, stream(5, "split"), private_only_kinds=["a", "b", "c"])
    with pytest.raises(DatasetError, match="not 'normal'"):
        stratified_usage(labels, kinds, 0.3, stream(5, "split"), private_only_kinds=["normal"])


@pytest.mark.parametrize("kinds, match", [
    (["hats"], "unknown anomaly kind.*hats"),
    (["photo"], "no share in the mixture"),
    (list(MIX), "every kind of the mixture"),
])
def test_bad_private_only_kinds_are_refused(kinds, match):
    with pytest.raises(DatasetError, match=match):
        BuildConfig.from_preset("tiny", mixture=MIX, private_only_kinds=kinds, **SMALL)


def test_bootstrap_intervals_handle_a_private_only_kind(private_only_build):
    # the leaderboard's intervals resample each board's own rows: a kind that only the private board holds moves
    # only the private interval
    from grader.leaderboard.plots import bootstrap_auc
    key = load_answer_key(private_only_build.paths.solution)
    scores = np.where(key.kinds == "glasses", -1.0, 0.0) + np.where(key.labels == 1, 1.0, 0.0) + \
        np.random.default_rng(1).normal(size=len(key)) * 0.3
    lo, hi = bootstrap_auc(key.labels[key.public], scores[key.public], n_boot=100)
    plo, phi = bootstrap_auc(key.labels[key.private], scores[key.private], n_boot=100)
    assert 0.5 < lo <= hi <= 1.0 and plo <= phi < lo  # the glasses the model misses lower the private board


def test_cli_flag(tmp_path, capsys):
    from data_tools.cli import main
    args = ["build", "--preset", "tiny", "--n-train", "16", "--n-test-normal", "40", "--n-test-anomalous", "40",
            "--mixture", ",".join(f"{k}={v}" for k, v in MIX.items()), "--no-progress",
            "--out", str(tmp_path / "d"), "--answers", str(tmp_path / "a")]
    assert main(args + ["--private-only-kinds", "glasses", "cartoon"]) == 0
    key = load_answer_key(tmp_path / "a" / "solution.csv")
    assert not key.public[np.isin(key.kinds, ["glasses", "cartoon"])].any()
    assert main(args + ["--private-only-kinds", "hats"]) == 1
    assert "unknown anomaly kind(s) ['hats'] in private_only_kinds" in capsys.readouterr().err


# -- file modes ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_students_files_are_0644_and_answers_0600_whatever_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        c = BuildConfig.from_preset("tiny", n_train=8, n_test_normal=8, n_test_anomalous=8,
                                    mixture={"inverted": 0.5, "face_mask": 0.5})
        r = build_dataset(c, tmp_path / "d", tmp_path / "a", progress=False)
    finally:
        os.umask(old)
    for p in r.paths.data.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == DATA_MODE == 0o644, p.name
    for p in r.paths.answers.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == ANSWER_MODE == 0o600, p.name


def test_grader_score_by_kind_reports_families(tiny_dataset, tmp_path, capsys):
    # `grader score --by-kind` prints the families next to the kinds: public rows, or all rows with --reveal
    from grader.cli import main
    from grader.scoring import auc_by_family
    key = tiny_dataset.key
    scores = np.where(key.families == "semantic", 1.0, 0.0) + np.random.default_rng(2).normal(size=len(key))
    sub = tmp_path / "sub.csv"
    sub.write_text("ID,score\n" + "".join(f"{i},{float(s)!r}\n" for i, s in enumerate(scores)))
    assert main(["score", str(sub), "--answers", str(tiny_dataset.paths.solution), "--by-kind", "--reveal"]) == 0
    out = capsys.readouterr().out
    fam = auc_by_family(scores, key)
    assert "AUC per anomaly family: " + "  ".join(f"{f} {a:.5f}" for f, a in fam.items()) in out
    overall = [line for line in out.splitlines() if line.startswith("overall AUC")]  # --reveal: all rows
    assert len(overall) == 1 and f"imitable {fam['imitable']:.5f}  semantic {fam['semantic']:.5f})" in overall[0]
    assert main(["score", str(sub), "--answers", str(tiny_dataset.paths.solution), "--by-kind"]) == 0
    pub = auc_by_family(scores, key, usage="Public")
    assert f"semantic {pub['semantic']:.5f}" in capsys.readouterr().out
