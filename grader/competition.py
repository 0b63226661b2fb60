"""Competition configuration: one TOML file per competition, read by the CLI and the leaderboard service.

Every key is documented where it is defined (the ``help`` metadata); unknown keys raise ``UnknownKeyError`` (a
``ConfigError``; the check is ``common.config``'s).
Relative paths in the file are resolved against the file's own directory. ``python -m grader init DIR`` writes a
``competition.toml`` with every key and its help as comments (:func:`competition_template`) and an example roster.

Example ``competition.toml``::

    title = "HW8 Anomaly Detection"
    answers = "answers/solution.csv"
    opens_at = 2026-11-01T00:00:00Z
    closes_at = 2026-11-22T15:59:59Z
    daily_limit = 5
    final_selections = 2
    public_url = "https://hw8.example.edu"

    [baselines.simple]
    public = 0.535
    private = 0.535
"""
from __future__ import annotations

import re
import textwrap
import tomllib
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from common.config import Config, check_keys
from grader.errors import ConfigError, UnknownKeyError
from starter_code.formats import STAGES

#: Order in which baselines are listed on boards and in gradebooks: the stages'.
BASELINE_NAMES = STAGES

#: The course's own 2023 public thresholds, used until `python -m kit calibrate` writes the kit's.
COURSE_2023_BASELINES = {"simple": 0.535, "medium": 0.719, "strong": 0.790, "boss": 0.822}


@dataclass(frozen=True)
class Baseline:
    """A threshold a student must beat, on each split (the course gives points per baseline per split)."""
    name: str
    public: float
    private: float


def _default_baselines() -> dict[str, Baseline]:
    return {n: Baseline(n, v, v) for n, v in COURSE_2023_BASELINES.items()}


@dataclass
class CompetitionConfig(Config):
    """One competition: where the answer key is, when uploads open and close, limits and baselines
    (``load_competition`` reads it from TOML, resolving paths and times)."""
    key_error = UnknownKeyError
    title: str = field(default="Anomaly Detection", metadata={"help": "Shown at the top of every page."})
    answers: Path = field(default=Path("solution.csv"),
                          metadata={"help": "TA-only answer key: CSV with columns ID,label,Usage,kind."})
    opens_at: datetime | None = field(default=None, metadata={"help": "UTC time uploads open (none: open now)."})
    closes_at: datetime | None = field(
        default=None, metadata={"help": "UTC deadline; the private board is revealed after it (none: never)."})
    daily_limit: int = field(default=5, metadata={"help": "Scored uploads per student per UTC day."})
    final_selections: int = field(default=2, metadata={"help": "Submissions a student may mark as final."})
    public_fraction: float = field(default=0.3, metadata={"help": "Share of test rows on the public board "
                                                                  "(informational: the answer key decides)."})
    database_url: str = field(default="sqlite:///leaderboard.sqlite3",
                              metadata={"help": "SQLAlchemy URL; a relative SQLite path is resolved against the "
                                                "config file; use postgresql+psycopg://... for several servers."})
    max_upload_bytes: int = field(default=8 * 1024 * 1024, metadata={"help": "Largest accepted upload in bytes "
                                                                              "(refused before it is read)."})
    late_uploads: bool = field(default=True, metadata={
        "help": "After the deadline, keep scoring uploads as late: the student sees both scores and a late board "
                "lists them, never ranked on the main boards (false: refuse uploads after the deadline)."})
    public_url: str = field(default="", metadata={
        "help": "The server's public address as students reach it, e.g. https://hw8.example.edu (an origin, no "
                "path): login links and tokens files use it, and https makes cookies Secure. Empty: "
                "http://HOST:PORT of `serve`."})
    rate_login: str = field(default="10/minute", metadata={
        "help": "Login attempts (form, link, TA login) per client address, as N/second|minute|hour|day."})
    rate_upload: str = field(default="20/minute", metadata={
        "help": "Upload attempts per student, valid or not (the daily limit counts only scored ones)."})
    rate_pages: str = field(default="60/minute", metadata={
        "help": "Views of costly pages per student: submission pages, ROC images, downloads."})
    baselines: dict[str, Baseline] = field(default_factory=_default_baselines,
                                           metadata={"help": "Thresholds per baseline: [baselines.NAME] "
                                                             "public=..., private=..."})

    def is_closed(self, now: datetime | None = None) -> bool:
        """True once the deadline has passed: private scores may be shown from then on."""
        if self.closes_at is None:
            return False
        now = now or datetime.now(timezone.utc)
        return now >= self.closes_at

    def is_open(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(timezone.utc)
        return (self.opens_at is None or now >= self.opens_at) and not self.is_closed(now)


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+/?$")


def parse_rate(text: str) -> tuple[int, str]:
    """``"10/minute"`` → ``(10, "minute")``; raises ``ConfigError``."""
    m = _RATE.match(text) if isinstance(text, str) else None
    if not m or int(m.group(1)) < 1:
        raise ConfigError(f"rate {text!r}: expected N/second, N/minute, N/hour or N/day with N >= 1")
    return int(m.group(1)), m.group(2)


def check_public_url(url: str) -> str:
    """``url`` without a trailing slash; raises ``ConfigError`` unless it is an http(s) origin."""
    if not isinstance(url, str) or (url and not _ORIGIN.match(url)):
        raise ConfigError(f"public_url {url!r}: expected an address like https://hw8.example.edu (scheme and host, "
                          "optionally a port; serving under a sub-path is not supported: use a host name of its own)")
    return url.rstrip("/")


def _as_utc(value, key: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as e:
            raise ConfigError(f"{key}: not an ISO date-time: {value!r}") from e
    if not isinstance(value, datetime):
        raise ConfigError(f"{key}: expected a date-time, got {value!r}")
    if value.tzinfo is None:  # TOML local date-times are taken as UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def load_competition(path: str | Path) -> CompetitionConfig:
    """Read a competition TOML file; raise ``ConfigError`` naming the file and key on any problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: competition config not found") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    return competition_from_dict(raw, base_dir=path.parent, source=str(path))


def competition_from_dict(raw: dict, *, base_dir: Path = Path("."), source: str = "config") -> CompetitionConfig:
    """A ``CompetitionConfig`` from parsed TOML: relative paths against ``base_dir``, times as UTC, every value
    checked; ``source`` (the file) is named in every error."""
    check_keys(raw, CompetitionConfig, source, UnknownKeyError)
    kw = dict(raw)
    if "answers" in kw:
        p = Path(kw["answers"])
        kw["answers"] = p if p.is_absolute() else (base_dir / p)
    else:
        kw["answers"] = base_dir / "solution.csv"
    db = kw.get("database_url", CompetitionConfig.database_url)
    if db.startswith("sqlite:///") and not db.startswith("sqlite:////") and db != "sqlite:///:memory:":
        kw["database_url"] = "sqlite:///" + str((base_dir / db[len("sqlite:///"):]).resolve())
    else:
        kw["database_url"] = db
    for key in ("opens_at", "closes_at"):
        kw[key] = _as_utc(kw.get(key), key)
    if "baselines" in kw:
        bl = {}
        for name, v in kw["baselines"].items():
            if isinstance(v, (int, float)):
                v = {"public": v, "private": v}
            extra = set(v) - {"public", "private"}
            if extra or "public" not in v:
                raise ConfigError(f"{source}: [baselines.{name}] needs public (and optionally private), "
                                  f"got {sorted(v)}")
            bl[name] = Baseline(name, float(v["public"]), float(v.get("private", v["public"])))
        kw["baselines"] = bl
    for key in ("daily_limit", "final_selections", "max_upload_bytes"):
        if key in kw and (not isinstance(kw[key], int) or isinstance(kw[key], bool) or kw[key] < 0):
            raise ConfigError(f"{source}: {key} must be a non-negative integer, got {kw[key]!r}")
    if "late_uploads" in kw and not isinstance(kw["late_uploads"], bool):
        raise ConfigError(f"{source}: late_uploads must be true or false, got {kw['late_uploads']!r}")
    for key in ("rate_login", "rate_upload", "rate_pages"):
        if key in kw:
            try:
                parse_rate(kw[key])
            except ConfigError as e:
                raise ConfigError(f"{source}: {key}: {e}") from None
    if "public_url" in kw:
        try:
            kw["public_url"] = check_public_url(kw["public_url"])
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None
    cfg = CompetitionConfig(**kw)
    if cfg.opens_at and cfg.closes_at and cfg.opens_at >= cfg.closes_at:
        raise ConfigError(f"{source}: opens_at must be before closes_at")
    return cfg


def dump_competition(cfg: CompetitionConfig) -> str:
    """TOML text for ``cfg`` (paths written as given). Used by `python -m kit calibrate` and `make demo`."""
    def q(s: str) -> str:
        return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'

    def t(d: datetime) -> str:
        return d.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    lines = [f"title = {q(cfg.title)}", f"answers = {q(cfg.answers.as_posix())}"]
    if cfg.opens_at:
        lines.append(f"opens_at = {t(cfg.opens_at)}")
    if cfg.closes_at:
        lines.append(f"closes_at = {t(cfg.closes_at)}")
    lines += [f"daily_limit = {cfg.daily_limit}", f"final_selections = {cfg.final_selections}",
              f"public_fraction = {cfg.public_fraction}", f"database_url = {q(cfg.database_url)}",
              f"max_upload_bytes = {cfg.max_upload_bytes}"]
    for b in cfg.baselines.values():
        lines += ["", f"[baselines.{b.name}]", f"public = {b.public!r}", f"private = {b.private!r}"]
    return "\n".join(lines) + "\n"


def competition_template(*, title: str = "HW8 Anomaly Detection", answers: str = "answers/solution.csv") -> str:
    """A ``competition.toml`` with every key, each preceded by its help as a comment (``python -m grader init``).
    The times are commented out: until they are set, uploads are open and the private board is never revealed."""
    defaults = CompetitionConfig()
    values = {"title": title, "answers": answers}
    lines = ["# Competition settings for `python -m grader serve`, `score` and `leaderboard`.",
             "# Times are UTC (a trailing Z); relative paths are relative to this file. Unknown keys are an error.",
             ""]
    for f in fields(CompetitionConfig):
        if f.name == "baselines":
            continue
        lines += ["# " + x for x in textwrap.wrap(f.metadata.get("help", ""), 114)]
        value = values.get(f.name, getattr(defaults, f.name))
        if f.name in ("opens_at", "closes_at"):
            example = "2026-11-01T00:00:00Z" if f.name == "opens_at" else "2026-11-22T15:59:59Z"
            lines.append(f"# {f.name} = {example}")
        elif isinstance(value, bool):
            lines.append(f"{f.name} = {str(value).lower()}")
        elif isinstance(value, (int, float)):
            lines.append(f"{f.name} = {value!r}")
        else:
            text = value.as_posix() if isinstance(value, Path) else str(value)
            lines.append(f'{f.name} = "{text}"')
        lines.append("")
    lines += ["# " + x for x in textwrap.wrap(CompetitionConfig.__dataclass_fields__["baselines"].metadata["help"]
                                              + " A student passes a baseline with score >= threshold. "
                                              "`python -m kit calibrate` writes the kit's own.", 114)]
    for b in defaults.baselines.values():
        lines += [f"[baselines.{b.name}]", f"public = {b.public!r}", f"private = {b.private!r}", ""]
    return "\n".join(lines)
