"""A quality floor per reference stage on the tiny data set: one short fit per stage (module-scoped), then checks.

The tiny preset (256 training faces; 64 normal + 64 anomalous test images) is far too small for the near kinds,
so the floors are on the *far* kinds (cartoons and out-of-prior faces), against all normal test faces. Floors
were set from measured values with a margin (measured on 2 shared CPU cores, torch 2.13 CPU; in brackets):
a stage that stops learning, flips the score direction or scores rows out of order falls below them.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from solutions import boss, medium, simple, strong
from solutions.stages import StageResult

FAR = ("cartoon", "out_of_prior")

#: stage -> (module, short-fit overrides on top of the stage's smoke config, AUC floor on the far kinds)
FITS = {
    "simple": (simple, {"epochs": 6, "batch_size": 64}, 0.85),           # measured 0.987
    "medium": (medium, {"epochs": 6, "batch_size": 64}, 0.85),           # measured 1.000
    "strong": (strong, {"epochs": 6, "batch_size": 64}, 0.85),           # measured 1.000
    "boss": (boss, {"ae": {"epochs": 6, "batch_size": 64},
                    "classifier": {"epochs": 12, "batch_size": 32, "lr": 5e-3, "model_kwargs.channels": (16, 32, 64)}},
             0.85),                                                      # measured 1.000
}
#: The boss's classifier on its own task (normal test faces vs their corrupted copies): measured 0.747.
SYNTHETIC_FLOOR = 0.65


def far_auc(scores: np.ndarray, key) -> float:
    sel = (key.labels == 0) | np.isin(key.kinds, FAR)
    return roc_auc_score(key.labels[sel], scores[sel])


@pytest.fixture(scope="module", params=list(FITS))
def fitted(request, tiny_dataset):
    name = request.param
    module, overrides, floor = FITS[name]
    torch.set_num_threads(min(2, torch.get_num_threads()))
    result = module.run(tiny_dataset.train, tiny_dataset.test, smoke=True, progress=False, **overrides)
    return name, result, floor


def test_result_shape_and_direction(fitted, tiny_dataset):
    name, result, floor = fitted
    assert isinstance(result, StageResult)
    assert result.scores.shape == (len(tiny_dataset.test),) and result.scores.dtype == np.float64
    assert np.isfinite(result.scores).all()
    assert result.seconds > 0 and len(result.history.losses) >= 1
    assert not result.model.training
    # Higher = more anomalous: the mean score of the far anomalies is above that of the normal faces.
    key = tiny_dataset.key
    assert result.scores[np.isin(key.kinds, FAR)].mean() > result.scores[key.labels == 0].mean()


def test_quality_floor_on_far_kinds(fitted, tiny_dataset):
    name, result, floor = fitted
    auc = far_auc(result.scores, tiny_dataset.key)
    assert auc > floor, f"{name}: AUC {auc:.3f} on {FAR} vs normal, floor {floor}"


# One stage is enough here: all reconstruction scorers share stages.reconstruction_scores.
@pytest.mark.parametrize("fitted", ["medium"], indirect=True)
def test_scores_follow_row_order(fitted, tiny_dataset):
    """Scoring a permuted test set permutes the scores (row i is ID i), for the stage's own scorer."""
    name, result, _ = fitted
    from solutions.stages import reconstruction_scores
    test = np.array(tiny_dataset.test)
    perm = np.random.default_rng(0).permutation(len(test))
    s = reconstruction_scores(result.model, test, score=result.config.score)
    assert np.allclose(reconstruction_scores(result.model, test[perm], score=result.config.score), s[perm],
                       rtol=1e-5, atol=1e-6)
    assert np.allclose(s, result.scores, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fitted", ["boss"], indirect=True)
def test_boss_classifier_learned_its_task(fitted, tiny_dataset):
    """The boss's classifier tells held-out normal faces from their corrupted copies."""
    name, result, _ = fitted
    normal = np.array(tiny_dataset.test[tiny_dataset.key.labels == 0])
    x = torch.from_numpy(normal).permute(0, 3, 1, 2).float() / 127.5 - 1
    bad = boss.corrupt(x, torch.Generator().manual_seed(1))
    bad_u8 = ((bad + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    logits = boss.classifier_scores(result.model.classifier, np.concatenate([normal, bad_u8]))
    auc = roc_auc_score(np.r_[np.zeros(len(normal)), np.ones(len(bad_u8))], logits)
    assert auc > SYNTHETIC_FLOOR, f"classifier AUC on its own synthetic task: {auc:.3f}"
    # The default boss: the logit and the kNN distance of the classifier's features, no autoencoder trained.
    assert set(result.parts) == {"classifier", "knn"} and result.model.ae is None
    w = result.config
    assert np.allclose(w.w_cls * result.parts["classifier"] + w.w_knn * result.parts["knn"], result.scores)
    assert np.isfinite(result.parts["knn"]).all() and result.parts["knn"].std() > 0
