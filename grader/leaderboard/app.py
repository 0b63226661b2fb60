"""FastAPI app: server-rendered pages for students and the TA, and a small JSON API (schema at /api/openapi.json).

Domain errors become HTTP statuses only here: invalid file 422, daily limit 429 (with Retry-After), not open yet
403, bad selection 409, someone else's (or no) submission 404, private board before close 403, no or bad token
401 (API) / a redirect to the login form (pages), bad input 400, too large 413, wrong content type 415, too many
requests 429. Nothing a client sends is answered with a 500: a schemathesis run over every route checks it.

A student is identified by ``Authorization: Bearer <token>`` (then nothing else is looked at) or by the session
cookie set by the login form; the TA likewise by the admin token. Login links show a confirmation page whose button
POSTs the token: a link opened by another site's page logs nobody in.

In front of the routes, :class:`~.guard.Guard` decides everything it can before reading the body (limits,
Origin/Sec-Fetch-Site, authentication, rate limits), reads the body within the route's limit, checks the CSRF
token (signed double-submit, in every form), and adds the security headers.
"""
from __future__ import annotations

import asyncio
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, File, Form, Path as PathParam, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from grader.errors import SubmissionError
from grader.leaderboard import rules
from grader.leaderboard.display import clean
from grader.leaderboard.guard import KB, MB, Guard, RateLimits, policy
from grader.leaderboard.roster import RosterError, issued_csv
from grader.leaderboard.service import Leaderboard, NotFound, NotRevealed, SubmissionView
from grader.leaderboard.store import MAX_ID, Student, StoreError

HERE = Path(__file__).parent
TEMPLATES, STATIC = HERE / "templates", HERE / "static"
SubmissionId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="a submission id")]
Token = Annotated[str, Form(max_length=200)]


class SelectionBody(BaseModel):
    """``{"ids": [submission ids]}``: the student's final selection (may be empty)."""
    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]] = Field(max_length=100)


def _utc(t: datetime | None) -> str:
    return "" if t is None else t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(t: datetime | None) -> str:
    return "" if t is None else t.isoformat().replace("+00:00", "Z")


def _auc(x: float | None) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.5f}"


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


def create_app(lb: Leaderboard):
    """The web app for one competition (``lb`` holds config, answer key, store and clock). Returns an ASGI app;
    the FastAPI object is its ``.fastapi``."""
    cfg = lb.cfg
    public_url = cfg.public_url.rstrip("/")
    secure_cfg = public_url.startswith("https://")
    prefix = "__Host-" if secure_cfg else ""   # __Host-: no sibling subdomain can set or shadow these cookies
    cookie, admin_cookie, csrf_cookie = prefix + "lb_token", prefix + "lb_admin", prefix + "csrftoken"
    rates = RateLimits({"login": cfg.rate_login, "upload": cfg.rate_upload, "pages": cfg.rate_pages})

    app = FastAPI(title=cfg.title, docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
                  summary="Leaderboard API: upload a prediction CSV with a bearer token, read your scores and the "
                          "public board.")
    app.state.lb = lb
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters.update(utc=_utc, iso=_iso, auc=_auc, clean=clean)

    # ------------------------------------------------------------------------------------------------ helpers
    def secure(request_or_scope) -> bool:
        scheme = request_or_scope.url.scheme if isinstance(request_or_scope, Request) else request_or_scope["scheme"]
        return secure_cfg or scheme == "https"

    def origin(scope, headers) -> str:
        return public_url or f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"

    def url(path: str) -> str:
        """Absolute on the public URL when one is set (redirects behind a proxy), else root-relative."""
        return public_url + path if public_url else path

    def redirect(path: str, background=None) -> RedirectResponse:
        return RedirectResponse(url(path), status_code=303, background=background)

    def credentials(kind: str, headers: dict) -> str | None:
        auth = headers.get("authorization")
        if auth is not None:
            return auth[7:].strip() if auth[:7].lower() == "bearer " else None
        from http.cookies import SimpleCookie
        jar = SimpleCookie()
        jar.load(headers.get("cookie", "").encode("latin-1").decode("utf-8", "replace"))
        name = cookie if kind == "student" else admin_cookie
        return jar[name].value if name in jar else None

    def authenticate(kind: str, token: str | None):
        if kind == "student":
            return lb.authenticate(token)
        return "admin" if lb.is_admin(token) else None

    def headers_of(request: Request) -> dict:
        return {k.lower(): v for k, v in request.headers.items()}

    def current_student(request: Request) -> Student | None:
        if "student" in request.state._state:
            return request.state.student
        token = credentials("student", headers_of(request))
        return lb.authenticate(token) if token else None

    def is_admin(request: Request) -> bool:
        if "admin" in request.state._state:
            return True
        return lb.is_admin(credentials("admin", headers_of(request)))

    def csrf_token(request: Request) -> str:
        make = request.scope.get("csrftoken")
        return make() if make else ""

    def render(request: Request, name: str, status: int = 200, headers: dict | None = None, **ctx) -> HTMLResponse:
        student = ctx.get("student", None) if "student" in ctx else current_student(request)
        ctx.update(cfg=cfg, now=lb.now(), closed=lb.closed(), is_open=cfg.is_open(lb.now()), student=student,
                   me_name=lb.public_name(student) if student else "", admin=is_admin(request),
                   csrf=csrf_token(request), title=ctx.get("title") or cfg.title)
        resp = templates.TemplateResponse(request, name, ctx, status_code=status)
        resp.headers.update(headers or {})
        return resp

    def error_response(scope, status: int, message: str, api: bool, headers: dict) -> Response:
        if status == 303:
            return redirect(headers.get("location", "/login"))
        if api or scope["path"].startswith("/api/") or scope["path"].startswith("/admin/export/"):
            return JSONResponse({"error": message}, status_code=status, headers=headers)
        request = Request(scope)
        return render(request, "error.html", status=status, headers=headers, message=message, student=None,
                      heading={400: "Bad request", 401: "Not logged in", 403: "Refused", 404: "Not found",
                               413: "Too large", 415: "Wrong kind of data", 429: "Too many requests"}.get(
                                   status, "Error"))

    def api_error(status: int, message: str, headers: dict | None = None, **extra) -> JSONResponse:
        return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)

    def sub_json(v: SubmissionView) -> dict:
        d = {"id": v.id, "submitted_at": _iso(v.submitted_at), "filename": v.filename, "public": v.public,
             "selected": v.selected, "counts": v.counts, "late": v.late}
        if v.private is not None:  # the key is absent, not null, before it may be shown: nothing to search for
            d["private"] = v.private
        return d

    def rule_status(e: rules.RuleViolation) -> tuple[int, dict]:
        if isinstance(e, rules.LimitReached):
            return 429, {"Retry-After": str(max(1, int((e.resets_at - lb.now()).total_seconds())))}
        if isinstance(e, rules.SelectionError):
            return 409, {}
        return 403, {}

    def login_failed(request: Request) -> None:
        rates.hit("login", (request.client.host if request.client else "unknown"))

    def set_cookie(resp: Response, request: Request, name: str, value: str, max_age: int, samesite: str) -> None:
        resp.set_cookie(name, value, httponly=True, samesite=samesite, secure=secure(request), max_age=max_age,
                        path="/")

    # Validation and scoring are CPU-bound under the GIL: more than a few at once only interleave them (each
    # finishes later, none sooner) and pile up memory. Queued requests wait here, cheaply, instead.
    scoring_slots = asyncio.Semaphore(max(2, os.cpu_count() or 2))

    async def submit(student: Student, filename: str, data: bytes) -> SubmissionView:
        async with scoring_slots:
            return await run_in_threadpool(lb.submit, student, filename, data)

    def no_file(file: UploadFile | None) -> bool:
        return file is None or (not file.filename and not file.size)

    # ------------------------------------------------------------------------------------------ error handlers
    @app.exception_handler(RequestValidationError)
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
            return api_error(status, message)
        return await run_in_threadpool(render, request, "error.html", status, None, message=message,
                                       heading="Not found" if status == 404 else "Bad request")

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException):
        message = {404: "There is no page at this address.", 405: "This address does not take that method."}.get(
            exc.status_code, str(exc.detail))
        if request.url.path.startswith("/api/"):
            return api_error(exc.status_code, message, headers=getattr(exc, "headers", None))
        return await run_in_threadpool(render, request, "error.html", exc.status_code,
                                       getattr(exc, "headers", None), message=message, heading="Not found"
                                       if exc.status_code == 404 else "Error")

    # ------------------------------------------------------------------------------------------------ pages
    @app.get("/", response_class=HTMLResponse)
    def board_page(request: Request):
        split = "private" if lb.closed() else "public"
        rows = lb.board(split)
        public_rows = lb.board("public") if split == "private" else rows
        try:
            late_rows = lb.board("late")
        except NotRevealed:
            late_rows = None
        return render(request, "board.html", split=split, rows=rows, public_rows=public_rows, late_rows=late_rows,
                      pending=len(lb.extensions_running()) if split == "private" else 0)

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request):
        return render(request, "login.html", error=None, token="", confirm=None)

    @app.get("/login/{token}", response_class=HTMLResponse)
    @policy(rate="login")
    def login_link(request: Request, token: Annotated[str, PathParam(max_length=200)]):
        student = lb.authenticate(token)
        if student is None:
            login_failed(request)
            return render(request, "login.html", status=404, token="", confirm=None,
                          error="This login link is not valid (a newer one may have replaced it). Ask your TA for "
                                "your current link, or paste your token below.")
        return render(request, "login.html", error=None, token=token, confirm=student,
                      confirm_name=lb.public_name(student))

    @app.post("/login", response_class=HTMLResponse)
    @policy(body=4 * KB, rate="login", content=("application/x-www-form-urlencoded", "multipart/form-data"))
    def login_post(request: Request, token: Token = ""):
        student = lb.authenticate(token.strip())
        if student is None:
            login_failed(request)
            return render(request, "login.html", status=401, token="", confirm=None,
                          error="Unknown token. Check the link your TA sent.")
        resp = redirect("/me")
        set_cookie(resp, request, cookie, token.strip(), 180 * 86400, "lax")
        return resp

    def logged_out(request: Request, name: str, samesite: str) -> RedirectResponse:
        resp = redirect("/")
        resp.delete_cookie(name, path="/", secure=secure(request), httponly=True, samesite=samesite)
        return resp

    @app.post("/logout")
    @policy(body=4 * KB)
    def logout(request: Request):
        return logged_out(request, cookie, "lax")

    def me_response(request: Request, student: Student, *, error: str | None = None, status: int = 200,
                    headers: dict | None = None, notice: str | None = None):
        return render(request, "me.html", status=status, headers=headers, page=lb.page(student), error=error,
                      student=student, notice=notice)

    @app.get("/me", response_class=HTMLResponse)
    @policy(auth="student")
    def me(request: Request):
        return me_response(request, request.state.student)

    @app.post("/submit", response_class=HTMLResponse)
    @policy(body=None, auth="student", content=("multipart/form-data",), rate="upload", parts=4)
    async def submit_page(request: Request, file: Annotated[UploadFile | None, File()] = None):
        student = request.state.student
        if no_file(file):
            return await run_in_threadpool(lambda: me_response(
                request, student, status=400, error="No file was chosen: choose your prediction CSV, then press "
                                                    "Upload. Nothing was scored or counted."))
        data = await file.read()
        name = clean(file.filename or "", 120) or "prediction.csv"
        try:
            v = await submit(student, name, data)
        except SubmissionError as e:
            message = f"{name}: {e} — not scored, not counted."
            return await run_in_threadpool(lambda: me_response(request, student, status=422, error=message))
        except rules.RuleViolation as e:
            (status, headers), message = rule_status(e), str(e)
            return await run_in_threadpool(lambda: me_response(request, student, status=status, error=message,
                                                               headers=headers))
        return redirect(f"/submissions/{v.id}", background=BackgroundTask(lb.ack, v.id))

    @app.post("/select", response_class=HTMLResponse)
    @policy(body=64 * KB, auth="student", content=("application/x-www-form-urlencoded", "multipart/form-data"))
    async def select_page(request: Request,
                          ids: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None, Form()] = None):
        student = request.state.student
        try:
            await run_in_threadpool(lb.select, student, list(ids or []))
        except rules.RuleViolation as e:
            status, message = rule_status(e)[0], str(e)
            return await run_in_threadpool(lambda: me_response(request, student, status=status, error=message))
        return redirect("/me")

    @app.get("/submissions/{sid}", response_class=HTMLResponse)
    @policy(auth="student", rate="pages")
    def submission_page(request: Request, sid: SubmissionId):
        student = request.state.student
        try:
            v = lb.view(student, sid)
            intervals = lb.intervals(student, sid)
        except NotFound as e:
            return render(request, "error.html", status=404, message=str(e), heading="Not found")
        return render(request, "submission.html", sub=v, intervals=intervals)

    @app.get("/submissions/{sid}/roc.png", response_class=Response,
             responses={200: {"content": {"image/png": {}}}})
    @policy(auth="student", rate="pages")
    def roc(request: Request, sid: SubmissionId):
        try:
            return Response(lb.roc_png(request.state.student, sid), media_type="image/png")
        except NotFound as e:
            return render(request, "error.html", status=404, message=str(e), heading="Not found")

    @app.get("/submissions/{sid}/download", response_class=Response,
             responses={200: {"content": {"text/csv": {}}}})
    @policy(auth="student", rate="pages")
    def download(request: Request, sid: SubmissionId):
        try:
            name, data = lb.download(request.state.student, sid)
        except NotFound as e:
            return render(request, "error.html", status=404, message=str(e), heading="Not found")
        safe = "".join(c for c in name if c.isascii() and (c.isalnum() or c in "._-")) or "prediction.csv"
        return Response(data, media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{sid}-{safe}"'})

    # ------------------------------------------------------------------------------------------------ admin
    @app.get("/admin/login", response_class=HTMLResponse)
    def admin_login_form(request: Request):
        return render(request, "admin_login.html", error=None)

    @app.post("/admin/login", response_class=HTMLResponse)
    @policy(body=4 * KB, rate="login", content=("application/x-www-form-urlencoded", "multipart/form-data"))
    def admin_login(request: Request, token: Token = ""):
        if not lb.is_admin(token.strip()):
            login_failed(request)
            return render(request, "admin_login.html", status=401, error="Wrong admin token.")
        resp = redirect("/admin")
        set_cookie(resp, request, admin_cookie, token.strip(), 7 * 86400, "strict")
        return resp

    @app.post("/admin/logout")
    @policy(body=4 * KB)
    def admin_logout(request: Request):
        return logged_out(request, admin_cookie, "strict")

    def admin_page(request: Request, *, error: str | None = None, status: int = 200):
        students = lb.store.students()
        counts: dict[int, int] = {}
        for s in lb.store.submissions():
            counts[s.student_id] = counts.get(s.student_id, 0) + 1
        names = {st.id: lb.public_name(st) for st in students}
        by_id = {st.id: st for st in students}
        return render(request, "admin.html", status=status, students=students, counts=counts, names=names,
                      by_id=by_id, signals=lb.signals(), overrides=lb.overrides(), error=error)

    @app.get("/admin", response_class=HTMLResponse)
    @policy(auth="admin")
    def admin(request: Request):
        return admin_page(request)

    @app.post("/admin/roster", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
    @policy(body=4 * MB, auth="admin", content=("multipart/form-data",), parts=4)
    async def admin_roster(request: Request, file: Annotated[UploadFile | None, File()] = None):
        if no_file(file):
            return await run_in_threadpool(admin_page, request, error="Choose a roster CSV to import.",
                                           status=400)
        data = await file.read()
        try:
            result = await run_in_threadpool(lb.import_roster, data)
        except (RosterError, StoreError) as e:
            return await run_in_threadpool(admin_page, request, error=str(e), status=422)
        return Response(result.csv_text, media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="tokens.csv"',
                                 "X-New-Students": str(len(result.issued)),
                                 "X-Skipped-Students": str(len(result.skipped)),
                                 "X-Updated-Students": str(len(result.updated))})

    def admin_student(student_id: int) -> Student | None:
        return lb.store.student(student_id)

    @app.post("/admin/students/{student_id}/override", response_class=HTMLResponse)
    @policy(body=4 * KB, auth="admin", content=("application/x-www-form-urlencoded", "multipart/form-data"))
    def admin_override(request: Request, student_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
                       by: Annotated[str, Form(min_length=1, max_length=64)],
                       deadline: Annotated[str, Form(max_length=32)] = "",
                       daily_limit: Annotated[str, Form(max_length=6)] = "",
                       note: Annotated[str, Form(max_length=256)] = ""):
        st = admin_student(student_id)
        if st is None:
            return admin_page(request, error=f"No student with number {student_id}.", status=404)
        try:
            new_deadline = None
            if deadline.strip():
                new_deadline = datetime.fromisoformat(deadline.strip().replace("Z", "+00:00"))
                if new_deadline.tzinfo is None:
                    new_deadline = new_deadline.replace(tzinfo=timezone.utc)
                new_deadline = new_deadline.astimezone(timezone.utc)
            new_limit = None
            if daily_limit.strip():
                new_limit = int(daily_limit.strip())
                if not 0 <= new_limit <= 10_000:
                    raise ValueError
        except ValueError:
            return admin_page(request, status=400, error=f"{st.login}: the deadline must be a UTC date and time "
                                                         "(2026-11-29T15:59) and the daily limit a whole number "
                                                         "from 0 to 10000, or empty for the competition's.")
        lb.set_override(st, deadline=new_deadline if new_deadline != st.deadline else "keep",
                        daily_limit=new_limit if new_limit != st.daily_limit else "keep",
                        by=clean(by, 64) or "TA", note=clean(note, 256))
        return redirect("/admin#students")

    @app.post("/admin/students/{student_id}/reissue", response_class=Response,
              responses={200: {"content": {"text/csv": {}}}})
    @policy(body=4 * KB, auth="admin")
    def admin_reissue(request: Request, student_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]):
        st = admin_student(student_id)
        if st is None:
            return admin_page(request, error=f"No student with number {student_id}.", status=404)
        text = issued_csv(lb.reissue([st.login]), public_url or str(request.base_url).rstrip("/"))
        return Response(text, media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="token-reissued.csv"'})

    @app.get("/admin/export/leaderboard.csv", response_class=Response,
             responses={200: {"content": {"text/csv": {}}}})
    @policy(auth="admin", api=True)
    def export_board(request: Request):
        return Response(lb.export_leaderboard_csv(), media_type="text/csv")

    @app.get("/admin/export/baselines.csv", response_class=Response,
             responses={200: {"content": {"text/csv": {}}}})
    @policy(auth="admin", api=True)
    def export_baselines(request: Request):
        return Response(lb.export_baselines_csv(), media_type="text/csv")

    # -------------------------------------------------------------------------------------------------- API
    @app.get("/api/board")
    def api_board(split: Annotated[Literal["public", "private", "late"], Query()] = "public"):
        try:
            rows = lb.board(split)
        except NotRevealed as e:
            return api_error(403, str(e))
        out = []
        for r in rows:
            d = {"rank": r.rank, "name": r.name, "score": r.score, "baseline": r.baseline,
                 "submitted_at": _iso(r.submitted_at), "last_scored": _iso(r.last_at), "submissions": r.n_submissions}
            if split == "late":
                d["public"] = r.public
            out.append(d)
        return {"split": split, "closed": lb.closed(), "rows": out}

    @app.get("/api/me")
    @policy(auth="student", api=True)
    def api_me(request: Request):
        student = request.state.student
        p = lb.page(student)
        d = {"login": student.login, "name": student.name, "public_name": lb.public_name(student),
             "used_today": p.used_today, "left_today": p.left_today, "daily_limit": p.daily_limit,
             "resets_at": _iso(p.resets_at), "deadline": _iso(p.deadline), "closed": p.closed,
             "best_public": p.best_public, "last_scored": _iso(p.last_scored),
             "submissions": [sub_json(v) for v in p.submissions],
             "unconfirmed": [{"id": s.id, "submitted_at": _iso(s.submitted_at), "filename": s.filename}
                             for s in p.unconfirmed]}
        if p.final_private is not None:
            d["final_private"] = p.final_private
        return d

    @app.post("/api/submissions", status_code=201)
    @policy(body=None, auth="student", api=True, content=("multipart/form-data",), rate="upload", parts=4)
    async def api_submit(request: Request, file: Annotated[UploadFile | None, File()] = None):
        student = request.state.student
        if no_file(file):
            return api_error(400, "no file: send the prediction CSV as the multipart form field 'file'")
        data = await file.read()
        try:
            v = await submit(student, clean(file.filename or "", 120) or "prediction.csv", data)
        except SubmissionError as e:
            return JSONResponse({"error": str(e), **e.to_dict()}, status_code=422)
        except rules.RuleViolation as e:
            status, headers = rule_status(e)
            return api_error(status, str(e), headers)
        body = {**sub_json(v), "used_today": v.used_today, "left_today": v.left_today}
        return JSONResponse(body, status_code=201, background=BackgroundTask(lb.ack, v.id))

    @app.get("/api/submissions/{sid}")
    @policy(auth="student", api=True, rate="pages")
    def api_submission(request: Request, sid: SubmissionId):
        student = request.state.student
        try:
            v = lb.view(student, sid)
            iv = lb.intervals(student, sid)
        except NotFound as e:
            return api_error(404, str(e))
        d = sub_json(v)
        if iv is not None:
            d["intervals"] = {k: list(x) for k, x in iv.items()}
        return d

    @app.post("/api/selection")
    @policy(body=4 * KB, auth="student", api=True, content=("application/json",), json_depth=3)
    async def api_select(request: Request, body: SelectionBody):
        student = request.state.student
        try:
            chosen = await run_in_threadpool(lb.select, student, list(body.ids))
        except rules.RuleViolation as e:
            return api_error(rule_status(e)[0], str(e))
        return {"selected": chosen}

    guard = Guard(app, app, authenticate=authenticate, credentials=credentials, error=error_response,
                  login_page={"student": "/login", "admin": "/admin/login"}, origin=origin,
                  upload_limit=cfg.max_upload_bytes, rates=rates, secure=secure_cfg, csrf_secret=lb.secret,
                  csrf_cookie=csrf_cookie)
    guard.fastapi = app
    guard.state = app.state
    return guard
