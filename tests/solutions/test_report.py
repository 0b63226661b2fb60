"""solutions.report: latent changes really change only the chosen element; the figure has every panel."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from solutions import report


@pytest.fixture(scope="module")
def trained(tiny_dataset):
    model, history = report.train_fcn_autoencoder(tiny_dataset.train, smoke=True, progress=False, epochs=2)
    return model, history


def test_train_fcn_autoencoder(trained):
    model, history = trained
    assert len(history.losses) == 2 and all(np.isfinite(history.losses))
    assert not model.training and model.latent_dim == 3
    with pytest.raises(KeyError, match="unknown key"):
        report.train_fcn_autoencoder(np.zeros((4, 64, 64, 3), np.uint8), smoke=True, progress=False, epoch=1)


def test_apply_change_edits_one_column_only():
    z = torch.arange(12, dtype=torch.float32).reshape(4, 3) + 1
    doubled = report.apply_change(z, 0, 2.0)
    assert torch.equal(doubled[:, 0], 2 * z[:, 0])
    assert torch.equal(doubled[:, 1:], z[:, 1:])
    shifted = report.apply_change(z, 2, lambda v: v - 3.0)
    assert torch.equal(shifted[:, 2], z[:, 2] - 3.0) and torch.equal(shifted[:, :2], z[:, :2])
    assert torch.equal(z, torch.arange(12, dtype=torch.float32).reshape(4, 3) + 1)  # input untouched
    with pytest.raises(IndexError, match="out of range"):
        report.apply_change(z, 3, 2.0)
    with pytest.raises(TypeError, match="number or a callable"):
        report.apply_change(z, 0, "2")


def test_adjust_latent_decodes_the_changed_code(trained, tiny_dataset):
    model, _ = trained
    images = np.array(tiny_dataset.test[:3])
    result = report.adjust_latent(model, images, {0: 2.0, 1: lambda v: v + 5.0})
    assert list(result) == ["original", "reconstruction", "z[:, 0] = 2 * z[:, 0]", "z[:, 1] = f(z[:, 1])"]
    for v in result.values():
        assert v.shape == (3, 64, 64, 3) and v.dtype == np.uint8
    assert np.array_equal(result["original"], images)
    # The plain reconstruction is decode(encode(x)); each change is decode(changed z) of the same model.
    with torch.no_grad():
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() * 2 / 255 - 1
        z = model.encode(x)
        z2 = z.clone()
        z2[:, 0] *= 2
        expected = ((model.decode(z2).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.abs(result["z[:, 0] = 2 * z[:, 0]"].astype(int) - expected.astype(int)).max() <= 1
    assert not np.array_equal(result["z[:, 1] = f(z[:, 1])"], result["reconstruction"])
    with pytest.raises(ValueError, match="at least one change"):
        report.adjust_latent(model, images, {})


def test_plot_has_original_plain_and_one_panel_per_change(trained, tiny_dataset, tmp_path):
    model, _ = trained
    result = report.adjust_latent(model, np.array(tiny_dataset.test[:2]), {0: 2.0, 2: -1.0})
    fig = report.plot_latent_adjustments(result, path=tmp_path / "latent.png")
    assert len(fig.axes) == 2 * 4
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["original", "reconstruction", "z[:, 0] = 2 * z[:, 0]", "z[:, 2] = -1 * z[:, 2]"]
    assert (tmp_path / "latent.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="adjust_latent"):
        report.plot_latent_adjustments({"original": result["original"]})


def test_architecture_text(trained):
    model, _ = trained
    text = report.architecture_text(model)
    assert "Linear(in_features=12288, out_features=128" in text
    assert f"trainable parameters: {sum(p.numel() for p in model.parameters()):,}" in text
    assert "latent size: 3" in text
