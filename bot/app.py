"""create_app(settings): the FastAPI application with its channels, built from settings, nothing at import."""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bot.body_guard import BodyGuard
from bot.services import Services, build_services
from bot.settings import Settings

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, services: Services | None = None, sender: bool = True, scheduler: bool = False
) -> FastAPI:
    """Build the app; `sender` runs the outbox sender and `scheduler` the reminder scheduler beside it."""
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        log.info(
            "event loop: %s",
            "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio",
        )
        workers = _start_background(services, sender, scheduler)
        try:
            yield
        finally:
            for worker in workers:
                worker.stop()

    app = FastAPI(title="考核助手 kaohe", lifespan=lifespan, telemetry=telemetry())
    app.state.services = services

    @app.get("/healthz")
    async def healthz():
        try:
            ok = await run_in_threadpool(services.db.ping)
        except Exception as exc:  # any database failure is "not healthy", never a 500 page
            log.warning("health check failed: %s", exc)
            ok = False
        return JSONResponse({"ok": ok}, status_code=200 if ok else 503)

    @app.exception_handler(RequestValidationError)
    async def refused(request: Request, exc: RequestValidationError):
        # FastAPI's own answer echoes the input back, and an input it cannot encode (a lone surrogate
        # sent as "\ud800") turned the 422 into a 500. Name the fields, never repeat what was sent.
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        log.info(
            "refused %s %s: %s",
            request.method,
            request.url.path,
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors),
        )
        # A person reading the answer (the dashboard's API) gets one Chinese line beside the details.
        fields = "、".join(dict.fromkeys(str(e["loc"][-1]) for e in errors if e["loc"])) or "请求体"
        return JSONResponse({"detail": errors, "message": f"请求参数不对：{fields}"}, status_code=422)

    app.add_middleware(BodyGuard, read_s=settings.body_timeout_s)
    _mount_channels(app, services)
    return app


def _mount_channels(app: FastAPI, services: Services) -> None:
    from bot.channels import admin_api, dashboard, sim_group, simulator, wecom_app, wecom_bot

    # The callbacks first: routes are matched in order, and every message would try the others' first
    # (FastAPI's /openapi.json and /docs, /healthz). And on the app itself: FastAPI 0.165's include_router
    # nests a router that matches each request again (124 of a callback's 1,023 Python calls,
    # benchmarks/asgi_cpu.py --calls).
    routes, before = app.router.routes, len(app.router.routes)
    for callbacks in (wecom_app.router(services), wecom_bot.router(services)):
        for route in sorted(callbacks.routes, key=lambda r: "POST" not in r.methods):  # a message: POST
            app.add_api_route(route.path, route.endpoint, methods=sorted(route.methods), name=route.name)
    routes[:] = routes[before:] + routes[:before]
    app.include_router(admin_api.router(services))
    dashboard.mount(app, services)
    app.include_router(simulator.router(services))
    app.include_router(sim_group.router(services))


def _start_background(services: Services, sender: bool, scheduler: bool) -> list:
    from bot.delivery import SenderThread

    workers = []
    if sender:
        workers.append(SenderThread(services.sender))
        workers[-1].start()
    if scheduler:
        from bot.scheduler import start_scheduler

        workers.append(start_scheduler(services))
    return workers


def telemetry(environ=os.environ) -> dict | None:
    """FastAPI's own OpenTelemetry (spans, metrics and logs per request, once a provider is configured):
    FastAPI's defaults when the environment asks for OpenTelemetry (an OTEL_ variable, or
    FASTAPI_OTEL_AUTO_CONFIGURE), else off. Off, a callback makes 24 fewer Python calls (1,341 -> 1,317,
    benchmarks/asgi_cpu.py --calls): no provider lookups and no operation checks in every request."""
    if environ.get("FASTAPI_OTEL_AUTO_CONFIGURE") or any(name.startswith("OTEL_") for name in environ):
        return None
    return {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
