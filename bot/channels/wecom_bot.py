"""The group chat bot (智能机器人) channel: encrypted JSON callbacks from single and group chats."""

from __future__ import annotations

import logging
import re
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from bot.channels.wecom_api import CallbackCrypto, CallbackRejected
from bot.channels.wecom_app import capped_body, refuse, signed_params
from bot.services import Services
from handlers.base import Inbound

log = logging.getLogger(__name__)
_MENTION = re.compile(r"^\s*(@\S+\s*)+")


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
        except CallbackRejected as exc:
            return refuse(exc.status, f"bot callback: {exc.reason}")
        inbound = to_inbound(message)
        if inbound is None:
            return PlainTextResponse("")
        replies = await run_in_threadpool(services.dispatcher.dispatch, inbound, 4000)
        services.sender.wakeup.set()
        if not replies:
            return PlainTextResponse("")
        # A finished stream is the bot's passive answer to a message (wecom.md §3.7, 101031).
        payload = {"msgtype": "stream", "stream": {"id": uuid.uuid4().hex, "finish": True, "content": replies[0].text}}
        return Response(crypto.encrypt_reply_json(payload, nonce, timestamp), media_type="application/json")

    return api


def to_inbound(message: dict) -> Inbound | None:
    """Text from a single or group chat (the @mention removed); None for what needs no answer."""
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    userid, msgid = str(sender.get("userid") or ""), str(message.get("msgid") or "")
    if not userid or not msgid or message.get("msgtype") != "text":
        return None
    text_part = message.get("text") if isinstance(message.get("text"), dict) else {}
    text = _MENTION.sub("", str(text_part.get("content") or ""))
    chat_id = str(message.get("chatid") or "") if message.get("chattype") == "group" else None
    return Inbound("bot", userid, text, f"bot:{msgid}", chat_id=chat_id or None)
