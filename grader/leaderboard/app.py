"""FastAPI app: server-rendered pages for students and the TA, and a small JSON API (schema at /api/openapi.json).
The routes are in :mod:`.routes` (pages, admin, API); this module puts them together.

Domain errors become HTTP statuses only at this edge: invalid file 422, daily limit 429 (with Retry-After), not
open yet 403, bad selection 409, someone else's (or no) submission 404, private board before close 403, no or bad
token 401 (API) / a redirect to the login form (pages), bad input 400, too large 413, wrong content type 415, too
many requests 429. Nothing a client sends is answered with a 500: a schemathesis run over every route checks it.

A student is identified by ``Authorization: Bearer <token>`` (then nothing else is looked at) or by the session
cookie set by the login form; the TA likewise by the admin token. Login links show a confirmation page whose button
POSTs the token: a link opened by another site's page logs nobody in.

In front of the routes, :class:`~.guard.Guard` decides everything it can before reading the body (limits,
Origin/Sec-Fetch-Site, authentication, rate limits), reads the body within the route's limit, checks the CSRF
token (signed double-submit, in every form), and adds the security headers.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from grader.leaderboard.guard import Guard
from grader.leaderboard.routes import admin, api, pages
from grader.leaderboard.routes.site import Site
from grader.leaderboard.service import Leaderboard

STATIC = Path(__file__).parent / "static"


def _describe(errors) -> str:
    """A validation error list in words: ``query parameter 'split': Input should be 'public' or 'private'``."""
    out = []
    for e in errors[:3]:
        loc = [str(x) for x in e.get("loc", ())]
        kind = {"query": "query parameter", "path": "address part", "body": "field", "header": "header",
                "cookie": "cookie"}.get(loc[0] if loc else "", "value")
        name = ".".join(loc[1:]) or "body"
        out.append(f"{kind} '{name}': {e.get('msg', 'invalid')}")
    return "; ".join(out) or "invalid request"


async def on_invalid(request: Request, exc: RequestValidationError):
    errors = exc.errors()
    if any(e.get("loc", ("",))[0] == "path" for e in errors) and "/submissions/" in request.url.path:
        message = "No such submission among yours."
        status = 404
    else:
        message, status = _describe(errors), 400
    if request.url.path.startswith("/api/"):
        if request.url.path == "/api/selection" and status == 400:
            message = f'body must be JSON {{"ids": [submission ids]}} ({message})'
        return api.api_error(status, message)
    return await run_in_threadpool(request.app.state.site.render, request, "error.html", status, None,
                                   message=message, heading="Not found" if status == 404 else "Bad request")


async def on_http(request: Request, exc: StarletteHTTPException):
    message = {404: "There is no page at this address.", 405: "This address does not take that method."}.get(
        exc.status_code, str(exc.detail))
    headers = getattr(exc, "headers", None)
    if request.url.path.startswith("/api/"):
        return api.api_error(exc.status_code, message, headers=headers)
    return await run_in_threadpool(request.app.state.site.render, request, "error.html", exc.status_code, headers,
                                   message=message, heading="Not found" if exc.status_code == 404 else "Error")


def create_app(lb: Leaderboard) -> Guard:
    """The web app for one competition (``lb`` holds config, answer key, store and clock). Returns an ASGI app;
    the FastAPI object is its ``.fastapi``."""
    site = Site(lb)
    # The routers' routes go into the app's own route list, not through ``include_router``: the guard reads a
    # request's policy from the endpoint of the route it matches in ``app.router.routes`` before the app runs, and
    # FastAPI 0.165 includes a router there as one lazy entry, without its endpoints. (So the routes keep their
    # router's settings: ``app.dependency_overrides`` does not reach them.)
    routes = [Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
              *pages.router.routes, *admin.router.routes, *api.router.routes]
    app = FastAPI(title=lb.cfg.title, docs_url=None, redoc_url=None, openapi_url="/api/openapi.json", routes=routes,
                  summary="Leaderboard API: upload a prediction CSV with a bearer token, read your scores and the "
                          "public board.")
    app.state.site = site
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(StarletteHTTPException, on_http)
    guard = Guard(app, app, authenticate=site.authenticate, credentials=site.credentials, error=site.error_response,
                  login_page={"student": "/login", "admin": "/admin/login"}, origin=site.origin,
                  upload_limit=lb.cfg.max_upload_bytes, rates=site.rates, secure=site.secure_cfg,
                  csrf_secret=lb.secret, csrf_cookie=site.csrf_cookie,
                  session_cookies=(site.cookie, site.admin_cookie))
    guard.fastapi = app
    return guard
