"""The normal side of the sample the faithfulness tests (``test_faithfulness.py``, ``test_faithfulness_v2.py``)
judge near kinds on: 320 normal faces drawn from ``default_rng(11)``, with as many more as the colour histogram's
reference. Each test file draws ``N_PER_KIND`` images of each near kind, kind ``i`` (in sorted order) from
``default_rng(100 + i)``."""
from __future__ import annotations

import numpy as np
import pytest

from data_tools import anomalies as an
from data_tools.faces import FaceGenerator

N_NORMAL = 320
#: Normal faces the label-free Gaussians (``gaussians``) are fitted on.
N_GAUSSIAN_FIT = 2000


@pytest.fixture(scope="module")
def faces():
    return FaceGenerator(batch_size=200)


@pytest.fixture(scope="module")
def normal_sample(faces):
    """(reference for the colour histogram, normal faces) drawn like the normal sets."""
    z = an.sample_normal_latents(faces, 2 * N_NORMAL, np.random.default_rng(11))
    return faces.render(z[:N_NORMAL]), faces.render(z[N_NORMAL:])


@pytest.fixture(scope="module")
def gaussians(faces):
    """[region Gaussian, grid Gaussian]: the classical rows' Gaussians (``solutions.classical.StatGaussian``), fitted
    on ``N_GAUSSIAN_FIT`` normal faces of their own (``default_rng(12)``): no labels, as a student would fit them."""
    from data_tools import region_stats as rs
    from solutions.classical import StatGaussian
    fit = faces.render(an.sample_normal_latents(faces, N_GAUSSIAN_FIT, np.random.default_rng(12)))
    return [StatGaussian.fit(rs.stabilised(f)) for f in rs.region_and_grid_features(fit)]
