"""The grader's few domain errors. They are mapped to exit codes (CLI) or HTTP statuses (web app) only at the edge.

``SubmissionError`` (a submission cannot be scored: line, column and ID where known) is defined with the
submission format in ``starter_code.formats``, the one place both the students' check and the grader read a file;
it is re-exported here so that grader code finds all its errors in one module.
"""
from __future__ import annotations

from starter_code.formats import SubmissionError

__all__ = ["GraderError", "ConfigError", "SubmissionError"]


class GraderError(Exception):
    """Base class: a problem the grader can explain in words (exit code 1 at the CLI)."""


class ConfigError(GraderError):
    """A competition config or answer key is missing, malformed or inconsistent (a TA-side problem)."""
