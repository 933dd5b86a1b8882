"""The dashboard's scoring forms: routine score, reviewed score, grade override, bonus decision, routine file."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from bot.channels import scoring_api
from bot.channels.admin_session import Access, Sessions, check_csrf
from bot.channels.dashboard import Pages, results_view, unit_view
from bot.services import Services
from handlers import scoring_forms as forms

FIELDS = {
    forms.RoutineIn: ("score",),
    forms.ReviewedIn: ("key", "points", "reason"),
    forms.GradeIn: ("grade", "reason"),
    forms.BonusDecisionIn: ("approve", "reason"),
}


def router(services: Services, sessions: Sessions, pages: Pages) -> APIRouter:
    forms_router = APIRouter(prefix="/dashboard", include_in_schema=False)

    async def posted(request: Request) -> tuple[Access | Response, dict]:
        """The admin and the form's fields, after the CSRF check; or the answer for a visitor without a session."""
        access = pages.access(request)
        if isinstance(access, Response):
            return access, {}
        form = await request.form()
        try:
            check_csrf(sessions, access, request, str(form.get("csrf_token", "")))
        except HTTPException as exc:
            return pages.page(request, "dashboard_refused.html", 403, access, message=exc.detail), {}
        return access, form

    async def act(request: Request, model, do, key, back: str, view, template: str = "dashboard_unit.html"):
        """Post the form's fields to the scoring action; on a refusal, the page again with the reason (422)."""
        access, form = await posted(request)
        if isinstance(access, Response):
            return access
        data = {name: form.get(name, "") for name in FIELDS[model]}
        try:
            await run_in_threadpool(scoring_api.perform, services, do, key(), model, data, access.actor)
        except HTTPException as exc:
            return pages.guarded(request, template, view, 422, saved="", error=exc.detail)
        return RedirectResponse(back, status_code=303)

    @forms_router.post("/units/{code}/routine")
    async def routine(request: Request, code: str):
        return await act(
            request, forms.RoutineIn, forms.set_routine, lambda: code, _back(code, "routine"), unit_view(code)
        )

    @forms_router.post("/units/{code}/reviewed")
    async def reviewed(request: Request, code: str):
        return await act(
            request, forms.ReviewedIn, forms.set_reviewed, lambda: code, _back(code, "reviewed"), unit_view(code)
        )

    @forms_router.post("/units/{code}/grade")
    async def grade(request: Request, code: str):
        return await act(request, forms.GradeIn, forms.set_grade, lambda: code, _back(code, "grade"), unit_view(code))

    @forms_router.post("/bonus/{item_id}/decision")
    async def bonus(request: Request, item_id: str, unit: str = Query("", max_length=32)):
        """From a unit's page (?unit=U01) back to it; otherwise back to the results page."""
        key = lambda: scoring_api.item_key(item_id)  # noqa: E731  (a junk number is refused inside act)
        if unit:
            return await act(
                request, forms.BonusDecisionIn, forms.decide_bonus, key, _back(unit, "bonus"), unit_view(unit)
            )
        back = "/dashboard/results?saved=bonus"
        return await act(
            request, forms.BonusDecisionIn, forms.decide_bonus, key, back, results_view, "dashboard_results.html"
        )

    @forms_router.post("/routine")
    async def routine_file(request: Request):
        access, form = await posted(request)
        if isinstance(access, Response):
            return access
        upload = form.get("file")
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise HTTPException(status_code=422, detail="请选择要导入的平时成绩文件")
            data = await upload.read(scoring_api.MAX_UPLOAD + 1)
            await run_in_threadpool(scoring_api.import_upload, services, upload.filename, data, access.actor)
        except HTTPException as exc:
            return pages.guarded(request, "dashboard_results.html", results_view, 422, saved="", error=exc.detail)
        return RedirectResponse("/dashboard/results?saved=routine", status_code=303)

    return forms_router


def _back(code: str, what: str) -> str:
    return f"/dashboard/units/{code.strip().upper()}?saved={what}#scoring"
