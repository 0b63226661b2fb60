"""The student's pages: the board, logging in and out, their own page, uploads, the final selection, and each
submission (page, ROC curve, download)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path as PathParam, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import Field
from starlette.background import BackgroundTask

from grader.errors import SubmissionError
from grader.leaderboard import rules
from grader.leaderboard.guard import KB, policy
from grader.leaderboard.routes.site import (CurrentStudent, Service, Site, SiteDep, SubmissionId, Token, no_file,
                                           upload_name)
from grader.leaderboard.service import NotFound, NotRevealed
from grader.leaderboard.store import MAX_ID, Student

router = APIRouter()


def me_page(site: Site, request: Request, student: Student, *, error: str | None = None, status: int = 200,
            headers: dict | None = None):
    return site.render(request, "me.html", status=status, headers=headers, page=site.lb.page(student),
                       error=error, student=student)


@router.get("/", response_class=HTMLResponse)
def board_page(request: Request, site: SiteDep, lb: Service):
    split = "private" if lb.closed() else "public"
    rows = lb.board(split)
    public_rows = lb.board("public") if split == "private" else rows
    try:
        late_rows = lb.board("late")
    except NotRevealed:
        late_rows = None
    return site.render(request, "board.html", split=split, rows=rows, public_rows=public_rows, late_rows=late_rows,
                       pending=len(lb.extensions_running()) if split == "private" else 0)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, site: SiteDep):
    return site.render(request, "login.html", error=None, token="", confirm=None)


@router.get("/login/{token}", response_class=HTMLResponse)
@policy()
def login_link(request: Request, site: SiteDep, lb: Service, token: Annotated[str, PathParam(max_length=200)]):
    student = lb.authenticate(token)
    if student is None:
        site.login_failed(request)
        return site.render(request, "login.html", status=404, token="", confirm=None,
                           error="This login link is not valid (a newer one may have replaced it). Ask your TA for "
                                 "your current link, or paste your token below.")
    return site.render(request, "login.html", error=None, token=token, confirm=student,
                       confirm_name=lb.public_name(student))


@router.post("/login", response_class=HTMLResponse)
@policy(body=4 * KB, content=("application/x-www-form-urlencoded", "multipart/form-data"))
def login_post(request: Request, site: SiteDep, lb: Service, token: Token = ""):
    student = lb.authenticate(token.strip())
    if student is None:
        site.login_failed(request)
        return site.render(request, "login.html", status=401, token="", confirm=None,
                           error="Unknown token. Check the link your TA sent.")
    resp = site.redirect("/me")
    site.set_cookie(resp, request, site.cookie, token.strip(), 180 * 86400, "lax")
    return resp


@router.post("/logout")
@policy(body=4 * KB)
def logout(request: Request, site: SiteDep):
    return site.logged_out(request, site.cookie, "lax")


@router.get("/me", response_class=HTMLResponse)
@policy(auth="student")
def me(request: Request, site: SiteDep, student: CurrentStudent):
    return me_page(site, request, student)


@router.post("/submit", response_class=HTMLResponse)
@policy(body=None, auth="student", content=("multipart/form-data",), rate="upload", parts=4)
async def submit_page(request: Request, site: SiteDep, student: CurrentStudent,
                      file: Annotated[UploadFile | None, File()] = None):
    if no_file(file):
        return await run_in_threadpool(lambda: me_page(
            site, request, student, status=400, error="No file was chosen: choose your prediction CSV, then press "
                                                      "Upload. Nothing was scored or counted."))
    name = upload_name(file)
    try:
        v = await site.submit(student, name, file)
    except SubmissionError as e:
        message = f"{name}: {e} — not scored, not counted."
        return await run_in_threadpool(lambda: me_page(site, request, student, status=422, error=message))
    except rules.RuleViolation as e:
        (status, headers), message = site.rule_status(e), str(e)
        return await run_in_threadpool(lambda: me_page(site, request, student, status=status, error=message,
                                                       headers=headers))
    return site.redirect(f"/submissions/{v.id}", background=BackgroundTask(site.lb.ack, v.id))


@router.post("/select", response_class=HTMLResponse)
@policy(body=64 * KB, auth="student", content=("application/x-www-form-urlencoded", "multipart/form-data"))
async def select_page(request: Request, site: SiteDep, student: CurrentStudent,
                      ids: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None, Form()] = None):
    try:
        await run_in_threadpool(site.lb.select, student, list(ids or []))
    except rules.RuleViolation as e:
        status, message = site.rule_status(e)[0], str(e)
        return await run_in_threadpool(lambda: me_page(site, request, student, status=status, error=message))
    return site.redirect("/me")


@router.get("/submissions/{sid}", response_class=HTMLResponse)
@policy(auth="student", rate="pages")
def submission_page(request: Request, site: SiteDep, lb: Service, student: CurrentStudent, sid: SubmissionId):
    try:
        v = lb.view(student, sid)
        intervals = lb.intervals(student, sid)
    except NotFound as e:
        return site.not_found(request, str(e))
    return site.render(request, "submission.html", sub=v, intervals=intervals)


@router.get("/submissions/{sid}/roc.png", response_class=Response, responses={200: {"content": {"image/png": {}}}})
@policy(auth="student", rate="pages")
def roc(request: Request, site: SiteDep, lb: Service, student: CurrentStudent, sid: SubmissionId):
    try:
        return Response(lb.roc_png(student, sid), media_type="image/png")
    except NotFound as e:
        return site.not_found(request, str(e))


@router.get("/submissions/{sid}/download", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
@policy(auth="student", rate="pages")
def download(request: Request, site: SiteDep, lb: Service, student: CurrentStudent, sid: SubmissionId):
    try:
        name, data = lb.download(student, sid)
    except NotFound as e:
        return site.not_found(request, str(e))
    safe = "".join(c for c in name if c.isascii() and (c.isalnum() or c in "._-")) or "prediction.csv"
    return Response(data, media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{sid}-{safe}"'})
