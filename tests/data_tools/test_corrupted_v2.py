"""``corrupted`` in version 2 (``anomalies.KINDS_V2``): half occluding patches, as in version 1, half a swapped tile
(``anomalies.swapped_tile``) where version 1 blurs the face.

- A swapped tile moves the face's own pixels: the image is the face with two 16-pixel tiles of its 4 x 4 grid
  exchanged, one over the eyes, nose or mouth (rows 1-3, columns 1-2), the other in another row (never its mirror
  image across the nose, which a person could not see).
- Every image of the kind is a normal face with a patch or with a swapped tile, nothing else.
- Why it replaces the blur: the label-free region Gaussian of the classical rows (fitted on normal faces only)
  finds blurred faces, and a reconstruction error cannot (a blurred face is easier to reconstruct); swapped tiles
  it finds far less (docs/results.md, "Where strong still trails, and constructions it sees": on the calibration
  build 0.60 against the blur's 0.85, while the strong stage sees them at 0.80). Measured on the sample below: see
  ``MAX_SWAPPED_GAUSSIAN_AUC``.
"""
from __future__ import annotations

import numpy as np
import pytest

from data_tools import anomalies as an
from data_tools import region_stats as rs

#: Bound on the region Gaussian's AUC for swapped tiles of 160 fresh faces against the sample's 320 normal faces
#: (measured: 0.591), and the floor it keeps for the blur it replaces (measured: 0.864).
MAX_SWAPPED_GAUSSIAN_AUC = 0.70
MIN_BLUR_GAUSSIAN_AUC = 0.80


def _tiles(x: np.ndarray) -> np.ndarray:
    """uint8 (64,64,3) -> (4, 4, 16, 16, 3): the 16-pixel tiles of its 4 x 4 grid."""
    return x.reshape(4, 16, 4, 16, 3).transpose(0, 2, 1, 3, 4)


def _swapped(before: np.ndarray, after: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The two tiles exchanged if ``after`` is ``before`` with exactly two tiles swapped, else None."""
    tb, ta = _tiles(before), _tiles(after)
    moved = [(i, j) for i in range(4) for j in range(4) if not np.array_equal(tb[i, j], ta[i, j])]
    if len(moved) != 2:
        return None
    (i, j), (k, m) = moved
    same = np.array_equal(ta[i, j], tb[k, m]) and np.array_equal(ta[k, m], tb[i, j])
    return (moved[0], moved[1]) if same else None


def test_a_swapped_tile_exchanges_an_inner_tile_with_one_of_another_row():
    rng = np.random.default_rng(0)
    seen_inner, seen_other = set(), set()
    for _ in range(400):
        # distinct tiles, so that every swap shows in the pixels
        face = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        out = an.swapped_tile(face, rng)
        assert out.dtype == np.uint8 and out.shape == face.shape and not np.shares_memory(out, face)
        pair = _swapped(face, out)
        assert pair is not None
        inner = [t for t in pair if 1 <= t[0] <= 3 and 1 <= t[1] <= 2]
        assert inner and pair[0][0] != pair[1][0], pair
        seen_inner.update(inner)
        seen_other.update(pair)
    assert seen_inner == {(i, j) for i in (1, 2, 3) for j in (1, 2)}   # every inner tile is drawn
    assert len(seen_other) == 16                                        # and it lands anywhere in the grid


def test_version_2s_corrupted_is_a_normal_face_patched_or_with_a_swapped_tile(faces):
    n, seed = 48, 3
    images = an.get_kind("corrupted", 2).generate(faces, n, np.random.default_rng(seed))
    # the same stream draws the same normal faces first (``_normal_faces``), then edits them one by one
    base = an._normal_faces(faces, n, np.random.default_rng(seed))
    swapped = 0
    for before, after in zip(base, images):
        changed = np.any(before != after, axis=2)
        rows, cols = np.nonzero(changed)
        pair = _swapped(before, after)
        if pair is not None:
            swapped += 1
            continue
        # otherwise a patch: every changed pixel inside one square of 16-28 pixels
        assert rows.size and rows.max() - rows.min() < 28 and cols.max() - cols.min() < 28
    assert 0.25 * n < swapped < 0.75 * n, swapped
    # version 1 keeps its blur
    v1 = an.get_kind("corrupted", 1).generate(faces, n, np.random.default_rng(seed))
    assert sum(_swapped(b, a) is not None for b, a in zip(base, v1)) == 0


@pytest.mark.slow
def test_the_region_gaussian_finds_a_blur_but_barely_a_swapped_tile(faces, normal_sample, gaussians):
    from sklearn.metrics import roc_auc_score

    region = gaussians[0]        # fitted on 2,000 normal faces of its own (conftest.py)
    fresh = faces.render(an.sample_normal_latents(faces, 160, np.random.default_rng(13)))
    _, normal = normal_sample

    def auc(edit):
        rng = np.random.default_rng(14)
        edited = np.stack([edit(x, rng) for x in fresh])
        s = [region.scores(rs.stabilised(rs.region_and_grid_features(x)[0])) for x in (normal, edited)]
        return roc_auc_score(np.r_[np.zeros(len(normal)), np.ones(len(edited))], np.r_[s[0], s[1]])
    swapped, blurred = auc(an.swapped_tile), auc(an.heavy_blur)
    assert swapped <= MAX_SWAPPED_GAUSSIAN_AUC and blurred >= MIN_BLUR_GAUSSIAN_AUC, (swapped, blurred)
