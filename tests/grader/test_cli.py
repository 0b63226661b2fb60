"""`python -m grader score|leaderboard`, in-process: output and exit codes (0 ok, 1 TA-side error, 2 usage error,
3 invalid submission)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from common.answer_key import AnswerKey, write_answer_key
from grader import cli
from grader.cli import main
from grader.competition import COURSE_2023_BASELINES
from grader.scoring import score_scores

N = 40


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An answer key (IDs 0-19 public, 20-39 private) and a folder of submissions with known scores."""
    root = tmp_path_factory.mktemp("cli")
    labels = np.array([0, 0, 0, 1] * (N // 4), dtype=np.int8)
    key = AnswerKey(labels=labels, usage=np.where(np.arange(N) < N // 2, "Public", "Private"),
                    kinds=np.where(labels == 1, np.where(np.arange(N) % 8 == 3, "glasses", "cartoon"), "normal"))
    answers = write_answer_key(key, root / "answers" / "solution.csv")
    subs = root / "subs"
    subs.mkdir()
    rng = np.random.default_rng(0)
    made = {
        "perfect": labels.astype(float),
        "good": labels + rng.normal(size=N) * 0.6,
        "coin": rng.normal(size=N),
        # Same scores as "good": a tie, broken by the earlier file time.
        "good_copy": None,
    }
    made["good_copy"] = made["good"].copy()
    for name, s in made.items():
        (subs / f"{name}.csv").write_text("ID,score\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(s)))
    os.utime(subs / "good_copy.csv", (1_000_000, 1_000_000))  # earlier than "good"
    os.utime(subs / "good.csv", (2_000_000, 2_000_000))
    (subs / "broken.csv").write_text("ID,score\n0,abc\n")
    (subs / "notes.txt").write_text("not a submission")
    return types.SimpleNamespace(root=root, key=key, answers=answers, subs=subs,
                                 scores={k: score_scores(v, key) for k, v in made.items()})


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- score -------------------------------------------------------------------------------------------------------

def test_score_prints_public_only(world, capsys):
    code, out, err = run(capsys, "score", world.subs / "good.csv", "--answers", world.answers)
    assert code == 0 and err == ""
    assert out == f"public AUC   {world.scores['good'].public:.5f}\n"
    assert "private" not in out


def test_score_reveal_adds_private(world, capsys):
    code, out, _ = run(capsys, "score", world.subs / "good.csv", "--answers", world.answers, "--reveal")
    s = world.scores["good"]
    assert code == 0 and out.splitlines()[:2] == [f"public AUC   {s.public:.5f}", f"private AUC  {s.private:.5f}"]
    # and, on all rows, the overall AUC next to each anomaly family's (this key has no family column: 'unknown')
    from grader.metrics import roc_auc
    from grader.scoring import auc_by_family
    scores = np.array([float(line.split(",")[1]) for line in (world.subs / "good.csv").read_text().splitlines()[1:]])
    fam = auc_by_family(scores, world.key)
    assert out.splitlines()[2:] == [f"overall AUC  {roc_auc(world.key.labels, scores):.5f}  (all rows; per family: "
                                    + "  ".join(f"{f} {a:.5f}" for f, a in fam.items()) + ")"]
    assert "(all rows; per family: unknown " in out


def test_score_by_kind(world, capsys):
    code, out, _ = run(capsys, "score", world.subs / "perfect.csv", "--answers", world.answers, "--by-kind")
    assert code == 0
    assert "AUC per anomaly kind (public rows):" in out
    assert "cartoon  1.00000" in out and "glasses  1.00000" in out


def test_invalid_submission_exits_3_with_the_location(world, capsys):
    code, out, err = run(capsys, "score", world.subs / "broken.csv", "--answers", world.answers)
    assert code == cli.EXIT_INVALID == 3 and out == ""
    assert "invalid submission: line 2, column 'score', ID 0: 'abc' is not a number" in err


def test_missing_submission_is_an_invalid_submission(world, capsys):
    code, _, err = run(capsys, "score", world.root / "nope.csv", "--answers", world.answers)
    assert code == 3 and "not found" in err


def test_missing_answer_key_exits_1(world, capsys):
    code, _, err = run(capsys, "score", world.subs / "good.csv", "--answers", world.root / "none.csv")
    assert code == 1 and "answer key not found" in err


def test_competition_file_supplies_answers_and_size_cap(world, capsys, tmp_path):
    toml = tmp_path / "competition.toml"
    rel = os.path.relpath(world.answers, tmp_path)
    toml.write_text(f'answers = "{rel}"\n')
    code, out, _ = run(capsys, "score", world.subs / "good.csv", "--competition", toml)
    assert code == 0 and out.startswith("public AUC")
    toml.write_text(f'answers = "{rel}"\nmax_upload_bytes = 100\n')
    code, _, err = run(capsys, "score", world.subs / "good.csv", "--competition", toml)
    assert code == 3 and "limit" in err
    toml.write_text("answerz = 1\n")
    code, _, err = run(capsys, "score", world.subs / "good.csv", "--competition", toml)
    assert code == 1 and "unknown key" in err


@pytest.mark.parametrize("argv", [[], ["score"], ["score", "a.csv", "--bogus"], ["frobnicate"],
                                  ["leaderboard"]])
def test_usage_errors_exit_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "error" in err and "usage" in err


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "score" in out and "leaderboard" in out
    code, out, _ = run(capsys, "score", "--help")
    assert code == 0 and "--reveal" in out


# --- leaderboard ---------------------------------------------------------------------------------------------------

ROW = re.compile(r"^\s*(\d+|-)\s+(.+?)\s+(\d\.\d{5})(?:\s+(\d\.\d{5}))?$")


def parse_board(out: str) -> list[tuple[str, str, str, str | None]]:
    """(rank, name, public, private or None) of each table row, in printed order."""
    return [m.groups() for m in map(ROW.match, out.split("\n\nInvalid")[0].splitlines()) if m]


def test_leaderboard_order_ties_baselines_and_invalid_files(world, capsys):
    code, out, err = run(capsys, "leaderboard", world.subs, "--answers", world.answers)
    assert code == 0 and err == ""
    rows = parse_board(out)
    names = [r[1] for r in rows]
    s = world.scores
    assert s["good"].public == s["good_copy"].public
    # Expected order from the measured scores and the 2023 baselines; students win ties with baselines.
    expected = sorted([(-s[n].public, 0, {"good": 1}.get(n, 0), n) for n in s]
                      + [(-v, 1, 0, f"{b} baseline") for b, v in COURSE_2023_BASELINES.items()])
    assert names == [e[3] for e in expected]
    assert names.index("good_copy") == names.index("good") - 1  # tie: the earlier file first
    assert [r[0] for r in rows if r[0] != "-"] == ["1", "2", "3", "4"]
    assert [r[1] for r in rows if r[0] == "-"] == [f"{b} baseline" for b, _ in
                                                     sorted(COURSE_2023_BASELINES.items(), key=lambda t: -t[1])]
    assert all(r[3] is None for r in rows) and "private" not in out.splitlines()[0]
    assert dict((r[1], r[2]) for r in rows)["perfect"] == f"{s['perfect'].public:.5f}"
    assert "Invalid submissions (not ranked): 1" in out
    assert "broken.csv: line 2, column 'score', ID 0: 'abc' is not a number" in out
    assert "broken" not in names and "notes" not in out


def test_leaderboard_reveal_ranks_by_private_and_uses_config_baselines(world, capsys, tmp_path):
    toml = tmp_path / "competition.toml"
    toml.write_text(f'title = "HW8 test"\nanswers = "{world.answers.as_posix()}"\n'
                    "[baselines.simple]\npublic = 0.1\nprivate = 0.99\n")
    code, out, _ = run(capsys, "leaderboard", world.subs, "--competition", toml, "--reveal")
    assert code == 0 and out.splitlines()[0] == "HW8 test"
    rows = parse_board(out)
    s = world.scores
    expected = sorted([(-s[n].private, 0, {"good": 1}.get(n, 0), n) for n in s] + [(-0.99, 1, 0, "simple baseline")])
    assert [r[1] for r in rows] == [e[3] for e in expected]
    assert all(r[3] is not None for r in rows)  # the private column is shown
    assert "medium" not in out  # only the configured baselines


def test_leaderboard_not_a_folder_exits_1(world, capsys):
    code, _, err = run(capsys, "leaderboard", world.root / "missing", "--answers", world.answers)
    assert code == 1 and "not a folder" in err


# --- registration ------------------------------------------------------------------------------------------------

def test_one_line_registration_and_lazy_imports(world, capsys, monkeypatch, tmp_path):
    mod = types.ModuleType("fake_cmd")
    mod.__doc__ = "Say hello."
    mod.add_arguments = lambda p: p.add_argument("--who", default="world")
    mod.run = lambda args: print(f"hello {args.who}") or 0
    monkeypatch.setitem(sys.modules, "fake_cmd", mod)
    monkeypatch.setattr(cli, "COMMANDS", cli.COMMANDS + [("hello", "fake_cmd"),
                                                         ("broken", "no_such_module_anywhere")])
    code, out, _ = run(capsys, "hello", "--who", "TA")
    assert code == 0 and out == "hello TA\n"
    # A broken registration does not stop other commands: only the chosen command's module is imported.
    code, out, _ = run(capsys, "score", world.subs / "good.csv", "--answers", world.answers)
    assert code == 0 and out.startswith("public AUC")


def test_python_m_grader_runs_and_never_imports_torch(world):
    code = ("import sys, runpy; sys.argv = ['grader', 'score', sys.argv[1], '--answers', sys.argv[2]];\n"
            "try:\n    runpy.run_module('grader', run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'torch' not in sys.modules and 'sklearn' not in sys.modules, 'heavy import'\n"
            "print('ok')")
    repo = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-c", code, str(world.subs / "good.csv"), str(world.answers)],
                       capture_output=True, text=True, cwd=repo, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"public AUC   {world.scores['good'].public:.5f}", "ok"]
