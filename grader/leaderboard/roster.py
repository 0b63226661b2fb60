"""Roster import for the leaderboard: the course roster (:mod:`grader.roster`, the one format shared with
``collect`` and ``gradebook``) → accounts with secret tokens (stored hashed, shown once). The login is the roster id.

An import is atomic and returns every new token or none: tokens and the TA's tokens CSV are made before anything
is written, and the students are inserted (and known students' name, e-mail, LMS id and nickname updated) in one
transaction. A token that was lost anyway can be replaced with :func:`reissue` (``python -m grader tokens
--reissue ID``). Tokens CSV files are written 0600 and never overwrite an earlier one (which may hold tokens not yet
sent to students).
"""
from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from grader.leaderboard.display import csv_row
from common.files import write_private
from grader.leaderboard.store import Store, StoreError, hash_token
from grader.roster import Roster, RosterError, parse_roster

__all__ = ["Issued", "ImportResult", "RosterError", "import_roster", "issued_csv", "new_token", "reissue",
           "write_tokens_file"]


@dataclass(frozen=True)
class Issued:
    """A student's login material: shown to the TA once, never stored in clear."""
    login: str
    name: str
    email: str
    token: str


@dataclass
class ImportResult:
    issued: list[Issued]                                   # new students, with their tokens
    skipped: list[str]                                     # ids already known: tokens unchanged
    updated: list[str] = field(default_factory=list)      # known ids whose name/e-mail/LMS id/nickname changed
    notes: list[str] = field(default_factory=list)        # the roster's notes (ignored columns)
    csv_text: str = ""                                     # the tokens CSV of ``issued`` (made before the commit)
    tokens_path: Path | None = None                        # where it was written, if it was


def new_token() -> str:
    """32 random bytes, URL-safe (43 characters), never starting with '-' or '_' (a leading '-' would make a
    spreadsheet read the token as a formula, and the CSV escaping then change it)."""
    while True:
        token = secrets.token_urlsafe(32)
        if token[0].isalnum():
            return token


def login_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/login/{token}"


def issued_csv(issued: list[Issued], public_url: str = "") -> str:
    """The TA's one-time tokens CSV: ``id,name,email,token,login_url`` (cells a spreadsheet would run as a formula
    are escaped)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "name", "email", "token", "login_url"])
    for i in issued:
        w.writerow(csv_row([i.login, i.name, i.email]) + [i.token, login_url(public_url, i.token)])
    return buf.getvalue()


def import_roster(store: Store, data: bytes | str | Roster, public_url: str = "",
                  tokens_path: Path | None = None) -> ImportResult:
    """Create accounts for the roster's new ids and update known ones, in one transaction; raises
    ``RosterError`` (line/column) or ``StoreError`` with nothing stored.

    With ``tokens_path``, the tokens CSV is written (see :func:`write_tokens_file`; ``result.tokens_path`` says
    where) *before* the commit and removed if the commit fails: the tokens are on disk whenever they are valid."""
    roster = data if isinstance(data, Roster) else parse_roster(data)
    known = {st.login: st for st in store.accounts.all()}
    issued, new, changed, skipped = [], [], [], []
    for s in roster.students:
        old = known.get(s.id)
        if old is None:
            token = new_token()
            issued.append(Issued(s.id, s.name, s.email, token))
            new.append(dict(login=s.id, name=s.name, email=s.email, lms_id=s.lms_id, nickname=s.nickname,
                            token_hash=hash_token(token)))
            continue
        skipped.append(s.id)
        profile = dict(name=s.name, email=s.email, lms_id=s.lms_id, nickname=s.nickname)
        if any(getattr(old, k) != v for k, v in profile.items()):
            changed.append(dict(login=s.id, **profile))
    result = ImportResult(issued, skipped, [c["login"] for c in changed], list(roster.notes),
                          issued_csv(issued, public_url))       # before the commit: nothing can fail after it
    if tokens_path is not None and issued:
        result.tokens_path = write_tokens_file(result.csv_text, tokens_path)
    try:
        store.accounts.sync(new, changed)
    except BaseException:
        if result.tokens_path is not None:
            result.tokens_path.unlink(missing_ok=True)
        raise
    return result


def reissue(store: Store, ids: list[str]) -> list[Issued]:
    """New tokens for the roster ids ``ids`` (their old tokens stop working at once); all or none."""
    known = {st.login: st for st in store.accounts.all()}
    missing = [i for i in ids if i not in known]
    if missing:
        raise StoreError(f"no student with id {', '.join(repr(m) for m in missing)}")
    issued = [Issued(i, known[i].name, known[i].email, new_token()) for i in dict.fromkeys(ids)]
    store.accounts.set_token_hashes({x.login: hash_token(x.token) for x in issued})
    return issued


def write_tokens_file(text: str, path: Path) -> Path:
    """Write a tokens CSV (0600). An existing file is never overwritten: the new one gets a time-stamped name
    beside it, which is returned."""
    path = Path(path)
    if path.exists():
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        n, candidate = 0, path.with_name(f"{path.stem}-{stamp}{path.suffix}")
        while candidate.exists():
            n += 1
            candidate = path.with_name(f"{path.stem}-{stamp}-{n}{path.suffix}")
        path = candidate
    return write_private(path, text)
