"""The dashboard's JSON API under /api/: progress, groups, units, audit, votes; behind the admin token or session."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from bot.channels.admin_session import Access, Sessions, admin_access
from bot.services import Services
from handlers import overview
from handlers.audit_view import audit_rows
from handlers.documents import Document, results_announcement, self_check_summary
from handlers.export import ExportError, export_tables
from handlers.vote_report import votes_overview
from storage import campaigns, roster

MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def router(services: Services, sessions: Sessions) -> APIRouter:
    def access(request: Request) -> Access:
        return admin_access(services, sessions, request)

    api = APIRouter(prefix="/api", tags=["管理后台"], dependencies=[Depends(access)])

    @api.get("/progress", summary="全市进度：各联络组的提交和填写情况、自查分分布")
    def progress():
        with services.db.read() as session:
            return overview.city(session=session, campaign=_campaign(session), now=services.clock.now())

    @api.get("/groups/{code}", summary="一个联络组：联络员和各单位的进度")
    def group(code: str):
        with services.db.read() as session:
            return _found(overview.group, session=session, campaign=_campaign(session), code=code)

    @api.get("/units/{code}", summary="一个单位：表一对照目标、表二自查分、提交状态和修改记录")
    def unit(code: str, audit_limit: int = Query(100, ge=1, le=1000)):
        with services.db.read() as session:
            return _found(
                overview.unit, session=session, campaign=_campaign(session), code=code, audit_limit=audit_limit
            )

    @api.get("/audit", summary="修改记录：谁在何时把什么从什么改成什么（全市或一个单位）")
    def audit(unit: str | None = Query(None, max_length=32), limit: int = Query(200, ge=1, le=1000)):
        with services.db.read() as session:
            code = unit.strip().upper() if unit else None
            if code and roster.unit(session=session, code=code) is None:
                raise HTTPException(status_code=404, detail=f"没有单位编码 {unit}")
            campaign = campaigns.active_campaign(session=session)
            return audit_rows(session=session, campaign=campaign, unit_code=code, limit=limit)

    @api.get("/votes", summary="民主推荐投票：应到、实到，结束后的得票（从不显示谁投了谁）")
    def votes():
        return {"votes": votes_overview(services.db)}

    @api.get("/export", summary="填报表格下载（xlsx、csv 或 json）")
    def export(format: str = Query("xlsx", pattern="^(json|csv|xlsx)$")):
        try:
            data = export_tables(services.db, format)
        except ExportError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        headers = {"Content-Disposition": f'attachment; filename="kaohe-tables.{format}"'}
        return Response(data, media_type=MEDIA[format], headers=headers)

    @api.get("/documents/announcement", summary="考核结果通报（草稿，docx）：按等次列单位，附各组推荐结果")
    def announcement():
        with services.db.read() as session:
            doc = results_announcement(session=session, campaign=_campaign(session), now=services.clock.now())
        return _attachment(doc)

    @api.get("/documents/summary/{code}", summary="一个单位的自查总结（草稿，docx），由填报内容生成")
    def summary(code: str):
        with services.db.read() as session:
            campaign = _campaign(session)
            unit = roster.unit(session=session, code=code.strip().upper()[:32])
            if unit is None:
                raise HTTPException(status_code=404, detail=f"没有单位编码 {code[:32]}")
            doc = self_check_summary(session=session, campaign=campaign, unit=unit, now=services.clock.now())
        return _attachment(doc)

    return api


def _attachment(doc: Document) -> Response:
    # RFC 5987: the Chinese file name goes in filename*, an ASCII stand-in in filename.
    quoted = quote(doc.name)
    disposition = f"attachment; filename=\"document.docx\"; filename*=UTF-8''{quoted}"
    return Response(doc.data, media_type=doc.media_type, headers={"Content-Disposition": disposition})


def _campaign(session):
    campaign = campaigns.active_campaign(session=session)
    if campaign is None:
        raise HTTPException(status_code=409, detail="还没有生效的考核方案：请先运行 kaohe campaign load")
    return campaign


def _found(view, **kwargs):
    try:
        return view(**kwargs)
    except overview.NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
