"""The floor of a turn: an app that checks, decrypts, parses and answers an echo with the project's own crypto."""

# A benchmark fixture, never a route of the service: what every callback costs before any database work,
# on the same FastAPI and uvicorn, through the same helpers as bot/channels/wecom_app.py.

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from bot.app import telemetry
from bot.channels.wecom_api import CallbackCrypto, CallbackRejected
from bot.channels.wecom_app import capped_body, refuse, signed_params, to_inbound


def create_echo_app(token: str, aes_key: str, corp_id: str) -> FastAPI:
    crypto = CallbackCrypto(token, aes_key, corp_id)
    app = FastAPI(title="echo floor", telemetry=telemetry())  # as the service: the same FastAPI, both without it

    @app.post("/wecom/callback")
    async def echo(request: Request):
        try:
            body = await capped_body(request)
            signature, timestamp, nonce = signed_params(request.query_params)
            message = crypto.decrypt_xml(body, signature, timestamp, nonce)
        except CallbackRejected as exc:
            return refuse(exc.status, f"callback: {exc.reason}")
        inbound = to_inbound(message)
        if inbound is None:
            return PlainTextResponse("")
        plain = crypto.text_reply_xml(inbound.userid, corp_id, f"收到：{inbound.text}", int(time.time()))
        return Response(crypto.encrypt_reply_xml(plain, nonce, timestamp), media_type="application/xml")

    return app
