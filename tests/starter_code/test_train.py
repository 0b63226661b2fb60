import json

import numpy as np
import pytest
import torch
from torch import nn

from starter_code.config import TrainConfig
from starter_code.data import FaceDataset, to_model_input
from starter_code.formats import ImageFileError
from starter_code.models import MODEL_NAMES, build_model
from starter_code.scoring import anomaly_scores
from starter_code.train import (COSINE_FLOOR, Callback, History, build_and_fit, fit, learning_rate,
                                load_checkpoint)


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


def test_a_students_own_model_is_named_by_its_class_not_the_configs_default(small, capsys):
    """``cfg.model_type`` defaults to 'fcn': a model of one's own must not be labelled so in the bar and the plot."""
    from starter_code.plots import plot_loss

    class TinyAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64 * 64, 8), nn.Linear(8, 3 * 64 * 64))

        def forward(self, x):
            return self.net(x).view_as(x)

    history = fit(TinyAE(), small, tiny_cfg(epochs=1))
    assert history.model_type == "TinyAE"
    assert "train TinyAE" in capsys.readouterr().err
    assert plot_loss(history).axes[0].get_title() == "training loss (TinyAE)"


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


# -- hooks: the schedule, a custom loss, callbacks -----------------------------------------------------------------

class Recorder(Callback):
    """Records the learning rate of every step and the events in order."""

    def __init__(self):
        self.lrs, self.events = [], []

    def on_train_start(self, state):
        self.events.append("start")

    def on_batch_start(self, state):
        self.lrs.append(state.optimizer.param_groups[0]["lr"])

    def on_epoch_end(self, state):
        self.events.append(f"epoch {state.epoch}: {state.epoch_loss:.6g}")

    def on_train_end(self, state):
        self.events.append(f"end completed={state.completed} steps={state.step}")


def test_learning_rate_schedules():
    assert [learning_rate(s, 10, 1.0) for s in (0, 9)] == [1.0, 1.0]
    assert learning_rate(0, 100, 1.0, "cosine", warmup_steps=10) == pytest.approx(0.1)
    assert learning_rate(9, 100, 1.0, "cosine", warmup_steps=10) == pytest.approx(1.0)
    assert learning_rate(10, 100, 1.0, "cosine", warmup_steps=10) == pytest.approx(1.0)
    assert learning_rate(99, 100, 1.0, "cosine") == pytest.approx(COSINE_FLOOR, abs=1e-3)
    cosine = [learning_rate(s, 50, 2e-3, "cosine") for s in range(50)]
    assert all(a >= b for a, b in zip(cosine, cosine[1:]))  # monotone decay
    with pytest.raises(ValueError, match="schedule"):
        learning_rate(5, 10, 1.0, "step")
    with pytest.raises(ValueError, match="TrainConfig.schedule must be one of constant, cosine"):
        TrainConfig(schedule="step")


@pytest.mark.parametrize("schedule, warmup", [("constant", 0), ("cosine", 0), ("cosine", 3), ("constant", 4)])
def test_fit_sets_the_scheduled_learning_rate_before_every_step(small, schedule, warmup):
    rec = Recorder()
    cfg = tiny_cfg(epochs=2, schedule=schedule, warmup_steps=warmup)
    fit(build_model("fcn"), small, cfg, callbacks=[rec], progress=False)
    total = 2 * (len(small) // cfg.batch_size)
    assert rec.lrs == [learning_rate(s, total, cfg.lr, schedule, warmup) for s in range(total)]
    assert rec.events[0] == "start" and rec.events[-1] == f"end completed=True steps={total}"
    assert len([e for e in rec.events if e.startswith("epoch")]) == 2


def test_callbacks_see_the_same_losses_as_the_history(small):
    rec = Recorder()
    history = fit(build_model("fcn"), small, tiny_cfg(epochs=2), callbacks=[rec], progress=False)
    assert [e for e in rec.events if e.startswith("epoch")] == [f"epoch {i}: {v:.6g}"
                                                                  for i, v in enumerate(history.losses)]


def test_a_schedule_changes_training_and_the_same_config_repeats_it(small):
    def train(**kw):
        return build_and_fit(small, tiny_cfg(epochs=2, **kw), progress=False)[1].losses
    assert train(schedule="cosine") == train(schedule="cosine")
    assert train(schedule="cosine") != train()


def test_custom_loss_fn_is_what_fit_minimises(small):
    seen = []

    def l1(model, x):
        seen.append(x.shape)
        return (model(x) - x).abs().mean()

    torch.manual_seed(0)
    model = build_model("cnn")
    history = fit(model, small, tiny_cfg(epochs=2), loss_fn=l1, progress=False)
    assert len(seen) == 2 * (len(small) // 16) and seen[0] == (16, 3, 64, 64)
    with torch.no_grad():
        x = to_model_input(small[:16])
        assert history.losses[-1] == pytest.approx(float(l1(model, x)), rel=0.5)


def test_on_train_end_runs_when_training_fails(small):
    class Explodes(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return x * self.w

        def loss(self, x):
            return (self.w * float("nan")).sum()

    rec = Recorder()
    with pytest.raises(FloatingPointError):
        fit(Explodes(), small, tiny_cfg(epochs=2), callbacks=[rec], progress=False)
    assert rec.events[-1].startswith("end completed=False")


def test_the_loss_is_summed_in_float64(small):
    """The epoch's mean loss is accumulated in float64 (like the course's np.mean of Python floats)."""
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))
            self.steps = 0

        def loss(self, x):  # 2**24 once, then 1.0: in float32, 2**24 + 1 == 2**24 and the ones would vanish
            self.steps += 1
            return self.w.sum() + (2.0 ** 24 if self.steps == 1 else 1.0)

    history = fit(Tiny(), small, tiny_cfg(epochs=1, batch_size=1, lr=0.0), progress=False)
    assert history.losses == [(2 ** 24 + len(small) - 1) / len(small)]
