"""benchmarks/kind_candidates.py: its edits are what their names say (the figures themselves are not asserted)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks import kind_candidates as kc

EDITS = {name: how for name, (_, how) in kc.CANDIDATES.items() if callable(how)}


@pytest.fixture(scope="module")
def faces():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    base = np.stack([(yy * 3 + xx) % 256, (xx * 5) % 256, (yy * 7) % 256], -1).astype(np.uint8)
    return [np.roll(base, int(rng.integers(64)), axis=1) for _ in range(4)]


@pytest.mark.parametrize("name", sorted(EDITS))
def test_every_edit_returns_a_changed_face_and_leaves_its_input_alone(name, faces):
    rng = np.random.default_rng(1)
    for face in faces:
        before = face.copy()
        out = EDITS[name](face, rng)
        assert out.dtype == np.uint8 and out.shape == (64, 64, 3)
        assert np.array_equal(face, before), f"{name} edited its input in place"
        assert not np.array_equal(out, face), f"{name} left a face unchanged"


@pytest.mark.parametrize("name", ["swap_tiles", "tear", "rot_square", "shuffle_tiles", "inner_rolled"])
def test_the_structural_edits_move_pixels_and_make_none(name, faces):
    """Swapped, shifted, turned or shuffled parts: the image's pixels are the face's, only elsewhere, so every
    statistic of the whole image's colours is the face's."""
    rng = np.random.default_rng(2)
    for face in faces:
        out = EDITS[name](face, rng)
        assert np.array_equal(np.sort(out.reshape(-1, 3), axis=0), np.sort(face.reshape(-1, 3), axis=0))
