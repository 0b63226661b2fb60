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

    [baselines]
    source = "kit ladder solutions/baselines/demo-ladder.json on preset demo (seed 0)"
    preset = "demo"
    seed = 0

    [baselines.simple]
    public = 0.5855
    private = 0.5762

The thresholds decide grade points, so a file says where they came from (``[baselines]`` ``source``, and the
ladder's data: ``preset``/``seed`` or ``answers_sha256``). :func:`threshold_problems` names what is wrong with them:
never set (the course's 2023 figures, or no source), or measured on data other than this competition's answer key.
:func:`set_thresholds` writes them into a file, keeping its comments (``grader init --baselines``, ``kit calibrate``).
"""
from __future__ import annotations

import hashlib
import json
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

#: The course's own 2023 public thresholds, measured on another data set: placeholders until a ladder sets a term's.
COURSE_2023_BASELINES = {"simple": 0.535, "medium": 0.719, "strong": 0.790, "boss": 0.822}

#: The kit's recorded ladders, ``<preset>-ladder.json`` (data files read by path: the grader imports no solution).
RECORDED_LADDERS = Path(__file__).resolve().parents[1] / "solutions" / "baselines"

#: How a ladder's ``data`` line names a preset build (``kit.run.load_data``).
_PRESET_DATA = re.compile(r"^preset (\S+) \(seed (\d+)\)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Baseline:
    """A threshold a student must beat, on each split (the course gives points per baseline per split)."""
    name: str
    public: float
    private: float


@dataclass(frozen=True)
class ThresholdSource:
    """Where a competition's thresholds came from: the ``[baselines]`` keys besides the baselines' own tables."""
    source: str                     # for a person: which ladder, on which data
    preset: str = ""                # the kit preset the ladder ran on ("" for other data) ...
    seed: int | None = None         # ... and its build seed
    answers_sha256: str = ""        # sha256 of the answer key the ladder scored, where it was recorded

    def keys(self) -> dict:
        """The non-empty ``[baselines]`` keys, in file order."""
        out = {"source": self.source, "preset": self.preset, "seed": self.seed, "answers_sha256": self.answers_sha256}
        return {k: v for k, v in out.items() if v not in ("", None)}


#: ``[baselines]`` keys that say where the thresholds came from; every other key names a baseline.
SOURCE_KEYS = tuple(f.name for f in fields(ThresholdSource))


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
    baselines_source: ThresholdSource | None = field(default=None, metadata={
        "help": "Where the thresholds came from: the [baselines] keys source (which ladder), preset and seed, or "
                "answers_sha256 (its data). None: never set."})

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
    check_keys(raw, [f.name for f in fields(CompetitionConfig) if f.name != "baselines_source"], source,
               UnknownKeyError)
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
        table = kw["baselines"]
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: baselines must be a table ([baselines.NAME] public=..., private=...)")
        kw["baselines_source"] = _threshold_source(table, source)
        for name, v in table.items():
            if name in SOURCE_KEYS:
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                v = {"public": v, "private": v}
            if not isinstance(v, dict) or set(v) - {"public", "private"} or "public" not in v:
                raise ConfigError(f"{source}: [baselines.{name}] needs public (and optionally private), "
                                  f"got {sorted(v) if isinstance(v, dict) else repr(v)}")
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


def _threshold_source(table: dict, source: str) -> ThresholdSource | None:
    """The ``[baselines]`` provenance keys as a ``ThresholdSource`` (None without ``source``)."""
    given = {k: table[k] for k in SOURCE_KEYS if k in table}
    if not given:
        return None
    for key in ("source", "preset", "answers_sha256"):
        if key in given and not isinstance(given[key], str):
            raise ConfigError(f"{source}: [baselines] {key} must be a string, got {given[key]!r}")
    if "source" not in given or not given["source"].strip():
        raise ConfigError(f"{source}: [baselines] needs source (which ladder set the thresholds) beside "
                          f"{', '.join(k for k in given if k != 'source') or 'its keys'}")
    seed = given.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ConfigError(f"{source}: [baselines] seed must be a non-negative integer, got {seed!r}")
    if not _SHA256.match(given.get("answers_sha256", "0" * 64)):
        raise ConfigError(f"{source}: [baselines] answers_sha256 must be 64 lowercase hex digits, got "
                          f"{given['answers_sha256']!r}")
    if ("preset" in given) != (seed is not None):
        raise ConfigError(f"{source}: [baselines] preset and seed go together (the build the ladder ran on)")
    return ThresholdSource(given["source"], given.get("preset", ""), seed, given.get("answers_sha256", ""))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def thresholds_from_ladder(ladder: dict, where: str) -> tuple[dict[str, Baseline], ThresholdSource, list[str]]:
    """(baselines, their source, warnings) from a ladder saved by ``python -m kit ladder`` (``where``: its file,
    named in the source). Each baseline is the matching stage's public and private AUC, rounded to 4 places.
    Raises ``ConfigError`` for a ladder without numeric stages. Warnings: a smoke-mode ladder (seconds of training:
    far below a real run's scores)."""
    stages = ladder.get("stages") if isinstance(ladder, dict) else None
    if not isinstance(stages, dict) or not stages:
        raise ConfigError(f"{where}: ladder has no 'stages'")
    out = {}
    for name in BASELINE_NAMES:
        if name in stages:
            row = stages[name]
            try:
                out[name] = Baseline(name, round(float(row["public"]), 4), round(float(row["private"]), 4))
            except (KeyError, TypeError, ValueError) as e:
                raise ConfigError(f"{where}: ladder stage {name!r}: needs numeric 'public' and 'private' "
                                  f"({e})") from e
    if not out:
        raise ConfigError(f"{where}: ladder has none of the stages {', '.join(BASELINE_NAMES)}")
    preset, seed = ladder.get("preset") or "", ladder.get("seed")
    data = str(ladder.get("data") or "")
    m = _PRESET_DATA.match(data)
    if not preset and m:
        preset, seed = m.group(1), int(m.group(2))
    sha = ladder.get("answers_sha256") or ""
    on = f"preset {preset} (seed {seed})" if preset else (data or "unrecorded data")
    smoke = bool(ladder.get("smoke"))
    text = f"kit ladder {where} on {on}" + (", smoke mode" if smoke else "")
    warnings = [f"{where} ran in smoke mode (seconds of training): its thresholds are far below a real run's"] \
        if smoke else []
    return out, ThresholdSource(text, preset, seed if preset else None, sha if _SHA256.match(sha) else ""), warnings


def recorded_ladder(preset: str) -> Path:
    """The kit's recorded ladder for ``preset``; raises ``ConfigError`` listing the presets that have one."""
    path = RECORDED_LADDERS / f"{preset}-ladder.json"
    if not path.is_file():
        have = sorted(p.name[:-len("-ladder.json")] for p in RECORDED_LADDERS.glob("*-ladder.json"))
        raise ConfigError(f"no recorded ladder for preset {preset!r}; recorded: {', '.join(have) or 'none'} "
                          f"(for other data run `python -m kit ladder` and pass its JSON)")
    return path


def read_ladder(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: ladder file not found") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from e


def threshold_problems(cfg: CompetitionConfig) -> list[str]:
    """Why the thresholds cannot be trusted to grade this competition (empty: they can): never set (the course's
    2023 placeholders, or no ``[baselines] source``), or measured on data other than the answer key's (a different
    ``answers_sha256``, or a preset/seed other than the one its ``manifest.json`` records)."""
    src = cfg.baselines_source
    fix = ("set them from a ladder on this term's data (`python -m kit ladder` then `python -m kit calibrate "
           "--competition FILE --ladder LADDER.json`), or from the kit's recorded ladder for a preset build "
           "(`python -m kit calibrate --competition FILE --ladder solutions/baselines/demo-ladder.json`)")
    if src is None:
        placeholder = {n: (b.public, b.private) for n, b in cfg.baselines.items()} == \
            {n: (v, v) for n, v in COURSE_2023_BASELINES.items()}
        what = ("are the course's 2023 figures, placeholders measured on other data" if placeholder
                else "have no recorded source ([baselines] source = ...)")
        return [f"the baseline thresholds {what}: {fix}"]
    answers = Path(cfg.answers)
    if not answers.is_file():
        return []           # nothing to compare yet; serving needs the key anyway
    try:
        sha = file_sha256(answers)
    except OSError as e:
        return [f"cannot read the answer key to check the thresholds' data: {e}"]
    if src.answers_sha256:
        if sha != src.answers_sha256:
            return [f"the thresholds were measured against an answer key with sha256 {src.answers_sha256[:12]}…, "
                    f"but {answers} has {sha[:12]}…: the ladder ran on other data ({src.source}); {fix}"]
        return []
    if src.preset:
        manifest = _manifest(answers) or {}
        built = (manifest.get("preset"), manifest.get("seed"))
        try:
            recorded = manifest["files"]["answers"][answers.name]["sha256"]
        except (KeyError, TypeError):
            recorded = None
        if built != (src.preset, src.seed):
            what = (f"preset {built[0]} (seed {built[1]})" if built[0] else
                    f"{manifest.get('source', 'other')} data (its manifest.json names no preset)" if manifest else
                    "data without a build's manifest.json beside it")
        elif recorded and recorded != sha:
            what = "not the file that build wrote (its sha256 differs from manifest.json's)"
        else:
            return []
        return [f"the thresholds come from preset {src.preset} (seed {src.seed}), but the answer key {answers} is "
                f"{what}; {fix}"]
    return []


def answer_key_problems(cfg: CompetitionConfig) -> list[str]:
    """Why the answer key may not be secret (empty: no reason known): it was generated by ``python -m data_tools
    build`` with a seed below ``common.answer_key.SECRET_SEED_MIN``, and the kit is public, so any student can build
    the same data and read this key (its row order, labels and split) from the seed in ``manifest.json``."""
    from common.answer_key import SECRET_SEED_MIN
    answers = Path(cfg.answers)
    manifest = _manifest(answers) if answers.is_file() else None
    seed = (manifest or {}).get("seed")
    if manifest is None or manifest.get("source") != "generated" or not isinstance(seed, int) \
            or seed >= SECRET_SEED_MIN:
        return []
    return [f"the answer key {answers} was built with seed {seed}: anyone with the kit can rebuild it (python -m "
            f"data_tools build --preset {manifest.get('preset', '...')} --seed {seed}) and upload its labels. For a "
            f"term, build the data with --seed random, then measure the thresholds on it (python -m kit ladder)"]


def _manifest(answers: Path) -> dict | None:
    try:
        manifest = json.loads((answers.parent / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def set_thresholds(text: str, baselines: dict[str, Baseline], src: ThresholdSource) -> str:
    """``text`` (a competition TOML) with its ``[baselines]`` replaced by ``baselines`` and ``src``; every comment
    and other setting kept. Baselines not in ``baselines`` are removed (the ladder decides which exist)."""
    import tomlkit

    doc = tomlkit.parse(text)
    if "baselines" not in doc:
        doc.add(tomlkit.nl())
        doc["baselines"] = tomlkit.table(is_super_table=True)
    table = doc["baselines"]
    for key in list(table):
        if key in SOURCE_KEYS or key not in baselines:
            del table[key]
    for key, value in src.keys().items():       # tomlkit puts plain keys before the sub-tables, as TOML needs
        table.add(key, value)
    for b in baselines.values():
        if b.name in table:
            table[b.name]["public"], table[b.name]["private"] = b.public, b.private
        else:
            sub = tomlkit.table()
            sub["public"], sub["private"] = b.public, b.private
            table.append(b.name, sub)
    return tomlkit.dumps(doc)


def write_thresholds(path: Path, baselines: dict[str, Baseline], src: ThresholdSource) -> CompetitionConfig:
    """Write ``baselines`` and their source into the competition file ``path`` (comments kept); -> the loaded
    config (so a file the edit made invalid is reported before anyone serves it)."""
    path = Path(path)
    path.write_text(set_thresholds(path.read_text(encoding="utf-8"), baselines, src), encoding="utf-8")
    return load_competition(path)


def dump_competition(cfg: CompetitionConfig) -> str:
    """TOML text for ``cfg`` (paths written as given), without comments: `make demo`'s throwaway competition."""
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
    if cfg.baselines_source:
        lines += ["", "[baselines]"] + [f"{k} = {q(v) if isinstance(v, str) else v}"
                                        for k, v in cfg.baselines_source.keys().items()]
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
        if f.name in ("baselines", "baselines_source"):
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
    lines += ["# " + x for x in textwrap.wrap(
        CompetitionConfig.__dataclass_fields__["baselines"].metadata["help"] + " A student passes a baseline with "
        "score >= threshold; they decide grade points. [baselines] source says where they came from (preset and "
        "seed, or answers_sha256: the ladder's data). Until it is set they count as not set, and the TA page and "
        "`serve` say so: the figures below are then the course's 2023 ones, measured on other data. Set them "
        "from a ladder: `python -m kit calibrate --competition THIS_FILE --ladder LADDER.json` (a ladder run "
        "on this term's data by `python -m kit ladder`, or the kit's recorded one for a preset build, "
        "solutions/baselines/PRESET-ladder.json).", 114)]
    lines += ["[baselines]", ""]
    for b in defaults.baselines.values():
        lines += [f"[baselines.{b.name}]", f"public = {b.public!r}", f"private = {b.private!r}", ""]
    return "\n".join(lines)
