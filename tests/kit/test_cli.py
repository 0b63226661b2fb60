"""`python -m kit run|ladder|calibrate`, in-process on the tiny data set (smoke configs, seconds): output, files and
exit codes (0 done, 1 a data/config/file problem or a non-strict ladder with --check, 2 usage)."""
from __future__ import annotations

import json

import pytest

from kit.cli import main
from kit.ladder import check_ladder, format_table
from solutions import classical


@pytest.fixture(scope="module")
def ladder_json(tiny_dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("ladder") / "ladder.json"
    rc = main(["ladder", "--data", str(tiny_dataset.data_dir), "--answers", str(tiny_dataset.answers_dir),
               "--smoke", "--no-progress", "--stages", "medium", "strong", "--json", str(path)])
    assert rc == 0
    return path


def test_run_writes_a_valid_submission(tiny_dataset, tmp_path, capsys):
    from grader.scoring import score_file
    out = tmp_path / "medium"
    rc = main(["run", "--stage", "medium", "--data", str(tiny_dataset.data_dir), "--answers",
               str(tiny_dataset.answers_dir), "--smoke", "--no-progress", "--out", str(out), "--set", "epochs=2",
               "--reveal"])
    assert rc == 0
    printed = capsys.readouterr().out
    s = score_file(out / "prediction.csv", tiny_dataset.key)
    assert f"public ROC-AUC {s.public:.4f}" in printed and f"private {s.private:.4f}" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["stage"] == "medium" and config["epochs"] == 2
    result = json.loads((out / "result.json").read_text())
    assert len(result["losses"]) == 2 and result["public"] == pytest.approx(s.public)


def test_run_errors_name_the_problem(tiny_dataset, tmp_path, capsys):
    rc = main(["run", "--stage", "simple", "--data", str(tmp_path), "--smoke", "--no-progress"])
    assert rc == 1
    assert f"{tmp_path / 'trainingset.npy'}: image file not found" in capsys.readouterr().err
    rc = main(["run", "--stage", "medium", "--data", str(tiny_dataset.data_dir), "--smoke", "--no-progress",
               "--out", str(tmp_path / "o"), "--set", "epoch=2"])
    assert rc == 1
    assert "MediumConfig: unknown key(s) epoch; known keys:" in capsys.readouterr().err
    rc = main(["run", "--stage", "medium", "--data", str(tiny_dataset.data_dir), "--set", "epochs"])
    assert rc == 1
    assert "expected KEY=VALUE" in capsys.readouterr().err
    rc = main(["run", "--stage", "medium", "--data", str(tiny_dataset.data_dir), "--smoke", "--no-progress",
               "--out", str(tmp_path / "o"), "--set", "model_kwargs.latent_dim=\"big\""])
    assert rc == 1
    assert capsys.readouterr().err.startswith("error: --set: ")
    assert main(["run", "--stage", "legendary"]) == 2
    assert "invalid choice: 'legendary'" in capsys.readouterr().err


def test_ladder_table_and_json(ladder_json, tiny_dataset):
    ladder = json.loads(ladder_json.read_text())
    assert list(ladder["stages"]) == ["medium", "strong"]
    # the classical detectors are reported beside the ladder, never in it
    assert list(ladder["outside"]) == [f"classical.{m}" for m in classical.METHODS]
    key = tiny_dataset.key
    kinds = set(key.kinds) - {"normal"}
    for row in [*ladder["stages"].values(), *ladder["outside"].values()]:
        assert 0 <= row["public"] <= 1 and 0 <= row["private"] <= 1 and row["seconds"] >= 0
        assert set(row["by_kind"]) == kinds and list(row["by_family"]) == ["imitable", "semantic"]
        # a family's AUC (all rows) is its kinds' AUCs weighted by their counts; overall is all kinds'
        for fam, auc in row["by_family"].items():
            counts = {k: int((key.kinds == k).sum()) for k in kinds if (key.families[key.kinds == k] == fam).all()}
            assert auc == pytest.approx(sum(row["by_kind"][k] * n for k, n in counts.items()) / sum(counts.values()))
        n_kind = {k: int((key.kinds == k).sum()) for k in kinds}
        assert row["overall"] == pytest.approx(sum(row["by_kind"][k] * n for k, n in n_kind.items())
                                               / sum(n_kind.values()))
    table = format_table(ladder)
    assert table.splitlines()[0].startswith("| stage | public | private | overall | imitable | semantic | seconds | "
                                            "cartoon")
    assert len(table.splitlines()) == 2 + 2 + len(classical.METHODS)
    assert table.splitlines()[-1].startswith("| (classical.grid_gaussian) | ")


def test_check_ladder():
    ladder = {"stages": {"simple": {"public": 0.55, "private": 0.56}, "medium": {"public": 0.60, "private": 0.58},
                         "strong": {"public": 0.70, "private": 0.70}}}
    problems = check_ladder(ladder, 0.03)
    assert problems == ["medium beats simple by +0.0200 on private (needs >= 0.03)"]
    assert check_ladder(ladder, 0.01) == []
    # with families, the semantic family must step up too; rows outside the ladder are never checked
    for name, sem in zip(ladder["stages"], (0.60, 0.63, 0.64)):
        ladder["stages"][name]["by_family"] = {"imitable": 0.5, "semantic": sem}
    ladder["outside"] = {"classical.pca": {"public": 0.99, "private": 0.99, "by_family": {"semantic": 0.99}}}
    assert check_ladder(ladder, 0.01) == ["strong beats medium by +0.0100 on the semantic family (needs >= 0.02)"]
    assert check_ladder(ladder, 0.01, 0.005) == []


def test_ladder_check_flag_fails_a_non_strict_ladder(tiny_dataset, tmp_path, capsys):
    # A step of 1.0 AUC is impossible: --check must turn that into exit code 1.
    rc = main(["ladder", "--data", str(tiny_dataset.data_dir), "--answers", str(tiny_dataset.answers_dir),
               "--smoke", "--no-progress", "--stages", "medium", "strong", "--json", str(tmp_path / "l.json"),
               "--min-step", "1.0", "--check"])
    assert rc == 1
    assert "ladder strict (each step >= 1.00 on public and private, >= 0.02 on the semantic family): NO" \
        in capsys.readouterr().out
    rc = main(["ladder", "--data", str(tiny_dataset.data_dir), "--smoke", "--no-progress"])
    assert rc == 1
    assert "needs an answer key" in capsys.readouterr().err
    rc = main(["ladder", "--from-json", str(tmp_path / "l.json"), "--min-step", "1.0", "--check"])
    assert rc == 1 and "ladder strict (each step >= 1.00 on public and private" in capsys.readouterr().out


def test_calibrate_writes_baselines_from_a_saved_ladder(ladder_json, tiny_dataset, tmp_path, capsys):
    import hashlib

    from grader.competition import load_competition, threshold_problems
    comp = tmp_path / "competition.toml"
    rc = main(["calibrate", "--competition", str(comp), "--ladder", str(ladder_json), "--answers",
               str(tiny_dataset.answers_dir)])
    assert rc == 0
    ladder = json.loads(ladder_json.read_text())
    cfg = load_competition(comp)
    assert set(cfg.baselines) == {"medium", "strong"}
    for name, b in cfg.baselines.items():
        assert b.public == pytest.approx(ladder["stages"][name]["public"], abs=1e-4)
        assert b.private == pytest.approx(ladder["stages"][name]["private"], abs=1e-4)
    key = tiny_dataset.answers_dir / "solution.csv"
    assert cfg.answers == key.resolve()
    # The ladder recorded the key it scored; the thresholds carry it, and it is this competition's key.
    sha = hashlib.sha256(key.read_bytes()).hexdigest()
    assert ladder["answers_sha256"] == sha and ladder["data"] == str(tiny_dataset.data_dir)
    assert cfg.baselines_source.answers_sha256 == sha and threshold_problems(cfg) == []
    out = capsys.readouterr().out
    assert f"baselines from kit ladder {ladder_json} on {tiny_dataset.data_dir}, smoke mode" in out
    assert "warning: " in out and "ran in smoke mode" in out and "other data" not in out
    # Updating keeps every other setting and every comment (the new file is `grader init`'s commented template).
    text = comp.read_text()
    assert "# Thresholds per baseline" in text
    comp.write_text("# our course\n" + text.replace("daily_limit = 5", "daily_limit = 3  # three a day"))
    assert main(["calibrate", "--competition", str(comp), "--ladder", str(ladder_json)]) == 0
    assert load_competition(comp).daily_limit == 3
    text = comp.read_text()
    assert text.startswith("# our course\n") and "daily_limit = 3  # three a day" in text
    assert text.count("\n[baselines]\n") == 1 and text.count("\nanswers_sha256 = ") == 1
    # A competition whose answer key is another file: the thresholds were measured on other data.
    other = tmp_path / "other" / "solution.csv"
    other.parent.mkdir()
    other.write_bytes(key.read_bytes().replace(b"Public", b"Private", 1))
    comp.write_text(comp.read_text().replace(key.resolve().as_posix(), other.as_posix()))
    capsys.readouterr()
    assert main(["calibrate", "--competition", str(comp), "--ladder", str(ladder_json)]) == 0
    assert "the ladder ran on other data" in capsys.readouterr().out


def test_calibrate_errors(tmp_path, ladder_json, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["calibrate", "--competition", str(tmp_path / "c.toml"), "--ladder", str(bad)]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["calibrate", "--competition", str(tmp_path / "c.toml"), "--ladder", str(ladder_json)]) == 1
    assert "give --answers" in capsys.readouterr().err
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"stages": {}}))
    assert main(["calibrate", "--competition", str(tmp_path / "c.toml"), "--ladder", str(empty)]) == 1
    assert "no 'stages'" in capsys.readouterr().err
    assert not (tmp_path / "c.toml").exists()
