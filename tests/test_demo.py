"""`make demo`'s job, end to end on the tiny data set: every artefact it promises exists and is consistent."""
import json

import numpy as np
from sklearn.metrics import roc_auc_score

from kit.cli import main
from kit.demo import DemoConfig, run_demo


def test_demo_runs_whole_loop(tiny_dataset, tmp_path, capsys):
    work = tmp_path / "demo"
    summary = run_demo(DemoConfig(workdir=work, epochs=1, models=("fcn",), data=tiny_dataset.data_dir,
                                  answers=tiny_dataset.answers_dir), progress=False)
    out = capsys.readouterr().out
    sub = work / "submissions" / "sample_fcn.csv"
    assert sub.is_file()
    # The printed public AUC is the one sklearn computes from the written file and the hidden key.
    scores = np.loadtxt(sub, delimiter=",", skiprows=1)[:, 1]
    key = tiny_dataset.key
    public = roc_auc_score(key.labels[key.public], scores[key.public])
    assert abs(summary["models"]["fcn"]["public"] - public) < 1e-12
    assert f"public {public:.4f}" in out
    # All rows and each anomaly family, as sklearn computes them from the file.
    fcn = summary["models"]["fcn"]
    assert fcn["overall"] == roc_auc_score(key.labels, scores)
    for family, auc in fcn["by_family"].items():
        rows = (key.labels == 0) | (key.families == family)
        assert abs(auc - roc_auc_score(key.labels[rows], scores[rows])) < 1e-12
        assert f"{family} {auc:.4f}" in out
    assert list(fcn["by_family"]) == ["imitable", "semantic"]
    # The board shows the baseline rows and lists the broken example without ranking it.
    assert "simple baseline" in out and "boss baseline" in out
    assert "broken_example.csv" in out and "not a finite number" in out
    for name in ("contact_sheet.png", "loss_fcn.png", "scores_fcn.png", "recon_fcn.png"):
        assert (work / "figures" / name).stat().st_size > 1000
    assert json.loads((work / "summary.json").read_text())["models"]["fcn"]["submission"] == str(sub)
    # The printed `serve` command works on what the demo wrote (--check loads it all and imports the roster).
    from grader.cli import main as grader_main
    assert grader_main(["serve", "--competition", str(work / "competition.toml"), "--roster",
                        str(work / "roster.csv"), "--check"]) == 0


def test_demo_cli_rejects_half_a_dataset(tmp_path, capsys):
    assert main(["demo", "--workdir", str(tmp_path), "--data", str(tmp_path)]) == 1
    assert "error: --data and --answers go together" in capsys.readouterr().err
