import dataclasses
import json

import pytest

from starter_code.config import ConfigKeyError, TrainConfig


def test_defaults_are_the_course_sample_code():
    cfg = TrainConfig()
    assert (cfg.model_type, cfg.epochs, cfg.batch_size, cfg.lr, cfg.eval_batch_size, cfg.device) == \
        ("fcn", 50, 2000, 1e-3, 200, "auto")


def test_every_field_has_help():
    for f in dataclasses.fields(TrainConfig):
        assert f.metadata.get("help"), f"TrainConfig.{f.name} lacks help metadata"
    table = TrainConfig.help_table()
    assert all(f"`{f.name}`" in table for f in dataclasses.fields(TrainConfig))


def test_dict_round_trip():
    cfg = TrainConfig(model_type="vae", epochs=3, model_kwargs={"channels": [8, 16, 32]}, output_dir="out")
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_unknown_keys_raise_and_list_known_keys():
    with pytest.raises(ConfigKeyError) as e:
        TrainConfig.from_dict({"epoch": 3, "learning_rate": 0.1})
    msg = str(e.value)
    assert "epoch, learning_rate" in msg and "epochs" in msg and "lr" in msg


@pytest.mark.parametrize("kw", [{"epochs": -1}, {"batch_size": 0}, {"eval_batch_size": 2.5}, {"lr": -1e-3},
                                {"batch_size": True}, {"model_kwargs": [1]}])
def test_invalid_values_name_the_field(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        TrainConfig(**kw)


def test_save_and_load(tmp_path):
    cfg = TrainConfig(model_type="cnn", epochs=2, seed=7)
    path = cfg.save(tmp_path / "run")
    assert path.name == "config.json"
    assert TrainConfig.load(path) == cfg
    assert TrainConfig.load(tmp_path / "run") == cfg


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        TrainConfig.load(tmp_path / "missing" / "config.json")
    bad = tmp_path / "config.json"
    bad.write_text('{"epochs": 2, "colour": "red"}')
    with pytest.raises(ConfigKeyError, match=r"config\.json.*colour"):
        TrainConfig.load(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="config.json: not valid JSON"):
        TrainConfig.load(bad)
