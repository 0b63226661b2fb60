"""solutions.stages: config resolution, score functions, standardisation, the training loop, the stage registry."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from solutions import stages
from solutions.stages import STAGES, error_scores, get_stage, resolve_config, standardise
from starter_code.config import ConfigKeyError


def test_resolve_config_order_and_unknown_keys():
    config, smoke = {"a": 1, "b": 2, "c": 3}, {"b": 20}
    assert resolve_config("x", config, smoke, False, {"c": 30}) == {"a": 1, "b": 2, "c": 30}
    assert resolve_config("x", config, smoke, True, {"c": 30}) == {"a": 1, "b": 20, "c": 30}
    with pytest.raises(ConfigKeyError, match="unknown config key.*epoch.*known keys: a, b, c"):
        resolve_config("x", config, smoke, False, {"epoch": 3})
    with pytest.raises(ConfigKeyError, match="SMOKE_CONFIG"):
        resolve_config("x", config, {"zzz": 1}, True, {})


@pytest.mark.parametrize("name", STAGES)
def test_every_stage_publishes_the_api(name):
    module = get_stage(name)
    assert isinstance(module.CONFIG, dict) and isinstance(module.SMOKE_CONFIG, dict)
    assert set(module.SMOKE_CONFIG) <= set(module.CONFIG)
    model = module.build_model(**module.SMOKE_CONFIG) if name != "simple" else module.build_model()
    assert isinstance(model, torch.nn.Module)
    with pytest.raises(ConfigKeyError):
        module.build_model(no_such_key=1)


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


def test_standardise_uses_reference_median_and_spread():
    rng = np.random.default_rng(0)
    ref = rng.normal(5.0, 2.0, 10_000)
    z = standardise(np.array([5.0, 7.0, 3.0]), ref)
    assert np.allclose(z, [0, 1, -1], atol=0.05)


def test_train_model_lowers_the_loss_and_honours_the_schedule(tiny_dataset):
    from solutions.medium import BottleneckAE
    torch.manual_seed(0)
    model = BottleneckAE(latent_dim=8, hidden=(64,))
    h = stages.train_model(model, tiny_dataset.train, epochs=4, batch_size=64, lr=2e-3, seed=0, progress=False)
    assert len(h.losses) == 4 and h.losses[-1] < h.losses[0]
    assert not model.training
    assert stages._lr_at(0, 100, 1.0, "cosine", 10) == pytest.approx(0.1)
    assert stages._lr_at(99, 100, 1.0, "cosine", 0) == pytest.approx(0.02, abs=1e-3)
    assert stages._lr_at(50, 100, 1.0, "constant", 0) == 1.0
    with pytest.raises(ValueError, match="schedule"):
        stages._lr_at(50, 100, 1.0, "step", 0)


def test_reconstruction_scores_keep_row_order(tiny_dataset):
    from solutions.medium import BottleneckAE
    torch.manual_seed(0)
    model = BottleneckAE(latent_dim=4, hidden=(32,)).eval()
    images = np.array(tiny_dataset.test[:10])
    s = stages.reconstruction_scores(model, images, batch_size=3)
    s_rev = stages.reconstruction_scores(model, images[::-1].copy(), batch_size=4)
    assert s.shape == (10,) and s.dtype == np.float64
    assert np.allclose(s, s_rev[::-1], rtol=1e-5)
