"""benchmarks/train_throughput.py, run in-process on a tiny size (the figures themselves are not asserted)."""
import importlib.util
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("train_throughput", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_course_dataset_copy_matches_the_kit(bench, random_images):
    from starter_code.data import to_model_input

    ds = bench.CustomTensorDataset(torch.from_numpy(random_images))
    assert torch.equal(torch.stack([ds[i] for i in range(len(ds))]), to_model_input(random_images))


def test_main_prints_a_table(bench, capsys):
    assert bench.main(["--n-images", "48", "--batch-size", "16", "--epochs", "1", "--repeats", "1",
                       "--models", "fcn", "cnn"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["loop", "course", "img/s", "kit", "img/s", "speed-up"]
    rows = {line.split()[0]: line.split() for line in out[2:]}
    assert set(rows) == {"fcn", "cnn", "(data"}
    assert all(float(rows[m][1]) > 0 and float(rows[m][2]) > 0 and rows[m][3].endswith("x") for m in ("fcn", "cnn"))


def test_bad_arguments(bench, capsys):
    assert bench.main(["--epochs", "0"]) == 2
    assert "must be positive" in capsys.readouterr().err
