"""solutions.stages and the stage modules: configs (one key check, smoke mode), the one engine, score functions,
standardisation, the stage registry."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import starter_code.train
from solutions import stages
from solutions.stages import STAGES, error_scores, get_stage, standardise
from starter_code import TrainConfig
from starter_code.config import Config, ConfigKeyError
from starter_code.formats import SMOKE

#: How many models each stage can train (boss: the classifier, and the autoencoder when its weight w_ae > 0).
TRAINED_PARTS = {"simple": 1, "medium": 1, "strong": 1, "boss": 2}


def _train_configs(cfg: Config) -> list[TrainConfig]:
    """The TrainConfigs inside a stage config (itself, or its nested parts)."""
    if isinstance(cfg, TrainConfig):
        return [cfg]
    nested = [getattr(cfg, f.name) for f in dataclasses.fields(cfg)]
    return [c for part in nested if isinstance(part, Config) for c in _train_configs(part)]


@pytest.mark.parametrize("name", STAGES)
def test_every_stage_config_is_a_documented_dataclass_in_the_students_vocabulary(name):
    cfg = get_stage(name).CONFIG
    assert isinstance(cfg, Config) and dataclasses.is_dataclass(cfg)
    assert all(f.metadata.get("help") for f in dataclasses.fields(cfg)), "every key has help"
    parts = _train_configs(cfg)
    assert len(parts) == TRAINED_PARTS[name]
    for part in parts:  # every trained part speaks TrainConfig: epochs, batch_size, lr, schedule, ...
        smoke = part.smoke()
        assert (smoke.epochs, smoke.batch_size) == (SMOKE.epochs, SMOKE.batch_size)
    assert [(p.epochs, p.batch_size) for p in _train_configs(cfg.smoke())] == \
        [(SMOKE.epochs, SMOKE.batch_size)] * len(parts)


@pytest.mark.parametrize("name", STAGES)
def test_unknown_keys_raise_before_anything_trains(name):
    images = np.zeros((4, 64, 64, 3), np.uint8)
    with pytest.raises(ConfigKeyError, match="unknown key.*no_such_key"):
        get_stage(name).run(images, images, smoke=True, progress=False, no_such_key=1)


def test_nested_and_dotted_overrides_change_one_key():
    from solutions import boss, medium
    cfg = boss.CONFIG.resolve(smoke=True, classifier={"lr": 5e-3, "model_kwargs.channels": (4, 8)}, w_feat=0.0)
    assert cfg.classifier.lr == 5e-3 and cfg.classifier.model_kwargs == {"channels": (4, 8)}
    assert cfg.classifier.epochs == SMOKE.epochs and cfg.w_feat == 0.0 and cfg.ae == boss.CONFIG.ae.smoke()
    m = medium.CONFIG.resolve(**{"model_kwargs.latent_dim": 32})
    assert m.model_kwargs == {**medium.CONFIG.model_kwargs, "latent_dim": 32}
    assert medium.CONFIG.model_kwargs["latent_dim"] == 16  # the defaults are untouched
    with pytest.raises(ConfigKeyError, match="BossConfig: unknown key.*cls_epochs"):
        boss.CONFIG.resolve(cls_epochs=1)
    with pytest.raises(ConfigKeyError, match="ClassifierConfig: unknown key.*epoch\\b"):
        boss.CONFIG.resolve(classifier={"epoch": 1})


@pytest.mark.parametrize("name", STAGES)
def test_every_stage_trains_with_the_one_engine(name, tiny_dataset, monkeypatch):
    """No second training loop: each trained part goes through starter_code.train.fit."""
    calls = []

    class CountingSchedule(starter_code.train.LRSchedule):  # fit() puts one on every loop it runs
        def on_train_start(self, state):
            calls.append(type(state.model).__name__)

    monkeypatch.setattr(starter_code.train, "LRSchedule", CountingSchedule)
    torch.set_num_threads(1)
    small = np.array(tiny_dataset.train[:96])
    result = get_stage(name).run(small, np.array(tiny_dataset.test[:8]), smoke=True, progress=False, epochs=1) \
        if name != "boss" else get_stage(name).run(small, np.array(tiny_dataset.test[:8]), smoke=True,
                                                   progress=False, ae={"epochs": 1}, classifier={"epochs": 1},
                                                   w_ae=1.0)
    assert len(calls) == TRAINED_PARTS[name], calls
    assert result.scores.shape == (8,) and not result.model.training


def test_unknown_stage_lists_valid_names():
    with pytest.raises(stages.UnknownStageError, match="simple, medium, strong, boss"):
        get_stage("legendary")


def test_error_scores_local_defect_ranks_higher_with_patch_max():
    # Same total squared error: spread thinly over the image vs concentrated in one 8x8 patch.
    spread = torch.full((1, 3, 64, 64), 1.0 / (3 * 64 * 64))
    local = torch.zeros(1, 3, 64, 64)
    local[:, :, 8:16, 8:16] = 1.0 / (3 * 64)
    both = torch.cat([spread, local])
    l2 = error_scores(both, "l2")
    assert torch.allclose(l2[0], l2[1])
    pm = error_scores(both, "patch_max")
    assert pm[1] > 10 * pm[0]
    assert error_scores(both, "l2+patch_max")[1] > error_scores(both, "l2+patch_max")[0]
    assert torch.allclose(error_scores(both, "mse") * 3 * 64 * 64, l2 ** 2)
    with pytest.raises(ValueError, match="valid: l2"):
        error_scores(both, "ssim")


def test_the_l2_score_is_the_students_one(tiny_dataset):
    from solutions.medium import BottleneckAE
    from starter_code import anomaly_scores
    torch.manual_seed(0)
    model = BottleneckAE(latent_dim=4, hidden=(32,)).eval()
    images = np.array(tiny_dataset.test[:10])
    assert np.array_equal(stages.reconstruction_scores(model, images, score="l2"), anomaly_scores(model, images))


def test_standardise_uses_reference_median_and_spread():
    rng = np.random.default_rng(0)
    ref = rng.normal(5.0, 2.0, 10_000)
    z = standardise(np.array([5.0, 7.0, 3.0]), ref)
    assert np.allclose(z, [0, 1, -1], atol=0.05)


def test_reconstruction_scores_keep_row_order(tiny_dataset):
    from solutions.medium import BottleneckAE
    torch.manual_seed(0)
    model = BottleneckAE(latent_dim=4, hidden=(32,)).eval()
    images = np.array(tiny_dataset.test[:10])
    s = stages.reconstruction_scores(model, images, batch_size=3)
    s_rev = stages.reconstruction_scores(model, images[::-1].copy(), batch_size=4)
    assert s.shape == (10,) and s.dtype == np.float64
    assert np.allclose(s, s_rev[::-1], rtol=1e-5)


def test_knn_distance_is_zero_on_reference_rows_and_grows_away_from_them():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(200, 6))
    near, far = ref[:5] + 1e-9, ref[:5] + 50.0
    d_ref, d_near, d_far = stages.knn_distance(ref, [ref[:5], near, far], k=1)
    assert np.allclose(d_ref, 0) and np.allclose(d_near, 0, atol=1e-6) and (d_far > 10).all()
    # k neighbours averaged: a reference row's own distance is 0, its next neighbours' are not
    assert (stages.knn_distance(ref, [ref[:5]], k=3)[0] > 0).all()
    with pytest.raises(ValueError, match="reference features must be"):
        stages.knn_distance(np.zeros(3), [ref])


def test_boss_weights_pick_its_parts(tiny_dataset):
    """w_ae = 0 trains no autoencoder; w_ae and w_feat > 0 add their parts; the score is the weighted sum."""
    from solutions import boss
    torch.set_num_threads(1)
    small, test = np.array(tiny_dataset.train[:96]), np.array(tiny_dataset.test[:8])
    quick = dict(smoke=True, progress=False, ae={"epochs": 1}, classifier={"epochs": 1})
    r = boss.run(small, test, **quick, w_knn=0.0)
    assert set(r.parts) == {"classifier"} and r.model.ae is None and not r.extra_histories
    assert np.allclose(r.scores, r.parts["classifier"])
    with pytest.raises(ValueError, match="no autoencoder"):
        r.model.reconstruct(torch.zeros(1, 3, 64, 64))
    r = boss.run(small, test, **quick, w_ae=0.5, w_feat=2.0)
    assert set(r.parts) == {"classifier", "knn", "features", "reconstruction"} and "autoencoder" in r.extra_histories
    assert np.allclose(r.scores, r.parts["classifier"] + 0.5 * r.parts["knn"] + 2.0 * r.parts["features"]
                       + 0.5 * r.parts["reconstruction"])
    assert r.model.reconstruct(torch.zeros(1, 3, 64, 64)).shape == (1, 3, 64, 64)
