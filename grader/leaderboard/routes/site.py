"""What every router shares: the :class:`Site` of one competition (the service, the templates, the cookie names,
the rate limits, and the helpers that render pages and read credentials) and the FastAPI dependencies that hand
routes the service, the site and the logged-in student."""
from __future__ import annotations

import asyncio
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Path as PathParam, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from grader.leaderboard import rules
from grader.leaderboard.display import clean
from grader.leaderboard.guard import RateLimits, client_address, parse_cookies, too_many
from grader.leaderboard.service import Leaderboard, SubmissionView
from grader.leaderboard.store import MAX_ID, Student

TEMPLATES = Path(__file__).parents[1] / "templates"
SubmissionId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="a submission id")]
Token = Annotated[str, Form(max_length=200)]


def utc(t: datetime | None) -> str:
    return "" if t is None else t.strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(t: datetime | None) -> str:
    return "" if t is None else t.isoformat().replace("+00:00", "Z")


def auc(x: float | None) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.5f}"


def no_file(file: UploadFile | None) -> bool:
    return file is None or (not file.filename and not file.size)


def upload_name(file: UploadFile) -> str:
    return clean(file.filename or "", 120) or "prediction.csv"


class Site:
    """The web side of one competition (``lb``): built once by ``create_app``, kept in ``app.state.site``."""

    def __init__(self, lb: Leaderboard):
        cfg = self.cfg = lb.cfg
        self.lb = lb
        self.public_url = cfg.public_url.rstrip("/")
        self.secure_cfg = self.public_url.startswith("https://")
        prefix = "__Host-" if self.secure_cfg else ""   # __Host-: no sibling subdomain can set or shadow these
        self.cookie, self.admin_cookie = prefix + "lb_token", prefix + "lb_admin"
        self.csrf_cookie = prefix + "csrftoken"
        self.rates = RateLimits({"login": cfg.rate_login, "upload": cfg.rate_upload, "pages": cfg.rate_pages})
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        self.templates.env.filters.update(utc=utc, iso=iso, auc=auc, clean=clean)
        # Validation and scoring are CPU-bound under the GIL: more than a few at once only interleave them (each
        # finishes later, none sooner) and pile up memory. Queued requests wait here, cheaply, instead.
        self.scoring_slots = asyncio.Semaphore(max(2, os.cpu_count() or 2))

    # ----------------------------------------------------------------------------------------- addresses
    def secure(self, request_or_scope) -> bool:
        scheme = request_or_scope.url.scheme if isinstance(request_or_scope, Request) else request_or_scope["scheme"]
        return self.secure_cfg or scheme == "https"

    def origin(self, scope, headers) -> str:
        return self.public_url or f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"

    def redirect(self, path: str, background=None) -> RedirectResponse:
        """A 303 to ``path``: absolute on the public URL when one is set (redirects behind a proxy), else
        root-relative."""
        return RedirectResponse(self.public_url + path if self.public_url else path, status_code=303,
                                background=background)

    # --------------------------------------------------------------------------------------- credentials
    def credentials(self, kind: str, headers: dict) -> str | None:
        """The bearer token (then nothing else is looked at), else the session cookie of ``kind``."""
        auth = headers.get("authorization")
        if auth is not None:
            return auth[7:].strip() if auth[:7].lower() == "bearer " else None
        jar = parse_cookies(headers.get("cookie", "").encode("latin-1").decode("utf-8", "replace"))
        return jar.get(self.cookie if kind == "student" else self.admin_cookie)

    def authenticate(self, kind: str, token: str | None):
        if kind == "student":
            return self.lb.authenticate(token)
        return "admin" if self.lb.is_admin(token) else None

    def visitor(self, request: Request) -> Student | None:
        """The logged-in student, on any page (the guard has already found them on pages that need one)."""
        if "student" in request.state._state:
            return request.state.student
        token = self.credentials("student", _headers(request))
        return self.lb.authenticate(token) if token else None

    def is_admin(self, request: Request) -> bool:
        if "admin" in request.state._state:
            return True
        return self.lb.is_admin(self.credentials("admin", _headers(request)))

    def set_cookie(self, resp: Response, request: Request, name: str, value: str, max_age: int,
                   samesite: str) -> None:
        resp.set_cookie(name, value, httponly=True, samesite=samesite, secure=self.secure(request), max_age=max_age,
                        path="/")

    def logged_out(self, request: Request, name: str, samesite: str) -> RedirectResponse:
        resp = self.redirect("/")
        resp.delete_cookie(name, path="/", secure=self.secure(request), httponly=True, samesite=samesite)
        return resp

    def login_failed(self, request: Request) -> None:
        """Count a wrong token tried from the request's address (call it after checking the token, so that a
        correct one is never refused for its address); raises 429 once the address was over the limit."""
        wait = self.rates.failure("login", client_address(request.scope))
        if wait is not None:
            raise HTTPException(429, too_many("login", wait), headers={"Retry-After": str(wait)})

    # -------------------------------------------------------------------------------------------- answers
    def render(self, request: Request, name: str, status: int = 200, headers: dict | None = None,
               **ctx) -> HTMLResponse:
        lb = self.lb
        student = ctx.get("student", None) if "student" in ctx else self.visitor(request)
        make_csrf = request.scope.get("csrftoken")
        ctx.update(cfg=self.cfg, now=lb.now(), closed=lb.closed(), is_open=self.cfg.is_open(lb.now()),
                   student=student, me_name=lb.public_name(student) if student else "",
                   admin=self.is_admin(request), csrf=make_csrf() if make_csrf else "",
                   title=ctx.get("title") or self.cfg.title)
        resp = self.templates.TemplateResponse(request, name, ctx, status_code=status)
        resp.headers.update(headers or {})
        return resp

    def not_found(self, request: Request, message: str) -> HTMLResponse:
        return self.render(request, "error.html", status=404, message=message, heading="Not found")

    def error_response(self, scope, status: int, message: str, api: bool, headers: dict) -> Response:
        """The guard's refusals: a redirect to a login page, JSON for the API and exports, else an error page."""
        if status == 303:
            return self.redirect(headers.get("location", "/login"))
        if api or scope["path"].startswith("/api/") or scope["path"].startswith("/admin/export/"):
            return JSONResponse({"error": message}, status_code=status, headers=headers)
        return self.render(Request(scope), "error.html", status=status, headers=headers, message=message,
                           student=None,
                           heading={400: "Bad request", 401: "Not logged in", 403: "Refused", 404: "Not found",
                                    413: "Too large", 415: "Wrong kind of data", 429: "Too many requests"}.get(
                                        status, "Error"))

    def rule_status(self, e: rules.RuleViolation) -> tuple[int, dict]:
        """A broken rule's HTTP status and headers: the daily limit 429 with Retry-After, a selection 409, else
        (not open) 403."""
        if isinstance(e, rules.LimitReached):
            return 429, {"Retry-After": str(max(1, int((e.resets_at - self.lb.now()).total_seconds())))}
        if isinstance(e, rules.SelectionError):
            return 409, {}
        return 403, {}

    async def submit(self, student: Student, filename: str, file: UploadFile) -> SubmissionView:
        """Validate, score and store an upload, at most ``scoring_slots`` at a time."""
        async with self.scoring_slots:
            data = await file.read()    # read only now: a waiting upload holds one copy of its file, not two
            return await run_in_threadpool(self.lb.submit, student, filename, data)


def _headers(request: Request) -> dict:
    return {k.lower(): v for k, v in request.headers.items()}


# ------------------------------------------------------------------------------------------------ dependencies
async def _site(request: Request) -> Site:
    return request.app.state.site


async def _service(request: Request) -> Leaderboard:
    return request.app.state.site.lb


async def _student(request: Request) -> Student:
    """The student the guard authenticated (routes declared with ``policy(auth="student")``)."""
    student = request.state._state.get("student")
    if student is None:
        raise HTTPException(401, "Log in first.")
    return student


SiteDep = Annotated[Site, Depends(_site)]
Service = Annotated[Leaderboard, Depends(_service)]
CurrentStudent = Annotated[Student, Depends(_student)]
