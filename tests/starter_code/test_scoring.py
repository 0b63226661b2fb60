import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from starter_code.data import to_model_input
from starter_code.models import build_model
from starter_code.scoring import anomaly_scores, eval_batches, l2_score, reconstruct, squared_error


def test_higher_scores_mean_more_anomalous(fitted_fcn, normal_test_images, anomalous_images):
    """The score contract, as a quality floor: after one short fit, unseen normal images score below anomalies."""
    model, history = fitted_fcn
    normal = anomaly_scores(model, normal_test_images)
    anomalous = anomaly_scores(model, anomalous_images)
    labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
    auc = roc_auc_score(labels, np.r_[normal, anomalous])
    assert auc >= 0.9, f"ROC-AUC {auc:.3f} after {len(history)} epochs (losses {history.losses})"
    assert np.median(anomalous) > np.median(normal)


def test_untrained_model_does_not_pass_the_floor(normal_test_images, anomalous_images):
    # guards the floor above: the data set is built so that only a trained model separates it
    torch.manual_seed(0)
    model = build_model("fcn")
    scores = anomaly_scores(model, np.concatenate([normal_test_images, anomalous_images]))
    assert roc_auc_score(np.r_[np.zeros(64), np.ones(64)], scores) < 0.6


def test_shape_dtype_and_the_course_formula(fitted_fcn, normal_test_images):
    model, _ = fitted_fcn
    images = normal_test_images[:13]
    scores = anomaly_scores(model, images, batch_size=5)  # uneven last batch
    assert scores.shape == (13,) and scores.dtype == np.float64
    assert np.all(scores >= 0)
    # the course: MSELoss(reduction='none') on flattened fcn images, summed per image, sqrt
    with torch.no_grad():
        x = to_model_input(images).view(13, -1)
        out = model.decoder(model.encoder(x))
        expected = torch.sqrt(nn.MSELoss(reduction="none")(out, x).sum(-1)).numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_row_order_and_batch_size_do_not_matter(fitted_fcn, normal_test_images, anomalous_images):
    model, _ = fitted_fcn
    images = np.concatenate([normal_test_images[:10], anomalous_images[:10]])
    base = anomaly_scores(model, images, batch_size=200)
    perm = np.random.default_rng(0).permutation(len(images))
    np.testing.assert_allclose(anomaly_scores(model, images[perm], batch_size=3), base[perm], rtol=1e-5)


def test_training_mode_is_restored_and_device_default(fitted_fcn, normal_test_images):
    model, _ = fitted_fcn
    model.train()
    anomaly_scores(model, normal_test_images[:2])
    assert model.training
    model.eval()
    reconstruct(model, normal_test_images[:2], device="cpu")
    assert not model.training


def test_vae_scores_are_seeded_without_touching_the_global_rng(normal_test_images):
    torch.manual_seed(0)
    vae = build_model("vae")
    images = normal_test_images[:6]
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = anomaly_scores(vae, images)
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(anomaly_scores(vae, images), a)
    assert not np.array_equal(anomaly_scores(vae, images, seed=1), a)  # z is sampled, as in the course
    torch.manual_seed(5)
    b = anomaly_scores(vae, images, seed=None)
    torch.manual_seed(5)
    np.testing.assert_array_equal(anomaly_scores(vae, images, seed=None), b)


def test_reconstruct_returns_uint8_images(fitted_fcn, normal_test_images):
    model, _ = fitted_fcn
    recon = reconstruct(model, normal_test_images[:7], batch_size=3)
    assert recon.shape == (7, 64, 64, 3) and recon.dtype == np.uint8
    # a trained model reconstructs its own kind of image closely (mean error in 0..255 pixel units)
    assert np.abs(recon.astype(int) - normal_test_images[:7]).mean() < 15


def test_empty_and_bad_inputs(fitted_fcn):
    model, _ = fitted_fcn
    empty = np.zeros((0, 64, 64, 3), np.uint8)
    assert anomaly_scores(model, empty).shape == (0,)
    assert reconstruct(model, empty).shape == (0, 64, 64, 3)
    with pytest.raises(ValueError, match="images to score: expected shape"):
        anomaly_scores(model, np.zeros((2, 3, 64, 64), np.uint8))


# -- eval_batches: the one loop every scorer runs ------------------------------------------------------------------

class Noisy(nn.Module):
    """A model with dropout (eval mode matters) whose reconstruction samples noise (the seed matters)."""

    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)
        self.w = nn.Parameter(torch.ones(1))

    def reconstruct(self, x):
        return self.drop(x) * self.w + torch.randn_like(x)


def test_eval_batches_row_order_and_sizes(random_images):
    model = Noisy()
    batches = [x.clone() for x in eval_batches(model, random_images, batch_size=4)]
    assert [len(b) for b in batches] == [4, 4, 2]  # no dropped last batch
    assert torch.equal(torch.cat(batches), to_model_input(random_images))  # row order, no shuffling


def test_eval_batches_restores_mode_autograd_and_rng(random_images):
    model = Noisy().train()
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    for x in eval_batches(model, random_images, batch_size=4, seed=7):
        assert not model.training and torch.is_inference_mode_enabled()
    assert model.training and not torch.is_inference_mode_enabled()
    assert torch.equal(torch.rand(3), expected_next)  # the caller's RNG stream is untouched
    for x in eval_batches(model, random_images, batch_size=4):
        break  # leaving the loop early restores everything too
    assert model.training and not torch.is_inference_mode_enabled()


def test_seeded_scores_repeat_and_every_scorer_shares_the_loop(random_images):
    model = Noisy()
    a = anomaly_scores(model, random_images, seed=5)
    assert np.array_equal(a, anomaly_scores(model, random_images, seed=5))
    assert not np.array_equal(a, anomaly_scores(model, random_images, seed=6))
    by_hand = []
    for x in eval_batches(model, random_images, batch_size=200, seed=5):
        by_hand.append(l2_score(squared_error(model, x)))
    assert np.array_equal(a, torch.cat(by_hand).numpy().astype(np.float64))


def test_score_fn_replaces_the_l2_score(fitted_fcn, random_images):
    model, _ = fitted_fcn
    mse = anomaly_scores(model, random_images, score_fn=lambda err: err.mean(dim=(1, 2, 3)))
    l2 = anomaly_scores(model, random_images)
    np.testing.assert_allclose(mse * 3 * 64 * 64, l2 ** 2, rtol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_scores_on_cuda_match_the_cpu_and_a_seeded_vae_repeats(fitted_fcn, random_images):
    model, _ = fitted_fcn
    try:
        cpu = anomaly_scores(model, random_images, device="cpu")
        np.testing.assert_allclose(anomaly_scores(model, random_images, device="cuda"), cpu, rtol=1e-4)
    finally:
        model.to("cpu")
    torch.manual_seed(0)
    vae = build_model("vae")
    a = anomaly_scores(vae, random_images, device="cuda", seed=3)
    assert np.array_equal(a, anomaly_scores(vae, random_images, device="cuda", seed=3))
