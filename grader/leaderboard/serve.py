"""Serve the leaderboard web app for a competition (uvicorn; SQLite by default, PostgreSQL by URL).

The TA's admin token comes from ``$LEADERBOARD_ADMIN_TOKEN`` or a 0600 file (``--admin-token-file``, default
``admin_token`` next to the competition file, created with a new token on first start), never from the command
line, where every user of the machine could read it in ``ps``. Behind a TLS reverse proxy, pass ``--public-url
https://...`` (or set ``public_url`` in the competition file): login links and redirects use it and cookies are
Secure; the proxy's ``X-Forwarded-For``/``X-Forwarded-Proto`` are trusted from ``--forwarded-allow-ips`` only.
See docs/deploy.md.
"""
from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
from pathlib import Path

HELP = "Serve the leaderboard web app for a competition."
ENV_COMPETITION = "LEADERBOARD_COMPETITION"
ENV_ADMIN = "LEADERBOARD_ADMIN_TOKEN"
ENV_DATABASE = "LEADERBOARD_DATABASE_URL"
ENV_PUBLIC_URL = "LEADERBOARD_PUBLIC_URL"
ADMIN_TOKEN_FILE = "admin_token"

#: Seconds a client has to send a request's head (from its first byte, or from connecting), then its body: 60 s lets
#: the largest upload (8 MiB) through at 140 KB/s; behind nginx the proxy sends each request whole, at once.
HEAD_TIMEOUT, BODY_TIMEOUT = 10.0, 60.0
#: Largest request head (request line and headers) in bytes; browsers send a few KiB.
MAX_HEAD_BYTES = 64 * 1024
#: Connections and requests one worker handles at once; uvicorn answers 503 beyond it. Each holds a file descriptor:
#: this keeps a worker well inside the usual limit of 1024 open files.
LIMIT_CONCURRENCY = 500
#: Seconds an idle kept-alive connection stays open between requests (uvicorn's default).
KEEP_ALIVE = 5


#: glibc ``mallopt`` parameters (malloc.h): buffers below 4 MB come from the heap, and up to 64 MB freed at its top
#: is kept for the next upload, in at most 4 arenas.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8


def tune_allocator() -> bool:
    """Let upload buffers be reused instead of mapped and unmapped on every upload. Returns False where the C
    library has no ``mallopt`` (not glibc); nothing changes there.

    An upload passes through a dozen buffers of about 0.5 MB (body, form part, text, parser, arrays). glibc maps
    each of them fresh and unmaps it when freed, so every upload paid ~1,000 page faults: 4-5 ms of kernel time,
    a quarter of the CPU floor (``benchmarks/leaderboard_load.py``). With these settings a served upload takes
    about 1 ms of kernel time. The price: up to 64 MB of freed memory per arena stays with the process.
    ``benchmarks/leaderboard_load.py`` measures the CPU floor with the same settings."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, 4 << 20), (_M_TRIM_THRESHOLD, 64 << 20), (_M_ARENA_MAX, 4)))


def freeze_startup_objects() -> None:
    """Take the objects built at start (routes, models, metadata, templates: some 120,000) out of the cyclic
    garbage collector's view. Each full collection walked them all; a profile of the server under load showed the
    collector at ~2.5% of its CPU. They live as long as the process anyway."""
    import gc

    gc.collect()
    gc.freeze()


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--competition", required=True, type=Path, help="competition TOML file")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes (more than one: PostgreSQL, or SQLite on a local disk)")
    parser.add_argument("--database-url", default=None, help="override the config's database_url")
    parser.add_argument("--public-url", default=None,
                        help="the address students use, e.g. https://hw8.example.edu (default: the config's "
                             "public_url, else http://HOST:PORT); https makes cookies Secure")
    parser.add_argument("--proxy-headers", action=argparse.BooleanOptionalAction, default=True,
                        help="take the client address and scheme from X-Forwarded-For/-Proto sent by a trusted "
                             "proxy (default: on)")
    parser.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                        help="comma-separated proxy addresses whose X-Forwarded-* headers are trusted "
                             "(default: 127.0.0.1)")
    parser.add_argument("--admin-token-file", type=Path, default=None,
                        help=f"file (mode 0600) holding the TA token; default: ${ENV_ADMIN}, else "
                             f"{ADMIN_TOKEN_FILE} next to the competition file (created if missing)")
    parser.add_argument("--admin-token", default=None, help=argparse.SUPPRESS)   # refused: see admin_token()
    parser.add_argument("--roster", type=Path, default=None,
                        help="import this roster CSV (id,name,email,lms_id,nickname) before serving")
    parser.add_argument("--tokens-out", type=Path, default=None,
                        help="where to write the new students' tokens and login links, mode 0600 (default: "
                             "tokens.csv next to the roster; an existing file is never overwritten)")
    parser.add_argument("--head-timeout", type=_positive(float), default=HEAD_TIMEOUT,
                        help=f"seconds a client has to send a request's headers (default: {HEAD_TIMEOUT:g})")
    parser.add_argument("--body-timeout", type=_positive(float), default=BODY_TIMEOUT,
                        help=f"seconds a client has to send a request's body after its headers (default: "
                             f"{BODY_TIMEOUT:g})")
    parser.add_argument("--limit-concurrency", type=_positive(int), default=LIMIT_CONCURRENCY,
                        help=f"connections and requests per worker at once; more get 503 (default: "
                             f"{LIMIT_CONCURRENCY})")
    parser.add_argument("--check", action="store_true",
                        help="load everything, import the roster, then exit (without listening)")


def admin_token(args, competition: Path) -> tuple[str, str]:
    """(token, where it came from). Raises ``ConfigError`` for a token on the command line or a readable file."""
    from grader.errors import ConfigError
    from common.files import write_private
    from grader.leaderboard.private_files import read_secret_file

    if getattr(args, "admin_token", None):
        raise ConfigError(f"--admin-token would show the TA token to every user of this machine (ps); put it in "
                          f"${ENV_ADMIN} or in a file readable only by you (--admin-token-file)")
    if args.admin_token_file:
        return read_secret_file(args.admin_token_file), str(args.admin_token_file)
    if os.environ.get(ENV_ADMIN):
        return os.environ[ENV_ADMIN], f"${ENV_ADMIN}"
    path = competition.resolve().parent / ADMIN_TOKEN_FILE
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32) + "\n")
        return read_secret_file(path), f"{path} (new)"
    return read_secret_file(path), str(path)


def build(competition: Path, database_url: str | None = None, admin_token: str | None = None,
          public_url: str | None = None):
    """(Leaderboard, ASGI app) for a competition file; raises ConfigError / AnswerKeyError on bad config."""
    from grader.competition import check_public_url, load_competition
    from grader.leaderboard.app import create_app
    from grader.leaderboard.service import Leaderboard

    cfg = load_competition(competition)
    if database_url:
        cfg.database_url = database_url
    if public_url:
        cfg.public_url = check_public_url(public_url)
    lb = Leaderboard(cfg, admin_token=admin_token)
    return lb, create_app(lb)


def app_from_env():
    """uvicorn factory for ``--workers N``: each worker process builds its own app from the environment."""
    tune_allocator()
    app = build(Path(os.environ[ENV_COMPETITION]), os.environ.get(ENV_DATABASE) or None,
                os.environ.get(ENV_ADMIN), os.environ.get(ENV_PUBLIC_URL) or None)[1]
    freeze_startup_objects()
    return app


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (port 0: any free port), ready to hand to uvicorn and its workers;
    raises ``OSError`` when the address is taken or not this machine's."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    # as uvicorn does: a restarted server may take over a port whose old connections are still in TIME_WAIT
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def server_config(app, args: argparse.Namespace):
    """The ``uvicorn.Config`` for ``app`` (an ASGI app, or the factory's import string with ``--workers N``)."""
    import functools

    import uvicorn

    from grader.leaderboard.timeouts import BoundedReads
    http = functools.partial(BoundedReads, head_timeout=args.head_timeout, body_timeout=args.body_timeout,
                             max_head_bytes=MAX_HEAD_BYTES)
    return uvicorn.Config(app, factory=isinstance(app, str), workers=args.workers, http=http,
                          limit_concurrency=args.limit_concurrency, timeout_keep_alive=KEEP_ALIVE,
                          h11_max_incomplete_event_size=MAX_HEAD_BYTES, log_level="warning",
                          proxy_headers=args.proxy_headers, forwarded_allow_ips=args.forwarded_allow_ips,
                          server_header=False)


def run(args: argparse.Namespace) -> int:
    from common.answer_key import AnswerKeyError
    from grader.competition import answer_key_problems, threshold_problems
    from grader.errors import ConfigError
    from grader.leaderboard.roster import RosterError
    from grader.leaderboard.store import StoreError

    tune_allocator()
    sock = None
    try:
        if not args.check:
            try:
                sock = listen(args.host, args.port)
            except OSError as e:
                raise ConfigError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e} (another program "
                                  "on that port? choose another --port); nothing was written") from None
        admin, where = admin_token(args, args.competition)
        lb, app = build(args.competition, args.database_url, admin, args.public_url or None)
        port = sock.getsockname()[1] if sock else args.port
        public = lb.cfg.public_url or f"http://{f'[{args.host}]' if ':' in args.host else args.host}:{port}"
        if lb.store.mode_fixed:
            print("note: the database file was readable by other users; it is now mode 0600")
        if args.roster:
            out = args.tokens_out or args.roster.with_name("tokens.csv")
            result = lb.import_roster(args.roster.read_bytes(), public, tokens_path=out)
            for note in result.notes:
                print(f"note: {note}")
            where_tokens = f"tokens in {result.tokens_path} (mode 0600)" if result.tokens_path else "no new tokens"
            print(f"roster: {len(result.issued)} new student(s), {where_tokens}; {len(result.skipped)} already "
                  f"known ({len(result.updated)} updated)")
    except (ConfigError, AnswerKeyError, RosterError, StoreError, OSError) as e:
        if sock is not None:
            sock.close()
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{lb.cfg.title}: {public}/  (TA pages: {public}/admin; admin token from {where})")
    for problem in answer_key_problems(lb.cfg) + threshold_problems(lb.cfg):
        print(f"warning: {problem}")
    if args.check:
        lb.store.close()
        return 0
    return _serve(lb, app, args, sock, admin)


def _serve(lb, app, args: argparse.Namespace, sock: socket.socket, admin: str) -> int:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if args.workers > 1:
        lb.store.close()
        os.environ.update({ENV_COMPETITION: str(args.competition.resolve()), ENV_ADMIN: admin,
                           ENV_DATABASE: args.database_url or "", ENV_PUBLIC_URL: lb.cfg.public_url})
        Multiprocess(server_config("grader.leaderboard.serve:app_from_env", args), sockets=[sock]).run()
        return 0
    freeze_startup_objects()
    server = uvicorn.Server(server_config(app, args))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    return 0 if server.started else 1
