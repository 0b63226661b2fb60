"""The grader's few domain errors. They are mapped to exit codes (CLI) or HTTP statuses (web app) only at the edge."""
from __future__ import annotations


class GraderError(Exception):
    """Base class: a problem the grader can explain in words (exit code 1 at the CLI)."""


class ConfigError(GraderError):
    """A competition config or answer key is missing, malformed or inconsistent (a TA-side problem)."""


class SubmissionError(GraderError):
    """A submission file cannot be scored. Exit code 2 at the CLI, HTTP 400/422 in the web app.

    ``message`` is written for a student: it says what is wrong and, where known, where —
    ``line`` (1-based, as an editor numbers lines, the header being line 1), ``column`` (a column
    name, e.g. ``"score"``) and ``id`` (the row's ID value). The invalid file is never stored as a
    scored submission and never counts against a limit.
    """

    def __init__(self, message: str, *, line: int | None = None, column: str | None = None,
                 id: int | str | None = None):
        self.message = message
        self.line = line
        self.column = column
        self.id = id
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.id is not None:
            where.append(f"ID {self.id}")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def to_dict(self) -> dict:
        """JSON-friendly form for the web app's error responses."""
        return {"message": self.message, "line": self.line, "column": self.column, "id": self.id,
                "detail": str(self)}
