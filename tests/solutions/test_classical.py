"""solutions.classical: PCA reconstruction error and distances in PCA space, and Gaussians on region and grid
statistics (no torch), on the tiny data set."""
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
    # Far kinds against every normal test face; measured on tiny (256 training faces): pca 0.98, mahalanobis 0.99,
    # knn 0.99, region_gaussian 1.00, grid_gaussian 0.99. A flipped or shuffled score falls far below 0.8.
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
    with pytest.raises(ValueError, match="unknown method 'svm'; valid: pca, mahalanobis, knn, region_gaussian, "
                                         "grid_gaussian"):
        classical.run(tiny_dataset.train, tiny_dataset.test, method="svm")
    with pytest.raises(ValueError, match="size must divide 64"):
        classical.CONFIG.resolve(size=30)


# -- the Gaussians on region and grid statistics ---------------------------------------------------------------
GAUSSIANS = ("region_gaussian", "grid_gaussian")


def dark_box(images: np.ndarray, rows=(48, 64), cols=(16, 48), factor: float = 0.1, feather: float = 0.7):
    """``images`` with a dark box (pixels times ``factor``, edges blurred by ``feather`` pixels) over the mouth and
    chin: rows 48-64, columns 16-48, two whole cells of the 4 x 4 grid."""
    from scipy.ndimage import gaussian_filter
    m = np.zeros((64, 64), np.float32)
    m[rows[0]:rows[1], cols[0]:cols[1]] = 1
    m = gaussian_filter(m, feather)[None, :, :, None]
    return np.clip(np.round(images * (1 - m * (1 - factor))), 0, 255).astype(np.uint8)


def test_gaussians_are_deterministic_and_score_each_face_alone(result, tiny_dataset):
    # fitted on the training faces only: a face's score does not depend on which other faces (or labels) the test
    # set holds. Scoring the normal rows alone, or in another order, gives them the scores they had among the
    # anomalies; so a shuffled answer key cannot change anything either.
    key, test = tiny_dataset.key, tiny_dataset.test
    normal = np.flatnonzero(key.labels == 0)
    alone = classical.statistic_scores(tiny_dataset.train, test[normal[::-1]])
    again = classical.statistic_scores(tiny_dataset.train, test)
    for name in GAUSSIANS:
        np.testing.assert_array_equal(again[name], result.parts[name])  # deterministic
        np.testing.assert_allclose(alone[name][::-1], result.parts[name][normal], rtol=1e-9)
    # ...while the training faces do matter: fitted on half of them, the scores change
    half = classical.statistic_scores(tiny_dataset.train[::2], test)
    for name in GAUSSIANS:
        assert not np.allclose(half[name], result.parts[name]), name


def test_gaussians_catch_a_regional_change_no_global_statistic_sees(tiny_dataset):
    # The tiny set's 64 normal test faces against the same faces with a dark box over the mouth and chin (12% of
    # the image). Measured: the global battery's best statistic 0.61 (std), region_gaussian 0.90, grid_gaussian
    # 0.91, the best single region statistic 1.00. A Gaussian that ignored where the change is would sit near the
    # global statistics; one fitted on the test faces or the labels is caught by the test above.
    from data_tools import anomaly_stats as st
    key = tiny_dataset.key
    normal = tiny_dataset.test[key.labels == 0]
    edited = dark_box(normal)
    global_sep = st.battery_separability(normal, edited, tiny_dataset.train)
    assert max(global_sep.values()) < 0.7, global_sep
    scores = classical.statistic_scores(tiny_dataset.train, np.r_[normal, edited])
    labels = np.r_[np.zeros(len(normal)), np.ones(len(edited))]
    aucs = {name: roc_auc_score(labels, scores[name]) for name in GAUSSIANS}
    assert min(aucs.values()) > 0.8, aucs


def test_stat_gaussian_is_the_mahalanobis_distance_of_standardised_columns():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -1.0]
    g = classical.StatGaussian.fit(x)
    # with many rows the shrinkage vanishes: a point k standard deviations out on one column scores ~k^2
    probe = np.array([[3.0, 5.0, -1.0], [0.0, 35.0, -1.0], [0.0, 5.0, -1.0]])
    np.testing.assert_allclose(g.scores(probe), [9.0, 9.0, 0.0], atol=0.3)
    with pytest.raises(ValueError, match="needs a"):
        classical.StatGaussian.fit(x[:1])


def test_needs_no_torch():
    code = "import sys, solutions.classical; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
