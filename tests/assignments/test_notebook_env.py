"""``starter_code.notebook.NotebookEnv``: what a notebook's first cell reads from the environment."""
from __future__ import annotations

import numpy as np
import pytest

from starter_code.config import ConfigKeyError, TrainConfig
from starter_code.formats import SMOKE, Smoke
from starter_code.notebook import NotebookEnv, NotebookSetupError


def _data_dir(root, n_train=5, n_test=3):
    d = root / "data"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.save(d / "trainingset.npy", rng.integers(0, 256, (n_train, 64, 64, 3), dtype=np.uint8))
    np.save(d / "testingset.npy", rng.integers(0, 256, (n_test, 64, 64, 3), dtype=np.uint8))
    return d


def test_explicit_data_dir_and_full_mode(tmp_path):
    d = _data_dir(tmp_path)
    env = NotebookEnv.from_environ({"HW8_DATA_DIR": str(d)}, cwd=tmp_path / "elsewhere")
    assert env.data_dir == d and env.smoke is False and env.output_dir == tmp_path / "elsewhere"
    assert env.load_train().shape == (5, 64, 64, 3) and env.load_test().shape == (3, 64, 64, 3)
    assert "full run" in str(env)
    assert env.smoke_training() == {}


def test_default_data_dir_is_found_from_a_subfolder(tmp_path):
    d = _data_dir(tmp_path)
    nb_dir = tmp_path / "source" / "01_simple"
    nb_dir.mkdir(parents=True)
    env = NotebookEnv.from_environ({}, cwd=nb_dir)
    assert env.data_dir == d.resolve()  # ../../data from the notebook's folder


def test_missing_data_names_every_place_tried(tmp_path):
    deep = tmp_path / "a" / "b" / "c"  # so that every default candidate lies inside tmp_path
    deep.mkdir(parents=True)
    with pytest.raises(NotebookSetupError, match="trainingset.npy not found in any of .*data.*HW8_DATA_DIR"):
        NotebookEnv.from_environ({}, cwd=deep)
    with pytest.raises(NotebookSetupError, match="HW8_DATA_DIR='nowhere': folder .*nowhere does not exist"):
        NotebookEnv.from_environ({"HW8_DATA_DIR": "nowhere"}, cwd=tmp_path)
    (tmp_path / "empty").mkdir()
    env = NotebookEnv.from_environ({"HW8_DATA_DIR": "empty"}, cwd=tmp_path)
    with pytest.raises(FileNotFoundError, match="empty/trainingset.npy: not found.*HW8_DATA_DIR"):
        env.load_train()


@pytest.mark.parametrize("text, smoke", [("1", True), ("yes", True), (" ON ", True), ("0", False), ("", False),
                                         ("false", False)])
def test_smoke_values(tmp_path, text, smoke):
    d = _data_dir(tmp_path)
    assert NotebookEnv.from_environ({"HW8_DATA_DIR": str(d), "HW8_SMOKE": text}).smoke is smoke


def test_bad_smoke_value_and_unknown_variable_are_refused(tmp_path):
    d = _data_dir(tmp_path)
    with pytest.raises(NotebookSetupError, match="HW8_SMOKE='maybe': use one of '1', 'true'"):
        NotebookEnv.from_environ({"HW8_DATA_DIR": str(d), "HW8_SMOKE": "maybe"})
    with pytest.raises(NotebookSetupError, match="unknown environment variable.*HW8_SMOK; known: HW8_DATA_DIR"):
        NotebookEnv.from_environ({"HW8_DATA_DIR": str(d), "HW8_SMOK": "1"})
    with pytest.raises(ConfigKeyError, match="unknown key.*sed"):
        NotebookEnv.from_environ({"HW8_DATA_DIR": str(d)}, sed=1)


def test_smoke_mode_trims_data_and_training(tmp_path):
    d = _data_dir(tmp_path, n_train=10, n_test=6)
    env = NotebookEnv.from_environ({"HW8_DATA_DIR": str(d), "HW8_SMOKE": "1", "HW8_OUTPUT_DIR": "out"},
                                   cwd=tmp_path, smoke_sizes=Smoke(n_train=4, n_test=2), seed=7)
    train, test = env.load_train(), env.load_test()
    assert train.shape[0] == 4 and test.shape[0] == 2
    assert np.array_equal(train, np.load(d / "trainingset.npy")[:4])  # the first rows, in order
    train[0] = 0  # a private copy: the file is untouched
    assert np.load(d / "trainingset.npy")[0].any()
    cfg = env.train_config(model_type="cnn", epochs=50, batch_size=2000)
    # The batch scales with the smoke data: a 32nd of the images kept, at least 8.
    assert (cfg.model_type, cfg.epochs, cfg.batch_size, cfg.seed) == ("cnn", 8, 8, 7)
    assert env.smoke_training() == {"epochs": 8, "batch_size": 8}
    assert SMOKE.training() == {"epochs": 8, "batch_size": 16}
    assert "SMOKE mode" in str(env)
    # Smoke outputs never overwrite a real run's: prediction_smoke.csv, loss_smoke.png.
    out = env.path("prediction.csv")
    assert out == tmp_path / "out" / "prediction_smoke.csv" and out.parent.is_dir()
    assert env.path("loss.png").name == "loss_smoke.png"
    real = NotebookEnv.from_environ({"HW8_DATA_DIR": str(d), "HW8_OUTPUT_DIR": "out"}, cwd=tmp_path)
    assert real.path("prediction.csv") == tmp_path / "out" / "prediction.csv"


def test_train_config_keeps_a_given_config_and_refuses_unknown_keys(tmp_path):
    env = NotebookEnv(data_dir=tmp_path)
    base = TrainConfig(model_type="fcn", epochs=9, lr=5e-4)
    assert env.train_config(base, batch_size=100) == TrainConfig(model_type="fcn", epochs=9, lr=5e-4, batch_size=100)
    with pytest.raises(ConfigKeyError, match="epoch"):
        env.train_config(epoch=3)


def test_smoke_message_gives_the_numbers_used(tmp_path):
    """Tiny data holds fewer images than smoke mode keeps: the message says how many are used, not the limit."""
    d = _data_dir(tmp_path, n_train=10, n_test=6)
    env = NotebookEnv.from_environ({"HW8_DATA_DIR": str(d), "HW8_SMOKE": "1"}, cwd=tmp_path,
                                   smoke_sizes=Smoke(n_train=8, n_test=16))
    assert env.smoke_rows() == (8, 6) == (len(env.load_train()), len(env.load_test()))
    assert "SMOKE mode (first 8 train / first 6 test images; not for upload)" in str(env)
    (d / "testingset.npy").unlink()
    assert "(first 8 train / up to 16 test images" in str(env)
    assert "full run" in str(NotebookEnv.from_environ({"HW8_DATA_DIR": str(d)}, cwd=tmp_path))
