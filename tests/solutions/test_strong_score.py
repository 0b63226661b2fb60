"""The strong stage's 'residual' score: what its features are, that it finds what it is meant to find on a model
trained on the tiny data set, and that a bad score name fails before anything trains."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from solutions import strong
from solutions.stages import residual_features


class _Shifted(nn.Module):
    """Reconstructs every image as itself plus a fixed offset (``delta`` ``(3, 64, 64)``)."""

    def __init__(self, delta: torch.Tensor):
        super().__init__()
        self.register_buffer("delta", delta)

    def forward(self, x):
        return x + self.delta


def test_residual_features_are_the_signed_residual_averaged_per_cell_and_channel():
    delta = torch.zeros(3, 64, 64)
    delta[0, :8, :8] = 0.5          # red, top-left cell: all of it
    delta[2, 60:, 60:] = -0.4       # blue, bottom-right cell: a quarter of it
    images = np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    f = residual_features(_Shifted(delta), images)
    assert f.shape == (5, 3 * 64) and f.dtype == np.float64
    expected = np.zeros(3 * 64)
    expected[0] = 0.5                # channel 0, cell (0, 0)
    expected[2 * 64 + 63] = -0.1     # channel 2, cell (7, 7)
    assert np.allclose(f, expected, atol=1e-6)
    assert residual_features(_Shifted(delta), images, cell=16).shape == (5, 3 * 16)
    with pytest.raises(ValueError, match="cell must divide 64"):
        residual_features(_Shifted(delta), images, cell=7)


def test_edge_features_are_the_log_energy_of_the_residuals_gradient_per_cell():
    images = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    flat = torch.full((3, 64, 64), 0.25)               # a constant residual has no edges anywhere
    f = residual_features(_Shifted(flat), images, cell=16, edges=True)
    assert f.shape == (4, 3 * 16 + 16)
    assert np.allclose(f[:, :48], 0.25, atol=1e-6) and np.allclose(f[:, 48:], np.log(1e-5), atol=1e-6)
    ramp = torch.zeros(3, 64, 64)
    ramp[:, :, :16] = torch.arange(16.0) * 0.1         # the first column of cells: a residual rising by 0.1 a pixel
    f = residual_features(_Shifted(ramp), images, cell=16, edges=True)[:, 48:].reshape(4, 4, 4)
    # in the first column of cells, each row's squared gradient is 0.01 at 15 pixels and 1.5 ** 2 at its last,
    # where the ramp drops back to 0; nothing changes anywhere else
    assert np.allclose(f[:, :, 0], np.log((15 * 0.01 + 1.5 ** 2) / 16 + 1e-5), atol=1e-5)
    assert np.allclose(f[:, :, 1:], np.log(1e-5), atol=1e-6)


@pytest.fixture(scope="module")
def trained(tiny_dataset):
    """A smoke-size strong autoencoder trained on the tiny training faces, with its 'residual' scorer."""
    torch.set_num_threads(min(2, torch.get_num_threads()))
    cfg = strong.CONFIG.resolve(smoke=True, epochs=6, batch_size=64, score="residual")
    train = np.array(tiny_dataset.train)
    model, _, test_scores, ref_scores, scorer = strong.fit_and_score(train, np.array(tiny_dataset.test), cfg,
                                                                     progress=False)
    return model, scorer, test_scores, ref_scores


def test_the_residual_score_is_per_image_and_ranks_far_kinds_above_normal_faces(trained, tiny_dataset):
    _, scorer, test_scores, _ = trained
    test, key = np.array(tiny_dataset.test), tiny_dataset.key
    assert test_scores.shape == (len(test),) and np.isfinite(test_scores).all()
    assert np.allclose(scorer(test), test_scores)
    perm = np.random.default_rng(1).permutation(len(test))
    assert np.allclose(scorer(test[perm]), test_scores[perm])
    far = (key.labels == 0) | np.isin(key.kinds, ("cartoon", "out_of_prior"))
    assert roc_auc_score(key.labels[far], test_scores[far]) > 0.85


def test_a_colour_the_decoder_never_draws_raises_the_residual_score(trained, tiny_dataset):
    """A small saturated green square on a cheek: each face scores higher with it than without it."""
    _, scorer, _, _ = trained
    normal = np.array(tiny_dataset.test[tiny_dataset.key.labels == 0])
    patched = normal.copy()
    patched[:, 40:48, 14:22] = (20, 220, 40)
    assert (scorer(patched) > scorer(normal)).mean() >= 0.9


def test_held_out_faces_score_like_unseen_normal_faces(trained, tiny_dataset):
    """The Gaussian is fitted on faces the model trained on, so the held-out reference faces it standardises other
    parts with are scored as any unseen normal face: not below the normal test faces on the whole."""
    _, _, test_scores, ref_scores = trained
    normal = test_scores[tiny_dataset.key.labels == 0]
    assert np.median(ref_scores) > 0.5 * np.median(normal)


def test_an_unknown_score_fails_before_training(tiny_dataset, monkeypatch):
    monkeypatch.setattr(strong, "build_and_fit", lambda *a, **k: pytest.fail("trained before checking the score"))
    with pytest.raises(ValueError, match="unknown score 'nope'; valid: residual, l2"):
        strong.run(np.array(tiny_dataset.train[:64]), np.array(tiny_dataset.test[:4]), smoke=True, progress=False,
                   score="nope")


def test_the_stage_scores_with_fine_cells_and_edges_but_smoke_mode_with_8_x_8_cells():
    full, smoke = strong.CONFIG.resolve(), strong.CONFIG.resolve(smoke=True)
    assert (full.score, full.cell, full.edges) == ("residual", 4, True)
    assert (smoke.score, smoke.cell, smoke.edges) == ("residual", 8, False)
