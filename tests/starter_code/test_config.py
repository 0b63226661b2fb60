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


# -- the Config base every config of the kit shares -----------------------------------------------------------------

def test_replace_checks_keys_and_changes_one_nested_key():
    cfg = TrainConfig(model_kwargs={"hidden": (64,), "latent_dim": 3})
    assert cfg.replace(epochs=2).epochs == 2 and cfg.epochs == 50
    changed = cfg.replace(**{"model_kwargs.latent_dim": 8})
    assert changed.model_kwargs == {"hidden": (64,), "latent_dim": 8} and cfg.model_kwargs["latent_dim"] == 3
    with pytest.raises(ConfigKeyError, match="TrainConfig: unknown key.*epoch;"):
        cfg.replace(epoch=2)
    with pytest.raises(ConfigKeyError, match="has no keys"):
        cfg.replace(**{"epochs.x": 2})
    with pytest.raises(ValueError, match="TrainConfig.warmup_steps must be a non-negative integer"):
        cfg.replace(warmup_steps=-1)


def test_smoke_and_resolve():
    from starter_code.formats import SMOKE
    cfg = TrainConfig(epochs=50, batch_size=2000, lr=0.1)
    assert cfg.smoke() == cfg.replace(epochs=SMOKE.epochs, batch_size=SMOKE.batch_size)
    assert cfg.resolve(smoke=True, epochs=1).epochs == 1  # overrides come after smoke mode
    assert cfg.resolve(lr=0.5) == cfg.replace(lr=0.5)


def test_default_field_keeps_the_help():
    @dataclasses.dataclass
    class Stage(TrainConfig):
        epochs: int = TrainConfig.default_field("epochs", 6)
        model_kwargs: dict = TrainConfig.default_field("model_kwargs", {"hidden": (512,)})

    a, b = Stage(), Stage()
    assert a.epochs == 6 and a.model_kwargs == {"hidden": (512,)} and a.model_kwargs is not b.model_kwargs
    assert dataclasses.fields(Stage)[1].metadata["help"] == "Passes over the training images."


def test_build_model_refuses_unknown_model_kwargs():
    from starter_code.models import build_model
    with pytest.raises(ConfigKeyError, match="model 'fcn': unknown key.*hiden; known keys: hidden, latent_dim"):
        build_model("fcn", hiden=(8,))
