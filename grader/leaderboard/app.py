"""FastAPI app: server-rendered pages for students and the TA, and a small JSON API.

Domain errors become HTTP statuses only here: invalid file 422, daily limit 429 (with Retry-After), closed or not yet
open 403, bad selection 409, someone else's (or no) submission 404, private board before close 403, no or bad token
401 (API) / redirect to the login form (pages). A student is identified by a cookie holding the token (set by the
login link or form) or by ``Authorization: Bearer <token>``; the TA by an admin token.
"""
from __future__ import annotations

import asyncio
import math
import os
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from grader.errors import SubmissionError
from grader.leaderboard import rules
from grader.leaderboard.roster import RosterError, issued_csv
from grader.leaderboard.service import Leaderboard, NotFound, NotRevealed, SubmissionView
from grader.leaderboard.store import Student

COOKIE = "lb_token"
ADMIN_COOKIE = "lb_admin"
TEMPLATES = Path(__file__).with_name("templates")


def _utc(t: datetime | None) -> str:
    return "" if t is None else t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(t: datetime | None) -> str:
    return "" if t is None else t.isoformat().replace("+00:00", "Z")


def _auc(x: float | None) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.5f}"


def create_app(lb: Leaderboard) -> FastAPI:
    """The web app for one competition (``lb`` holds config, answer key, store and clock)."""
    app = FastAPI(title=lb.cfg.title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.lb = lb
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters.update(utc=_utc, iso=_iso, auc=_auc)
    cfg = lb.cfg

    def render(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
        ctx.update(cfg=cfg, now=lb.now(), closed=lb.closed(), is_open=cfg.is_open(lb.now()))
        return templates.TemplateResponse(request, name, ctx, status_code=status)

    def token_of(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return request.cookies.get(COOKIE)

    def student_of(request: Request) -> Student | None:
        return lb.authenticate(token_of(request))

    def admin_of(request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        tok = auth[7:].strip() if auth.lower().startswith("bearer ") else request.cookies.get(ADMIN_COOKIE)
        return lb.is_admin(tok)

    def to_login() -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    def api_error(status: int, message: str, **extra) -> JSONResponse:
        return JSONResponse({"error": message, **extra}, status_code=status)

    def sub_json(v: SubmissionView) -> dict:
        d = {"id": v.id, "submitted_at": _iso(v.submitted_at), "filename": v.filename, "public": v.public,
             "selected": v.selected, "counts": v.counts}
        if v.private is not None:  # the key is absent, not null, before close: nothing to search for
            d["private"] = v.private
        return d

    def rule_status(e: rules.RuleViolation) -> tuple[int, dict]:
        if isinstance(e, rules.LimitReached):
            return 429, {"Retry-After": str(max(1, int((e.resets_at - lb.now()).total_seconds())))}
        if isinstance(e, rules.SelectionError):
            return 409, {}
        return 403, {}

    # Validation and scoring are CPU-bound under the GIL: more than a few at once only interleave them (each
    # finishes later, none sooner) and pile up memory. Queued requests wait here, cheaply, instead.
    scoring_slots = asyncio.Semaphore(max(2, os.cpu_count() or 2))

    async def submit(student: Student, filename: str, data: bytes) -> SubmissionView:
        async with scoring_slots:
            return await run_in_threadpool(lb.submit, student, filename, data)

    async def read_upload(file: UploadFile) -> bytes:
        # One byte over the cap is enough for the validator to say "too large" without buffering a huge body.
        return await file.read(cfg.max_upload_bytes + 1)

    # ------------------------------------------------------------------------------------------------ pages
    @app.get("/", response_class=HTMLResponse)
    def board_page(request: Request):
        split = "private" if lb.closed() else "public"
        rows = lb.board(split)
        public_rows = lb.board("public") if split == "private" else rows
        return render(request, "board.html", split=split, rows=rows, public_rows=public_rows,
                      student=student_of(request))

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request):
        return render(request, "login.html", error=None)

    @app.post("/login")
    def login_post(request: Request, token: str = Form("")):
        if lb.authenticate(token.strip()) is None:
            return render(request, "login.html", status=401, error="Unknown token. Check the link your TA sent.")
        resp = RedirectResponse("/me", status_code=303)
        resp.set_cookie(COOKIE, token.strip(), httponly=True, samesite="lax", max_age=180 * 86400)
        return resp

    @app.get("/login/{token}")
    def login_link(request: Request, token: str):
        return login_post(request, token)

    @app.post("/logout")
    def logout():
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    def me_response(request: Request, student: Student, *, error: str | None = None, status: int = 200,
                    headers: dict | None = None):
        resp = render(request, "me.html", status=status, page=lb.page(student), error=error, student=student)
        resp.headers.update(headers or {})
        return resp

    @app.get("/me", response_class=HTMLResponse)
    def me(request: Request):
        student = student_of(request)
        return me_response(request, student) if student else to_login()

    @app.post("/submit")
    async def submit_page(request: Request, file: UploadFile):
        student = await run_in_threadpool(student_of, request)
        if student is None:
            return to_login()
        data = await read_upload(file)
        try:
            v = await submit(student, file.filename or "prediction.csv", data)
        except SubmissionError as e:
            return await run_in_threadpool(lambda: me_response(
                request, student, status=422, error=f"{file.filename}: {e} — not scored, not counted."))
        except rules.RuleViolation as e:
            status, headers = rule_status(e)
            return await run_in_threadpool(lambda: me_response(request, student, status=status, error=str(e),
                                                               headers=headers))
        return RedirectResponse(f"/submissions/{v.id}", status_code=303)

    @app.post("/select")
    async def select_page(request: Request):
        student = await run_in_threadpool(student_of, request)
        if student is None:
            return to_login()
        form = await request.form()
        try:
            ids = [int(x) for x in form.getlist("ids")]
            await run_in_threadpool(lb.select, student, ids)
        except ValueError:
            return me_response(request, student, status=400, error="Selection ids must be numbers.")
        except rules.RuleViolation as e:
            return me_response(request, student, status=rule_status(e)[0], error=str(e))
        return RedirectResponse("/me", status_code=303)

    @app.get("/submissions/{sid}", response_class=HTMLResponse)
    def submission_page(request: Request, sid: int):
        student = student_of(request)
        if student is None:
            return to_login()
        try:
            v = lb.view(student, sid)
            intervals = lb.intervals(student, sid)
        except NotFound as e:
            return render(request, "error.html", status=404, message=str(e), student=student)
        return render(request, "submission.html", sub=v, intervals=intervals, student=student)

    @app.get("/submissions/{sid}/roc.png")
    def roc(request: Request, sid: int):
        student = student_of(request)
        if student is None:
            return PlainTextResponse("log in first", status_code=401)
        try:
            return Response(lb.roc_png(student, sid), media_type="image/png")
        except NotFound as e:
            return PlainTextResponse(str(e), status_code=404)

    @app.get("/submissions/{sid}/download")
    def download(request: Request, sid: int):
        student = student_of(request)
        if student is None:
            return PlainTextResponse("log in first", status_code=401)
        try:
            name, data = lb.download(student, sid)
        except NotFound as e:
            return PlainTextResponse(str(e), status_code=404)
        safe = "".join(c for c in name if c.isalnum() or c in "._-") or "prediction.csv"
        return Response(data, media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{sid}-{safe}"'})

    # ------------------------------------------------------------------------------------------------ admin
    @app.get("/admin/login", response_class=HTMLResponse)
    def admin_login_form(request: Request):
        return render(request, "admin_login.html", error=None)

    @app.post("/admin/login")
    def admin_login(request: Request, token: str = Form("")):
        if not lb.is_admin(token.strip()):
            return render(request, "admin_login.html", status=401, error="Wrong admin token.")
        resp = RedirectResponse("/admin", status_code=303)
        resp.set_cookie(ADMIN_COOKIE, token.strip(), httponly=True, samesite="strict", max_age=7 * 86400)
        return resp

    @app.get("/admin", response_class=HTMLResponse)
    def admin(request: Request):
        if not admin_of(request):
            return RedirectResponse("/admin/login", status_code=303)
        students = lb.store.students()
        counts = {}
        for s in lb.store.submissions():
            counts[s.student_id] = counts.get(s.student_id, 0) + 1
        return render(request, "admin.html", students=students, counts=counts, flags=lb.probing(), error=None)

    @app.post("/admin/roster")
    async def admin_roster(request: Request, file: UploadFile):
        if not admin_of(request):
            return PlainTextResponse("admin token required", status_code=401)
        data = await file.read()
        try:
            issued, skipped = await run_in_threadpool(lb.import_roster, data)
        except RosterError as e:
            return PlainTextResponse(str(e), status_code=422)
        base = str(request.base_url)
        return Response(issued_csv(issued, base), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="tokens.csv"',
                                 "X-Skipped-Logins": ",".join(skipped)[:2000]})

    @app.get("/admin/export/leaderboard.csv")
    def export_board(request: Request):
        if not admin_of(request):
            return PlainTextResponse("admin token required", status_code=401)
        return Response(lb.export_leaderboard_csv(), media_type="text/csv")

    @app.get("/admin/export/baselines.csv")
    def export_baselines(request: Request):
        if not admin_of(request):
            return PlainTextResponse("admin token required", status_code=401)
        return Response(lb.export_baselines_csv(), media_type="text/csv")

    # -------------------------------------------------------------------------------------------------- API
    @app.get("/api/board")
    def api_board(split: str = "public"):
        if split not in ("public", "private"):
            return api_error(400, "split must be 'public' or 'private'")
        try:
            rows = lb.board(split)
        except NotRevealed as e:
            return api_error(403, str(e))
        return {"split": split, "closed": lb.closed(), "rows": [
            {"rank": r.rank, "name": r.name, "score": r.score, "baseline": r.baseline,
             "submitted_at": _iso(r.submitted_at), "submissions": r.n_submissions} for r in rows]}

    @app.get("/api/me")
    def api_me(request: Request):
        student = student_of(request)
        if student is None:
            return api_error(401, "missing or unknown token")
        p = lb.page(student)
        d = {"login": student.login, "name": student.name, "used_today": p.used_today, "left_today": p.left_today,
             "resets_at": _iso(p.resets_at), "closed": p.closed, "best_public": p.best_public,
             "submissions": [sub_json(v) for v in p.submissions]}
        if p.final_private is not None:
            d["final_private"] = p.final_private
        return d

    @app.post("/api/submissions")
    async def api_submit(request: Request, file: UploadFile):
        student = await run_in_threadpool(student_of, request)
        if student is None:
            return api_error(401, "missing or unknown token")
        data = await read_upload(file)
        try:
            v = await submit(student, file.filename or "prediction.csv", data)
        except SubmissionError as e:
            return JSONResponse({"error": str(e), **e.to_dict()}, status_code=422)
        except rules.RuleViolation as e:
            status, headers = rule_status(e)
            return JSONResponse({"error": str(e)}, status_code=status, headers=headers)
        return JSONResponse(sub_json(v), status_code=201)

    @app.get("/api/submissions/{sid}")
    def api_submission(request: Request, sid: int):
        student = student_of(request)
        if student is None:
            return api_error(401, "missing or unknown token")
        try:
            v = lb.view(student, sid)
        except NotFound as e:
            return api_error(404, str(e))
        d = sub_json(v)
        iv = lb.intervals(student, sid)
        if iv is not None:
            d["intervals"] = {k: list(x) for k, x in iv.items()}
        return d

    @app.post("/api/selection")
    async def api_select(request: Request):
        student = await run_in_threadpool(student_of, request)
        if student is None:
            return api_error(401, "missing or unknown token")
        try:
            body = await request.json()
            ids = [int(i) for i in body["ids"]]
        except (ValueError, KeyError, TypeError):
            return api_error(400, 'body must be JSON {"ids": [submission ids]}')
        try:
            chosen = await run_in_threadpool(lb.select, student, ids)
        except rules.RuleViolation as e:
            return api_error(rule_status(e)[0], str(e))
        return {"selected": chosen}

    return app
