"""The face generator: the shipped weights load, and the BatchNorm-folded renderer computes the same function."""
import numpy as np
import torch
from torch import nn

from data_tools.faces import FaceGenerator, fold_batchnorm, load_generator, to_uint8


def test_fold_batchnorm_matches_the_unfolded_network():
    net = load_generator()
    fused = fold_batchnorm(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in fused) == 5
    z = torch.from_numpy(np.random.default_rng(0).standard_normal((16, 100), dtype=np.float32))[:, :, None, None]
    with torch.inference_mode():
        ref, out = net(z), fused(z)
    assert torch.allclose(ref, out, atol=1e-4)
    a, b = to_uint8(ref), to_uint8(out)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1 and (a != b).mean() < 1e-3


def test_fold_batchnorm_uses_running_statistics_not_batch_ones():
    net = load_generator()
    bn = net.main[1]
    with torch.no_grad():  # a BatchNorm with non-trivial statistics and a conv bias: both must be folded in
        bn.running_mean.add_(0.5)
        bn.running_var.mul_(3.0)
    net.main[0].bias = nn.Parameter(torch.linspace(-1, 1, bn.num_features))
    fused = fold_batchnorm(net)
    z = torch.randn(4, 100, 1, 1, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.allclose(net(z), fused(z), atol=1e-4)
        assert torch.allclose(net(z[:1]), fused(z[:1]), atol=1e-4)  # batch of one: eval statistics, no batch stats


def test_render_is_deterministic_and_batch_size_free():
    z = FaceGenerator.sample_latents(7, np.random.default_rng(3))
    a = FaceGenerator(batch_size=3).render(z)
    b = FaceGenerator(batch_size=500).render(z)
    assert a.shape == (7, 64, 64, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
