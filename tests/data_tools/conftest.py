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


@pytest.fixture(scope="module")
def faces():
    return FaceGenerator(batch_size=200)


@pytest.fixture(scope="module")
def normal_sample(faces):
    """(reference for the colour histogram, normal faces) drawn like the normal sets."""
    z = an.sample_normal_latents(faces, 2 * N_NORMAL, np.random.default_rng(11))
    return faces.render(z[:N_NORMAL]), faces.render(z[N_NORMAL:])
