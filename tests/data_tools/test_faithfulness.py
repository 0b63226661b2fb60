"""Version 1's anomaly kinds look like their names and are not separable by a trivial global statistic (version 2's,
the default, meet stronger bounds: ``test_faithfulness_v2.py``).

- Faithfulness: every near kind made from a normal face (``AnomalyKind.edit``) changes mostly the part of the face
  it is named after: ``anomaly_stats.concentration`` of (before, after) in ``kind.region`` (1 = the change is spread
  evenly over the image). Floors are set below the values measured on 200 faces per kind (in brackets).
- Near, not trivially separable: no statistic of the battery (``anomaly_stats.BATTERY``: brightness, saturation,
  std, mean absolute gradient in x and y, Laplacian variance, high-frequency energy, colour-histogram distance to
  the training mean) separates a near kind of the tiny preset from normal faces above ``MAX_SEPARABILITY``.
  The tiny preset itself has 64 normal faces and 3-12 rows per kind: far too few for an AUC (its standard error
  would be ~0.1), so the test draws a larger sample of the same kinds from the same generator (320 normal faces,
  160 per kind: standard error ~0.03). The calibration benchmark (1,000 vs 500) holds every near kind <= 0.70;
  the test allows 0.75 (0.70 plus ~1.7 standard errors): a kind that drifts to 0.8 fails it.
"""
from __future__ import annotations

import numpy as np
import pytest

from data_tools import anomalies as an
from data_tools import anomaly_stats as st

#: Images of each near kind in the sample (its normal faces: ``normal_sample`` in conftest.py).
N_PER_KIND = 160

MAX_SEPARABILITY = 0.75
#: kind -> floor of the median concentration in its region (measured on 200 faces per kind in brackets)
CONCENTRATION_FLOOR = {"glasses": 1.3, "headwear": 1.4, "open_mouth": 1.3, "face_mask": 1.8, "face_paint": 2.5}


def near_kinds_of(key) -> list[str]:
    return sorted({k for k in key.kinds[key.labels == 1] if an.get_kind(k, 1).distance == "near"})


# -- the measures themselves -------------------------------------------------------------------------------------
def test_concentration_is_one_for_an_even_change_and_maximal_inside_the_region():
    rng = np.random.default_rng(0)
    before = rng.integers(0, 200, (2, 64, 64, 3), dtype=np.uint8)
    region = st.REGIONS["eyes"]
    even = before + 20
    inside = before.copy()
    inside[:, region] += 20
    outside = before.copy()
    outside[:, ~region] += 20
    np.testing.assert_allclose(st.concentration(before, even, region), 1.0, rtol=1e-5)
    np.testing.assert_allclose(st.concentration(before, inside, region), 1 / region.mean(), rtol=1e-5)
    np.testing.assert_allclose(st.concentration(before, outside, region), 0.0, atol=1e-6)


def test_battery_catches_trivially_separable_changes(normal_sample):
    # the test below can fail: a kind made by brightening, blurring, adding fine grain or a colour cast is flagged
    # by its statistic. (The generator's faces hold little power above the high-frequency cutoff, so blurring
    # moves the high-frequency *share* only weakly, measured 0.77: fine grain is what that statistic is for; a
    # 1.5-pixel blur halves edge energy less reliably than it kills the Laplacian's variance.)
    ref, normal = normal_sample
    from PIL import Image, ImageFilter
    bright = np.clip(normal.astype(np.int16) + 90, 0, 255).astype(np.uint8)
    blurred = np.stack([np.asarray(Image.fromarray(x).filter(ImageFilter.GaussianBlur(1.5))) for x in normal])
    grain = np.clip(normal + np.random.default_rng(3).normal(0, 16, normal.shape), 0, 255).astype(np.uint8)
    green = (normal.astype(np.float32) * [0.6, 1.0, 0.6]).astype(np.uint8)  # a colour cast faces never have
    assert st.battery_separability(normal, bright, ref)["brightness"] > 0.9
    sep = st.battery_separability(normal, blurred, ref)
    assert sep["laplacian_var"] > 0.9 and min(sep["gradient_x"], sep["gradient_y"]) > 0.8, sep  # 1.00, 0.87 / 0.90
    assert st.battery_separability(normal, grain, ref)["high_freq"] > 0.9  # measured 0.96 (sigma 8: 0.76)
    assert st.battery_separability(normal, green, ref)["colour_hist"] > 0.9  # measured 0.97 (a sepia tone: 0.80)


def test_separability_is_two_sided():
    a, b = np.arange(10.0), np.arange(10.0) + 100
    assert st.separability(a, b) == st.separability(b, a) == 1.0
    assert st.separability(a, a) == 0.5


# -- the kinds ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CONCENTRATION_FLOOR))
def test_near_kinds_change_the_part_of_the_face_they_are_named_after(faces, name):
    conc = an.faithfulness(name, faces, 64, np.random.default_rng(5), kinds_version=1)
    assert np.median(conc) >= CONCENTRATION_FLOOR[name], (name, np.median(conc))
    assert (conc > 1.0).mean() >= 0.75, (name, (conc > 1.0).mean())


def test_every_near_kind_with_an_edit_has_a_floor():
    assert {k for k, v in an.KINDS.items() if v.edit is not None} == set(CONCENTRATION_FLOOR)
    assert all(an.KINDS[k].region for k in CONCENTRATION_FLOOR)
    with pytest.raises(ValueError, match="not an edit"):
        an.faithfulness("cartoon", None, 1, np.random.default_rng(0), kinds_version=1)


def test_no_near_kind_of_the_tiny_preset_is_separable_by_a_global_statistic(tiny_dataset, faces, normal_sample):
    ref, normal = normal_sample
    kinds = near_kinds_of(tiny_dataset.key)
    assert set(kinds) == {k for k in an.DEFAULT_MIXTURE if an.KINDS[k].distance == "near"}
    worst = {}
    for i, name in enumerate(kinds):
        anomalous = an.get_kind(name, 1).generate(faces, N_PER_KIND, np.random.default_rng(100 + i))
        sep = st.battery_separability(normal, anomalous, ref)
        stat = max(sep, key=sep.get)
        worst[name] = (stat, round(sep[stat], 3))
    assert all(v <= MAX_SEPARABILITY for _, v in worst.values()), worst
