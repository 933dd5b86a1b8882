"""The committee's dashboard pages: login, city-wide progress, a group, a unit with its scoring, results, audit."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, FastAPI, Form, HTTPException, Query, Request
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
from handlers.results_view import results as board
from handlers.results_view import unit_scoring
from handlers.vote_report import votes_overview
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


def mount(app: FastAPI, services: Services) -> None:
    """The pages, their forms, the JSON API, and the static files (the vendored chart library: intranets have
    no CDN), sharing one session keeper."""
    from bot.channels import dashboard_api, dashboard_scoring, scoring_api

    sessions = Sessions(services)
    pages = Pages(services, sessions)
    app.include_router(dashboard_api.router(services, sessions))
    app.include_router(scoring_api.router(services, sessions))
    app.include_router(router(services, sessions, pages))
    app.include_router(dashboard_scoring.router(services, sessions, pages))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


class Pages:
    """Renders the dashboard's pages for the request's admin, or sends a visitor to the login form."""

    def __init__(self, services: Services, sessions: Sessions):
        self.services, self.sessions = services, sessions

    def page(self, request: Request, template: str, status: int = 200, access: Access | None = None, **values):
        csrf = self.sessions.csrf(access) if access and access.via == "session" else ""
        actor = _actor_name(self.services, access) if access else ""
        html = render(template, csrf=csrf, actor=actor, logged_in=access is not None, **values)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def access(self, request: Request) -> Access | Response:
        """The admin's credentials, or the answer for a visitor without them (login form, or closed)."""
        try:
            return admin_access(self.services, self.sessions, request)
        except HTTPException as exc:
            if exc.status_code == 403:
                return self.page(request, "dashboard_closed.html", 403)
            return RedirectResponse("/dashboard/login", status_code=303)

    def guarded(self, request: Request, template: str, view, status: int = 200, **extra) -> Response:
        """Render `view(session, campaign)`'s values for a logged-in admin; otherwise the login page."""
        access = self.access(request)
        if isinstance(access, Response):
            return access
        with self.services.db.read() as session:
            campaign = campaigns.active_campaign(session=session)
            if campaign is None:
                return self.page(request, "dashboard_no_campaign.html", 409, access)
            try:
                values = view(session, campaign)
            except overview.NotFound as exc:
                return self.page(request, "dashboard_not_found.html", 404, access, message=str(exc))
        return self.page(request, template, status, access, campaign=campaign, **values, **extra)


def router(services: Services, sessions: Sessions, pages_: Pages) -> APIRouter:
    pages = APIRouter(prefix="/dashboard", include_in_schema=False)
    page, guarded = pages_.page, pages_.guarded

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
                "votes": votes_overview(services.db),
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
    def unit(request: Request, code: str, saved: str = Query("", max_length=16)):
        return guarded(request, "dashboard_unit.html", unit_view(code), saved=saved, error=None)

    @pages.get("/results")
    def results(request: Request, saved: str = Query("", max_length=16)):
        return guarded(request, "dashboard_results.html", results_view, saved=saved, error=None)

    @pages.get("/audit")
    def audit(request: Request, limit: int = Query(200, ge=1, le=1000)):
        return guarded(
            request,
            "dashboard_audit.html",
            lambda session, campaign: {"rows": audit_rows(session=session, campaign=campaign, limit=limit)},
        )

    return pages


def unit_view(code: str):
    def view(session, campaign) -> dict:
        found = overview.unit(session=session, campaign=campaign, code=code)
        unit = roster.unit(session=session, code=found["code"])
        return {"unit": found, "scoring": unit_scoring(session=session, campaign=campaign, unit=unit)}

    return view


def results_view(session, campaign) -> dict:
    return {"board": board(session=session, campaign=campaign)}


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
