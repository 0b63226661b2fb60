import json

import numpy as np
import pytest
import torch
from torch import nn

from starter_code.config import TrainConfig
from starter_code.data import FaceDataset, ImageFileError
from starter_code.models import MODEL_NAMES, build_model
from starter_code.scoring import anomaly_scores
from starter_code.train import History, build_and_fit, fit, load_checkpoint


@pytest.fixture(scope="module")
def small(train_images):
    return train_images[:64]


def tiny_cfg(**kw):
    base = dict(epochs=3, batch_size=16, lr=3e-3, seed=0, device="cpu")
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_loss_decreases(name, small):
    _, history = build_and_fit(small, tiny_cfg(model_type=name), progress=False)
    assert len(history) == 3 and history.model_type == name
    assert all(np.isfinite(history.losses))
    assert history.losses[-1] < history.losses[0]
    assert history.images_seen == 3 * 64 and history.images_per_second > 0
    assert history.best_epoch == int(np.argmin(history.losses))


def test_same_seed_same_model_different_seed_different_model(small):
    # the VAE also draws noise while training: the seed must cover that too
    cfg = tiny_cfg(model_type="vae", epochs=2)
    m1, h1 = build_and_fit(small, cfg, progress=False)
    m2, h2 = build_and_fit(small, cfg, progress=False)
    assert h1.losses == h2.losses
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    _, h3 = build_and_fit(small, tiny_cfg(model_type="vae", epochs=2, seed=1), progress=False)
    assert h3.losses != h1.losses


def test_no_per_item_work_in_the_loop(small, monkeypatch):
    def per_item(self, index):
        raise AssertionError("fit fetched a single item")

    monkeypatch.setattr(FaceDataset, "__getitem__", per_item)
    _, history = build_and_fit(small, tiny_cfg(epochs=1), progress=False)
    assert len(history) == 1


def test_outputs_written_next_to_the_config(small, tmp_path):
    cfg = tiny_cfg(model_type="cnn", epochs=2, output_dir=str(tmp_path / "run"))
    model, history = build_and_fit(small, cfg, progress=False)
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} == {"config.json", "history.json", "best_model_cnn.pt",
                                               "last_model_cnn.pt"}
    assert TrainConfig.load(run) == cfg
    assert json.loads((run / "history.json").read_text())["losses"] == history.losses
    assert History.from_dict(json.loads((run / "history.json").read_text())) == history
    reloaded = load_checkpoint(run, "last")
    assert not reloaded.training
    np.testing.assert_array_equal(anomaly_scores(reloaded, small[:8]), anomaly_scores(model, small[:8]))
    assert isinstance(load_checkpoint(run, "best"), nn.Module)
    with pytest.raises(ValueError, match="'last' or 'best'"):
        load_checkpoint(run, "final")


def test_plain_modules_train_too(small):
    class Plain(nn.Module):
        """A student's model without loss/reconstruct, returning a tuple like the course's VAE."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return torch.tanh(self.conv(x)), None

    history = fit(Plain(), small, tiny_cfg(epochs=2), progress=False)
    assert history.losses[-1] < history.losses[0]


def test_wrong_output_shape_is_explained(small):
    class Shrinks(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 4, stride=2, padding=1)

        def forward(self, x):
            return self.conv(x)

    with pytest.raises(ValueError, match=r"Shrinks returned a reconstruction of shape \(16, 3, 32, 32\)"):
        fit(Shrinks(), small, tiny_cfg(epochs=1), progress=False)


def test_diverging_loss_stops_with_the_epoch(small):
    class Explodes(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(()))

        def loss(self, x):
            return self.w * float("nan")

    with pytest.raises(FloatingPointError, match="epoch 1"):
        fit(Explodes(), small, tiny_cfg(epochs=2), progress=False)


def test_bad_images_and_zero_epochs(small):
    with pytest.raises(ImageFileError, match="training images: expected dtype uint8"):
        fit(build_model("fcn"), small.astype(np.float32), tiny_cfg(), progress=False)
    with pytest.raises(ValueError, match="no training images"):
        fit(build_model("fcn"), small[:0], tiny_cfg(), progress=False)
    assert fit(build_model("fcn"), FaceDataset(small), tiny_cfg(epochs=0), progress=False).losses == []


def test_progress_bar(small, capsys):
    fit(build_model("fcn"), small, tiny_cfg(epochs=1), progress=True)
    err = capsys.readouterr().err
    assert "train fcn" in err and "4/4" in err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_and_score_on_cuda(small):
    model, history = build_and_fit(small, tiny_cfg(model_type="cnn", device="cuda"), progress=False)
    assert next(model.parameters()).device.type == "cuda"
    assert history.losses[-1] < history.losses[0]
    scores = anomaly_scores(model, small[:8])
    np.testing.assert_allclose(scores, anomaly_scores(model.cpu(), small[:8]), rtol=1e-3)
