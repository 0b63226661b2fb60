"""What the public sees of a student, and text that leaves the server in a spreadsheet.

- :func:`clean` makes any roster text safe to *display*: bidi overrides/isolates, zero-width characters and control
  characters are removed (a name with U+202E would otherwise render reversed, or hide a second name), the rest is
  NFC-normalised, whitespace runs become one space, and the result is cut to a length.
- :func:`public_name` is the name on the public boards: the roster's ``nickname`` (cleaned), else a stable
  pseudonym derived from the student's id and a server secret with HMAC, so nobody can compute another student's
  pseudonym from their id, and the same student keeps the same pseudonym across restarts and processes. The legal
  name is never used, unless the roster sets the nickname to it.
- :func:`csv_cell` / :func:`csv_row` escape TA-export cells a spreadsheet would run as a formula: text beginning
  with ``= + - @``, a tab or a carriage return gets a leading apostrophe (OWASP "CSV injection"). Numbers are
  written as numbers.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

#: Bidi embeddings/overrides/isolates and marks (LRE..RLO, LRI..PDI, LRM/RLM/ALM), zero-width characters, BOM.
INVISIBLE = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
                      "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u00ad")
_SPACE = re.compile(r"\s+")

#: Display length of a public name (characters after cleaning).
MAX_PUBLIC = 40

_ADJECTIVES = ("Amber", "Brave", "Calm", "Clever", "Crimson", "Curious", "Daring", "Eager", "Gentle", "Golden",
               "Happy", "Honest", "Humble", "Jolly", "Keen", "Kind", "Lively", "Lucky", "Merry", "Mighty",
               "Nimble", "Noble", "Patient", "Plucky", "Polite", "Proud", "Quick", "Quiet", "Rapid", "Silver",
               "Steady", "Swift")
_ANIMALS = ("Badger", "Bison", "Crane", "Dolphin", "Eagle", "Falcon", "Ferret", "Fox", "Gecko", "Heron",
            "Ibis", "Jaguar", "Koala", "Lemur", "Lynx", "Marten", "Moose", "Narwhal", "Ocelot", "Otter", "Owl",
            "Panda", "Puffin", "Quokka", "Raven", "Salmon", "Seal", "Stoat", "Tapir", "Walrus", "Wombat", "Yak")


def clean(text: str, limit: int = MAX_PUBLIC) -> str:
    """``text`` safe to display: no bidi/zero-width/control/unassigned characters, NFC, single spaces, at most
    ``limit`` characters (an ellipsis marks a cut).

    >>> clean("Eve\\u202egnp.exe")
    'Evegnp.exe'
    >>> clean("  Ada\\u200b   Lovelace\\n")
    'Ada Lovelace'
    """
    text = unicodedata.normalize("NFC", text)
    kept = []
    for ch in text:
        if ch in INVISIBLE:
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs", "Co", "Cn", "Zl", "Zp"):
            kept.append(" " if ch in "\t\n\r\x0b\x0c\u2028\u2029\x85" else "")
        elif cat == "Cf":
            continue  # other format characters (tag characters, interlinear annotation): invisible tricks
        else:
            kept.append(ch)
    out = _SPACE.sub(" ", "".join(kept)).strip()
    return out if len(out) <= limit else out[:limit - 1].rstrip() + "…"


def pseudonym(student_id: str, secret: bytes) -> str:
    """A stable, friendly name for ``student_id``: ``'Quiet Heron 42'``. 32 × 32 × 100 = 102,400 names; the
    number is widened to four digits for the rare class where two students would share one (see
    :func:`public_names`)."""
    d = hmac.new(secret, student_id.encode("utf-8"), hashlib.sha256).digest()
    return f"{_ADJECTIVES[d[0] % 32]} {_ANIMALS[d[1] % 32]} {int.from_bytes(d[2:4], 'big') % 100}"


def public_name(student_id: str, nickname: str, secret: bytes) -> str:
    """The roster nickname, cleaned, else the pseudonym of ``student_id``."""
    nick = clean(nickname or "")
    return nick if nick else pseudonym(student_id, secret)


def public_names(students, secret: bytes) -> dict:
    """``{student.id: public name}`` for students with ``.id`` (database id), ``.login`` and ``.nickname``.

    Pseudonyms that collide within the class get a longer number from the same HMAC, so two students never share
    a board name by chance (nicknames chosen alike are left as the roster says)."""
    out = {st.id: public_name(st.login, st.nickname, secret) for st in students}
    pseudo = [st for st in students if not clean(st.nickname or "")]
    seen: dict[str, int] = {}
    for st in pseudo:
        seen[out[st.id]] = seen.get(out[st.id], 0) + 1
    for st in pseudo:
        if seen[out[st.id]] > 1:
            d = hmac.new(secret, st.login.encode("utf-8"), hashlib.sha256).digest()
            out[st.id] = out[st.id].rsplit(" ", 1)[0] + f" {int.from_bytes(d[2:6], 'big') % 10000:04d}"
    return out


# ------------------------------------------------------------------------------------------------- CSV export
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """One export cell: text that a spreadsheet would evaluate gets a leading apostrophe; numbers unchanged.

    >>> [csv_cell(x) for x in ("=HYPERLINK(\\"http://x\\")", "-1+1", "Ann", -0.5, 3)]
    ['\\'=HYPERLINK("http://x")', "'-1+1", 'Ann', -0.5, 3]
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_row(values) -> list:
    return [csv_cell(v) for v in values]
