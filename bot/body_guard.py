"""An ASGI guard on request bodies: a body not received in time is a 408 and a closed connection, and a
client that leaves mid-body is one warning line (uvicorn has no body-read timeout of its own)."""

from __future__ import annotations

import asyncio
import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class BodyGuard:
    def __init__(self, app: ASGIApp, read_s: float) -> None:
        self.app, self.read_s = app, read_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_s
        state = {"done": False, "bytes": 0}
        where = f"{scope['method']} {scope['path']}"

        async def guarded() -> Message:
            if state["done"]:
                return await receive()  # after the body only http.disconnect comes: no deadline on it
            try:
                async with asyncio.timeout_at(deadline):  # no task per read, as wait_for would make
                    message = await receive()
            except TimeoutError:
                log.warning(
                    "%s: body not received within %.0f s (%d bytes came); answered 408 and closed",
                    where,
                    self.read_s,
                    state["bytes"],
                )
                # An HTTPException passes FastAPI's body parsing and becomes the answer; "close" ends the
                # connection, so the rest of the declared body is never waited for.
                raise HTTPException(408, "request body not received in time", {"Connection": "close"}) from None
            if message["type"] == "http.request":
                state["bytes"] += len(message.get("body", b""))
                state["done"] = not message.get("more_body", False)
            elif message["type"] == "http.disconnect":
                state["done"] = True
                log.warning("%s: client disconnected after %d bytes of the body", where, state["bytes"])
            return message

        try:
            await self.app(scope, guarded, send)
        except ClientDisconnect:
            pass  # logged above, once; there is nobody to answer
