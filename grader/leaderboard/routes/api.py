"""The JSON API (schema at /api/openapi.json): the public board, the student's own data, uploads and the final
selection. Errors are ``{"error": message}`` (an invalid file adds its line, column and id)."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from grader.errors import SubmissionError
from grader.leaderboard import rules
from grader.leaderboard.guard import KB, policy
from grader.leaderboard.routes.site import CurrentStudent, Service, SiteDep, SubmissionId, iso, no_file, upload_name
from grader.leaderboard.service import NotFound, NotRevealed, SubmissionView
from grader.leaderboard.store import MAX_ID

router = APIRouter(prefix="/api")


class SelectionBody(BaseModel):
    """``{"ids": [submission ids]}``: the student's final selection (may be empty)."""
    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]] = Field(max_length=100)


def api_error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def submission_json(v: SubmissionView) -> dict:
    d = {"id": v.id, "submitted_at": iso(v.submitted_at), "filename": v.filename, "public": v.public,
         "selected": v.selected, "counts": v.counts, "late": v.late}
    if v.private is not None:  # the key is absent, not null, before it may be shown: nothing to search for
        d["private"] = v.private
    return d


@router.get("/board")
def api_board(lb: Service, split: Annotated[Literal["public", "private", "late"], Query()] = "public"):
    try:
        rows = lb.board(split)
    except NotRevealed as e:
        return api_error(403, str(e))
    out = []
    for r in rows:
        d = {"rank": r.rank, "name": r.name, "score": r.score, "baseline": r.baseline,
             "submitted_at": iso(r.submitted_at), "last_scored": iso(r.last_at), "submissions": r.n_submissions}
        if split == "late":
            d["public"] = r.public
        out.append(d)
    return {"split": split, "closed": lb.closed(), "rows": out}


@router.get("/me")
@policy(auth="student", api=True)
def api_me(lb: Service, student: CurrentStudent):
    p = lb.page(student)
    d = {"login": student.login, "name": student.name, "public_name": lb.public_name(student),
         "used_today": p.used_today, "left_today": p.left_today, "daily_limit": p.daily_limit,
         "resets_at": iso(p.resets_at), "deadline": iso(p.deadline), "closed": p.closed,
         "best_public": p.best_public, "last_scored": iso(p.last_scored),
         "submissions": [submission_json(v) for v in p.submissions],
         "unconfirmed": [{"id": s.id, "submitted_at": iso(s.submitted_at), "filename": s.filename}
                         for s in p.unconfirmed]}
    if p.final_private is not None:
        d["final_private"] = p.final_private
    return d


@router.post("/submissions", status_code=201)
@policy(body=None, auth="student", api=True, content=("multipart/form-data",), rate="upload", parts=4)
async def api_submit(site: SiteDep, student: CurrentStudent, file: Annotated[UploadFile | None, File()] = None):
    if no_file(file):
        return api_error(400, "no file: send the prediction CSV as the multipart form field 'file'")
    try:
        v = await site.submit(student, upload_name(file), file)
    except SubmissionError as e:
        return JSONResponse({"error": str(e), **e.to_dict()}, status_code=422)
    except rules.RuleViolation as e:
        status, headers = site.rule_status(e)
        return api_error(status, str(e), headers)
    body = {**submission_json(v), "used_today": v.used_today, "left_today": v.left_today}
    return JSONResponse(body, status_code=201, background=BackgroundTask(site.lb.ack, v.id))


@router.get("/submissions/{sid}")
@policy(auth="student", api=True, rate="pages")
def api_submission(lb: Service, student: CurrentStudent, sid: SubmissionId):
    try:
        v = lb.view(student, sid)
        iv = lb.intervals(student, sid)
    except NotFound as e:
        return api_error(404, str(e))
    d = submission_json(v)
    if iv is not None:
        d["intervals"] = {k: list(x) for k, x in iv.items()}
    return d


@router.post("/selection")
@policy(body=4 * KB, auth="student", api=True, content=("application/json",), json_depth=3)
async def api_select(site: SiteDep, student: CurrentStudent, body: SelectionBody):
    try:
        chosen = await run_in_threadpool(site.lb.select, student, list(body.ids))
    except rules.RuleViolation as e:
        return api_error(site.rule_status(e)[0], str(e))
    return {"selected": chosen}
