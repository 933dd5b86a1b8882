"""The simulator's group chat: speak as any member in a liaison group's chat, @ the bot, see and click vote cards."""

from __future__ import annotations

import json
import re
import uuid

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, field_validator

from bot.channels.admin_api import require_admin
from bot.services import Services
from handlers.base import Inbound
from storage import outbox, roster
from storage.render import render

_MENTION = re.compile(r"^\s*(@\S+\s*)+")  # as in the group chat bot: the @mention is not part of the words


def sim_chat_id(group_id: int) -> str:
    return f"sim-chat-group-{group_id}"


class GroupMessage(BaseModel):
    userid: str = Field(min_length=1, max_length=64)
    chat_id: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=4000)

    @field_validator("userid", "chat_id", "text")
    @classmethod
    def _storable(cls, value: str) -> str:
        if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
            raise ValueError("contains characters that cannot be stored")
        return value


class CardClick(BaseModel):
    userid: str = Field(min_length=1, max_length=64)
    chat_id: str = Field(min_length=1, max_length=64)
    task_id: str = Field(min_length=1, max_length=128, pattern=r"^[0-9A-Za-z_\-@]+$")
    options: list[str] = Field(default_factory=list, max_length=20)


def router(services: Services) -> APIRouter:
    api = APIRouter()
    guard = _guard(services)

    @api.get("/group", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(render("group.html"))

    @api.get("/api/sim/groups", dependencies=[Depends(guard)])
    def groups():
        with services.db.read() as session:
            return [
                {"id": g.id, "name": g.name, "chat_id": g.chat_id or sim_chat_id(g.id), "bound": bool(g.chat_id)}
                for g in roster.groups(session=session)
            ]

    @api.post("/api/sim/group/send", dependencies=[Depends(guard)])
    async def send(message: GroupMessage):
        text = _MENTION.sub("", message.text).strip() or message.text
        inbound = Inbound("sim", message.userid, text, f"simg:{uuid.uuid4().hex}", chat_id=message.chat_id)
        return await _dispatch(services, inbound)

    @api.post("/api/sim/group/click", dependencies=[Depends(guard)])
    async def click(event: CardClick):
        selected = {"selected_item": [{"question_key": "vote", "option_ids": {"option_id": event.options}}]}
        action = {"task_id": event.task_id, "key": "submit", "response_code": None, "selected": selected}
        inbound = Inbound("sim", event.userid, "", f"simg:{uuid.uuid4().hex}", chat_id=event.chat_id, action=action)
        return await _dispatch(services, inbound)

    @api.get("/api/sim/group/messages", dependencies=[Depends(guard)])
    def messages(chat_id: str = Query(..., max_length=64), after: int = Query(0, ge=0, le=2**31 - 1)):
        with services.db.read() as session:
            rows = outbox.recent(session=session, after_id=after)
            return {
                "last": rows[-1].id if rows else after,
                "posts": [{"id": r.id, "text": r.content} for r in rows if r.chat_id == chat_id],
            }

    return api


async def _dispatch(services: Services, inbound: Inbound) -> dict:
    replies = await services.lane.dispatch(inbound)
    services.sender.wakeup.set()
    out = []
    for reply in replies:
        if reply.msgtype in ("template_card", "update_template_card"):
            out.append(
                {"kind": "card" if reply.msgtype == "template_card" else "update", "card": json.loads(reply.text)}
            )
        else:
            out.append({"kind": "text", "text": reply.text})
    return {"replies": out}


def _guard(services: Services):
    """As the simulator: open in a demo, behind the admin token once a real WeCom app is connected."""
    admin = require_admin(services)

    def check(authorization: str | None = Header(None)) -> None:
        if not services.settings.app_enabled:
            return
        try:
            admin(authorization)
        except HTTPException:
            raise HTTPException(status_code=401, detail="需要管理员令牌") from None

    return check
