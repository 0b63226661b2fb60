"""The near kinds of version 2 (``BuildConfig.kinds_version = 2``, ``near_v2.NEAR_KINDS_V2``) are not separable by any
statistic of the extended battery, and still change the part of the face they are named after.

- Not separable: no statistic of ``region_stats.EXTENDED_BATTERY`` (the global battery, ``STATS`` of each part of
  the face and of each cell of a 4 x 4 grid: ~800 statistics) separates a near kind of version 2 from normal faces
  above ``MAX_SEPARABILITY``, on the sample ``test_faithfulness.py`` draws (320 normal faces from
  ``default_rng(11)``, 160 per kind from ``default_rng(100 + i)``, i the kind's index in sorted order; standard
  error of one AUC ~0.03, and the best of ~800 correlated statistics sits above the typical one). The constructions
  were chosen on another sample (``benchmarks/shortcuts.py --near-sample 320 160 --sample-seed 1 --kinds-version 2``)
  and on seed-1 builds, never on this one. Version 1 fails the same bound (its masks and open mouths are found by a
  region mean at ~0.9): the bound can fail.
- Nor by the label-free Gaussians: the classical rows' region and grid Gaussians, fitted on normal faces only,
  score no near kind of version 2 above ``MAX_GAUSSIAN_AUC`` on the same sample; version 1's masks fail it.
- Faithful: ``anomalies.faithfulness`` with version 2's edits (the median concentration of the edit in the named
  part of the face, and the share of faces above 1). Floors below the values measured on 200 faces per kind from
  ``default_rng(1005)`` (in brackets; version 1's in the comment). Glasses and open mouths spread further than in
  version 1: open_mouth's direction is orthogonal to the mouth's brightness, so the mouth opens on teeth rather
  than on the image's darkest hole, and the squared change in the mouth is smaller; the contact sheets show the
  open mouths as clearly as version 1's.
- The build: a tiny build of version 2 holds every near kind, says which version it is in its manifest, and
  leaves the training set and the far kinds byte-identical to version 1's, except ``corrupted``: version 2
  swaps a tile of the face where version 1 blurs it (``test_corrupted_v2.py``).

Version 2 is what builds make by default (``anomalies.DEFAULT_KINDS_VERSION``); its samples of 160 images per kind
draw 4 candidates per image: the tests that draw them are in the slow tier; the version check and the contact sheets
are fast.
"""
from __future__ import annotations

import numpy as np
import pytest

from data_tools import anomalies as an
from data_tools import near_v2
from data_tools import region_stats as rs
from data_tools.build import BuildConfig, build_dataset

#: Images of each near kind in the sample (its normal faces: ``normal_sample`` in conftest.py).
N_PER_KIND = 160

MAX_SEPARABILITY = 0.75
#: Bound on the AUC of the label-free region and grid Gaussians (the classical rows) for each near kind of
#: version 2. Chosen on the calibration sample (``--sample-seed 1``'s seeds: version 2's worst, headwear, 0.828 /
#: 0.829; version 1's face_mask 0.943); measured on this sample: version 2's worst 0.808 (headwear), version 1's
#: 0.937 (face_mask) and 0.876 (face_paint). Hats a person sees change the top of the image.
MAX_GAUSSIAN_AUC = 0.85
NEAR = sorted(k for k in an.DEFAULT_MIXTURE if an.KINDS[k].distance == "near")
#: kind -> floor of the median concentration in its region, measured in brackets (version 1: glasses 1.61,
#: headwear 1.75, open_mouth 1.65; masks and paint at their maxima, all of the edit inside the region, in both)
CONCENTRATION_FLOOR = {"glasses": 1.2, "headwear": 1.4, "open_mouth": 1.15, "face_mask": 1.8, "face_paint": 2.5}
# (1.49, 1.92, 1.20, 2.67 = the maximum, 4.65 = the maximum)
#: floor of the share of faces whose concentration is above 1 (measured: 0.82, 0.95, 0.63, 1.00, 1.00)
SHARE_FLOOR = 0.6


@pytest.fixture(scope="module")
def near_images(faces):
    """kinds_version -> {near kind: its images of the sample}, each version drawn once per module."""
    drawn: dict[int, dict[str, np.ndarray]] = {}

    def get(kinds_version: int) -> dict[str, np.ndarray]:
        if kinds_version not in drawn:
            drawn[kinds_version] = {name: an.get_kind(name, kinds_version).generate(
                faces, N_PER_KIND, np.random.default_rng(100 + i)) for i, name in enumerate(NEAR)}
        return drawn[kinds_version]
    return get


def best_statistics(near_images, normal_sample, kinds_version: int) -> dict[str, tuple[str, float]]:
    ref, normal = normal_sample
    out = {}
    for name, anomalous in near_images(kinds_version).items():
        stat, value = rs.best(rs.extended_separability(normal, anomalous, ref))
        out[name] = (stat, round(value, 3))
    return out


def gaussian_aucs(gaussians, near_images, normal_sample, kinds_version: int) -> dict[str, tuple[float, float]]:
    """near kind -> (region Gaussian's AUC, grid Gaussian's AUC) against the sample's normal faces."""
    from sklearn.metrics import roc_auc_score

    def scores(images):
        return [g.scores(rs.stabilised(f)) for g, f in zip(gaussians, rs.region_and_grid_features(images))]
    _, normal = normal_sample
    normal_scores = scores(normal)
    out = {}
    for name, anomalous in near_images(kinds_version).items():
        labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
        out[name] = tuple(round(roc_auc_score(labels, np.r_[a, b]), 3)
                          for a, b in zip(normal_scores, scores(anomalous)))
    return out


@pytest.fixture(scope="module")
def tiny_v2(tmp_path_factory):
    """A tiny version 2 build with version 1's mixture (version 2's own, ``DEFAULT_MIXTURE_V2``, has other row
    counts per kind): what differs from ``tiny_v1`` is how the kinds are made, nothing else."""
    root = tmp_path_factory.mktemp("tiny_v2")
    config = BuildConfig.from_preset("tiny", seed=0, kinds_version=2, mixture=an.DEFAULT_MIXTURE)
    return build_dataset(config, root / "data", root / "answers", progress=False)


@pytest.mark.slow
def test_version_2_near_kinds_are_not_separable_by_any_extended_statistic(tiny_v2, near_images, normal_sample):
    kinds = sorted({k for k in tiny_v2.manifest["counts"]["kinds"] if an.get_kind(k, 2).distance == "near"})
    assert kinds == NEAR
    worst = best_statistics(near_images, normal_sample, 2)
    assert all(v <= MAX_SEPARABILITY for _, v in worst.values()), worst


@pytest.mark.slow
def test_version_1_fails_the_same_bound(near_images, normal_sample):
    worst = best_statistics(near_images, normal_sample, 1)
    assert max(v for _, v in worst.values()) > MAX_SEPARABILITY + 0.05, worst


@pytest.mark.slow
def test_version_2_near_kinds_stay_below_the_gaussians_bound(gaussians, near_images, normal_sample):
    aucs = gaussian_aucs(gaussians, near_images, normal_sample, 2)
    assert all(max(v) <= MAX_GAUSSIAN_AUC for v in aucs.values()), aucs


@pytest.mark.slow
def test_version_1_fails_the_gaussians_bound(gaussians, near_images, normal_sample):
    aucs = gaussian_aucs(gaussians, near_images, normal_sample, 1)
    assert max(max(v) for v in aucs.values()) > MAX_GAUSSIAN_AUC + 0.05, aucs


@pytest.mark.slow
@pytest.mark.parametrize("name", NEAR)
def test_version_2_near_kinds_change_the_part_of_the_face_they_are_named_after(faces, name):
    conc = an.faithfulness(name, faces, 64, np.random.default_rng(5), kinds_version=2)
    assert np.median(conc) >= CONCENTRATION_FLOOR[name], (name, np.median(conc))
    assert (conc > 1.0).mean() >= SHARE_FLOOR, (name, (conc > 1.0).mean())


def test_version_2_paint_shows_and_its_floor_is_what_makes_it(faces):
    """Paint a person can miss (a dot or two, dark paint on a dark face) is drawn again: the kept images change at
    least ``_V2_PAINT_FLOOR`` pixels by ``_V2_VISIBLE`` grey levels; the same drawings without the floor often do
    not (about 45% of single drawings)."""
    def shown(before, after):
        changed = (np.abs(after.astype(np.int16) - before).max(-1) >= near_v2._V2_VISIBLE).sum((1, 2))
        return (changed >= near_v2._V2_PAINT_FLOOR).mean()
    before, after = an.get_kind("face_paint", 2).edit(faces, 48, np.random.default_rng(3))
    assert shown(before, after) >= 0.97
    unfloored, drawn, _ = near_v2._located_candidates(near_v2._draw_face_paint_v2)(
        faces, 48, np.random.default_rng(3))
    assert shown(unfloored(np.arange(48)), drawn) <= 0.75


@pytest.mark.slow
def test_a_version_2_build_says_so_and_changes_only_its_own_kinds(tiny_v2, tiny_v1):
    m = tiny_v2.manifest
    assert m["kinds_version"] == 2 and m["config"]["kinds_version"] == 2
    assert tiny_v1.manifest["kinds_version"] == 1
    assert BuildConfig.from_dict(m["config"]) == BuildConfig.from_preset("tiny", kinds_version=2,
                                                                         mixture=an.DEFAULT_MIXTURE)
    v1, v2 = tiny_v1, tiny_v2
    assert m["files"]["data"]["trainingset.npy"] == v1.manifest["files"]["data"]["trainingset.npy"]
    from common.answer_key import load_answer_key
    key = load_answer_key(v2.paths.solution)
    test2 = np.load(v2.paths.test)
    assert set(an.KINDS_V2) == {*NEAR, "corrupted"}
    for kind in ("normal", *sorted(set(an.DEFAULT_MIXTURE) - set(an.KINDS_V2))):
        rows1, rows2 = v1.test[v1.key.kinds == kind], test2[key.kinds == kind]
        assert sorted(r.tobytes() for r in rows1) == sorted(r.tobytes() for r in rows2), kind
    # corrupted: its patched half draws as version 1's until the first swapped tile, then the streams part
    rows1, rows2 = v1.test[v1.key.kinds == "corrupted"], test2[key.kinds == "corrupted"]
    assert len(rows1) == len(rows2) and {r.tobytes() for r in rows1} != {r.tobytes() for r in rows2}
    for kind in NEAR:
        rows1, rows2 = v1.test[v1.key.kinds == kind], test2[key.kinds == kind]
        assert len(rows1) == len(rows2) and not {r.tobytes() for r in rows1} & {r.tobytes() for r in rows2}, kind


def test_a_version_2_build_takes_version_2s_mixture_unless_given_one():
    assert BuildConfig.from_preset("tiny", kinds_version=1).mixture == an.DEFAULT_MIXTURE == an.default_mixture(1)
    assert BuildConfig.from_preset("tiny", kinds_version=2).mixture == an.DEFAULT_MIXTURE_V2 == an.default_mixture(2)
    assert BuildConfig.from_preset("tiny").mixture == an.DEFAULT_MIXTURE_V2 == an.default_mixture()
    assert an.DEFAULT_MIXTURE_V2 != an.DEFAULT_MIXTURE
    given = {"corrupted": 0.5, "glasses": 0.5}
    assert BuildConfig.from_preset("tiny", kinds_version=2, mixture=given).mixture == given
    for mixture in (an.DEFAULT_MIXTURE, an.DEFAULT_MIXTURE_V2):
        assert set(mixture) == set(an.KINDS) and sum(mixture.values()) == pytest.approx(1.0)
    near = sum(w for k, w in an.DEFAULT_MIXTURE_V2.items() if an.KINDS[k].distance == "near")
    assert near >= 0.6   # most mass near, as in the course
    an.default_mixture(2)["photo"] = 1.0   # a copy: the module's mixture is not changed through it
    assert an.DEFAULT_MIXTURE_V2["photo"] == 0.03


def test_kinds_version_is_checked():
    from data_tools.io import DatasetError
    with pytest.raises(DatasetError, match="kinds_version must be one of 1, 2"):
        BuildConfig.from_preset("tiny", kinds_version=3)
    with pytest.raises(ValueError, match="kinds_version"):
        an.get_kind("glasses", 0)
    assert an.get_kind("cartoon", 2) is an.KINDS["cartoon"]
    assert an.get_kind("glasses", 1) is an.KINDS["glasses"]
    assert an.get_kind("glasses", 2) is near_v2.NEAR_KINDS_V2["glasses"] is an.KINDS_V2["glasses"]
    assert an.get_kind("corrupted", 1) is an.KINDS["corrupted"]
    assert an.get_kind("corrupted", 2) is an.KINDS_V2["corrupted"]
    # version 2 remakes version 1's near kinds: the same names, distance, family and region
    assert set(near_v2.NEAR_KINDS_V2) == {k for k, kind in an.KINDS.items() if kind.distance == "near"}
    for name, kind in near_v2.NEAR_KINDS_V2.items():
        v1 = an.KINDS[name]
        assert (kind.distance, kind.family, kind.region) == (v1.distance, v1.family, v1.region), name


def test_kind_sheets_write_one_grid_per_kind(tiny_dataset, tmp_path):
    # the contact sheets the kinds were judged on by eye (32 images per kind, `data_tools.preview.kind_sheets`)
    from PIL import Image

    from data_tools.preview import kind_sheets
    written = kind_sheets(tiny_dataset.paths.data, tiny_dataset.paths.answers, tmp_path, kinds=["face_mask"],
                          per_kind=4, prefix="v1_")
    assert [p.name for p in written] == ["v1_face_mask.png"]
    n = int((tiny_dataset.key.kinds == "face_mask").sum())
    with Image.open(written[0]) as im:   # 8 columns of 130 px, one row for up to 8 images
        assert im.size == (8 * 130 + 2, -(-min(4, n) // 8) * 130 + 2)
