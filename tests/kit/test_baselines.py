"""The committed reference baselines form the strict ladder the kit promises and load as competition config."""
from pathlib import Path

from grader.competition import BASELINE_NAMES, load_competition
from kit.demo import BASELINES_DIR


def test_committed_baselines_are_a_strict_ladder():
    files = sorted(Path(BASELINES_DIR).glob("*.toml"))
    assert files, "no reference baselines committed"
    for f in files:
        b = load_competition(f).baselines
        assert list(b) == list(BASELINE_NAMES), f
        for split in ("public", "private"):
            values = [getattr(b[n], split) for n in BASELINE_NAMES]
            steps = [hi - lo for lo, hi in zip(values, values[1:])]
            assert min(steps) >= 0.03 - 1e-9, f"{f.name} {split}: steps {steps}"
