"""The WeCom app channel: URL verification and encrypted XML callbacks, turned into neutral Inbound messages."""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from bot.channels.wecom_api import CallbackCrypto, CallbackRejected
from bot.services import Services
from handlers.base import Inbound, Reply
from storage import outbox

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024  # real callbacks are a few KB (wecom.md §4.5)
PASSIVE_BYTES = 2048  # a passive text reply's Content limit (wecom.md §1.5)
ANSWER_WITHIN_S = 4.0  # WeCom waits 5 s, then retries (wecom.md §1.3)
NON_TEXT = "（暂时只能看懂文字消息，请用文字回复；回复「帮助」查看用法）"


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
        except CallbackRejected as exc:
            return refuse(exc.status, f"callback: {exc.reason}")
        inbound = to_inbound(message)
        if inbound is None:
            return PlainTextResponse("")  # an event we do not answer: 200 with an empty body
        replies = await _dispatch_in_time(services, inbound)
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
    """The neutral message; None for events that need no answer. The key dedupes WeCom's retries:
    MsgId for messages, FromUserName+CreateTime (+card fields) for events (wecom.md §1.3)."""
    userid, kind = str(message.get("FromUserName") or ""), str(message.get("MsgType") or "")
    if not userid:
        return None
    if kind == "text":
        return Inbound("app", userid, str(message.get("Content") or ""), f"app:msg:{message.get('MsgId')}")
    event_key = f"app:event:{userid}:{message.get('CreateTime')}:{message.get('Event')}:{message.get('EventKey')}"
    if kind == "event" and message.get("Event") == "click" and message.get("EventKey"):
        return Inbound("app", userid, str(message["EventKey"]), event_key)  # a menu button's key is a keyword
    if kind == "event" and message.get("Event") == "template_card_event":
        action = {
            "task_id": message.get("TaskId"),
            "key": message.get("EventKey"),
            "response_code": message.get("ResponseCode"),
            "selected": message.get("SelectedItems"),
        }
        return Inbound(
            "app", userid, "", f"{event_key}:{message.get('TaskId')}:{message.get('ResponseCode')}", action=action
        )
    if kind in ("image", "voice", "video", "file", "location", "link"):
        return Inbound("app", userid, NON_TEXT, f"app:msg:{message.get('MsgId')}")
    return None


async def _dispatch_in_time(services: Services, inbound: Inbound) -> list[Reply]:
    """Answer within WeCom's 5 s: if the work takes longer, answer empty now and send its reply later."""
    if inbound.text == NON_TEXT:
        return [Reply(NON_TEXT)]
    work = asyncio.ensure_future(run_in_threadpool(services.dispatcher.dispatch, inbound, PASSIVE_BYTES))
    try:
        return await asyncio.wait_for(asyncio.shield(work), ANSWER_WITHIN_S)
    except TimeoutError:
        log.warning("message %s took over %.0f s; its answer goes through the outbox", inbound.msg_key, ANSWER_WITHIN_S)
        loop = asyncio.get_running_loop()
        work.add_done_callback(lambda done: loop.run_in_executor(None, _send_late, services, inbound, done))
        return []


def _send_late(services: Services, inbound: Inbound, done: asyncio.Future) -> None:
    if done.cancelled() or done.exception() is not None:
        log.error(
            "late message %s failed: %r", inbound.msg_key, done.exception() if not done.cancelled() else "cancelled"
        )
        return
    with services.db.write() as session:
        for i, reply in enumerate(done.result()):
            outbox.enqueue(
                session=session,
                key=f"{inbound.msg_key}#late{i}",
                content=reply.text,
                recipients=[inbound.userid],
                source="late-reply",
                now=services.clock.now(),
            )
    services.sender.wakeup.set()
