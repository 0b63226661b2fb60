"""The term rehearsal (``python -m kit rehearse``): a whole term through the TA's public commands passes on tiny data,
and a check that does not hold stops it with a message that says which step and what was wrong."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from kit import rehearse as R
from kit.cli import main
from tests.autograde.conftest import need_sandbox
from tests.autograde.test_term_files import _readable_by_others

STEP_NAMES = [name for name, _ in R.STEPS]


@pytest.mark.slow
@pytest.mark.browser
def test_a_whole_term_rehearses_clean(tmp_path, capsys):
    """4 to 6 minutes on 2 loaded CPU cores, most of it autograding 18 notebooks."""
    need_sandbox()
    if not Path(R.CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{R.CHROMIUM} not found — CI must run the browser tests")
        pytest.skip(f"{R.CHROMIUM} not found; apt-get install -y chromium")
    work = tmp_path / "term"
    assert main(["rehearse", "--workdir", str(work)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    # One line per step, in the guide's order: "[ 9/16] autograde       297.1 s  ...".
    assert [m.group(1) for m in re.finditer(r"^\[\s*\d+/\d+\] (.{15}) +[\d.]+ s ", out, re.MULTILINE)] == \
        [f"{n:<15}" for n in STEP_NAMES]
    assert "rehearsal passed" in out
    shots = sorted(p.name for p in (work / "screenshots").iterdir())
    assert shots == sorted(f"{page}-{w}.png" for page in ("board", "student", "ta") for w in R.WIDTHS)
    # The same walk as the smaller term test, on the rehearsal's course: TA-only files private.
    bad = [b for b in _readable_by_others(work / "course") if not b.startswith(R.AUTOGRADE_OUTPUTS)]
    assert bad == [], "\n".join(bad)


@pytest.fixture
def fast_data(tiny_dataset, monkeypatch):
    """The rehearsal's ``data_tools build`` replaced by a copy of the session's tiny build: the step's checks run
    on real files without building them again."""
    real = R.Term.cmd

    def cmd(self, *argv, module="grader", **kw):
        if module != "data_tools":
            return real(self, *argv, module=module, **kw)
        for src, dst in ((tiny_dataset.data_dir, self.data), (tiny_dataset.answers_dir, self.answers)):
            shutil.copytree(src, dst)
        return ""
    monkeypatch.setattr(R.Term, "cmd", cmd)
    return tiny_dataset


def test_a_tampered_file_mode_fails_the_rehearsal_with_a_clear_message(fast_data, monkeypatch, tmp_path, capsys):
    real = R.Term.cmd

    def world_readable_key(self, *argv, module="grader", **kw):
        out = real(self, *argv, module=module, **kw)
        if module == "data_tools":
            os.chmod(self.answers / "solution.csv", 0o644)      # the answer key left readable by everyone
        return out
    monkeypatch.setattr(R.Term, "cmd", world_readable_key)
    assert main(["rehearse", "--workdir", str(tmp_path / "term"), "--no-browser"]) == 1
    cap = capsys.readouterr()
    assert "rehearsal passed" not in cap.out
    assert cap.err.strip() == (f"REHEARSAL FAILED: step 1 (data): {tmp_path / 'term' / 'answers' / 'solution.csv'} "
                               "is 644, the guide says 600")


def test_a_wrong_number_fails_the_rehearsal(fast_data, monkeypatch, tmp_path, capsys):
    """A roster the server did not import in full: the serve step counts the tokens and stops."""
    real = R.Term.init

    def init(self):
        said = real(self)
        lines = (self.term / "roster.csv").read_text(encoding="utf-8").splitlines()
        (self.term / "roster.csv").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
        return said
    monkeypatch.setattr(R.Term, "init", init)
    assert main(["rehearse", "--workdir", str(tmp_path / "term"), "--no-browser"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("REHEARSAL FAILED: step 3 (serve): tokens.csv lists 9 students, expected the 10 of the "
                          "roster"), err


def test_too_few_students_is_refused(tmp_path, capsys):
    assert main(["rehearse", "--workdir", str(tmp_path / "t"), "--students", "3", "--no-browser"]) == 1
    assert "at least 6" in capsys.readouterr().err


def test_a_folder_that_is_not_a_rehearsal_is_never_emptied(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("keep me")
    assert main(["rehearse", "--workdir", str(tmp_path), "--no-browser"]) == 1
    assert "not an earlier rehearsal's folder" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "keep me"
