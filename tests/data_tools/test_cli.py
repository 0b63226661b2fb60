"""python -m data_tools, in-process: exit codes 0 (done), 1 (DatasetError, printed), 2 (usage)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from common.answer_key import load_answer_key
from data_tools.cli import main


@pytest.mark.parametrize("argv", [["--help"], ["build", "--help"], ["import", "--help"], ["import", "npy", "--help"],
                                  ["import", "folders", "--help"], ["preview", "--help"], ["verify", "--help"]])
def test_help(argv, capsys):
    assert main(argv) == 0
    assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["bogus"], ["build", "--preset", "huge"], ["build", "--n-train", "x"],
                                  ["import", "npy", "--src", "x"], ["preview"]])
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "error:" in capsys.readouterr().err


def test_build_small_and_verify_and_preview(tmp_path, capsys):
    out, ans = tmp_path / "out", tmp_path / "answers"
    argv = ["build", "--preset", "tiny", "--out", str(out), "--answers", str(ans), "--n-train", "16",
            "--n-test-normal", "10", "--n-test-anomalous", "10", "--mixture", "inverted=0.5,face_mask=0.5",
            "--seed", "3", "--public-fraction", "0.4", "--no-progress"]
    assert main(argv) == 0
    assert "built tiny (seed 3, kinds version 2): 16 train, 20 test" in capsys.readouterr().out
    assert np.load(out / "trainingset.npy").shape == (16, 64, 64, 3)
    key = load_answer_key(ans / "solution.csv")
    assert sorted(set(key.kinds)) == ["face_mask", "inverted", "normal"] and key.public.sum() == 8
    assert main(["verify", "--data", str(out), "--answers", str(ans)]) == 0
    assert main(["preview", "--data", str(out), "--answers", str(ans), "--out", str(tmp_path / "s.png"),
                 "--per-row", "3"]) == 0
    assert (tmp_path / "s.png").is_file()
    (out / "README.md").write_text("changed")
    capsys.readouterr()
    assert main(["verify", "--data", str(out), "--answers", str(ans)]) == 1
    assert "README.md: sha256 differs" in capsys.readouterr().err


def test_a_random_seed_is_secret_and_needs_its_folders_named(tmp_path, capsys):
    from common.answer_key import SECRET_SEED_MIN
    small = ["--n-train", "8", "--n-test-normal", "10", "--n-test-anomalous", "10", "--mixture", "inverted=1",
             "--no-progress"]
    seeds = []
    for run in ("a", "b"):
        out, ans = tmp_path / run / "data", tmp_path / run / "answers"
        assert main(["build", "--preset", "tiny", "--seed", "random", "--out", str(out), "--answers", str(ans),
                     *small]) == 0
        seeds.append(json.loads((ans / "manifest.json").read_text())["seed"])
        printed = capsys.readouterr().out
        assert "a secret seed, in manifest.json" in printed and str(seeds[-1]) not in printed
    assert seeds[0] != seeds[1] and min(seeds) >= SECRET_SEED_MIN
    # the default folders are named after the seed: a secret one needs them given
    assert main(["build", "--preset", "tiny", "--seed", "random", *small]) == 2
    assert "--seed random needs --out and --answers" in capsys.readouterr().err
    assert main(["build", "--preset", "tiny", "--seed", "-1", *small]) == 2
    assert "expected a non-negative integer or 'random'" in capsys.readouterr().err


@pytest.mark.parametrize("extra, match", [
    (["--mixture", "hats=1"], "unknown anomaly kind(s) ['hats'] in mixture; valid kinds:"),
    (["--mixture", "inverted=0.4"], "mixture shares must sum to 1"),
    (["--public-fraction", "1.5"], "public_fraction must be strictly between 0 and 1"),
    (["--n-train", "0"], "n_train must be a positive integer"),
])
def test_build_errors_exit_1(tmp_path, capsys, extra, match):
    assert main(["build", "--preset", "tiny", "--out", str(tmp_path / "o"), "--answers", str(tmp_path / "a"),
                 "--no-progress", *extra]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and match in err
    assert not (tmp_path / "o").exists()


def test_build_refuses_answers_inside_out(tmp_path, capsys):
    assert main(["build", "--preset", "tiny", "--out", str(tmp_path), "--answers", str(tmp_path / "answers"),
                 "--no-progress"]) == 1
    assert "students would receive the labels" in capsys.readouterr().err


def test_import_npy_cli(tmp_path, tiny_dataset, capsys):
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ID", "label"])
        w.writerows((i, int(v)) for i, v in enumerate(tiny_dataset.key.labels))
    base = ["import", "npy", "--src", str(tiny_dataset.paths.data), "--labels", str(labels),
            "--out", str(tmp_path / "o"), "--answers", str(tmp_path / "a"), "--no-progress"]
    assert main(base) == 0
    assert "imported 256 train, 128 test (64 anomalous)" in capsys.readouterr().out
    labels.write_text("ID,label\n0,0\n1,5\n")
    assert main(base) == 1
    err = capsys.readouterr().err
    assert f"error: {labels}: line 3, column 'label', ID 1: label must be 0 or 1, got '5'" in err


def test_import_folders_cli(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for folder, n in (("n", 6), ("a", 3)):
        (tmp_path / folder).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(tmp_path / folder / f"{i}.png")
    base = ["import", "folders", "--normal", str(tmp_path / "n"), "--anomalous", str(tmp_path / "a"),
            "--out", str(tmp_path / "o"), "--answers", str(tmp_path / "ans"), "--no-progress"]
    assert main(base + ["--test-normal", "2"]) == 0
    assert np.load(tmp_path / "o" / "testingset.npy").shape == (5, 64, 64, 3)
    (tmp_path / "a" / "bad.jpg").write_bytes(b"\xff\xd8 not really")
    assert main(base) == 1
    assert "bad.jpg" in capsys.readouterr().err
    assert main(base + ["--skip-unreadable"]) == 0
    assert "skipped:" in capsys.readouterr().err
