"""ASGI factory for `uvicorn --factory bot.asgi:app`, used by `kaohe serve --workers N`."""

from __future__ import annotations

from fastapi import FastAPI

from bot.app import create_app
from bot.settings import load_settings


def app() -> FastAPI:
    """A web worker: no scheduler (one `kaohe scheduler` runs beside the workers) and no sender."""
    return create_app(load_settings(), sender=False, scheduler=False)
