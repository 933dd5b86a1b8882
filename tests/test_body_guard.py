"""BodyGuard in the process, as uvicorn calls it (an ASGI app and its receive): the deadline on a body, one
timer for all the bodies being read, and cancellations that are not its own. The same through a real
server and socket: tests/regressions/test_slow_bodies.py."""

from __future__ import annotations

import asyncio
import logging

import pytest
from fastapi import FastAPI, Request

from bot.body_guard import BodyGuard

READ_S = 0.2


def _app(read_s: float = READ_S, between: float = 0.0):
    api = FastAPI()

    @api.post("/echo")
    async def echo(request: Request):
        parts = []
        async for chunk in request.stream():
            parts.append(chunk)
            if between:
                await asyncio.sleep(between)  # the app busy between two reads, not waiting on the body
        return {"got": len(b"".join(parts))}

    return BodyGuard(api, read_s=read_s)


def _scope() -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/echo",
        "raw_path": b"/echo",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"t"), (b"content-type", b"application/octet-stream")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def _call(app, chunks: list, then_wait: float | None = None) -> tuple[int, dict]:
    """`chunks`: (delay before it, bytes) each, the last one ending the body unless then_wait: after the
    chunks, the body's end never comes (a client that stalls)."""
    sent = []
    pending = list(chunks)

    async def receive():
        if pending:
            delay, data = pending.pop(0)
            await asyncio.sleep(delay)
            return {"type": "http.request", "body": data, "more_body": bool(pending) or then_wait is not None}
        await asyncio.sleep(then_wait if then_wait is not None else 3600)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(_scope(), receive, send)
    start = sent[0]
    return start["status"], dict(start.get("headers", []))


def test_a_body_in_time_is_answered_and_a_stalled_one_gets_408_and_connection_close(caplog):
    async def main():
        app = _app()
        ok = await _call(app, [(0, b"ab"), (0.01, b"cd")])
        late = await _call(app, [(0, b"abc")], then_wait=10)
        return ok, late

    with caplog.at_level(logging.WARNING, logger="bot.body_guard"):
        (ok_status, _), (late_status, late_headers) = asyncio.run(main())
    assert ok_status == 200
    assert late_status == 408
    assert late_headers.get(b"connection") == b"close"
    assert "POST /echo: body not received within 0 s (3 bytes came)" in caplog.text


def test_the_deadline_passing_while_the_app_is_busy_is_a_408_at_its_next_read(caplog):
    """The app is between two reads when the time runs out: nothing is cancelled there (it is not
    waiting for the body); its next read is refused."""

    async def main():
        app = _app(read_s=0.1, between=0.3)
        return await _call(app, [(0, b"ab"), (0, b"cd")])

    with caplog.at_level(logging.WARNING, logger="bot.body_guard"):
        status, _ = asyncio.run(main())
    assert status == 408
    assert "(2 bytes came)" in caplog.text


def test_many_bodies_read_at_once_share_one_timer_and_each_slow_one_still_gets_its_408():
    async def main():
        loop = asyncio.get_running_loop()
        armed = []
        call_at = loop.call_at

        def counting(when, callback, *args, **kwargs):
            if getattr(callback, "__self__", None).__class__ is BodyGuard or "timeout" in repr(callback):
                armed.append(when)
            return call_at(when, callback, *args, **kwargs)

        loop.call_at = counting
        app = _app()
        calls = [_call(app, [(0, b"x" * 10), (0.001 * (i % 5), b"y")]) for i in range(40)]
        calls += [_call(app, [(0, b"z")], then_wait=10) for _ in range(3)]
        answers = await asyncio.gather(*calls)
        return [status for status, _ in answers], armed, app

    statuses, armed, app = asyncio.run(main())
    assert statuses == [200] * 40 + [408] * 3
    # one timer for the 43 bodies, and one more only for the bodies still waiting when it fired
    assert 1 <= len(armed) <= 3, armed
    assert not app._reading  # nothing kept once every body is in or refused


def test_a_body_read_in_full_is_let_go_before_its_deadline():
    async def main():
        app = _app(read_s=30)
        for _ in range(20):
            assert (await _call(app, [(0, b"ab")]))[0] == 200
        return app._reading[asyncio.get_running_loop()]

    kept = asyncio.run(main())
    # the last body and the one before it, which the armed timer finds (one always stays); the other 18 went
    # at a later body's first read, not 30 s later
    assert len(kept) == 2


def test_a_cancellation_that_is_not_the_guards_goes_on_as_a_cancellation():
    async def main():
        app = _app(read_s=30)
        task = asyncio.ensure_future(_call(app, [(0, b"ab")], then_wait=10))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
