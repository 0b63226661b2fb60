"""The TA's pages: logging in and out, the admin page (students, overrides, signals), roster import, token
reissue and the CSV exports."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, File, Form, Path as PathParam, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from grader.competition import answer_key_problems, threshold_problems
from grader.leaderboard.display import clean
from grader.leaderboard.guard import KB, MB, policy
from grader.leaderboard.roster import RosterError, issued_csv
from grader.leaderboard.routes.site import Service, Site, SiteDep, Token, no_file
from grader.leaderboard.store import MAX_ID, StoreError

router = APIRouter()
StudentNumber = Annotated[int, PathParam(ge=1, le=MAX_ID)]
CSV = {200: {"content": {"text/csv": {}}}}


def admin_page(site: Site, request: Request, *, error: str | None = None, status: int = 200):
    lb = site.lb
    students = lb.store.accounts.all()
    counts: dict[int, int] = {}
    for s in lb.store.uploads.counted():
        counts[s.student_id] = counts.get(s.student_id, 0) + 1
    names = {st.id: lb.public_name(st) for st in students}
    by_id = {st.id: st for st in students}
    return site.render(request, "admin.html", status=status, students=students, counts=counts, names=names,
                       by_id=by_id, signals=lb.signals(), overrides=lb.overrides(), error=error,
                       thresholds=threshold_problems(lb.cfg), answer_key=answer_key_problems(lb.cfg))


def no_student(site: Site, request: Request, student_id: int):
    return admin_page(site, request, error=f"No student with number {student_id}.", status=404)


@router.get("/admin/login", response_class=HTMLResponse)
def admin_login_form(request: Request, site: SiteDep):
    return site.render(request, "admin_login.html", error=None)


@router.post("/admin/login", response_class=HTMLResponse)
@policy(body=4 * KB, content=("application/x-www-form-urlencoded", "multipart/form-data"))
def admin_login(request: Request, site: SiteDep, lb: Service, token: Token = ""):
    if not lb.is_admin(token.strip()):
        site.login_failed(request)
        return site.render(request, "admin_login.html", status=401, error="Wrong admin token.")
    resp = site.redirect("/admin")
    site.set_cookie(resp, request, site.admin_cookie, token.strip(), 7 * 86400, "strict")
    return resp


@router.post("/admin/logout")
@policy(body=4 * KB)
def admin_logout(request: Request, site: SiteDep):
    return site.logged_out(request, site.admin_cookie, "strict")


@router.get("/admin", response_class=HTMLResponse)
@policy(auth="admin")
def admin(request: Request, site: SiteDep):
    return admin_page(site, request)


@router.post("/admin/roster", response_class=Response, responses=CSV)
@policy(body=4 * MB, auth="admin", content=("multipart/form-data",), parts=4)
async def admin_roster(request: Request, site: SiteDep, file: Annotated[UploadFile | None, File()] = None):
    if no_file(file):
        return await run_in_threadpool(admin_page, site, request, error="Choose a roster CSV to import.", status=400)
    data = await file.read()
    try:
        result = await run_in_threadpool(site.lb.import_roster, data)
    except (RosterError, StoreError) as e:
        return await run_in_threadpool(admin_page, site, request, error=str(e), status=422)
    return Response(result.csv_text, media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="tokens.csv"',
                             "X-New-Students": str(len(result.issued)),
                             "X-Skipped-Students": str(len(result.skipped)),
                             "X-Updated-Students": str(len(result.updated))})


@router.post("/admin/students/{student_id}/override", response_class=HTMLResponse)
@policy(body=4 * KB, auth="admin", content=("application/x-www-form-urlencoded", "multipart/form-data"))
def admin_override(request: Request, site: SiteDep, lb: Service, student_id: StudentNumber,
                   by: Annotated[str, Form(min_length=1, max_length=64)],
                   deadline: Annotated[str, Form(max_length=32)] = "",
                   daily_limit: Annotated[str, Form(max_length=6)] = "",
                   note: Annotated[str, Form(max_length=256)] = ""):
    st = lb.store.accounts.get(student_id)
    if st is None:
        return no_student(site, request, student_id)
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
        return admin_page(site, request, status=400, error=f"{st.login}: the deadline must be a UTC date and time "
                                                           "(2026-11-29T15:59) and the daily limit a whole number "
                                                           "from 0 to 10000, or empty for the competition's.")
    lb.set_override(st, deadline=new_deadline if new_deadline != st.deadline else "keep",
                    daily_limit=new_limit if new_limit != st.daily_limit else "keep",
                    by=clean(by, 64) or "TA", note=clean(note, 256))
    return site.redirect("/admin#students")


@router.post("/admin/students/{student_id}/reissue", response_class=Response, responses=CSV)
@policy(body=4 * KB, auth="admin")
def admin_reissue(request: Request, site: SiteDep, lb: Service, student_id: StudentNumber):
    st = lb.store.accounts.get(student_id)
    if st is None:
        return no_student(site, request, student_id)
    text = issued_csv(lb.reissue([st.login]), site.public_url or str(request.base_url).rstrip("/"))
    return Response(text, media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="token-reissued.csv"'})


@router.get("/admin/export/leaderboard.csv", response_class=Response, responses=CSV)
@policy(auth="admin", api=True)
def export_board(lb: Service):
    return Response(lb.export_leaderboard_csv(), media_type="text/csv")


@router.get("/admin/export/baselines.csv", response_class=Response, responses=CSV)
@policy(auth="admin", api=True)
def export_baselines(lb: Service):
    """Baselines passed per student, the gradebook's input. Thresholds that were never set, or were measured on
    other data, name the file ``baselines-THRESHOLDS-NOT-SET.csv`` (``X-Thresholds: not-set``): the TA sees it
    where the file lands, and the TA page says why."""
    unset = bool(threshold_problems(lb.cfg))
    name = "baselines-THRESHOLDS-NOT-SET.csv" if unset else "baselines.csv"
    return Response(lb.export_baselines_csv(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Thresholds": "not-set" if unset else "set"})
