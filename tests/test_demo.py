"""`make demo`'s job, end to end on the tiny data set: every artefact it promises exists and is consistent, and
the README's copy of its output still matches what it prints.

The demo runs once per module (``demo_run``) on the tiny data, through the preset path that ``make demo`` takes:
``cached_dataset`` hands back the session's tiny build instead of building the demo preset, so the run prints
the demo's own headings and loads the demo preset's baselines (``solutions/baselines/demo.toml``).
"""
import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from kit.cli import main
from kit.demo import DemoConfig, run_demo

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def demo_run(tiny_dataset, tmp_path_factory):
    """(summary, stdout, workdir) of one demo run: the fcn sample model, 1 epoch, on the tiny data."""
    work = tmp_path_factory.mktemp("demo") / "demo"
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setattr("data_tools.build.cached_dataset", lambda preset, seed=0, progress=True: tiny_dataset.paths)
        summary = run_demo(DemoConfig(workdir=work, epochs=1, models=("fcn",)), progress=False)
    return summary, out.getvalue(), work


def test_demo_runs_whole_loop(demo_run, tiny_dataset):
    summary, out, work = demo_run
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


# --- the README's copy of the output ------------------------------------------------------------------------------

#: A board row: rank (or - for a baseline), name, public, private (numbers, or the README's ... for a measured one).
BOARD_ROW = re.compile(r"^\s*(?:\d+|-)\s+\S.*\s(?:\d\.\d{5}|…)\s+(?:\d\.\d{5}|…)$")


def readme_demo_block(text: str) -> list[str]:
    """The lines of the README's fenced block that shows `make demo`'s output (the block starting ``[1/5]``)."""
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.M | re.S):
        if block.startswith("[1/5]"):
            return block.rstrip("\n").split("\n")
    raise AssertionError("README.md has no fenced block starting with `make demo`'s first line, [1/5]")


def shape(line: str) -> str:
    """A line with what varies between runs masked: numbers (and the README's … for them) and the sample models'
    names; runs of spaces collapsed."""
    line = re.sub(r"\d+(?:[.,]\d+)*|…", "N", line)
    line = re.sub(r"(?<![a-z])(vae|fcn|cnn)(?![a-z])", "<m>", line)   # also in sample_vae.csv, loss_fcn.png
    line = re.sub(r"<m>(?:, <m>)+", "<m>", line)   # "(vae, fcn)" and "(fcn)" alike
    return " ".join(line.split())


def unique(items):
    return list(dict.fromkeys(items))


def demo_output_differences(readme: list[str], printed: list[str]) -> list[str]:
    """What in the README's block differs from the demo's printed lines, as sentences (empty: none).

    Compared: every line's shape in order (each shape once: the README shows two models, the run one), the board
    rows as a set (their order follows the sample models' scores), and the baseline rows exactly (they are the
    demo preset's baselines, not a measurement)."""
    problems = []
    rows = lambda lines: [ln for ln in lines if BOARD_ROW.match(ln)]  # noqa: E731
    other = lambda lines: unique(shape(ln) for ln in lines if not BOARD_ROW.match(ln))  # noqa: E731
    want, got = other(printed), other(readme)
    if want != got:
        problems += [f"README shows {ln!r}, the demo prints no such line" for ln in got if ln not in want]
        problems += [f"the demo prints {ln!r}, missing from README" for ln in want if ln not in got]
        if not problems:
            problems.append("README's lines are in another order than the demo prints them")
    if set(map(shape, rows(printed))) != set(map(shape, rows(readme))):
        problems.append(f"board rows differ: README {sorted(map(shape, rows(readme)))}, "
                        f"demo {sorted(map(shape, rows(printed)))}")
    baselines = lambda lines: sorted(" ".join(ln.split()) for ln in rows(lines) if "baseline" in ln)  # noqa: E731
    if baselines(readme) != baselines(printed):
        problems.append(f"baseline rows differ: README {baselines(readme)}, demo {baselines(printed)}")
    return problems


def printed_as_make_demo(demo_run, tiny_dataset) -> list[str]:
    """The run's output with its temporary paths written as `make demo` prints them (`--workdir .cache/demo`,
    the demo preset's cache)."""
    _, out, work = demo_run
    for path, shown in ((tiny_dataset.paths.data, ".cache/data/demo-0/data"),
                        (tiny_dataset.paths.answers, ".cache/data/demo-0/answers"), (work, ".cache/demo")):
        out = out.replace(str(path), shown)
    return out.strip("\n").split("\n")


def test_readme_shows_what_make_demo_prints(demo_run, tiny_dataset):
    readme = readme_demo_block(README.read_text(encoding="utf-8"))
    assert demo_output_differences(readme, printed_as_make_demo(demo_run, tiny_dataset)) == []


def test_a_stale_readme_block_is_caught(demo_run, tiny_dataset):
    readme = readme_demo_block(README.read_text(encoding="utf-8"))
    printed = printed_as_make_demo(demo_run, tiny_dataset)
    stale_kind = [ln.replace("face_paint", "coloured_headwear") for ln in readme]
    assert any("coloured_headwear" in p for p in demo_output_differences(stale_kind, printed))
    stale_baseline = [re.sub(r"(boss baseline\s+)\d\.\d{5}", r"\g<1>0.91480", ln) for ln in readme]
    assert any("baseline rows differ" in p for p in demo_output_differences(stale_baseline, printed))
    lost_step = [ln for ln in readme if not ln.startswith("[5/5]")]
    assert any("missing from README" in p for p in demo_output_differences(lost_step, printed))


def test_the_demo_competition_follows_the_kit_baselines_it_copied(tmp_path, tiny_dataset):
    """A second `make demo` keeps its competition file, but baselines it copied from the kit follow the kit when
    the reference ladder is measured again; thresholds a TA set are left alone."""
    from grader.competition import Baseline, ThresholdSource, load_competition, write_thresholds
    from kit.demo import BASELINES_DIR, demo_competition
    path, cfg = tmp_path / "competition.toml", DemoConfig(workdir=tmp_path)
    comp, updated = demo_competition(path, tiny_dataset.paths.solution, cfg)
    kit = load_competition(BASELINES_DIR / "demo.toml").baselines
    assert comp.baselines == kit and not updated
    stale = {n: Baseline(n, b.public - 0.01, b.private - 0.01) for n, b in kit.items()}
    write_thresholds(path, stale, comp.baselines_source)
    again, updated = demo_competition(path, tiny_dataset.paths.solution, cfg)
    assert updated and again.baselines == kit and load_competition(path).baselines == kit
    assert (again.title, again.opens_at, again.closes_at) == (comp.title, comp.opens_at, comp.closes_at)
    path.write_text(re.sub(r"(?m)^(source|preset|seed) = .*\n", "", path.read_text()))   # written before sources
    assert load_competition(path).baselines_source is None
    write_thresholds(path, stale, ThresholdSource("x"))
    path.write_text(re.sub(r"(?m)^(source|preset|seed) = .*\n", "", path.read_text()))
    assert demo_competition(path, tiny_dataset.paths.solution, cfg)[1]
    mine = ThresholdSource("kit ladder on this term's data", "demo", 0)
    write_thresholds(path, stale, mine)
    kept, updated = demo_competition(path, tiny_dataset.paths.solution, cfg)
    assert not updated and kept.baselines == stale and kept.baselines_source == mine
