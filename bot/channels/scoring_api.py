"""The scoring actions over JSON: routine scores, bonus decisions, reviewed scores, grade overrides; results."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from bot.channels.admin_session import Access, Sessions, admin_access, check_csrf
from bot.services import Services
from handlers import scoring_forms as forms
from handlers.errors import InputError
from handlers.results_export import ResultsError, result_record, results_bytes
from handlers.results_view import results
from handlers.roster_import import ImportFileError
from handlers.scoring import import_routine_scores, read_routine_file, unit_results
from storage import campaigns

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024
MAX_UPLOAD = 2 * 1024 * 1024


def router(services: Services, sessions: Sessions) -> APIRouter:
    def access(request: Request) -> Access:
        return admin_access(services, sessions, request)

    def posting(request: Request, who: Access = Depends(access)) -> Access:
        check_csrf(sessions, who, request)
        return who

    api = APIRouter(prefix="/api", tags=["管理后台：评定"], dependencies=[Depends(access)])

    @api.get("/results", summary="各单位成绩：年终、平时、加分、总分、建议和评定等次，附每项改动的理由")
    def all_results():
        with services.db.read() as session:
            campaign = _campaign(campaigns.active_campaign(session=session))
            return [result_record(r) for r in unit_results(session=session, campaign=campaign)]

    @api.get("/results/board", summary="评定页的数据：各单位成绩（本地时间）、待审核的加分、总分分布")
    def board():
        with services.db.read() as session:
            return results(session=session, campaign=_campaign(campaigns.active_campaign(session=session)))

    @api.get("/results/download", summary="成绩和等次下载（csv 或 json，同 kaohe results）")
    def results_download(format: str = Query("csv", pattern="^(json|csv)$")):
        try:
            data = results_bytes(services.db, format)
        except ResultsError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        media = "application/json" if format == "json" else "text/csv; charset=utf-8"
        headers = {"Content-Disposition": f'attachment; filename="kaohe-results.{format}"'}
        return Response(data, media_type=media, headers=headers)

    def action(path: str, model, do, summary: str):
        @api.post(path, summary=summary, openapi_extra=_body_schema(model))
        async def endpoint(request: Request, who: Access = Depends(posting)):
            raw = await _read(request)
            await run_in_threadpool(perform, services, do, _key(request.path_params), model, raw, who.actor)
            return {"ok": True}

    action("/units/{code}/routine", forms.RoutineIn, forms.set_routine, "录入一个单位的平时成绩")
    action("/units/{code}/reviewed", forms.ReviewedIn, forms.set_reviewed, "表二某一类的复核分（须写理由）")
    action("/units/{code}/grade", forms.GradeIn, forms.set_grade, "评定等次，不同于建议等次（须写理由）")
    action(
        "/bonus/{item_id}/decision", forms.BonusDecisionIn, forms.decide_bonus, "批准或不批准一项加分（不批准须写理由）"
    )

    @api.post("/routine", summary="导入平时成绩（CSV 或 XLSX：单位编码、平时成绩）；有一行被拒绝则全部不导入")
    async def routine_file(request: Request, who: Access = Depends(posting)):
        upload = (await request.form()).get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(status_code=422, detail="请选择要导入的平时成绩文件（表单字段 file）")
        data = await upload.read(MAX_UPLOAD + 1)
        return await run_in_threadpool(import_upload, services, upload.filename or "upload", data, who.actor)

    return api


def perform(services: Services, do, key, model, data: bytes | dict, actor: str):
    """Check the body, then run one scoring action in a write transaction; a refusal is a 422 with its Chinese
    reason and nothing written."""
    try:
        body = forms.parse(model, data)
        with services.db.write() as session:
            campaign = _campaign(campaigns.active_campaign(session=session))
            return do(session, campaign, key, body, actor, services.clock.now())
    except InputError as exc:
        log.info("scoring action refused: %s", exc.reason)
        raise HTTPException(status_code=422, detail=exc.reason) from None


def import_upload(services: Services, name: str, data: bytes, actor: str) -> dict:
    """Routine scores from an uploaded file, all or nothing; refused rows come back with their row numbers."""
    if len(data) > MAX_UPLOAD:
        raise HTTPException(status_code=413, detail=f"文件太大（最多 {MAX_UPLOAD // 1024 // 1024} MB）")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("upload" + Path(name).suffix[:8])
        path.write_bytes(data)
        try:
            rows = read_routine_file(path)
        except ImportFileError as exc:
            raise HTTPException(status_code=422, detail=str(exc).replace(str(path), name)) from None
    with services.db.write() as session:
        campaign = _campaign(campaigns.active_campaign(session=session))
        report = import_routine_scores(
            session=session, campaign=campaign, rows=rows, actor=actor, source=name[:200], now=services.clock.now()
        )
    answer = {"added": report.added, "updated": report.updated, "unchanged": report.unchanged}
    if report.refused:
        refused = [{"row": n, "reason": reason} for n, reason in report.refused]
        raise HTTPException(status_code=422, detail={"message": "有被拒绝的行，未导入任何成绩", "refused": refused})
    return answer


def _key(params: dict):
    """The unit code, or the bonus item's number."""
    return params["code"] if "code" in params else item_key(params["item_id"])


def item_key(item: str) -> int:
    """A bonus item's number; one too long or not a number is no item (404)."""
    if not (item.isascii() and item.isdigit() and len(item) < 10):
        raise HTTPException(status_code=404, detail=f"没有第 {item[:20]} 号加分申报")
    return int(item)


async def _read(request: Request) -> bytes:
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise HTTPException(status_code=413, detail="请求体太大")
    return data


def _campaign(campaign):
    if campaign is None:
        raise HTTPException(status_code=409, detail="还没有生效的考核方案：请先运行 kaohe campaign load")
    return campaign


def _body_schema(model) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}
