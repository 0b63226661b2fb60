"""The TA's leaderboard commands besides ``serve``: ``init``, ``tokens``, ``backup`` and ``restore``.

Each is a class with ``add_arguments(parser)`` and ``run(args) -> int`` (registered in ``grader.cli.COMMANDS``):
exit code 0 on success, 1 for a problem with the files or the database (message on stderr), 2 for a usage error.
Every file they write that holds a secret (tokens, backups) is mode 0600 and never overwrites an earlier one.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.errors import GraderError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

EXAMPLE_ROSTER = """id,name,email,lms_id,nickname
b11901001,Ada Lovelace,ada@example.edu,10001,Countess
b11901002,Alan Turing,alan@example.edu,10002,
b11901003,Grace Hopper,grace@example.edu,10003,Grace Hopper
"""


def _fail(message: str, code: int = EXIT_ERROR) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _config(args):
    from grader.competition import check_public_url, load_competition
    cfg = load_competition(args.competition)
    if getattr(args, "database_url", None):
        cfg.database_url = args.database_url
    if getattr(args, "public_url", None):
        cfg.public_url = check_public_url(args.public_url)
    return cfg


def _competition_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--competition", required=True, type=Path, help="competition TOML file")
    parser.add_argument("--database-url", default=None, help="override the config's database_url")


class InitCommand:
    """Write a commented competition.toml and an example roster.csv into a folder, to edit before `serve`.

    The baseline thresholds (4 of the 10 grade points) come from a reference ladder: ``--ladder FILE`` (``python -m
    kit ladder`` run on this term's data) or ``--baselines PRESET`` (the kit's recorded ladder of a preset build);
    either is written with its source. Without one the file holds the course's 2023 figures, marked as not set."""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("folder", type=Path, help="where to write competition.toml and roster.csv")
        parser.add_argument("--title", default="HW8 Anomaly Detection", help="competition title")
        parser.add_argument("--answers", default="answers/solution.csv",
                            help="answer key path, relative to the folder (default: answers/solution.csv)")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--ladder", type=Path, default=None,
                            help="thresholds from this ladder JSON (`python -m kit ladder` on the term's data)")
        source.add_argument("--baselines", metavar="PRESET", default=None,
                            help="thresholds from the kit's recorded ladder for a preset build "
                                 "(solutions/baselines/PRESET-ladder.json: demo, full; demo-v1, full-v1 for "
                                 "builds of version 1's kinds, --kinds-version 1)")

    @staticmethod
    def run(args) -> int:
        from grader.competition import (RECORDED_LADDERS, answer_key_problems, competition_template, load_competition,
                                        read_ladder, recorded_ladder, set_thresholds, threshold_problems,
                                        thresholds_from_ladder)
        comp, roster = args.folder / "competition.toml", args.folder / "roster.csv"
        existing = [str(p) for p in (comp, roster) if p.exists()]
        if existing:
            return _fail(f"{', '.join(existing)} already exist(s); nothing written (move them away first)")
        text = competition_template(title=args.title, answers=args.answers)
        warnings = []
        if args.ladder or args.baselines:      # a ConfigError (no such preset, bad ladder) is reported by grader.cli
            path = args.ladder or recorded_ladder(args.baselines)
            where = (f"solutions/baselines/{path.name}" if path.parent == RECORDED_LADDERS else str(path))
            baselines, src, warnings = thresholds_from_ladder(read_ladder(path), where)
            text = set_thresholds(text, baselines, src)
        args.folder.mkdir(parents=True, exist_ok=True)
        comp.write_text(text, encoding="utf-8")
        roster.write_text(EXAMPLE_ROSTER, encoding="utf-8")
        print(f"wrote {comp} (every key, with its meaning) and {roster} (example students: replace them)")
        cfg = load_competition(comp)
        if cfg.baselines_source:
            print(f"baseline thresholds from {cfg.baselines_source.source}: " + ", ".join(
                f"{b.name} {b.public:.4f}/{b.private:.4f}" for b in cfg.baselines.values()) + " (public/private)")
        for w in warnings + answer_key_problems(cfg) + threshold_problems(cfg):
            print(f"warning: {w}")
        print("next: set closes_at and public_url, put the answer key where `answers` says"
              + ("" if cfg.baselines_source else ", set the baseline thresholds (above)") + ", then")
        print(f"  python -m grader serve --competition {comp} --roster {roster}")
        return EXIT_OK


class TokensCommand:
    """Import a roster and write the new students' tokens, give students new tokens (--reissue), or make the login
    links again for another address (--links).

    Tokens are stored hashed, so the tokens CSVs written at import and reissue are the only copies in clear:
    ``--links`` reads them (``--from``, default every ``tokens*.csv`` beside the competition file), keeps each
    token that still logs its student in, and prints the links with the current ``public_url`` (or
    ``--public-url``) or writes them for a mail merge (``--csv``). A student with no current token there needs
    ``--reissue``."""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        _competition_options(parser)
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--roster", type=Path, help="import this roster CSV (id,name,email,lms_id,nickname)")
        what.add_argument("--reissue", nargs="+", metavar="ID",
                          help="roster ids whose tokens are replaced (the old ones stop working at once)")
        what.add_argument("--links", action="store_true",
                          help="the current login links again, from the tokens CSVs (--from), for the address "
                               "in public_url or --public-url")
        parser.add_argument("--out", type=Path, default=None,
                            help="tokens CSV to write, mode 0600 (default: tokens.csv next to the competition "
                                 "file; an existing file is never overwritten)")
        parser.add_argument("--public-url", default=None,
                            help="address in the login links (default: the config's public_url)")
        parser.add_argument("--from", dest="sources", nargs="+", type=Path, default=None, metavar="FILE",
                            help="with --links: tokens CSVs to read (default: every tokens*.csv beside the "
                                 "competition file)")
        parser.add_argument("--csv", type=Path, default=None, metavar="FILE",
                            help="with --links: write id,name,email,lms_id,login_url for a mail merge (mode 0600; "
                                 "an existing file is never overwritten) instead of printing the links")

    @staticmethod
    def run(args) -> int:
        from grader.leaderboard.roster import RosterError, import_roster, issued_csv, reissue, write_tokens_file
        from grader.leaderboard.store import Store, StoreError
        if (args.sources or args.csv) and not args.links:
            return _fail("--from and --csv go with --links", EXIT_USAGE)
        cfg = _config(args)     # a ConfigError is reported by grader.cli (exit code 1)
        if args.links:
            return _links(args, cfg)
        base = cfg.public_url or "http://127.0.0.1:8000"
        if not cfg.public_url:
            print("note: no public_url set: login links point to http://127.0.0.1:8000 (set public_url in the "
                  "competition file or pass --public-url)")
        out = args.out or args.competition.resolve().parent / "tokens.csv"
        try:
            with Store(cfg.database_url) as store:
                if args.roster:
                    result = import_roster(store, args.roster.read_bytes(), base, tokens_path=out)
                    for note in result.notes:
                        print(f"note: {note}")
                    where = f"tokens in {result.tokens_path} (mode 0600)" if result.tokens_path else "no new tokens"
                    print(f"roster: {len(result.issued)} new student(s), {where}; {len(result.skipped)} already "
                          f"known ({len(result.updated)} updated)")
                else:
                    issued = reissue(store, args.reissue)
                    path = write_tokens_file(issued_csv(issued, base), out)
                    print(f"new tokens for {len(issued)} student(s) in {path} (mode 0600); their old tokens and "
                          "login links no longer work")
        except (RosterError, StoreError, OSError) as e:
            return _fail(str(e))
        return EXIT_OK


def current_tokens(store, files: list[Path]) -> tuple[dict[str, tuple[object, str]], int]:
    """``{login: (student, token)}`` for each token in the tokens CSVs ``files`` that still logs its student in,
    and the number of tokens found that no longer do (replaced by a reissue). Raises ``GraderError`` for a file
    that is not a tokens CSV."""
    import csv

    from grader.leaderboard.store import hash_token
    found, stale = {}, 0
    for path in files:
        try:
            with open(path, newline="", encoding="utf-8") as f:
                rows = csv.DictReader(f)
                if "token" not in (rows.fieldnames or []):
                    raise GraderError(f"{path}: line 1: no token column (not a tokens CSV written by `tokens` "
                                      "or `serve --roster`)")
                for row in rows:
                    student = store.accounts.by_token_hash(hash_token(row["token"] or ""))
                    if student is None:
                        stale += 1
                    else:
                        found[student.login] = (student, row["token"])
        except UnicodeDecodeError as e:
            raise GraderError(f"{path}: not a UTF-8 CSV ({e.reason})") from None
    return found, stale


def _links(args, cfg) -> int:
    import csv
    import io

    from grader.leaderboard.display import csv_row
    from grader.leaderboard.roster import login_url, write_tokens_file
    from grader.leaderboard.store import Store, StoreError
    if not cfg.public_url:
        return _fail("--links needs the address students use: set public_url in the competition file or pass "
                     "--public-url")
    files = args.sources or sorted(args.competition.resolve().parent.glob("tokens*.csv"))
    if not files:
        return _fail(f"no tokens*.csv beside {args.competition}; name the tokens files with --from")
    try:
        with Store(cfg.database_url) as store:
            found, stale = current_tokens(store, files)
            students = store.accounts.all()
    except (StoreError, OSError, GraderError) as e:
        return _fail(str(e))
    missing = [st.login for st in students if st.login not in found]
    current = [found[st.login] for st in students if st.login in found]
    if args.csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["id", "name", "email", "lms_id", "login_url"])
        for st, token in current:
            w.writerow(csv_row([st.login, st.name, st.email, st.lms_id]) + [login_url(cfg.public_url, token)])
        try:
            path = write_tokens_file(buf.getvalue(), args.csv)
        except OSError as e:
            return _fail(str(e))
        print(f"login links for {len(current)} student(s) at {cfg.public_url} in {path} (mode 0600)")
    else:
        for st, token in current:
            print(f"{st.login}\t{login_url(cfg.public_url, token)}")
    print(f"read {len(files)} tokens file(s): {len(current)} current token(s)"
          + (f", {stale} replaced since" if stale else ""), file=sys.stderr)
    if missing:
        print(f"note: no current token for {len(missing)} student(s) in those files ({', '.join(missing[:10])}"
              f"{', ...' if len(missing) > 10 else ''}): `--reissue ID ...` gives them new ones", file=sys.stderr)
    return EXIT_OK


class BackupCommand:
    """Copy the leaderboard database (students, submissions, overrides) into a new SQLite file, mode 0600."""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        _competition_options(parser)
        parser.add_argument("--out", type=Path, required=True, help="backup file to create (SQLite, mode 0600)")

    @staticmethod
    def run(args) -> int:
        from common.files import make_private
        from grader.leaderboard.store import Store, StoreError, remove_sqlite
        cfg = _config(args)     # a ConfigError is reported by grader.cli (exit code 1)
        out = args.out.resolve()
        if out.exists():
            return _fail(f"{out} already exists; choose a new name (a backup never overwrites)")
        try:
            with Store(cfg.database_url) as src:
                out.parent.mkdir(parents=True, exist_ok=True)
                make_private(out)
                try:
                    with Store(f"sqlite:///{out}") as dst:
                        counts = src.backup.copy_into(dst)
                        problems = dst.backup.integrity_problems()
                except BaseException:
                    remove_sqlite(out)
                    raise
        except (StoreError, OSError, GraderError) as e:
            return _fail(str(e))
        if problems:
            return _fail(f"the backup in {out} failed its integrity check: {problems[:3]}")
        print(f"backup: {counts['students']} students, {counts['submissions']} submissions, "
              f"{counts['overrides']} overrides → {out} (mode 0600, integrity checked)")
        return EXIT_OK


class RestoreCommand:
    """Copy a backup made by `backup` into the competition's (empty) database: SQLite or PostgreSQL."""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("backup", type=Path, help="a file written by `python -m grader backup`")
        _competition_options(parser)

    @staticmethod
    def run(args) -> int:
        from sqlalchemy.exc import SQLAlchemyError

        from grader.leaderboard.store import Store, StoreError
        cfg = _config(args)     # a ConfigError is reported by grader.cli (exit code 1)
        if not args.backup.is_file():
            return _fail(f"{args.backup}: backup file not found")
        try:
            with Store(f"sqlite:///{args.backup.resolve()}", create=False) as src, Store(cfg.database_url) as dst:
                counts = src.backup.copy_into(dst)
                problems = dst.backup.integrity_problems()
        except (StoreError, OSError, GraderError) as e:
            return _fail(str(e))
        except SQLAlchemyError as e:   # not a backup file (no such table, not a database)
            return _fail(f"{args.backup}: not a leaderboard backup ({type(e).__name__}: {str(e).splitlines()[0]})")
        if problems:
            return _fail(f"restored, but the database failed its integrity check: {problems[:3]}")
        print(f"restored {counts['students']} students, {counts['submissions']} submissions, "
              f"{counts['overrides']} overrides into the competition's database")
        return EXIT_OK
