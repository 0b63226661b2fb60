"""``KitError``: the base of every error the kit can explain in words (a CLI prints its one line and exits 1).

Each package derives its own few named errors from it, keeping a built-in base where callers (students' code
included) catch that one::

    KitError
    ├── ConfigKeyError (KeyError)      common.config: an unknown config key; the grader's UnknownKeyError too
    ├── AnswerKeyError (ValueError)    common.answer_key
    ├── ImageFileError, SubmissionError (ValueError)            starter_code.formats
    ├── UnknownModelError, NotebookSetupError (ValueError)      starter_code.models, starter_code.notebook
    ├── DatasetError (ValueError), WeightsNotFound (RuntimeError)   data_tools
    ├── UnknownStageError (ValueError)                           solutions.stages
    └── GraderError                    grader.errors: ConfigError, RosterError, ScoreFileError, StoreError, ...

so a command line catches one base instead of one per package.
"""
from __future__ import annotations


class KitError(Exception):
    """A problem the kit can explain in words: bad data, a missing file, an invalid config."""
