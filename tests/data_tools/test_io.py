"""data_tools.io and data_tools.splits: file checks, atomic writes, streams, the stratified split."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_tools.io import (DatasetError, ImageFileError, NpyWriter, check_dirs, load_images, read_manifest, save_npy,
                           sha256_file)
from data_tools.splits import split_counts, stratified_usage, stream


def test_images_are_checked_by_the_one_contract(tmp_path):
    # data_tools reads and checks image files with starter_code.formats (tests/starter_code/test_formats.py);
    # what it adds is the call: memory-mapped, at least one image.
    np.save(tmp_path / "e.npy", np.zeros((0, 64, 64, 3), np.uint8))
    with pytest.raises(ImageFileError, match="e.npy: holds 0 images, expected at least 1"):
        load_images(tmp_path / "e.npy", mmap=True, min_images=1)
    ok = np.arange(2 * 64 * 64 * 3, dtype=np.uint64).astype(np.uint8).reshape(2, 64, 64, 3)
    np.save(tmp_path / "ok.npy", ok)
    mapped = load_images(tmp_path / "ok.npy", mmap=True, min_images=1)
    assert isinstance(mapped, np.memmap)
    np.testing.assert_array_equal(mapped, ok)


def test_npy_writer_matches_np_save_and_leaves_nothing_on_error(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    with NpyWriter(tmp_path / "a.npy", 5) as arr:
        arr[:] = x
    save_npy(x, tmp_path / "b.npy")
    np.save(tmp_path / "c.npy", x)
    assert sha256_file(tmp_path / "a.npy") == sha256_file(tmp_path / "b.npy") == sha256_file(tmp_path / "c.npy")
    with pytest.raises(RuntimeError):
        with NpyWriter(tmp_path / "d.npy", 5) as arr:
            arr[:2] = x[:2]
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.npy", "c.npy"]


def test_check_dirs(tmp_path):
    p = check_dirs(tmp_path / "data", tmp_path / "answers")
    assert p.train == (tmp_path / "data" / "trainingset.npy").resolve()
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="exists and is not a directory"):
        check_dirs(tmp_path / "file", tmp_path / "answers")
    with pytest.raises(DatasetError, match="students would receive the labels"):
        check_dirs(tmp_path / "data", tmp_path / "data" / "sub" / "answers")


def test_read_manifest_errors(tmp_path):
    with pytest.raises(DatasetError, match="manifest not found"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"a": 1,\n "b": }')
    with pytest.raises(DatasetError, match="manifest.json: line 2, column 7: invalid JSON"):
        read_manifest(tmp_path)


def test_streams_are_named_and_reproducible():
    a = stream(0, "train").standard_normal(5)
    np.testing.assert_array_equal(a, stream(0, "train").standard_normal(5))
    assert not np.allclose(a, stream(0, "test_normal").standard_normal(5))
    assert not np.allclose(a, stream(1, "train").standard_normal(5))


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), min_size=2, max_size=6), frac=st.floats(0.05, 0.95),
       seed=st.integers(0, 2**32 - 1))
def test_stratified_usage_exact_per_group(sizes, frac, seed):
    # group 0 is normal, the others anomaly kinds; rows interleaved at random
    kinds = np.concatenate([np.full(n, "normal" if g == 0 else f"k{g}") for g, n in enumerate(sizes)])
    kinds = np.random.default_rng(seed).permutation(kinds)
    labels = (kinds != "normal").astype(np.int8)
    try:
        usage = stratified_usage(labels, kinds, frac, np.random.default_rng(seed))
    except DatasetError as e:
        # only when rounding leaves a split without normals or without anomalies
        assert "split would have no" in str(e)
        return
    for g in np.unique(kinds):
        n = (kinds == g).sum()
        assert ((usage == "Public") & (kinds == g)).sum() == int(np.floor(frac * n + 0.5))
    np.testing.assert_array_equal(usage, stratified_usage(labels, kinds, frac, np.random.default_rng(seed)))


def test_stratified_usage_refuses_a_split_without_a_class():
    labels = np.array([0, 0, 1, 1])
    kinds = np.array(["normal", "normal", "a", "a"])
    with pytest.raises(DatasetError, match="the Public split would have no normal rows|Private split would have no"):
        stratified_usage(labels, kinds, 0.1, np.random.default_rng(0))


def test_stratified_usage_is_balanced_on_average():
    kinds = np.array(["normal"] * 500 + ["a"] * 300 + ["b"] * 200)
    labels = (kinds != "normal").astype(int)
    u = stratified_usage(labels, kinds, 0.3, np.random.default_rng(0))
    assert (u == "Public").sum() == 300
    # which rows are public looks random: not the first ones of each group
    assert 0.1 < (u[:500] == "Public")[:250].mean() < 0.5


@given(total=st.integers(0, 10_000), shares=st.lists(st.floats(0, 1), min_size=1, max_size=10))
def test_split_counts_sum_and_closeness(total, shares):
    s = np.array(shares)
    if s.sum() == 0:
        return
    mix = {f"k{i}": v / s.sum() for i, v in enumerate(s)}
    counts = split_counts(total, mix)
    assert list(counts) == list(mix) and sum(counts.values()) == total
    for k in mix:
        assert abs(counts[k] - mix[k] * total) < 1 + 1e-9
