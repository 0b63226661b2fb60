"""Tests of data_tools/anomalies.py: kinds, registry, held-out latent regions, normal filters, no network."""
from __future__ import annotations

import socket

import numpy as np
import pytest

from data_tools import anomalies as an
from data_tools import anomaly_stats as st
from data_tools.faces import FaceGenerator

N = 6


@pytest.fixture(scope="module")
def faces():
    return FaceGenerator(batch_size=64)


@pytest.fixture(scope="module")
def generated(faces):
    """kind -> (first, second) outputs for the same seed."""
    return {name: (k.generate(faces, N, np.random.default_rng(1)), k.generate(faces, N, np.random.default_rng(1)))
            for name, k in an.KINDS.items()}


@pytest.fixture(scope="module")
def normal_pool(faces):
    return faces.render(an.sample_normal_latents(faces, 300, np.random.default_rng(2)))


@pytest.mark.parametrize("name", list(an.KINDS))
def test_kind_shape_dtype_and_determinism(generated, name):
    a, b = generated[name]
    assert a.dtype == np.uint8 and a.shape == (N, 64, 64, 3)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(an.KINDS))
def test_kind_differs_from_normal_faces_of_same_seed(faces, generated, name):
    # Kinds built on normal faces consume the rng like _normal_faces does, so this compares each anomaly with the
    # normal face it was made from (or, for latent kinds, the face before its latent was moved).
    normal = an._normal_faces(faces, N, np.random.default_rng(1))
    # share of pixels that moved by more than 24 grey levels in some channel: small drawn items (face paint)
    # change ~3% of the image, everything else much more
    moved = (np.abs(generated[name][0].astype(np.int16) - normal) > 24).any(-1).mean(axis=(1, 2))
    assert (moved > 0.015).all(), moved


def test_kinds_differ_from_each_other(generated):
    names = list(generated)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not np.array_equal(generated[a][0], generated[b][0]), (a, b)


def test_registry_errors_list_valid_names():
    with pytest.raises(KeyError, match="valid kinds: .*coloured_headwear"):
        an.get_kind("hats")
    assert an.get_kind("glasses").distance == "near"
    with pytest.raises(ValueError, match="near' or 'far"):
        an.AnomalyKind("x", "medium", "", lambda f, n, r: None)


def test_default_mixture():
    assert set(an.DEFAULT_MIXTURE) <= set(an.KINDS)
    assert sum(an.DEFAULT_MIXTURE.values()) == pytest.approx(1.0)
    assert all(v >= 0 for v in an.DEFAULT_MIXTURE.values())
    near = sum(v for k, v in an.DEFAULT_MIXTURE.items() if an.KINDS[k].distance == "near")
    assert near > 0.5  # most of the mass is near, as in the course


def test_directions_are_orthonormal_constants():
    d = np.stack([r.direction for r in an.HELD_OUT.values()], 1)
    np.testing.assert_allclose(d.T @ d, np.eye(d.shape[1]), atol=1e-5)
    assert set(an.HELD_OUT) <= set(an.KINDS)


def test_normal_latent_mask_excludes_held_out_regions(faces):
    rng = np.random.default_rng(3)
    z = faces.sample_latents(20000, rng)
    keep = an.normal_latent_mask(z)
    # 3 half-spaces at 2 sigma: 1 - (1 - 0.0228)^3 = 6.7% rejected
    assert 0.90 < keep.mean() < 0.96
    for name, region in an.HELD_OUT.items():
        assert (z[keep] @ region.direction < an.NORMAL_LIMIT).all()
        inside = region.sample(faces, 500, rng)
        proj = inside @ region.direction
        assert (proj >= region.low - 1e-4).all() and (proj <= region.high + 1e-4).all(), name
        assert not an.normal_latent_mask(inside).any(), name
        # just past the limit along the direction is excluded; just before is kept
        edge = np.stack([region.direction * (an.NORMAL_LIMIT + 0.01), region.direction * (an.NORMAL_LIMIT - 0.01)])
        assert an.normal_latent_mask(edge).tolist() == [False, True]
    s = an.sample_normal_latents(faces, 1000, rng)
    assert s.shape == (1000, 100) and an.normal_latent_mask(s).all()


def test_normal_image_mask_rejects_few_normals_and_all_headwear(normal_pool, generated):
    rate = 1 - an.normal_image_mask(normal_pool).mean()
    assert rate < 0.06, rate  # calibrated to ~2%: must not slow the demo build down
    assert not an.normal_image_mask(generated["coloured_headwear"][0]).any()


def test_masks_validate_shapes():
    with pytest.raises(ValueError, match=r"\(n, 100\)"):
        an.normal_latent_mask(np.zeros((3, 99)))
    with pytest.raises(ValueError, match=r"\(n, 64, 64, 3\)"):
        an.normal_image_mask(np.zeros((3, 32, 32, 3), np.uint8))


def test_latent_kinds_move_their_statistic(faces):
    # the semantic direction must move the structural statistic it was fitted on (measured corr 0.56-0.67)
    rng = np.random.default_rng(4)
    base = faces.sample_latents(64, rng)
    for name, stat in [("glasses", st.eye_darkness), ("open_mouth", st.mouth_darkness),
                       ("coloured_headwear", st.top_saturation_excess)]:
        d = an.HELD_OUT[name].direction
        lo = faces.render(base - np.outer(base @ d, d))
        hi = faces.render(base + np.outer(3.0 - base @ d, d))
        assert stat(hi).mean() > stat(lo).mean() + 0.02, name


def test_no_network(faces, monkeypatch):
    def refuse(*a, **k):
        raise OSError("network access attempted")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    an._photo.cache_clear()
    an._lfw.cache_clear()
    an._dicebear_style.cache_clear()
    for k in an.KINDS.values():
        assert k.generate(faces, 3, np.random.default_rng(5)).shape == (3, 64, 64, 3)


def test_calibrate_cli_in_process(capsys):
    from benchmarks.calibrate_anomalies import main
    assert main(["--n-train", "64", "--n-normal", "32", "--n-per-kind", "8", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "default mixture" in out and all(k in out for k in an.KINDS)


def test_baseline_cli_in_process(capsys):
    from benchmarks.baseline_auc import main
    assert main(["--n-train", "64", "--n-test", "60", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "overall ROC-AUC" in out and "face_mask" in out
    with pytest.raises(SystemExit):
        main(["--data", "somewhere"])  # --answers missing
