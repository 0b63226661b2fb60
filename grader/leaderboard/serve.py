"""Serve the leaderboard web app for a competition (uvicorn; SQLite by default, PostgreSQL by URL)."""
from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

HELP = "Serve the leaderboard web app for a competition."
ENV_COMPETITION = "LEADERBOARD_COMPETITION"
ENV_ADMIN = "LEADERBOARD_ADMIN_TOKEN"
ENV_DATABASE = "LEADERBOARD_DATABASE_URL"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--competition", required=True, type=Path, help="competition TOML file")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes (more than one needs PostgreSQL or a local SQLite file)")
    parser.add_argument("--database-url", default=None, help="override the config's database_url")
    parser.add_argument("--admin-token", default=None,
                        help=f"TA token (default: ${ENV_ADMIN}, else a new one is printed)")
    parser.add_argument("--roster", type=Path, default=None,
                        help="import this roster CSV (login,name[,email]) before serving")
    parser.add_argument("--tokens-out", type=Path, default=None,
                        help="where to write the new students' tokens and login links (default: tokens.csv "
                             "next to the roster)")
    parser.add_argument("--check", action="store_true", help="load everything, import the roster, then exit")


def build(competition: Path, database_url: str | None = None, admin_token: str | None = None):
    """(Leaderboard, FastAPI app) for a competition file; raises ConfigError / AnswerKeyError on bad config."""
    from grader.competition import load_competition
    from grader.leaderboard.app import create_app
    from grader.leaderboard.service import Leaderboard

    cfg = load_competition(competition)
    if database_url:
        cfg.database_url = database_url
    lb = Leaderboard(cfg, admin_token=admin_token)
    return lb, create_app(lb)


def app_from_env():
    """uvicorn factory for ``--workers N``: each worker process builds its own app from the environment."""
    return build(Path(os.environ[ENV_COMPETITION]), os.environ.get(ENV_DATABASE) or None,
                 os.environ.get(ENV_ADMIN))[1]


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from data_tools.answer_key import AnswerKeyError
    from grader.errors import ConfigError
    from grader.leaderboard.roster import RosterError, import_roster, issued_csv

    admin = args.admin_token or os.environ.get(ENV_ADMIN)
    if not admin:
        admin = secrets.token_urlsafe(24)
        print(f"admin token (not stored; pass --admin-token or ${ENV_ADMIN} to keep it): {admin}")
    try:
        lb, app = build(args.competition, args.database_url, admin)
        if args.roster:
            issued, skipped = import_roster(lb.store, args.roster.read_bytes())
            out = args.tokens_out or args.roster.with_name("tokens.csv")
            out.write_text(issued_csv(issued, f"http://{args.host}:{args.port}"), encoding="utf-8")
            print(f"roster: {len(issued)} new student(s), tokens in {out}; {len(skipped)} already known")
    except (ConfigError, AnswerKeyError, RosterError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{lb.cfg.title}: http://{args.host}:{args.port}/  (TA pages: /admin)")
    if args.check:
        lb.store.close()
        return 0
    if args.workers > 1:
        lb.store.close()
        os.environ.update({ENV_COMPETITION: str(args.competition.resolve()), ENV_ADMIN: admin,
                           ENV_DATABASE: args.database_url or ""})
        uvicorn.run("grader.leaderboard.serve:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level="warning")
    else:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
