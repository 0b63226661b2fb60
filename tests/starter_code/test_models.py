import pytest
import torch
from torch import nn

from starter_code import models
from starter_code.models import (MODEL_NAMES, VAE, ConvAutoencoder, FCNAutoencoder, UnknownModelError,
                                 available_models, build_model, register_model, vae_loss)

X = torch.rand(4, 3, 64, 64) * 2 - 1


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_maps_images_to_images(name):
    torch.manual_seed(0)
    model = build_model(name)
    recon = model.reconstruct(X)
    assert recon.shape == X.shape and recon.dtype == torch.float32
    assert recon.abs().max() <= 1  # Tanh output
    loss = model.loss(X)
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_registry_names():
    assert set(MODEL_NAMES) == {"fcn", "cnn", "vae"}
    assert isinstance(build_model("fcn"), FCNAutoencoder)
    assert isinstance(build_model("cnn"), ConvAutoencoder)
    assert isinstance(build_model("vae"), VAE)


def test_unknown_name_lists_valid_names():
    # The registry is shared: other modules (solutions/) may have registered more names in this process.
    valid = ", ".join(available_models())
    assert {"cnn", "fcn", "vae"} <= set(available_models())
    with pytest.raises(UnknownModelError, match=f"unknown model 'resnet'; valid names: {valid}$"):
        build_model("resnet")
    with pytest.raises(UnknownModelError):
        build_model(["fcn"])


def test_register_model_leaves_room_for_more(monkeypatch):
    monkeypatch.setattr(models, "_REGISTRY", dict(models._REGISTRY))

    @register_model("resnet")
    class Tiny(nn.Module):
        def __init__(self, scale=1.0):
            super().__init__()
            self.scale = scale

        def forward(self, x):
            return x * self.scale

    assert "resnet" in available_models()
    assert build_model("resnet", scale=0.5).scale == 0.5
    with pytest.raises(ValueError, match="already registered"):
        register_model("fcn", Tiny)
    register_model("fcn", Tiny, replace=True)
    assert isinstance(build_model("fcn"), Tiny)


def test_fcn_is_the_course_architecture():
    m = FCNAutoencoder()
    linear = [(l.in_features, l.out_features) for l in m.modules() if isinstance(l, nn.Linear)]
    assert linear == [(12288, 128), (128, 64), (64, 12), (12, 3), (3, 12), (12, 64), (64, 128), (128, 12288)]
    acts = [type(l).__name__ for l in m.encoder] + [type(l).__name__ for l in m.decoder]
    assert acts == ["Linear", "ReLU"] * 3 + ["Linear"] + ["Linear", "ReLU"] * 3 + ["Linear", "Tanh"]
    # the course's fcn_autoencoder state-dict keys, so its checkpoints load
    assert list(m.state_dict()) == [f"{p}.{i}.{w}" for p, idx in (("encoder", (0, 2, 4, 6)),
                                                                    ("decoder", (0, 2, 4, 6)))
                                    for i in idx for w in ("weight", "bias")]


def test_fcn_encode_decode_and_latent_edit():
    torch.manual_seed(0)
    m = FCNAutoencoder().eval()
    z = m.encode(X)
    assert z.shape == (4, 3)
    assert torch.equal(m.decode(z), m(X))
    # flattening is channels-first, as the course's img.view(B, -1) on (B, 3, 64, 64)
    assert torch.equal(m.encode(X), m.encoder(X.reshape(4, -1)))
    z2 = z.clone()
    z2[:, 0] = 2 * z2[:, 0]  # the report question's edit
    assert m.decode(z2).shape == (4, 3, 64, 64)
    assert FCNAutoencoder(hidden=(256, 32), latent_dim=8).encode(X).shape == (4, 8)


def test_conv_is_the_course_architecture():
    m = ConvAutoencoder()
    convs = [(type(l).__name__, l.in_channels, l.out_channels, l.kernel_size, l.stride, l.padding)
             for l in m.modules() if isinstance(l, (nn.Conv2d, nn.ConvTranspose2d))]
    assert convs == [("Conv2d", 3, 12, (4, 4), (2, 2), (1, 1)), ("Conv2d", 12, 24, (4, 4), (2, 2), (1, 1)),
                     ("Conv2d", 24, 48, (4, 4), (2, 2), (1, 1)),
                     ("ConvTranspose2d", 48, 24, (4, 4), (2, 2), (1, 1)),
                     ("ConvTranspose2d", 24, 12, (4, 4), (2, 2), (1, 1)),
                     ("ConvTranspose2d", 12, 3, (4, 4), (2, 2), (1, 1))]
    assert isinstance(m.decoder[-1], nn.Tanh)
    assert m.encode(X).shape == (4, 48, 8, 8)


def test_vae_forward_and_loss_are_the_courses():
    torch.manual_seed(0)
    m = VAE()
    assert set(dict(m.named_children())) == {"encoder", "enc_out_1", "enc_out_2", "decoder"}
    assert isinstance(m.enc_out_1[-1], nn.ReLU) and isinstance(m.enc_out_2[-1], nn.ReLU)
    recon, mu, logvar = m(X)
    assert recon.shape == X.shape and mu.shape == logvar.shape == (4, 48, 8, 8)
    # the course's loss_vae, written out with its in-place ops
    kld_element = mu.pow(2).add_(logvar.exp()).mul_(-1).add_(1).add_(logvar)
    expected = nn.MSELoss()(recon, X) + torch.sum(kld_element).mul_(-0.5)
    assert torch.allclose(vae_loss(recon, X, mu, logvar), expected)
    torch.manual_seed(1)
    a = m.loss(X)
    torch.manual_seed(1)
    r, mu, lv = m(X)
    assert torch.equal(a, vae_loss(r, X, mu, lv))


def test_vae_sampling_at_eval():
    m = VAE().eval()
    torch.manual_seed(0)
    a = m.reconstruct(X)
    b = m.reconstruct(X)
    mu = m.encode(X)[0]
    # the course samples z even in eval mode; with ReLU'd logvar >= 0 the noise is never zero
    assert not torch.equal(a, b)
    m.sample_at_eval = False
    assert torch.equal(m.reconstruct(X), m.decode(mu))
