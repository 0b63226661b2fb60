"""data_tools.build on the tiny preset: shapes, determinism, disjoint streams, shuffling, split, manifest."""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from common.answer_key import NORMAL_KIND, load_answer_key
from common.config import ConfigKeyError
from data_tools import anomalies, build
from data_tools.build import PRESETS, BuildConfig, build_dataset, cached_dataset, check_mixture, parse_mixture
from data_tools.io import DatasetError, DatasetPaths, read_manifest, sha256_file, verify_manifest

DATA_FILES = ("trainingset.npy", "testingset.npy", "README.md")


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """The tiny preset built a second time with the same seed, into other directories."""
    root = tmp_path_factory.mktemp("rebuilt")
    return build_dataset(BuildConfig.from_preset("tiny", seed=0), root / "data", root / "answers", progress=False)


def _digests(images):
    return {hashlib.sha256(r.tobytes()).hexdigest() for r in images}


# -- shapes and counts ---------------------------------------------------------------------------------------
def test_tiny_preset_shapes_and_dtypes(tiny_dataset):
    p = PRESETS["tiny"]
    assert tiny_dataset.train.shape == (p["n_train"], 64, 64, 3) and tiny_dataset.train.dtype == np.uint8
    n_test = p["n_test_normal"] + p["n_test_anomalous"]
    assert tiny_dataset.test.shape == (n_test, 64, 64, 3) and tiny_dataset.test.dtype == np.uint8
    key = tiny_dataset.key
    assert len(key) == n_test
    assert (key.labels == 0).sum() == p["n_test_normal"] and (key.labels == 1).sum() == p["n_test_anomalous"]
    # not blank images: faces have spread in every file
    assert tiny_dataset.train.std() > 20 and tiny_dataset.test.std() > 20


def test_every_default_kind_appears_with_its_share(tiny_dataset):
    key, mixture = tiny_dataset.key, anomalies.default_mixture()
    counts = {k: int((key.kinds == k).sum()) for k in mixture}
    assert sum(counts.values()) == PRESETS["tiny"]["n_test_anomalous"]
    assert counts == tiny_dataset.manifest["counts"]["kinds"]
    for k, share in mixture.items():
        assert abs(counts[k] - share * PRESETS["tiny"]["n_test_anomalous"]) < 1, k
    assert set(key.kinds[key.labels == 0]) == {NORMAL_KIND}


def test_presets_sizes_match_the_issue():
    assert PRESETS["demo"] == {"n_train": 20_000, "n_test_normal": 2_000, "n_test_anomalous": 2_000}
    assert PRESETS["full"] == {"n_train": 100_000, "n_test_normal": 10_000, "n_test_anomalous": 10_000}
    assert BuildConfig().n_train == PRESETS["demo"]["n_train"]
    c = BuildConfig.from_preset("smoke", seed=3)
    assert (c.preset, c.n_train, c.seed) == ("smoke", PRESETS["smoke"]["n_train"], 3)


def test_normal_sets_are_normal_latents_only(tiny_dataset):
    # no post-render filter any more: the manifest records none, and every normal face came from the latent mask
    assert "normal_filter" not in tiny_dataset.manifest


# -- randomness -----------------------------------------------------------------------------------------------
def test_same_seed_gives_byte_identical_files(tiny_dataset, rebuilt):
    for name in DATA_FILES:
        assert sha256_file(tiny_dataset.paths.data / name) == sha256_file(rebuilt.paths.data / name), name
    assert sha256_file(tiny_dataset.paths.solution) == sha256_file(rebuilt.paths.solution)


def test_other_seed_gives_other_data(tmp_path, tiny_dataset):
    c = BuildConfig.from_preset("tiny", seed=1, n_train=16, n_test_normal=8, n_test_anomalous=8,
                                mixture={"inverted": 0.5, "face_mask": 0.5})
    r = build_dataset(c, tmp_path / "d", tmp_path / "a", progress=False)
    train = np.load(r.paths.train)
    assert not (_digests(train) & _digests(tiny_dataset.train))


def test_no_test_image_equals_a_training_image(tiny_dataset):
    assert not (_digests(tiny_dataset.train) & _digests(tiny_dataset.test))
    assert len(_digests(tiny_dataset.train)) == len(tiny_dataset.train)  # no repeats within train either


def test_train_stream_does_not_depend_on_the_mixture(tmp_path, tiny_dataset):
    # Streams are keyed by name: another mixture and test size must leave the training set unchanged.
    c = BuildConfig.from_preset("tiny", seed=0, n_test_normal=4, n_test_anomalous=4, mixture={"inverted": 1.0})
    r = build_dataset(c, tmp_path / "d", tmp_path / "a", progress=False)
    assert sha256_file(r.paths.train) == sha256_file(tiny_dataset.paths.train)


def test_id_order_carries_no_label_signal(tiny_dataset):
    key = tiny_dataset.key
    ids = np.arange(len(key))
    # 64 vs 64 rows: AUC's sd under no signal is ~0.05; an unshuffled set (normals first) would give 1.0
    assert abs(roc_auc_score(key.labels, ids) - 0.5) < 0.2
    # normals and anomalies are interleaved, not in blocks
    assert (np.diff(key.labels) != 0).sum() > len(key) // 4


# -- Public/Private split ---------------------------------------------------------------------------------------
def test_split_is_stratified_by_label_and_kind(tiny_dataset):
    key = tiny_dataset.key
    f = tiny_dataset.manifest["config"]["public_fraction"]
    assert f == 0.3
    for kind in np.unique(key.kinds):
        in_kind = key.kinds == kind
        g = in_kind.sum()
        assert (key.public & in_kind).sum() == int(np.floor(f * g + 0.5)), kind
    assert abs(key.public.mean() - f) < 0.05
    assert set(np.unique(key.usage)) == {"Public", "Private"}


def test_public_fraction_is_configurable(tmp_path):
    c = BuildConfig.from_preset("tiny", public_fraction=0.5, n_train=8, n_test_normal=20, n_test_anomalous=20,
                                mixture={"inverted": 0.5, "corrupted": 0.5})
    r = build_dataset(c, tmp_path / "d", tmp_path / "a", progress=False)
    key = load_answer_key(r.paths.solution)
    assert key.public.sum() == 20
    assert {k: int(key.public[key.kinds == k].sum()) for k in ("normal", "inverted", "corrupted")} == \
        {"normal": 10, "inverted": 5, "corrupted": 5}


# -- files ----------------------------------------------------------------------------------------------------
def test_manifest_hashes_match_the_files(tiny_dataset):
    m = read_manifest(tiny_dataset.paths.manifest)
    assert set(m["files"]["data"]) == set(DATA_FILES)
    for name, rec in m["files"]["data"].items():
        assert sha256_file(tiny_dataset.paths.data / name) == rec["sha256"]
    assert sha256_file(tiny_dataset.paths.solution) == m["files"]["answers"]["solution.csv"]["sha256"]
    assert verify_manifest(tiny_dataset.paths) == []
    assert m["seed"] == 0 and m["preset"] == "tiny" and m["mixture"] == anomalies.default_mixture()
    for pkg in ("numpy", "torch", "torch_cpu_capability", "gan-face-generate"):
        assert m["versions"][pkg]
    assert m["build_time_s"] > 0
    assert BuildConfig.from_dict(m["config"]) == BuildConfig.from_preset("tiny")


def test_verify_manifest_detects_a_changed_file(tmp_path, tiny_dataset):
    data, answers = tmp_path / "data", tmp_path / "answers"
    shutil.copytree(tiny_dataset.paths.data, data)
    shutil.copytree(tiny_dataset.paths.answers, answers)
    test = np.load(data / "testingset.npy")
    test[0, 0, 0, 0] ^= 1
    np.save(data / "testingset.npy", test)
    (answers / "solution.csv").unlink()
    problems = verify_manifest(DatasetPaths(data, answers))
    assert len(problems) == 2
    assert any("testingset.npy" in p and "sha256" in p for p in problems)
    assert any("solution.csv" in p and "missing" in p for p in problems)


def test_answers_never_in_the_student_directory(tiny_dataset, tmp_path):
    assert sorted(p.name for p in tiny_dataset.paths.data.iterdir()) == sorted(DATA_FILES)
    readme = (tiny_dataset.paths.data / "README.md").read_text()
    for word in (*anomalies.KINDS, *anomalies.FAMILIES, "family"):
        assert word not in readme
    assert "solution" not in readme and "Usage" not in readme
    c = BuildConfig.from_preset("tiny")
    with pytest.raises(DatasetError, match="inside --out"):
        build_dataset(c, tmp_path / "x", tmp_path / "x" / "answers", progress=False)
    with pytest.raises(DatasetError, match="inside --out"):
        build_dataset(c, tmp_path / "x", tmp_path / "x", progress=False)
    with pytest.raises(DatasetError, match="inside --answers"):
        build_dataset(c, tmp_path / "y" / "data", tmp_path / "y", progress=False)
    assert not (tmp_path / "x").exists()  # refused before anything is written


# -- config errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"preset": "huge"}, "unknown preset 'huge'; valid presets: tiny, grading, smoke, demo, full"),
    ({"mixture": {"hats": 1.0}}, "unknown anomaly kind.*hats.*valid kinds: .*glasses"),
    ({"mixture": {"glasses": 0.5}}, "sum to 1"),
    ({"mixture": {"glasses": 1.5, "inverted": -0.5}}, ">= 0"),
    ({"public_fraction": 1.0}, "strictly between 0 and 1"),
    ({"n_train": 0}, "n_train must be a positive integer"),
    ({"n_test_normal": 2.5}, "n_test_normal must be a positive integer"),
    ({"seed": -1}, "seed must be a non-negative integer"),
])
def test_bad_config_raises_with_the_valid_values(kwargs, match):
    preset = kwargs.pop("preset", "tiny")
    with pytest.raises(DatasetError, match=match):
        BuildConfig.from_preset(preset, **kwargs)


def test_from_dict_rejects_unknown_keys():
    d = asdict(BuildConfig.from_preset("tiny"))
    d["colour"] = "blue"
    with pytest.raises(ConfigKeyError, match="BuildConfig: unknown key.*colour; known keys: batch_size"):
        BuildConfig.from_dict(d)
    with pytest.raises(ConfigKeyError, match="unknown key.*n_trian"):
        BuildConfig.from_preset("tiny", n_trian=3)
    assert BuildConfig.from_dict(asdict(BuildConfig.from_preset("tiny"))) == BuildConfig.from_preset("tiny")


def test_parse_mixture():
    """One syntax for both command lines: kind=share items, separated by commas or given as separate arguments;
    the shares are checked by the config (sum 1) or taken as weights (kit ladder), not here."""
    expected = {"glasses": 0.25, "inverted": 0.75}
    assert parse_mixture("glasses=0.25, inverted=0.75") == expected
    assert parse_mixture(["glasses=0.25", "inverted=0.75"]) == expected == parse_mixture(["glasses=0.25,inverted=.75"])
    assert parse_mixture(["glasses=1", "inverted=1"]) == {"glasses": 1.0, "inverted": 1.0}
    with pytest.raises(DatasetError, match="item 2 'inverted': expected kind=share"):
        parse_mixture("glasses=0.5,inverted")
    with pytest.raises(DatasetError, match="share 'x' is not a number"):
        parse_mixture("glasses=x")
    with pytest.raises(DatasetError, match="item 2 'glasses=0.5': kind 'glasses' is given twice"):
        parse_mixture(["glasses=0.5", "glasses=0.5"])
    assert check_mixture(dict(anomalies.DEFAULT_MIXTURE)) == anomalies.DEFAULT_MIXTURE


# -- cache ----------------------------------------------------------------------------------------------------
def _cached_tiny(tmp_path, monkeypatch, tiny_dataset) -> tuple[Path, list]:
    """The session's tiny build copied into a cache under ``tmp_path`` -> (its folder, the configs of the builds
    ``cached_dataset`` asks for from then on, none of them run)."""
    monkeypatch.setattr(build, "CACHE_ROOT", tmp_path)
    root = tmp_path / "tiny-0"
    shutil.copytree(tiny_dataset.paths.data, root / "data")
    shutil.copytree(tiny_dataset.paths.answers, root / "answers")
    calls = []
    monkeypatch.setattr(build, "build_dataset",
                        lambda config, out, answers, progress: calls.append(config) or
                        build.BuildResult(DatasetPaths(out, answers), {}))
    return root, calls


def test_cached_dataset_reuses_a_matching_build(tmp_path, monkeypatch, tiny_dataset):
    root, calls = _cached_tiny(tmp_path, monkeypatch, tiny_dataset)
    assert cached_dataset("tiny", 0, progress=False) == DatasetPaths(root / "data", root / "answers")
    assert calls == []
    cached_dataset("tiny", 0, progress=False, public_fraction=0.5)   # other config: rebuilt
    manifest = json.loads((root / "answers" / "manifest.json").read_text())
    stale = {**manifest, "generator": {**manifest["generator"], "code": "0" * 16}}
    (root / "answers" / "manifest.json").write_text(json.dumps(stale))
    cached_dataset("tiny", 0, progress=False)                          # made by other code: rebuilt
    (root / "answers" / "manifest.json").write_text(json.dumps(manifest))
    assert cached_dataset("tiny", 0, progress=False) == DatasetPaths(root / "data", root / "answers")
    (root / "data" / "testingset.npy").write_bytes(b"truncated")      # damaged file: rebuilt
    cached_dataset("tiny", 0, progress=False)
    assert [c.public_fraction for c in calls] == [0.5, 0.3, 0.3]


def test_cached_dataset_compares_the_threads_a_build_rendered_with(tmp_path, monkeypatch, tiny_dataset):
    """``--threads N`` and the default (all cores) are one build where the machine has N cores; another count is
    another build (the bytes may depend on it)."""
    import os
    root, calls = _cached_tiny(tmp_path, monkeypatch, tiny_dataset)
    rendered = json.loads((root / "answers" / "manifest.json").read_text())["generator"]["torch_threads"]
    for cores in (rendered, rendered + 1):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        for threads in (0, rendered, rendered + 1):
            cached_dataset("tiny", 0, progress=False, threads=threads)
    assert [c.threads for c in calls] == [rendered + 1, 0, rendered + 1]


# -- the kinds' versions: 2 is the default, and both keep their bytes -------------------------------------------
#: sha256 of the tiny preset (seed 0) per torch CPU capability (``torch.backends.cpu.get_cpu_capability()``), kinds
#: version and torch thread count, with torch 2.13.0+cpu on x86-64. The generator's float rounding depends on the
#: vector instructions torch uses (through oneDNN and MKL: forcing ``ATEN_CPU_CAPABILITY`` does not change it) and,
#: with AVX-512, on the thread count; the answer key and the training set of a kinds version depend on neither.
#: Version 1's AVX512 fingerprints are those of the builds before ``kinds_version`` existed. Version 2's test set was
#: last changed on an AVX2 machine: on AVX-512 its fingerprint is not recorded (None), and the test checks the
#: training set and the answer key there; a session on such a machine records it.
TINY_TORCH = "2.13.0+cpu"
_V1_KEY, _V2_KEY = ("7b51b602333b7149dac02b7515b706a8cf1edacb8fbf0117161a77c3e7bc321d",
                    "fefb35ba4be88ce61071ad56be480efd30b7fc2a7ce5c86b7bc3164977c7d516")
_AVX512_TRAIN, _AVX2_TRAIN = ("0f2b0a87e1d382c553e1cd689a5ebcca5e12092f03b44a4f150f70d9edf1647b",
                              "130ee77512ecc1ea80f0dec388c2bfdea5bea04c9eec10368fb3b8567f761520")


def _fingerprints(train: str, test: str | dict[int, str] | None, key: str) -> dict:
    """One build's sha256 per file: a string, a dict by thread count where the thread count changes it, or None
    where it is not recorded for that CPU."""
    return {"trainingset.npy": train, "testingset.npy": test, "solution.csv": key}


TINY_SHA256 = {
    "AVX512": {1: _fingerprints(_AVX512_TRAIN, {1: "ef116d04dda8921e0ce16f6575f4bff0800105636da8619c177ab568175d7140",
                                                2: "28934b9f0da95e5f76d6146c50fea106f319fecc4dc71ef28a00a21dffd22fd8"},
                                _V1_KEY),
               2: _fingerprints(_AVX512_TRAIN, None, _V2_KEY)},
    "AVX2": {1: _fingerprints(_AVX2_TRAIN, "aa307c4160f813f2520562bfe1c0b30726b3c87a1b1242936a8c93a4b66f8ef2", _V1_KEY),
             2: _fingerprints(_AVX2_TRAIN, "152a21b4739ca7e7f94bf142eed65095dbede11d6c9f00d6b52ec6a493263ceb",
                              _V2_KEY)},
}
#: sha256 of version 1's drawn near kinds (mask, then paint, 8 times) on a fixed made-up face: numpy and Pillow only
V1_DRAWN_SHA256 = "b3c726479f1131d5bfbf79017be7b91d9cb10b43b0ff59aa94f922743a6fceab"


def test_version_2_is_the_default(tiny_dataset):
    assert BuildConfig().kinds_version == anomalies.DEFAULT_KINDS_VERSION == 2
    assert tiny_dataset.manifest["kinds_version"] == 2
    assert all(anomalies.get_kind(k) is anomalies.KINDS_V2.get(k, anomalies.KINDS[k]) for k in anomalies.KINDS)


def test_version_1_drawn_kinds_are_unchanged():
    base = np.random.default_rng(123).integers(40, 220, (64, 64, 3), dtype=np.uint8)
    rng, h = np.random.default_rng(7), hashlib.sha256()
    for _ in range(8):
        h.update(anomalies._draw_face_mask(base.copy(), rng).tobytes())
        h.update(anomalies._draw_face_paint(base.copy(), rng).tobytes())
    assert h.hexdigest() == V1_DRAWN_SHA256


@pytest.mark.parametrize("kinds_version", [1, 2])
@pytest.mark.parametrize("threads", [1, 2])
def test_tiny_build_bytes_are_unchanged(tmp_path, kinds_version, threads):
    import platform

    import torch
    cpu = torch.backends.cpu.get_cpu_capability()
    if torch.__version__ != TINY_TORCH or platform.machine() != "x86_64" or cpu not in TINY_SHA256:
        pytest.skip(f"fingerprints recorded with torch {TINY_TORCH} on x86_64 with {' or '.join(TINY_SHA256)} "
                    f"(here {torch.__version__}, {platform.machine()}, {cpu})")
    config = BuildConfig.from_preset("tiny", seed=0, threads=threads, kinds_version=kinds_version)
    r = build_dataset(config, tmp_path / "d", tmp_path / "a", progress=False)
    got = {**{k: v["sha256"] for k, v in r.manifest["files"]["data"].items() if k.endswith(".npy")},
           "solution.csv": r.manifest["files"]["answers"]["solution.csv"]["sha256"]}
    want = {k: v[threads] if isinstance(v, dict) else v for k, v in TINY_SHA256[cpu][kinds_version].items()}
    assert {k: got[k] for k, v in want.items() if v is not None} == {k: v for k, v in want.items() if v is not None}
