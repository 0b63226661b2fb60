"""data_tools.region_stats: per-region and per-cell colour, intensity and texture statistics, checked on made-up
images whose answers are known, and the face boxes against the tiny preset's mean face."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from data_tools import anomaly_stats as st
from data_tools import region_stats as rs


def column(values: np.ndarray, region: str, stat: str, names=rs.REGION_FEATURES) -> np.ndarray:
    return values[:, list(names).index(f"{region}.{stat}")]


def test_the_tables_name_every_column():
    assert len(rs.REGION_FEATURES) == len(rs.FACE_BOXES) * len(rs.STATS) == len(set(rs.REGION_FEATURES))
    assert len(rs.GRID_FEATURES) == rs.GRID ** 2 * len(rs.STATS)
    assert rs.EXTENDED_BATTERY[:len(st.BATTERY)] == st.BATTERY and len(set(rs.EXTENDED_BATTERY)) == len(
        rs.EXTENDED_BATTERY)
    for name, boxes in rs.FACE_BOXES.items():
        for r0, r1, c0, c1 in boxes:
            assert 0 <= r0 < r1 <= 64 and 0 <= c0 < c1 <= 64, name
    cells = [rs.boxes_mask(b) for b in rs.grid_boxes().values()]
    assert (np.sum(cells, 0) == 1).all()  # the grid covers the image once
    with pytest.raises(ValueError, match="must divide 64"):
        rs.grid_boxes(5)


def test_the_boxes_sit_on_the_mean_face(tiny_dataset):
    # the generator's faces are roughly centred: on the mean of the tiny preset's 256 training faces the darkest
    # row of the face's middle columns is inside the eye band (the eyes), and the darkest below it in the mouth box
    grey = tiny_dataset.train.astype(np.float64).mean((0, 3))[:, 20:44].mean(1)
    (eyes,), (mouth,) = rs.FACE_BOXES["eyes"], rs.FACE_BOXES["mouth"]
    assert eyes[0] <= 16 + np.argmin(grey[16:40]) < eyes[1]
    assert mouth[0] <= 44 + np.argmin(grey[44:62]) < mouth[1]
    forehead, = rs.FACE_BOXES["forehead"]
    assert grey[forehead[0]:forehead[1]].mean() > grey[eyes[0]:eyes[1]].mean()


def test_statistics_of_a_flat_image_and_of_an_edge():
    flat = np.full((1, 64, 64, 3), (200, 100, 50), np.uint8)
    v = rs.region_features(flat)
    for region in rs.FACE_BOXES:
        for i, c in enumerate("rgb"):
            want = (200, 100, 50)[i] / 255
            for stat in ("mean", "lo", "hi"):
                assert column(v, region, f"{stat}_{c}")[0] == pytest.approx(want, abs=1e-6)
            assert column(v, region, f"var_{c}")[0] == pytest.approx(0, abs=1e-9)
        assert column(v, region, "grey_mean")[0] == pytest.approx(350 / 765, abs=1e-6)
        assert column(v, region, "saturation")[0] == pytest.approx(0.75, abs=1e-6)
        assert column(v, region, "edges")[0] == column(v, region, "gradient")[0] == 0
    # a white vertical line through the mouth box only: edges there (two columns of each row it crosses), none in
    # the forehead; the line is 1 of the box's 24 columns
    line = np.zeros((1, 64, 64, 3), np.uint8)
    line[0, 45:58, 30] = 255
    v = rs.region_features(line)
    assert column(v, "forehead", "edges")[0] == 0 and column(v, "forehead", "hi_r")[0] == 0
    assert column(v, "mouth", "strong_edges")[0] == pytest.approx(2 / 24, abs=1 / (13 * 24))
    assert column(v, "mouth", "mean_g")[0] == pytest.approx(1 / 24)


def test_robust_extremes_ignore_a_single_pixel():
    rng = np.random.default_rng(0)
    x = rng.integers(100, 120, (2, 64, 64, 3)).astype(np.uint8)
    y = x.copy()
    y[:, 50, 30] = 255   # one pixel of the mouth box (13 x 24 pixels)
    a, b = rs.region_features(x), rs.region_features(y)
    assert (column(a, "mouth", "hi_r") == column(b, "mouth", "hi_r")).all()
    assert (column(b, "mouth", "mean_r") > column(a, "mouth", "mean_r")).all()


def test_a_painted_cell_moves_only_that_cells_statistics():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (3, 64, 64, 3)).astype(np.uint8)
    y = x.copy()
    y[:, 16:32, 32:48] //= 4   # cell (1, 2), darkened
    a, b = rs.grid_features(x), rs.grid_features(y)
    changed = {rs.GRID_FEATURES[j].split(".")[0] for j in np.flatnonzero(np.abs(a - b).max(0) > 1e-9)}
    # the gradient of a cell's last row and column reaches into its neighbours: texture there may move too
    assert "cell12" in changed and changed <= {"cell12", "cell02", "cell11"}
    moved = [n for n in rs.GRID_FEATURES if n.startswith(("cell02.", "cell11.")) and
             np.abs(a[:, rs.GRID_FEATURES.index(n)] - b[:, rs.GRID_FEATURES.index(n)]).max() > 1e-9]
    assert all(n.split(".")[1] in ("gradient", "edges", "strong_edges") for n in moved), moved


def test_batches_and_one_pass_agree(tiny_dataset):
    x = tiny_dataset.test[:7]
    region, grid = rs.region_and_grid_features(x)
    # a row's figures do not depend on its batch (sums in double: the last bit at most)
    np.testing.assert_allclose(region, rs.features(x, rs.FACE_BOXES, batch=3), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grid, rs.grid_features(x), rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match=r"\(n, 64, 64, 3\)"):
        rs.region_features(np.zeros((1, 32, 32, 3), np.uint8))


def test_extended_battery_holds_the_global_battery_and_every_column(tiny_dataset):
    normal, other = tiny_dataset.train[:40], tiny_dataset.test[:30]
    ext = rs.extended_battery(other, normal)
    assert list(ext) == list(rs.EXTENDED_BATTERY)
    for name, values in st.battery(other, normal).items():
        np.testing.assert_array_equal(ext[name], values)
    sep = rs.extended_separability(normal, other, normal)
    for name in ("brightness", "colour_hist", "mouth.var_g", "cell21.edges"):
        want = st.separability(rs.extended_battery(normal, normal)[name], ext[name])
        assert sep[name] == pytest.approx(want), name
    assert rs.best(sep)[1] == max(sep.values())


def test_separability_columns_is_roc_auc_either_way_round():
    rng = np.random.default_rng(2)
    values = np.c_[rng.normal(size=50), np.r_[np.zeros(25), np.ones(25)], -np.arange(50.0), np.ones(50)]
    labels = np.r_[np.zeros(25), np.ones(25)]
    got = rs.separability_columns(values, labels)
    want = [st.separability(values[labels == 0, j], values[labels == 1, j]) for j in range(4)]
    np.testing.assert_allclose(got, want)
    assert got[1] == got[2] == 1.0 and got[3] == 0.5
    with pytest.raises(ValueError, match="normal and anomalous"):
        rs.separability_columns(values, np.ones(50))


def test_stabilised_keeps_every_statistics_order(tiny_dataset):
    v = rs.region_features(tiny_dataset.test)
    s = rs.stabilised(v)
    assert np.isfinite(s).all() and not np.allclose(s, v)
    labels = tiny_dataset.key.labels
    np.testing.assert_allclose(rs.separability_columns(s, labels), rs.separability_columns(v, labels))
    with pytest.raises(ValueError, match="statistics"):
        rs.stabilised(v[:, :5])


def test_needs_no_torch():
    code = "import sys, data_tools.region_stats; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
