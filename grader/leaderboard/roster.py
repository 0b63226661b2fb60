"""Roster import: the TA's CSV of students → accounts with secret tokens (stored hashed, shown once).

CSV columns: ``login,name`` and optionally ``email`` (header required, any order, extra columns rejected). A UTF-8 BOM
and CRLF line ends are accepted. Errors name the line and column, and nothing is imported unless every row is good.
"""
from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass

from grader.errors import GraderError
from grader.leaderboard.store import Store, hash_token

REQUIRED = ("login", "name")
OPTIONAL = ("email",)


class RosterError(GraderError):
    """The roster CSV is malformed; ``line`` is 1-based with the header as line 1."""

    def __init__(self, message: str, line: int | None = None, column: str | None = None):
        self.line, self.column = line, column
        where = ", ".join(x for x in (f"line {line}" if line else "", f"column '{column}'" if column else "") if x)
        super().__init__(f"roster {where}: {message}" if where else f"roster: {message}")


@dataclass(frozen=True)
class Issued:
    """A student's login link material: shown to the TA once, never stored in clear."""
    login: str
    name: str
    email: str
    token: str


def new_token() -> str:
    """32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def parse_roster(data: bytes | str) -> list[tuple[str, str, str]]:
    """``[(login, name, email), ...]`` from the CSV text; raises :class:`RosterError` naming line/column."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise RosterError(f"not UTF-8 text (byte {e.start})") from e
    data = data.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(data, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise RosterError("the file is empty; expected a header login,name[,email]") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise RosterError(f"missing column(s) {missing}; the header must be login,name[,email], got {header}", 1)
    extra = [c for c in header if c not in REQUIRED + OPTIONAL]
    if extra:
        raise RosterError(f"unknown column(s) {extra}; allowed: login, name, email", 1)
    idx = {c: header.index(c) for c in header}
    out, seen = [], {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise RosterError(f"expected {len(header)} fields, found {len(row)}", line)
        login, name = row[idx["login"]].strip(), row[idx["name"]].strip()
        email = row[idx["email"]].strip() if "email" in idx else ""
        if not login:
            raise RosterError("empty login", line, "login")
        if len(login) > 128:
            raise RosterError("login longer than 128 characters", line, "login")
        if not name:
            raise RosterError(f"empty name for login {login!r}", line, "name")
        if login in seen:
            raise RosterError(f"login {login!r} also on line {seen[login]}", line, "login")
        seen[login] = line
        out.append((login, name[:256], email[:256]))
    if not out:
        raise RosterError("no students in the file")
    return out


def import_roster(store: Store, data: bytes | str) -> tuple[list[Issued], list[str]]:
    """Create accounts for the roster's new logins (one transaction). Returns (issued tokens, logins skipped
    because they already exist: their tokens are unchanged)."""
    rows = parse_roster(data)
    existing = store.logins()
    issued = [Issued(login, name, email, new_token()) for login, name, email in rows if login not in existing]
    store.add_students([(i.login, i.name, i.email, hash_token(i.token)) for i in issued])
    return issued, [login for login, _, _ in rows if login in existing]


def issued_csv(issued: list[Issued], base_url: str = "") -> str:
    """The TA's one-time download: login,name,email,token,login_url."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["login", "name", "email", "token", "login_url"])
    for i in issued:
        w.writerow([i.login, i.name, i.email, i.token, f"{base_url.rstrip('/')}/login/{i.token}"])
    return buf.getvalue()
