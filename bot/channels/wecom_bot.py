"""The group chat bot (智能机器人) channel: encrypted JSON callbacks from single and group chats."""

from __future__ import annotations

import json
import logging
import re
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from bot.channels.wecom_api import CallbackCrypto, CallbackRejected
from bot.channels.wecom_app import capped_body, refuse, signed_params
from bot.services import Services
from handlers.base import Inbound, Reply

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
        payload = passive_payload(replies, inbound.userid)
        if payload is None:
            return PlainTextResponse("")
        return Response(crypto.encrypt_reply_json(payload, nonce, timestamp), media_type="application/json")

    return api


def passive_payload(replies: list[Reply], userid: str) -> dict | None:
    """The bot's passive answer (wecom.md §3.7, 101031): a finished stream, with the vote card when there
    is one; a card event is answered by redrawing the clicker's card."""
    text = next((r.text for r in replies if r.msgtype == "text"), None)
    card = next((json.loads(r.text) for r in replies if r.msgtype == "template_card"), None)
    update = next((json.loads(r.text) for r in replies if r.msgtype == "update_template_card"), None)
    if update is not None:
        return {"response_type": "update_template_card", "userids": [userid], "template_card": update}
    stream = {"id": uuid.uuid4().hex, "finish": True, "content": text or ""}
    if card is not None:
        return {"msgtype": "stream_with_template_card", "stream": stream, "template_card": card}
    return {"msgtype": "stream", "stream": stream} if text is not None else None


def to_inbound(message: dict) -> Inbound | None:
    """Text from a single or group chat (the @mention removed), or a click on a card; None for what needs
    no answer."""
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    userid, msgid = str(sender.get("userid") or ""), str(message.get("msgid") or "")
    if not userid or not msgid:
        return None
    chat_id = str(message.get("chatid") or "") if message.get("chattype") == "group" else None
    if message.get("msgtype") == "event":
        return _card_event(message, userid, msgid, chat_id or None)
    if message.get("msgtype") != "text":
        return None
    text_part = message.get("text") if isinstance(message.get("text"), dict) else {}
    text = _MENTION.sub("", str(text_part.get("content") or ""))
    return Inbound("bot", userid, text, f"bot:{msgid}", chat_id=chat_id or None)


def _card_event(message: dict, userid: str, msgid: str, chat_id: str | None) -> Inbound | None:
    """event.template_card_event (101027): the card's task_id and the options chosen; msgid dedupes retries."""
    event = message.get("event") if isinstance(message.get("event"), dict) else {}
    card = event.get("template_card_event") if event.get("eventtype") == "template_card_event" else None
    if not isinstance(card, dict):
        return None
    action = {
        "task_id": card.get("task_id"),
        "key": card.get("event_key"),
        "response_code": message.get("response_code") or card.get("response_code"),
        "selected": card.get("selected_items"),
    }
    return Inbound("bot", userid, "", f"bot:{msgid}", chat_id=chat_id, action=action)
