"""The web simulator: chat as any roster person and watch what the bot sends to people and group chats."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool

from bot.channels.admin_api import require_admin
from bot.services import Services
from handlers.base import Inbound
from handlers.dispatch import MAX_TEXT
from storage import campaigns, conversations, files, outbox, roster
from storage.render import render

log = logging.getLogger(__name__)
ROLE_NAMES = {"clerk": "填报员", "liaison": "联络员", "admin": "工委管理员"}


MAX_BODY = 64 * 1024  # bytes: the request cap; the length rule for text itself is the dispatcher's MAX_TEXT


class SimMessage(BaseModel):
    userid: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1)  # no cap of its own: one rule (MAX_TEXT), one sentence (too_long.txt)

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

    @api.post("/api/sim/send", dependencies=[Depends(guard), Depends(_capped)])
    async def send(message: SimMessage):
        inbound = Inbound(
            channel="sim", userid=message.userid, text=message.text, msg_key=f"sim:{message.userid}:{uuid.uuid4().hex}"
        )
        replies = await services.lane.dispatch(inbound)
        services.sender.wakeup.set()
        texts = [r.text for r in replies]
        turn = await run_in_threadpool(_remember, services, message.userid, message.text, texts)
        return {"replies": texts, "at": turn}

    @api.get("/api/sim/chat", dependencies=[Depends(guard)])
    def chat(userid: str = Query(min_length=1, max_length=64)):
        """The person's conversation in the simulator, oldest first, so a reloaded page shows it again."""
        with services.db.read() as session:
            zone = _zone(session)
            return [
                {"text": t.text, "replies": t.replies, "at": _local(t.created_at, zone)}
                for t in conversations.recent(session=session, userid=userid)
            ]

    @api.get("/api/sim/messages", dependencies=[Depends(guard)])
    def messages(after: int = Query(0, ge=0, le=2**31 - 1)):  # beyond it the database refuses the number
        with services.db.read() as session:
            names = {p.userid: p.name for p in roster.people(session=session, inactive=True)}
            zone = _zone(session)
            return [_message(row, names, zone) for row in outbox.recent(session=session, after_id=after)]

    @api.get("/sim/files/{token}", dependencies=[Depends(guard)])
    def download(token: str = Path(min_length=8, max_length=64)):
        """A file the bot sent, as the simulator shows local deliveries: the token is the outbox's reference."""
        with services.db.read() as session:
            row = files.by_token(session=session, token=token)
            if row is None:
                log.info("simulator download refused: no file for that token")
                raise HTTPException(status_code=404, detail="没有这个文件")
            quoted = quote(row.name)
            headers = {"Content-Disposition": f"attachment; filename=\"{_ascii(row.name)}\"; filename*=UTF-8''{quoted}"}
            return Response(bytes(row.data), media_type=row.media_type, headers=headers)

    return api


def _ascii(name: str) -> str:
    """The plain-ASCII fallback filename for old clients: the extension survives."""
    stem, dot, ext = name.rpartition(".")
    return f"download.{ext}" if dot and ext.isascii() else "download"


def _capped(content_length: int | None = Header(None)) -> None:
    """A body over the cap is refused before it is read, with the bot's own sentence about long messages."""
    if content_length is not None and content_length > MAX_BODY:
        raise HTTPException(status_code=413, detail=render("too_long.txt", limit=MAX_TEXT))


def _remember(services: Services, userid: str, text: str, replies: list[str]) -> str:
    """Keep the exchange for a page reload (a second transaction: the chat's answer never waits on it)."""
    with services.db.write() as session:
        now = services.clock.now()
        conversations.add(session=session, userid=userid, text=text, replies=replies, now=now)
        return _local(now, _zone(session))


def _zone(session) -> ZoneInfo:
    """The active campaign's zone: times on the page read as the bot's texts do, whatever the browser's."""
    campaign = campaigns.active_campaign(session=session)
    return campaign.tz if campaign else ZoneInfo("Asia/Shanghai")


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%m-%d %H:%M")


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


def _file(row) -> dict | None:
    if row.msgtype != "file":
        return None
    try:
        ref = json.loads(row.content)
        return {"name": ref["name"], "size": ref["size"], "url": f"sim/files/{ref['token']}"}
    except (ValueError, KeyError, TypeError):
        return None


def _message(row, names: dict, zone: ZoneInfo) -> dict:
    file = _file(row)
    return {
        "id": row.id,
        "kind": row.kind,
        "to": [{"userid": u, "name": names.get(u, u)} for u in row.recipients],
        "chat_id": row.chat_id,
        "text": f"[文件] {file['name']}" if file else row.content,
        "file": file,
        "status": row.status,
        "source": row.source,
        "created_at": row.created_at.isoformat(),
        "at": _local(row.created_at, zone),
        "error": row.last_error,
    }
