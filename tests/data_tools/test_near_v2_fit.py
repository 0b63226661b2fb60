"""Version 2's selection models are fitted once and shipped (``near_v2.FIT_FILE``): a build reads them only when
they were made from today's constants and generator, and they are what fitting from scratch gives.

The fast tests check the file's key and that a file made from something else is not read; the slow one refits
through the CLI (``python -m data_tools refit``, ~25 s) and compares every array with the shipped file.
"""
from __future__ import annotations

import numpy as np
import pytest

from data_tools import cli, near_v2
from data_tools.kind_parts import LatentRegion


def _arrays(path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def test_the_shipped_fit_was_made_from_todays_constants_and_generator():
    """A change to near_v2's constants or the generator's weights fails here until ``python -m data_tools refit``
    is run (builds would otherwise fit in memory, a minute slower)."""
    assert str(_arrays(near_v2.FIT_FILE)["key"]) == near_v2.fit_key(), "run `python -m data_tools refit`"
    fitted = near_v2._read_fit(near_v2.FIT_FILE)
    assert set(fitted) == {"key", "reference", *(f"discriminant/{n}" for n in near_v2._V2_ORDER),
                           *(f"direction/{n}" for n in near_v2._V2_RANGES)}
    assert fitted["reference"]["template"].shape == (64, 64)
    d = fitted["discriminant/face_mask"]
    assert d.w.shape == d.mean.shape == d.std.shape and d.normal[1].shape == (3, 3)
    glasses = fitted["direction/glasses"]
    assert isinstance(glasses, LatentRegion) and (glasses.low, glasses.high) == near_v2._V2_RANGES["glasses"]
    assert np.isclose(np.linalg.norm(glasses.direction), 1, atol=1e-5)


def test_a_fit_made_from_something_else_is_not_read(tmp_path):
    arrays = _arrays(near_v2.FIT_FILE)
    arrays["key"] = np.array("0" * 64)        # other constants or another generator
    other = tmp_path / "other.npz"
    np.savez(other, **arrays)
    assert near_v2._read_fit(other) == {"key": None}
    assert near_v2._read_fit(tmp_path / "missing.npz") == {"key": None}


@pytest.mark.slow
def test_refit_writes_what_is_shipped(tmp_path, capsys):
    """The shipped file is what fitting from scratch gives (the CLI's ``refit``): a change to how candidates are
    drawn or statistics computed, which the key cannot see, fails here until the file is refitted. Within a
    tolerance: the generator's float rounding depends on the CPU's vector instructions, and a refit on an AVX2
    machine of the file fitted with AVX-512 differs by up to 7e-4 of an array's largest value (the tolerance is
    that, rounded up)."""
    out = tmp_path / "fit.npz"
    assert cli.main(["refit", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    shipped, fresh = _arrays(near_v2.FIT_FILE), _arrays(out)
    assert set(fresh) == set(shipped)
    for k in sorted(set(shipped) - {"key"}):
        scale = float(np.abs(shipped[k]).max()) or 1.0
        np.testing.assert_allclose(fresh[k], shipped[k], rtol=0, atol=2e-3 * scale, err_msg=k)
    assert str(fresh["key"]) == str(shipped["key"])
