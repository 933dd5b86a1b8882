"""The group chat bot (智能机器人) channel: encrypted JSON callbacks from single and group chats."""

from __future__ import annotations

import base64
import json
import logging
import re

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from bot.channels.wecom_api import CallbackCrypto, CallbackRejected
from bot.channels.wecom_app import capped_body, dispatch_in_time, refuse, signed_params
from bot.channels.wecom_fields import KEY_BYTES, USERID_BYTES, checked, field, message_key, storable_text
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
            stream = _stream(inbound.msg_key, None) if replies is None else passive_payload(replies, inbound)
            if stream is None:
                return PlainTextResponse("")
        return Response(crypto.encrypt_reply_json(stream, nonce, timestamp), media_type="application/json")

    return api


def passive_payload(replies: list[Reply], inbound: Inbound) -> dict | None:
    """The bot's passive answer (wecom.md §3.7, 101031): a finished stream, with the vote card when there
    is one; a card event is answered by redrawing the clicker's card."""
    text = next((r.text for r in replies if r.msgtype == "text"), None)
    card = next((json.loads(r.text) for r in replies if r.msgtype == "template_card"), None)
    update = next((json.loads(r.text) for r in replies if r.msgtype == "update_template_card"), None)
    if update is not None:
        return {"response_type": "update_template_card", "userids": [inbound.userid], "template_card": update}
    stream = {"id": _stream_id(inbound.msg_key), "finish": True, "content": text or ""}
    if card is not None:
        return {"msgtype": "stream_with_template_card", "stream": stream, "template_card": card}
    return {"msgtype": "stream", "stream": stream} if text is not None else None


def to_inbound(message: dict) -> Inbound | None:
    """Text from a single or group chat (the @mention removed), or a click on a card; None for what needs no
    answer. Every id that
    reaches storage is checked (CallbackRejected 400); the key is the sender's with the msgid."""
    sender = _object(message, "from")
    userid = field(sender, "userid", USERID_BYTES, where="from.")
    msgid = field(message, "msgid")
    if not userid or not msgid:
        return None
    chat_id = field(message, "chatid") if message.get("chattype") == "group" else ""
    if message.get("msgtype") == "event":
        return _card_event(message, userid, msgid, chat_id or None)
    if message.get("msgtype") != "text":
        return None
    content = storable_text(_object(message, "text").get("content"), "text.content")
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
    finished = content is not None
    body = {"id": _stream_id(key), "finish": finished, "content": content if finished else render("bot_working.txt")}
    return {"msgtype": "stream", "stream": body}


def _stream_id(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode().rstrip("=")


def _refreshed(services: Services, userid: str, key: str) -> dict:
    with services.db.read() as session:
        done = dialogs.processed(session=session, key=key)
    if done is None:
        return _stream(key, None)
    texts = [r["text"] for r in done.replies if r.get("msgtype", "text") == "text"]
    return _stream(key, texts[0] if texts else "")


def _answered_on_refresh(services: Services, inbound: Inbound, replies: list[Reply]) -> None:
    """A late answer is already stored with its message key: the next stream refresh carries it."""


def _object(message: dict, name: str) -> dict:
    value = message.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CallbackRejected(f"{name} is not an object", 400)
    return value


def _card_event(message: dict, userid: str, msgid: str, chat_id: str | None) -> Inbound | None:
    """event.template_card_event (101027): the card's task_id and the options chosen; msgid dedupes retries."""
    event = _object(message, "event")
    card = event.get("template_card_event") if event.get("eventtype") == "template_card_event" else None
    if not isinstance(card, dict):
        return None
    action = {
        "task_id": field(card, "task_id"),
        "key": field(card, "event_key", KEY_BYTES),
        "response_code": field(message, "response_code", KEY_BYTES) or field(card, "response_code", KEY_BYTES),
        "selected": _storable_json(card.get("selected_items"), "selected_items"),
    }
    return Inbound("bot", userid, "", message_key("bot", userid, msgid), chat_id=chat_id, action=action)


def _storable_json(value, label: str):
    """Every string inside a JSON value checked like an id (the options of a card reach storage)."""
    if isinstance(value, str):
        return checked(value, label, KEY_BYTES)
    if isinstance(value, list):
        return [_storable_json(v, label) for v in value]
    if isinstance(value, dict):
        return {checked(str(k), label, KEY_BYTES): _storable_json(v, label) for k, v in value.items()}
    return value
