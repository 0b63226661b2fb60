"""The grader's few domain errors. They are mapped to exit codes (CLI) or HTTP statuses (web app) only at the edge.

``GraderError`` derives from ``common.errors.KitError``, the base of every error the kit explains in words.

``SubmissionError`` (a submission cannot be scored: line, column and ID where known) is defined with the
submission format in ``starter_code.formats``, the one place both the students' check and the grader read a file;
it is re-exported here so that grader code finds all its errors in one module.
"""
from __future__ import annotations

from common.config import ConfigKeyError
from common.errors import KitError
from starter_code.formats import SubmissionError

__all__ = ["GraderError", "ConfigError", "UnknownKeyError", "SubmissionError"]


class GraderError(KitError):
    """Base class: a problem the grader can explain in words (exit code 1 at the CLI)."""


class ConfigError(GraderError):
    """A competition config or answer key is missing, malformed or inconsistent (a TA-side problem)."""


class UnknownKeyError(ConfigError, ConfigKeyError):
    """A key that a grader config (competition, grade scheme, course, sandbox) does not know: the kit's
    ``ConfigKeyError``, and a ``ConfigError`` for the grader's callers (the web app, the CLI)."""
