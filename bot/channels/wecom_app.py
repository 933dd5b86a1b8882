"""The WeCom app channel: URL verification and encrypted XML callbacks, turned into neutral Inbound messages."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from bot.channels.wecom_api import CallbackCrypto, CallbackRejected
from bot.channels.wecom_fields import KEY_BYTES, USERID_BYTES, checked, field, message_key, storable_text
from bot.services import Services
from handlers.base import Inbound, Reply
from storage import outbox

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024  # real callbacks are a few KB (wecom.md §4.5)
PASSIVE_BYTES = 2048  # a passive text reply's Content limit (wecom.md §1.5)
ANSWER_WITHIN_S = 4.0  # WeCom waits 5 s, then retries (wecom.md §1.3)
NON_TEXT = "（暂时只能看懂文字消息，请用文字回复；回复「帮助」查看用法）"
NON_TEXT_KINDS = ("image", "voice", "video", "file", "location", "link")


def router(services: Services) -> APIRouter:
    api = APIRouter()
    settings = services.settings
    crypto = (
        CallbackCrypto(settings.token, settings.aes_key, settings.corp_id, settings.max_age_s)
        if settings.app_enabled
        else None
    )

    @api.get("/wecom/callback")
    async def verify(request: Request):
        if crypto is None:
            return refuse(404, "app channel is off (WECOM_CORP_ID/WECOM_TOKEN/WECOM_AES_KEY unset)")
        q = request.query_params
        try:
            plain = crypto.verify_url(*signed_params(q, "echostr"))
        except CallbackRejected as exc:
            return refuse(exc.status, f"URL verification: {exc.reason}")
        return PlainTextResponse(plain)

    @api.post("/wecom/callback")
    async def receive(request: Request):
        if crypto is None:
            return refuse(404, "app channel is off")
        try:
            body = await capped_body(request)
            signature, timestamp, nonce = signed_params(request.query_params)
            message = crypto.decrypt_xml(body, signature, timestamp, nonce)
            inbound = to_inbound(message)
        except CallbackRejected as exc:
            return refuse(exc.status, f"callback: {exc.reason}")
        if inbound is None:
            return PlainTextResponse("")  # an event we do not answer: 200 with an empty body
        replies = [Reply(NON_TEXT)] if inbound.text == NON_TEXT else None
        replies = replies or await dispatch_in_time(services, inbound, PASSIVE_BYTES, send_late)
        if not replies:
            return PlainTextResponse("")
        plain = crypto.text_reply_xml(inbound.userid, settings.corp_id, replies[0].text, int(time.time()))
        return Response(crypto.encrypt_reply_xml(plain, nonce, timestamp), media_type="application/xml")

    return api


def signed_params(query, *extra: str) -> tuple[str, ...]:
    names = ("msg_signature", "timestamp", "nonce", *extra)
    missing = [n for n in names if not query.get(n)]
    if missing:
        raise CallbackRejected(f"missing query parameter {missing[0]}", 400)
    return tuple(query[n] for n in names)


async def capped_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise CallbackRejected(f"body of {declared} bytes is over {MAX_BODY}", 413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise CallbackRejected(f"body over {MAX_BODY} bytes", 413)
    return body


def refuse(status: int, reason: str) -> Response:
    log.warning("wecom refused %s: %s", status, reason)
    return PlainTextResponse("", status_code=status)


def to_inbound(message: dict) -> Inbound | None:
    """The neutral message; None for events that need no answer. Every id that reaches storage is checked
    (CallbackRejected 400). The key dedupes WeCom's retries and is the sender's: FromUserName with MsgId for
    messages, with CreateTime (+ event and card fields) for events (wecom.md §1.3)."""
    userid = field(message, "FromUserName", USERID_BYTES)
    kind = field(message, "MsgType")
    if not userid:
        return None
    if kind in ("text", *NON_TEXT_KINDS):
        msg_id = field(message, "MsgId", required=True)
        text = storable_text(message.get("Content"), "Content") if kind == "text" else NON_TEXT
        return Inbound("app", userid, text, message_key("app", "msg", userid, msg_id))
    if kind != "event":
        return None
    event, event_key = field(message, "Event"), field(message, "EventKey", KEY_BYTES)
    when = field(message, "CreateTime")
    if event == "click" and event_key:
        # a menu button's key is a keyword
        return Inbound("app", userid, event_key, message_key("app", "event", userid, when, event, event_key))
    if event == "template_card_event":
        action = _card_action(message, event_key)
        key = message_key("app", "event", userid, when, event, event_key, action["task_id"], action["response_code"])
        return Inbound("app", userid, "", key, action=action)
    return None


def _card_action(message: dict, event_key: str) -> dict:
    selected = [
        {
            "QuestionKey": checked(item["QuestionKey"], "SelectedItems.QuestionKey", KEY_BYTES),
            "OptionIds": [checked(o, "SelectedItems.OptionId", KEY_BYTES) for o in item["OptionIds"]],
        }
        for item in message.get("SelectedItems") or []
    ]
    return {
        "task_id": field(message, "TaskId"),
        "key": event_key,
        "response_code": field(message, "ResponseCode", KEY_BYTES),
        "selected": selected,
    }


async def dispatch_in_time(
    services: Services, inbound: Inbound, passive_bytes: int, late: Callable[[Services, Inbound, list[Reply]], None]
) -> list[Reply] | None:
    """Answer within WeCom's 5 s: if the work takes longer, return None now (the channel answers without
    waiting), let the work finish, and hand its replies to `late` (the outbox, or a stream refresh)."""
    loop = asyncio.get_running_loop()

    def finish(outcome: list[Reply] | Exception) -> None:  # on the loop; the outbox is written off it
        loop.run_in_executor(None, _finish_late, services, inbound, outcome, late)

    replies = await services.lane.submit(inbound, passive_bytes, within=ANSWER_WITHIN_S, late=finish)
    if replies is None:
        log.warning("message %s took over %.0f s; answered without waiting", inbound.msg_key, ANSWER_WITHIN_S)
    return replies


def _finish_late(services: Services, inbound: Inbound, outcome: list[Reply] | Exception, late) -> None:
    if isinstance(outcome, BaseException):
        log.error("late message %s failed: %r", inbound.msg_key, outcome)
        return
    late(services, inbound, outcome)
    services.sender.wakeup.set()


def send_late(services: Services, inbound: Inbound, replies: list[Reply]) -> None:
    """The app's late answer goes through the outbox to message/send."""
    with services.db.write() as session:
        for i, reply in enumerate(replies):
            outbox.enqueue(
                session=session,
                key=f"{inbound.msg_key}#late{i}",
                content=reply.text,
                recipients=[inbound.userid],
                source="late-reply",
                now=services.clock.now(),
            )
