"""The administrator's JSON API: the filled tables for download, behind KAOHE_ADMIN_TOKEN."""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from bot.services import Services
from handlers.export import ExportError, export_tables

log = logging.getLogger(__name__)
MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def require_admin(services: Services):
    """Bearer KAOHE_ADMIN_TOKEN; with no token configured the admin API refuses everyone."""

    def check(authorization: str | None = Header(None)) -> None:
        token = services.settings.admin_token
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not token or not hmac.compare_digest(given.encode(), token.encode()):
            log.info("admin API refused: %s", "no KAOHE_ADMIN_TOKEN set" if not token else "wrong or missing token")
            raise HTTPException(status_code=401 if token else 403, detail="需要管理员令牌")

    return check


def router(services: Services) -> APIRouter:
    api = APIRouter(dependencies=[Depends(require_admin(services))])

    @api.get("/api/admin/export")
    async def export(format: str = Query("xlsx", pattern="^(json|csv|xlsx)$")):
        try:
            data = await run_in_threadpool(export_tables, services.db, format)
        except ExportError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        headers = {"Content-Disposition": f'attachment; filename="kaohe-tables.{format}"'}
        return Response(data, media_type=MEDIA[format], headers=headers)

    return api
