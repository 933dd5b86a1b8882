"""The group chat bot (智能机器人) channel: encrypted JSON callbacks from single and group chats."""

from __future__ import annotations

import base64
import logging
import re

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from bot.channels.wecom_api import CallbackCrypto, CallbackRejected
from bot.channels.wecom_app import capped_body, dispatch_in_time, refuse, signed_params
from bot.channels.wecom_fields import USERID_BYTES, field, message_key, storable_text
from bot.services import Services
from handlers.base import Inbound, Reply
from storage import dialogs
from storage.render import render

log = logging.getLogger(__name__)
_MENTION = re.compile(r"^\s*(@\S+\s*)+")
PASSIVE_BYTES = 4000  # what one finished stream shows at once


def router(services: Services) -> APIRouter:
    api = APIRouter()
    settings = services.settings
    # For the 智能机器人 the receive id is "" (wecom.md §1.4, document/path/101033).
    crypto = (
        CallbackCrypto(settings.bot_token, settings.bot_aes_key, "", settings.max_age_s)
        if settings.bot_enabled
        else None
    )

    @api.get("/wecom/bot/callback")
    async def verify(request: Request):
        if crypto is None:
            return refuse(404, "bot channel is off (WECOM_BOT_TOKEN/WECOM_BOT_AES_KEY unset)")
        try:
            return PlainTextResponse(crypto.verify_url(*signed_params(request.query_params, "echostr")))
        except CallbackRejected as exc:
            return refuse(exc.status, f"bot URL verification: {exc.reason}")

    @api.post("/wecom/bot/callback")
    async def receive(request: Request):
        if crypto is None:
            return refuse(404, "bot channel is off")
        try:
            body = await capped_body(request)
            signature, timestamp, nonce = signed_params(request.query_params)
            message = crypto.decrypt_json(body, signature, timestamp, nonce)
            refresh = stream_refresh(message)
            inbound = None if refresh else to_inbound(message)
        except CallbackRejected as exc:
            return refuse(exc.status, f"bot callback: {exc.reason}")
        if refresh:
            stream = await run_in_threadpool(_refreshed, services, *refresh)
        elif inbound is None:
            return PlainTextResponse("")
        else:
            replies = await dispatch_in_time(services, inbound, PASSIVE_BYTES, _answered_on_refresh)
            if replies == []:
                return PlainTextResponse("")
            stream = _stream(inbound.msg_key, replies[0].text if replies else None)
        return Response(crypto.encrypt_reply_json(stream, nonce, timestamp), media_type="application/json")

    return api


def to_inbound(message: dict) -> Inbound | None:
    """Text from a single or group chat (the @mention removed); None for what needs no answer. Every id that
    reaches storage is checked (CallbackRejected 400); the key is the sender's with the msgid."""
    sender = _object(message, "from")
    userid = field(sender, "userid", USERID_BYTES, where="from.")
    msgid = field(message, "msgid")
    if not userid or not msgid or message.get("msgtype") != "text":
        return None
    content = storable_text(_object(message, "text").get("content"), "text.content")
    chat_id = field(message, "chatid") if message.get("chattype") == "group" else ""
    return Inbound("bot", userid, _MENTION.sub("", content), message_key("bot", userid, msgid), chat_id=chat_id or None)


def stream_refresh(message: dict) -> tuple[str, str] | None:
    """WeCom's stream-refresh callback (§3.7): (sender, message key of the stream), or None for other messages."""
    if message.get("msgtype") != "stream":
        return None
    userid = field(_object(message, "from"), "userid", USERID_BYTES, required=True, where="from.")
    stream_id = field(_object(message, "stream"), "id", 512, required=True, where="stream.")
    try:
        key = base64.urlsafe_b64decode(stream_id + "=" * (-len(stream_id) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise CallbackRejected("stream.id is not one of ours", 400) from None
    if not key.startswith(f"bot:{userid}:"):
        raise CallbackRejected("stream.id is not one of this sender's", 400)
    return userid, key


def _stream(key: str, content: str | None) -> dict:
    """A stream answer whose id is the message key, so any worker can answer its refresh from the database;
    unfinished while the work goes on (WeCom refreshes for up to 6 minutes)."""
    stream_id = base64.urlsafe_b64encode(key.encode("utf-8")).decode().rstrip("=")
    finished = content is not None
    body = {"id": stream_id, "finish": finished, "content": content if finished else render("bot_working.txt")}
    return {"msgtype": "stream", "stream": body}


def _refreshed(services: Services, userid: str, key: str) -> dict:
    with services.db.read() as session:
        done = dialogs.processed(session=session, key=key)
    if done is None:
        return _stream(key, None)
    return _stream(key, done.replies[0]["text"] if done.replies else "")


def _answered_on_refresh(services: Services, inbound: Inbound, replies: list[Reply]) -> None:
    """A late answer is already stored with its message key: the next stream refresh carries it."""


def _object(message: dict, name: str) -> dict:
    value = message.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CallbackRejected(f"{name} is not an object", 400)
    return value
