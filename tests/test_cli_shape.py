"""The one CLI shape (``common.commandline``) of ``python -m data_tools``, ``grader`` and ``kit``: ``main(argv)
-> int`` in-process, 0 done, 1 a domain error (one line, no traceback), 2 a usage error; ``--help`` loads no
command module (each CLI's own tests cover its commands)."""
from __future__ import annotations

import subprocess
import sys
import types

import pytest

from common import commandline
from data_tools.cli import main as data_tools_main
from grader.cli import main as grader_main
from kit.cli import main as kit_main

CLIS = {"data_tools": data_tools_main, "grader": grader_main, "kit": kit_main}
#: a command of each CLI and arguments that make it fail on the data (not on usage)
DOMAIN_ERRORS = {
    "data_tools": ["verify", "--data", "{tmp}/none", "--answers", "{tmp}/none"],
    "grader": ["leaderboard", "{tmp}/none", "--answers", "{tmp}/none.csv"],
    "kit": ["run", "--stage", "simple", "--data", "{tmp}", "--smoke"],
}


@pytest.mark.parametrize("name", CLIS)
def test_help_and_usage_errors(name, capsys):
    main = CLIS[name]
    assert main(["--help"]) == 0
    assert f"python -m {name}" in capsys.readouterr().out
    for argv in ([], ["no-such-command"], [DOMAIN_ERRORS[name][0], "--no-such-option"]):
        assert main(argv) == commandline.EXIT_USAGE == 2, argv
        assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("name", CLIS)
def test_domain_errors_exit_1_with_one_line(name, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in DOMAIN_ERRORS[name]]
    assert CLIS[name](argv) == commandline.EXIT_ERROR == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


@pytest.mark.parametrize("name", CLIS)
def test_help_imports_no_command_module(name):
    """``python -m X --help`` lists every command with its help line, yet imports none of them (nor torch)."""
    code = (f"import sys, runpy\nsys.argv = ['{name}', '--help']\n"
            f"try:\n    runpy.run_module('{name}', run_name='__main__')\nexcept SystemExit as e:\n"
            "    assert e.code == 0, e.code\n"
            f"from {name}.cli import COMMANDS\n"
            "loaded = [t for _, t in COMMANDS if t.partition(':')[0] in sys.modules and ':' not in t]\n"
            "assert not loaded, loaded\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    from importlib import import_module
    for command, target in import_module(f"{name}.cli").COMMANDS:
        line = commandline.help_line(target)
        assert line and line in " ".join(r.stdout.split()), (command, line)


def test_registration_is_one_line_and_a_broken_command_breaks_only_itself(monkeypatch, capsys):
    mod = types.ModuleType("fake_cmd")
    mod.__doc__ = "Say hello."
    mod.add_arguments = lambda p: p.add_argument("--who", default="world")
    mod.run = lambda args: print(f"hello {args.who}") or 0
    monkeypatch.setitem(sys.modules, "fake_cmd", mod)
    commands = [("hello", "fake_cmd"), ("broken", "no_such_module_anywhere")]
    run = lambda argv: commandline.run_cli(commands, argv, prog="x", description="x")  # noqa: E731
    assert run(["hello", "--who", "TA"]) == 0 and capsys.readouterr().out == "hello TA\n"
    assert run(["--help"]) == 0
    with pytest.raises(ModuleNotFoundError):
        run(["broken"])


def test_every_named_error_is_a_kit_error_and_keeps_its_builtin_base():
    """Each CLI catches ``KitError`` once (not one base per package); callers' and students' ``except ValueError``
    / ``except KeyError`` keep working."""
    from common.answer_key import AnswerKeyError
    from common.config import ConfigKeyError
    from common.errors import KitError
    from data_tools.faces import WeightsNotFound
    from data_tools.io import DatasetError
    from grader.errors import ConfigError, GraderError, UnknownKeyError
    from grader.roster import RosterError
    from solutions.stages import UnknownStageError
    from starter_code.formats import ImageFileError, SubmissionError
    from starter_code.models import UnknownModelError
    from starter_code.notebook import NotebookSetupError

    builtin = {AnswerKeyError: ValueError, ConfigKeyError: KeyError, WeightsNotFound: RuntimeError,
               DatasetError: ValueError, ImageFileError: ValueError, SubmissionError: ValueError,
               UnknownModelError: ValueError, NotebookSetupError: ValueError, UnknownStageError: ValueError,
               UnknownKeyError: KeyError}
    for error, base in builtin.items():
        assert issubclass(error, KitError) and issubclass(error, base), error
    for error in (GraderError, ConfigError, RosterError, UnknownKeyError):
        assert issubclass(error, GraderError) and issubclass(error, KitError), error
    assert issubclass(UnknownKeyError, ConfigError) and issubclass(UnknownKeyError, ConfigKeyError)
    for cli in ("data_tools", "grader", "kit"):
        errors = sys.modules[f"{cli}.cli"].ERRORS
        assert any(KitError in types for types, code, _ in errors if code == commandline.EXIT_ERROR), cli

