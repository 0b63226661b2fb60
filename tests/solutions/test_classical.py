"""solutions.classical: PCA reconstruction error and distances in PCA space (no torch), on the tiny data set."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from solutions import classical
from starter_code.config import ConfigKeyError

FAR = ("cartoon", "out_of_prior", "inverted")


@pytest.fixture(scope="module")
def result(tiny_dataset):
    return classical.run(tiny_dataset.train, tiny_dataset.test, smoke=True)


def test_shape_order_and_direction(result, tiny_dataset):
    key = tiny_dataset.key
    assert result.scores.shape == (len(key),) and result.scores.dtype == np.float64
    assert set(result.parts) == set(classical.METHODS)
    for name, s in result.parts.items():
        assert s.shape == (len(key),) and np.isfinite(s).all() and (s >= 0).all(), name
    np.testing.assert_array_equal(result.scores, result.parts["pca"])
    assert result.seconds > 0 and result.config.components == classical.ClassicalConfig.SMOKE_CHANGES["components"]
    # row order kept: scoring a reversed test set reverses the scores
    rev = classical.run(tiny_dataset.train, tiny_dataset.test[::-1], smoke=True)
    for name in classical.METHODS:
        np.testing.assert_allclose(rev.parts[name][::-1], result.parts[name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", classical.METHODS)
def test_quality_floor_on_far_kinds(result, tiny_dataset, method):
    # Far kinds against every normal test face; measured on tiny (256 training faces): pca 0.99, mahalanobis 0.93,
    # knn 0.96. A flipped or shuffled score falls far below 0.8.
    key = tiny_dataset.key
    sel = (key.labels == 0) | np.isin(key.kinds, FAR)
    assert roc_auc_score(key.labels[sel], result.parts[method][sel]) > 0.8


def test_reconstruction_error_is_zero_for_what_the_space_spans(tiny_dataset):
    model = classical.PCAModel.fit(tiny_dataset.train, components=8, n_fit=64)
    mean_face = np.clip(model.pca.mean_.reshape(32, 32, 3).repeat(2, 0).repeat(2, 1) * 255, 0, 255)
    s = model.scores(np.round(mean_face)[None].astype(np.uint8))
    faces = model.scores(tiny_dataset.train[:64])
    # only uint8 rounding remains (~3072 * (1/255)^2 / 12 = 0.004): far below a face's own error
    assert s["pca"][0] < 0.01 < np.median(faces["pca"]) / 10
    assert s["mahalanobis"][0] < 0.05 * np.median(faces["mahalanobis"])


def test_downsample_is_the_block_mean():
    x = np.zeros((1, 64, 64, 3), np.uint8)
    x[0, :2, :2] = [255, 0, 0]   # one 2x2 block, red
    d = classical.downsample(x, 32).reshape(32, 32, 3)
    assert d[0, 0].tolist() == [1.0, 0.0, 0.0] and d[1:, 1:].sum() == 0
    assert classical.downsample(x, 16).reshape(16, 16, 3)[0, 0, 0] == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"\(N, 64, 64, 3\)"):
        classical.downsample(np.zeros((1, 32, 32, 3), np.uint8))


def test_config_errors_name_the_valid_values(tiny_dataset):
    with pytest.raises(ConfigKeyError, match="ClassicalConfig: unknown key.*componets.*known keys: components"):
        classical.run(tiny_dataset.train, tiny_dataset.test, componets=3)
    with pytest.raises(ValueError, match="unknown method 'svm'; valid: pca, mahalanobis, knn"):
        classical.run(tiny_dataset.train, tiny_dataset.test, method="svm")
    with pytest.raises(ValueError, match="size must divide 64"):
        classical.CONFIG.resolve(size=30)


def test_needs_no_torch():
    code = "import sys, solutions.classical; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
