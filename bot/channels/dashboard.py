"""The committee's dashboard pages: login, city-wide progress, a group, a unit, the audit trail."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from bot.channels.admin_session import (
    COOKIE,
    LIFETIME_S,
    Access,
    Sessions,
    admin_access,
    check_csrf,
    same_origin,
    token_matches,
)
from bot.services import Services
from handlers import overview
from handlers.audit_view import audit_rows
from storage import campaigns, roster
from storage.render import render

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parents[2] / "static"
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def static_files() -> StaticFiles:
    """The dashboard's own scripts and the vendored chart library: intranets have no CDN."""
    return StaticFiles(directory=STATIC)


def router(services: Services, sessions: Sessions) -> APIRouter:
    pages = APIRouter(prefix="/dashboard", include_in_schema=False)

    def page(request: Request, template: str, status: int = 200, access: Access | None = None, **values) -> Response:
        csrf = sessions.csrf(access) if access and access.via == "session" else ""
        actor = _actor_name(services, access) if access else ""
        html = render(template, csrf=csrf, actor=actor, logged_in=access is not None, **values)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def guarded(request: Request, template: str, view) -> Response:
        """Render `view(session, campaign)`'s values for a logged-in admin; otherwise the login page."""
        try:
            access = admin_access(services, sessions, request)
        except HTTPException as exc:
            if exc.status_code == 403:
                return page(request, "dashboard_closed.html", 403)
            return RedirectResponse("/dashboard/login", status_code=303)
        with services.db.read() as session:
            campaign = campaigns.active_campaign(session=session)
            if campaign is None:
                return page(request, "dashboard_no_campaign.html", 409, access)
            try:
                values = view(session, campaign)
            except overview.NotFound as exc:
                return page(request, "dashboard_not_found.html", 404, access, message=str(exc))
        return page(request, template, access=access, campaign=campaign, **values)

    @pages.get("/login")
    def login_form(request: Request):
        if not services.settings.admin_token:
            return page(request, "dashboard_closed.html", 403)
        return page(request, "dashboard_login.html", admins=_admins(services), error=None)

    @pages.post("/login")
    def login(request: Request, token: str = Form("", max_length=512), actor: str = Form("", max_length=64)):
        if not services.settings.admin_token:
            return page(request, "dashboard_closed.html", 403)
        admins = _admins(services)
        error = _login_error(services, request, token, actor, admins)
        if error:
            log.info("dashboard login refused: %s", error)
            return page(request, "dashboard_login.html", 401, admins=admins, error=error)
        answer = RedirectResponse("/dashboard/", status_code=303)
        answer.set_cookie(
            COOKIE,
            sessions.issue(actor or "admin-token"),
            max_age=LIFETIME_S,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return answer

    @pages.post("/logout")
    def logout(request: Request, csrf_token: str = Form("", max_length=128)):
        access = sessions.read(request.cookies.get(COOKIE))
        if access is not None:
            check_csrf(sessions, access, request, csrf_token)
            sessions.revoke(access)
        answer = RedirectResponse("/dashboard/login", status_code=303)
        answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return answer

    @pages.get("/")
    def city(request: Request):
        return guarded(
            request,
            "dashboard_city.html",
            lambda session, campaign: {
                "city": overview.city(session=session, campaign=campaign, now=services.clock.now()),
                "votes": [],
            },
        )

    @pages.get("/groups/{code}")
    def group(request: Request, code: str):
        return guarded(
            request,
            "dashboard_group.html",
            lambda session, campaign: {"group": overview.group(session=session, campaign=campaign, code=code)},
        )

    @pages.get("/units/{code}")
    def unit(request: Request, code: str):
        return guarded(
            request,
            "dashboard_unit.html",
            lambda session, campaign: {"unit": overview.unit(session=session, campaign=campaign, code=code)},
        )

    @pages.get("/audit")
    def audit(request: Request, limit: int = Query(200, ge=1, le=1000)):
        return guarded(
            request,
            "dashboard_audit.html",
            lambda session, campaign: {"rows": audit_rows(session=session, campaign=campaign, limit=limit)},
        )

    return pages


def _admins(services: Services) -> list:
    with services.db.read() as session:
        return roster.admins(session=session)


def _login_error(services: Services, request: Request, token: str, actor: str, admins: list) -> str | None:
    """Why the login is refused (the login page words it), or None."""
    if not same_origin(request):
        return "origin"
    if not token_matches(services.settings.admin_token, token.strip()):
        return "token"
    if actor and actor not in {a.userid for a in admins}:
        return "actor_unknown"
    if admins and not actor:
        return "actor_missing"
    return None


def _actor_name(services: Services, access: Access) -> str:
    with services.db.read() as session:
        person = roster.person(session=session, userid=access.actor)
    return person.name if person else ""
