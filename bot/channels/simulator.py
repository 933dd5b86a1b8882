"""The web simulator: chat as any roster person and watch what the bot sends to people and group chats."""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool

from bot.channels.admin_api import require_admin
from bot.services import Services
from handlers.base import Inbound
from storage import outbox, roster
from storage.render import render

log = logging.getLogger(__name__)
ROLE_NAMES = {"clerk": "填报员", "liaison": "联络员", "admin": "工委管理员"}


class SimMessage(BaseModel):
    userid: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=4000)

    @field_validator("userid", "text")
    @classmethod
    def _storable(cls, value: str) -> str:
        # JSON may carry a lone surrogate ("\ud800") or NUL: neither can be stored (UTF-8, PostgreSQL text).
        if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
            raise ValueError("contains characters that cannot be stored")
        return value


def router(services: Services) -> APIRouter:
    api = APIRouter()
    guard = _guard(services)

    @api.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(render("simulator.html"))

    @api.get("/api/sim/people", dependencies=[Depends(guard)])
    def people():
        with services.db.read() as session:
            units = {u.code: u for u in roster.units(session=session)}
            groups = {g.id: g.name for g in roster.groups(session=session)}
            order = list(ROLE_NAMES)
            people = sorted(
                roster.people(session=session),
                key=lambda p: (order.index(p.role) if p.role in order else 9, p.unit_code or "", p.userid),
            )
            return [_person(p, units, groups) for p in people]

    @api.post("/api/sim/send", dependencies=[Depends(guard)])
    async def send(message: SimMessage):
        inbound = Inbound(
            channel="sim", userid=message.userid, text=message.text, msg_key=f"sim:{message.userid}:{uuid.uuid4().hex}"
        )
        replies = await run_in_threadpool(services.dispatcher.dispatch, inbound)
        services.sender.wakeup.set()
        return {"replies": [r.text for r in replies]}

    @api.get("/api/sim/messages", dependencies=[Depends(guard)])
    def messages(after: int = Query(0, ge=0, le=2**31 - 1)):  # beyond it the database refuses the number
        with services.db.read() as session:
            names = {p.userid: p.name for p in roster.people(session=session, inactive=True)}
            return [_message(row, names) for row in outbox.recent(session=session, after_id=after)]

    return api


def _guard(services: Services):
    """Open in a demo (no WeCom app); behind the admin token once a real app is connected, since the
    simulator lets its user speak as anyone."""
    admin = require_admin(services)

    def check(authorization: str | None = Header(None)) -> None:
        if not services.settings.app_enabled:
            return
        try:
            admin(authorization)
        except HTTPException:
            raise HTTPException(status_code=401, detail="需要管理员令牌") from None

    return check


def _person(p, units, groups) -> dict:
    unit = units.get(p.unit_code) if p.unit_code else None
    return {
        "userid": p.userid,
        "name": p.name,
        "role": p.role,
        "role_name": ROLE_NAMES.get(p.role, p.role),
        "unit": unit.name if unit else None,
        "group": groups.get(p.group_id) if p.group_id else None,
    }


def _message(row, names: dict) -> dict:
    return {
        "id": row.id,
        "kind": row.kind,
        "to": [{"userid": u, "name": names.get(u, u)} for u in row.recipients],
        "chat_id": row.chat_id,
        "text": row.content,
        "status": row.status,
        "source": row.source,
        "created_at": row.created_at.isoformat(),
        "error": row.last_error,
    }
