"""`python -m kit ladder`'s arithmetic: calibrating the anomaly mixture from one ladder run (overall AUC =
share-weighted mean of per-kind AUCs), and printing a saved ladder."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from common.answer_key import AnswerKey
from grader.scoring import auc_by_kind
from kit.ladder import mixture_auc


def _key(rng, n_normal=300, kinds=(("a", 40), ("b", 120), ("c", 7))):
    labels = np.r_[np.zeros(n_normal, np.int8), np.ones(sum(n for _, n in kinds), np.int8)]
    kind = np.r_[np.full(n_normal, "normal"), *[np.full(n, k) for k, n in kinds]].astype(object)
    usage = rng.choice(["Public", "Private"], len(labels))
    return AnswerKey(labels=labels, usage=usage, kinds=kind)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixture_auc_with_the_actual_shares_is_the_overall_auc(seed):
    rng = np.random.default_rng(seed)
    key = _key(rng)
    # Kinds of different difficulty, and ties (rounded scores), which sklearn counts as half.
    shift = {"normal": 0.0, "a": 1.5, "b": 0.3, "c": -0.5}
    scores = np.round(rng.normal(size=len(key)) + np.array([shift[k] for k in key.kinds]), 1)
    counts = {k: int((key.kinds == k).sum()) for k in ("a", "b", "c")}
    by_kind = auc_by_kind(scores, key)
    assert mixture_auc(by_kind, counts) == pytest.approx(roc_auc_score(key.labels, scores), abs=1e-12)
    # Shares need not sum to one, and a kind with share 0 drops out.
    assert mixture_auc(by_kind, {"a": 2, "b": 2, "c": 0}) == pytest.approx((by_kind["a"] + by_kind["b"]) / 2)


def test_mixture_auc_errors_name_the_problem():
    with pytest.raises(ValueError, match="no per-kind AUC for zz"):
        mixture_auc({"a": 0.7}, {"a": 0.5, "zz": 0.5})
    with pytest.raises(ValueError, match="no kind has a positive share"):
        mixture_auc({"a": 0.7}, {"a": 0.0})


def test_ladder_predicts_a_mixture_from_a_saved_run(tmp_path, capsys):
    import json

    from data_tools.anomalies import DEFAULT_MIXTURE
    from kit.cli import main
    by_kind = {k: 0.5 for k in DEFAULT_MIXTURE}
    ladder = {"stages": {"simple": {"public": 0.6, "private": 0.6, "seconds": 1, "by_kind": dict(by_kind)},
                         "boss": {"public": 0.9, "private": 0.9, "seconds": 1,
                                  "by_kind": {**by_kind, "face_paint": 1.0}}}}
    path = tmp_path / "ladder.json"
    path.write_text(json.dumps(ladder))
    assert main(["ladder", "--from-json", str(path), "--mixture", "face_paint=1", "glasses=1"]) == 0
    out = capsys.readouterr().out
    assert "| given | 0.5000 | 0.7500 | +0.2500 |" in out
    boss_default = 0.5 + 0.5 * DEFAULT_MIXTURE["face_paint"] / sum(DEFAULT_MIXTURE.values())
    assert f"| default | 0.5000 | {boss_default:.4f} |" in out
    assert "ladder strict (each step >= 0.03 on public and private, >= 0.02 on the semantic family): yes" in out
    assert "boss: public 0.9000, private 0.9000 (target 0.9: met)" in out
    assert main(["ladder", "--from-json", str(path), "--mixture", "glasses"]) == 1
    assert "error: mixture item 1 'glasses': expected kind=share" in capsys.readouterr().err
    # the same syntax as `python -m data_tools build --mixture`: commas work too
    assert main(["ladder", "--from-json", str(path), "--mixture", "face_paint=1,glasses=1"]) == 0
    assert "| given | 0.5000 | 0.7500 | +0.2500 |" in capsys.readouterr().out
