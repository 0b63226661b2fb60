"""``python -m kit COMMAND``: the TA's runs on top of the kit (demo, reference stages, ladder, calibration).

Exit codes (``common.commandline``, the kit's one CLI shape): 0 done, 1 a problem with the data, a config key
or a file (one line on stderr), 2 a usage error; ``ladder --check`` also exits 1 when the ladder is not strict.
"""
from __future__ import annotations

from common import commandline
from common.errors import KitError

#: (name, target) of every subcommand; targets are imported lazily.
COMMANDS: list[tuple[str, str]] = [
    ("demo", "kit.demo"),
    ("run", "kit.run"),
    ("ladder", "kit.ladder"),
    ("calibrate", "kit.calibrate"),
    ("rehearse", "kit.rehearse"),
]
#: KitError: every named error below (ConfigKeyError, DatasetError, AnswerKeyError, GraderError, ...). ValueError
#: too: the commands pass ``--set`` values and saved ladders straight to the student library and the stages, which
#: reject a bad value with one (students' code catches it so), and the kit's own checks raise it.
ERRORS = [((KitError, ValueError, OSError), commandline.EXIT_ERROR, "error: ")]


def main(argv: list[str] | None = None) -> int:
    return commandline.run_cli(COMMANDS, argv, prog="python -m kit", description=__doc__.splitlines()[0],
                               errors=ERRORS)
