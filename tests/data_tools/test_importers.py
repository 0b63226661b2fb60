"""data_tools.importers: the course's .npy files with a labels CSV, and folders of images; every error."""
from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
from PIL import Image

from common.answer_key import load_answer_key
from data_tools.importers import import_folders, import_npy, load_image, read_labels
from data_tools.io import DatasetError, ImageFileError, sha256_file, verify_manifest


# -- .npy import ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def course_dir(tmp_path_factory, tiny_dataset):
    """A directory laid out like the course's download: ml2023spring-hw8/data/{trainingset,testingset}.npy."""
    root = tmp_path_factory.mktemp("course") / "ml2023spring-hw8"
    (root / "data").mkdir(parents=True)
    for name in ("trainingset.npy", "testingset.npy"):
        shutil.copy(tiny_dataset.paths.data / name, root / "data" / name)
    return root


def write_labels(path, rows, header=("ID", "label", "kind")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def labels_csv(tmp_path, tiny_dataset):
    key = tiny_dataset.key
    # rows in reverse order: the importer must align by ID, not by row
    rows = [(i, int(key.labels[i]), key.kinds[i]) for i in reversed(range(len(key)))]
    return write_labels(tmp_path / "labels.csv", rows)


def test_import_npy_copies_files_and_writes_a_stratified_key(tmp_path, course_dir, labels_csv, tiny_dataset):
    r = import_npy(course_dir, labels_csv, tmp_path / "out", tmp_path / "answers", seed=5, progress=False)
    for name in ("trainingset.npy", "testingset.npy"):
        assert sha256_file(r.paths.data / name) == sha256_file(tiny_dataset.paths.data / name)
    key = load_answer_key(r.paths.solution)
    np.testing.assert_array_equal(key.labels, tiny_dataset.key.labels)
    np.testing.assert_array_equal(key.kinds, tiny_dataset.key.kinds)
    for kind in np.unique(key.kinds):
        g = (key.kinds == kind).sum()
        assert key.public[key.kinds == kind].sum() == int(np.floor(0.3 * g + 0.5))
    assert verify_manifest(r.paths) == []
    assert r.manifest["source"]["type"] == "npy"
    assert r.manifest["test_images_equal_to_a_training_image"] == 0
    assert sorted(p.name for p in r.paths.data.iterdir()) == ["README.md", "testingset.npy", "trainingset.npy"]
    # same seed, same split; the split's seed is the only randomness
    r2 = import_npy(course_dir / "data", labels_csv, tmp_path / "out2", tmp_path / "answers2", seed=5,
                    progress=False)
    assert sha256_file(r2.paths.solution) == sha256_file(r.paths.solution)


def test_import_npy_without_kind_column(tmp_path, course_dir, tiny_dataset):
    key = tiny_dataset.key
    labels = write_labels(tmp_path / "l.csv", [(i, int(v)) for i, v in enumerate(key.labels)], header=("ID", "label"))
    r = import_npy(course_dir, labels, tmp_path / "out", tmp_path / "answers", progress=False)
    got = load_answer_key(r.paths.solution)
    assert set(np.unique(got.kinds)) == {"normal", "anomaly"}
    np.testing.assert_array_equal(got.kinds == "anomaly", key.labels == 1)


@pytest.mark.parametrize("rows, header, match", [
    ([], ("ID", "score"), r"line 1: missing column\(s\) \['label'\]"),
    ([("x", 0)], ("ID", "label"), r"line 2, column 'ID': 'x' is not an integer"),
    ([(0, 0), (1, 2)], ("ID", "label"), r"line 3, column 'label', ID 1: label must be 0 or 1, got '2'"),
    ([(0, 0), (0, 1), (1, 1)], ("ID", "label"), r"line 3, column 'ID', ID 0: duplicate ID \(first on line 2\)"),
    ([(0, 0), (1, 1), (7, 1)], ("ID", "label"), r"line 4, column 'ID', ID 7: out of range.*IDs 0..2"),
    ([(0, 0), (1, 1)], ("ID", "label"), r"2 labelled rows but the test set \(testingset.npy\) has 3 images"),
    ([(0, 0, "normal"), (1, 1, "normal"), (2, 1, "hat")], ("ID", "label", "kind"),
     r"line 3, column 'kind', ID 1: kind 'normal' with label 1"),
    ([(0, 0), (1, 0), (2, 0)], ("ID", "label"), "every row has label 0"),
    ([(0, 0, 1), (1, 1), (2, 1)], ("ID", "label"), "line 2: 3 fields, the header has 2"),
])
def test_read_labels_errors_name_line_column_and_id(tmp_path, rows, header, match):
    path = write_labels(tmp_path / "labels.csv", rows, header)
    with pytest.raises(DatasetError, match=match) as e:
        read_labels(path, 3)
    assert str(path) in str(e.value)


def test_read_labels_file_problems(tmp_path):
    with pytest.raises(DatasetError, match="labels file not found"):
        read_labels(tmp_path / "nope.csv", 3)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DatasetError, match="empty.csv: empty file"):
        read_labels(tmp_path / "empty.csv", 3)
    (tmp_path / "bin.csv").write_bytes(b"ID,label\n\xff\xfe\x00\x01")
    with pytest.raises(DatasetError, match="bin.csv: not a UTF-8 text file"):
        read_labels(tmp_path / "bin.csv", 3)
    # a BOM and blank lines are fine
    (tmp_path / "ok.csv").write_text("\ufeffID,label\n0,0\n\n1,1\n2,1\n\n", encoding="utf-8")
    labels, kinds = read_labels(tmp_path / "ok.csv", 3)
    assert labels.tolist() == [0, 1, 1] and kinds.tolist() == ["normal", "anomaly", "anomaly"]


def test_import_npy_file_errors(tmp_path, course_dir, labels_csv):
    out, ans = tmp_path / "out", tmp_path / "answers"
    with pytest.raises(DatasetError, match="source directory not found"):
        import_npy(tmp_path / "missing", labels_csv, out, ans, progress=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    np.save(bad / "trainingset.npy", np.zeros((4, 64, 64, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"testingset.npy not found \(looked in"):
        import_npy(bad, labels_csv, out, ans, progress=False)
    np.save(bad / "testingset.npy", np.zeros((4, 64, 64, 3), np.float32))
    with pytest.raises(ImageFileError, match=r"bad/testingset.npy: expected dtype uint8, got float32"):
        import_npy(bad, labels_csv, out, ans, progress=False)
    np.save(bad / "testingset.npy", np.zeros((4, 32, 32, 3), np.uint8))
    with pytest.raises(ImageFileError, match=r"testingset.npy: expected shape \(N, 64, 64, 3\), got \(4, 32, 32, 3\)"):
        import_npy(bad, labels_csv, out, ans, progress=False)
    np.save(bad / "testingset.npy", np.zeros((4, 64, 64, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"labels.csv: 128 labelled rows but the test set .* has 4 images"):
        import_npy(bad, labels_csv, out, ans, progress=False)
    assert not out.exists() and not ans.exists()  # nothing written on error
    with pytest.raises(DatasetError, match="inside --out"):
        import_npy(course_dir, labels_csv, out, out / "answers", progress=False)


# -- folders of images ----------------------------------------------------------------------------------------
def _face(rng, w, h):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def folders(tmp_path):
    """normal/: 12 images in 5 formats and modes; anomalous/: 3 loose files + a 'hats' subfolder of 2."""
    rng = np.random.default_rng(0)
    normal, anomalous = tmp_path / "normal", tmp_path / "anomalous"
    (normal / "sub").mkdir(parents=True)
    (anomalous / "hats").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(_face(rng, 80, 100)).save(normal / f"p{i}.png")
        Image.fromarray(_face(rng, 120, 90)).save(normal / f"j{i}.jpg", quality=90)
    Image.fromarray(_face(rng, 64, 64)).convert("P").save(normal / "g0.gif")
    frames = [Image.fromarray(_face(rng, 70, 70)) for _ in range(3)]
    frames[0].save(normal / "sub" / "anim.gif", save_all=True, append_images=frames[1:])
    Image.fromarray(_face(rng, 50, 50)[..., 0]).save(normal / "grey.bmp")
    rgba = np.dstack([_face(rng, 64, 64), np.full((64, 64), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(normal / "sub" / "alpha.png")
    (normal / ".DS_Store").write_bytes(b"\x00\x01junk")   # hidden: ignored
    for i in range(3):
        Image.fromarray(_face(rng, 64, 64)).save(anomalous / f"a{i}.webp")
    for i in range(2):
        Image.fromarray(_face(rng, 200, 64)).save(anomalous / "hats" / f"h{i}.jpeg")
    return normal, anomalous


def test_import_folders_happy_path(tmp_path, folders):
    normal, anomalous = folders
    r = import_folders(normal, anomalous, tmp_path / "out", tmp_path / "answers", seed=1, progress=False)
    train, test = np.load(r.paths.train), np.load(r.paths.test)
    # 12 normal images; default hold-out = min(5 anomalous, 12 // 2) = 5
    assert train.shape == (7, 64, 64, 3) and test.shape == (10, 64, 64, 3)
    assert train.dtype == test.dtype == np.uint8
    key = load_answer_key(r.paths.solution)
    assert sorted(key.kinds.tolist()) == ["anomaly"] * 3 + ["hats"] * 2 + ["normal"] * 5
    with open(r.paths.answers / "sources.csv") as f:
        sources = list(csv.DictReader(f))
    assert len(sources) == 17
    # every test row maps back to a file whose image it is
    for s in sources:
        folder = normal if s["folder"] == "normal" else anomalous
        arr = train if s["set"] == "train" else test
        np.testing.assert_array_equal(arr[int(s["index"])], load_image(folder / s["path"]))
    test_rows = {int(s["index"]): s for s in sources if s["set"] == "test"}
    for i in range(len(test)):
        assert (test_rows[i]["folder"] == "anomalous") == bool(key.labels[i])
    assert verify_manifest(r.paths) == []
    assert not any(p.name == ".DS_Store" for p in map(lambda s: normal / s["path"], sources))


def test_import_folders_is_deterministic_and_test_normal_configurable(tmp_path, folders):
    normal, anomalous = folders
    a = import_folders(normal, anomalous, tmp_path / "o1", tmp_path / "a1", seed=2, progress=False)
    b = import_folders(normal, anomalous, tmp_path / "o2", tmp_path / "a2", seed=2, progress=False)
    for f in ("trainingset.npy", "testingset.npy"):
        assert sha256_file(a.paths.data / f) == sha256_file(b.paths.data / f)
    assert sha256_file(a.paths.solution) == sha256_file(b.paths.solution)
    c = import_folders(normal, anomalous, tmp_path / "o3", tmp_path / "a3", n_test_normal=2, progress=False)
    assert c.manifest["counts"] == {**c.manifest["counts"], "train": 10, "test": 7, "test_normal": 2}
    with pytest.raises(DatasetError, match=r"n_test_normal must be between 1 and 11"):
        import_folders(normal, anomalous, tmp_path / "o4", tmp_path / "a4", n_test_normal=12, progress=False)


def test_load_image_centre_crops_and_converts(tmp_path):
    # 30 px red | 40 px green | 30 px red, 40 px tall: the centre square is all green
    a = np.zeros((40, 100, 3), np.uint8)
    a[:, :30, 0] = a[:, 70:, 0] = 255
    a[:, 30:70, 1] = 255
    Image.fromarray(a).save(tmp_path / "wide.png")
    x = load_image(tmp_path / "wide.png")
    assert x.shape == (64, 64, 3) and x.dtype == np.uint8
    assert x[..., 1].min() > 250 and x[..., 0].max() < 5
    # transparency composited on white, grey expanded to RGB
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert (load_image(tmp_path / "clear.png") == 255).all()
    Image.new("L", (10, 10), 77).save(tmp_path / "grey.png")
    assert (load_image(tmp_path / "grey.png") == 77).all()
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(tmp_path / "deep.png")
    assert (load_image(tmp_path / "deep.png") == 255).all()


def test_import_folders_lists_every_unreadable_file(tmp_path, folders):
    normal, anomalous = folders
    good = (normal / "p0.png").read_bytes()
    (normal / "truncated.png").write_bytes(good[: len(good) // 2])
    (normal / "notes.txt").write_text("not an image")
    with pytest.raises(DatasetError) as e:
        import_folders(normal, anomalous, tmp_path / "out", tmp_path / "answers", progress=False)
    msg = str(e.value)
    assert "2 of 14 file(s) could not be read" in msg
    assert f"{normal / 'notes.txt'}: not an image PIL can read" in msg
    assert f"{normal / 'truncated.png'}: unreadable or corrupt image" in msg
    assert not (tmp_path / "out").exists()
    r = import_folders(normal, anomalous, tmp_path / "out", tmp_path / "answers", skip_unreadable=True,
                       progress=False)
    assert r.manifest["counts"]["train"] + r.manifest["counts"]["test_normal"] == 12
    assert len(r.manifest["source"]["skipped_unreadable"]) == 2


def test_import_folders_errors(tmp_path, folders):
    normal, anomalous = folders
    out, ans = tmp_path / "out", tmp_path / "answers"
    with pytest.raises(DatasetError, match=r"missing: image folder not found"):
        import_folders(tmp_path / "missing", anomalous, out, ans, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty: no image files found"):
        import_folders(normal, tmp_path / "empty", out, ans, progress=False)
    (anomalous / "normal").mkdir()
    shutil.copy(anomalous / "a0.webp", anomalous / "normal" / "x.webp")
    with pytest.raises(DatasetError, match="subfolder of the anomalous folder is called 'normal'"):
        import_folders(normal, anomalous, out, ans, progress=False)
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(normal / "p0.png", one / "p0.png")
    with pytest.raises(DatasetError, match="1 readable image.*need at least 2"):
        import_folders(one, normal, out, ans, progress=False)
    with pytest.raises(DatasetError, match="public_fraction must be strictly between 0 and 1"):
        import_folders(normal, normal, out, ans, public_fraction=0, progress=False)
