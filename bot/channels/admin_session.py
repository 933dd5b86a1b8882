"""Who may use the admin pages and API: KAOHE_ADMIN_TOKEN as a bearer header, or a signed session cookie
set by the login form; CSRF tokens and a same-origin check for what a cookie session posts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from bot.services import Services

log = logging.getLogger(__name__)
COOKIE = "kaohe_admin"
LIFETIME_S = 12 * 3600
CSRF_HEADER = "x-csrf-token"
_REVOKED_MAX = 10_000


@dataclass(frozen=True)
class Access:
    """An admin request's credentials: how it came (bearer | session), who (a roster userid, if known)."""

    via: str
    actor: str
    nonce: str = ""


def token_matches(configured: str | None, given: str | None) -> bool:
    """Constant-time: the time taken does not tell how much of a guess was right."""
    if not configured or given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), configured.encode())


class Sessions:
    """Stateless signed cookies (any worker can check them); the key comes from KAOHE_ADMIN_TOKEN, so changing
    the token ends every session. Logout revokes the session's nonce in this process and clears the cookie."""

    def __init__(self, services: Services):
        self.services = services
        self._revoked: set[str] = set()

    @property
    def _key(self) -> bytes | None:
        token = self.services.settings.admin_token
        return hmac.new(token.encode(), b"kaohe dashboard session v1", hashlib.sha256).digest() if token else None

    def issue(self, actor: str, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        who = base64.urlsafe_b64encode(actor.encode()).decode().rstrip("=")
        payload = f"{issued}.{secrets.token_hex(16)}.{who}"
        return f"{payload}.{self._sign(payload)}"

    def read(self, cookie: str | None, now: float | None = None) -> Access | None:
        if not cookie or self._key is None or cookie.count(".") != 3:
            return None
        payload, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature.encode("utf-8", "surrogatepass"), self._sign(payload).encode()):
            return None
        issued, nonce, who = payload.split(".")
        age = (now if now is not None else time.time()) - int(issued)
        if not 0 <= age < LIFETIME_S or nonce in self._revoked:
            return None
        actor = base64.urlsafe_b64decode(who + "=" * (-len(who) % 4)).decode()
        return Access("session", actor, nonce)

    def revoke(self, access: Access) -> None:
        if len(self._revoked) >= _REVOKED_MAX:
            self._revoked.clear()  # bounded; the cookies themselves expire after LIFETIME_S anyway
        self._revoked.add(access.nonce)

    def csrf(self, access: Access) -> str:
        return self._sign(f"csrf.{access.nonce}")

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key or b"", payload.encode(), hashlib.sha256).hexdigest()


def admin_access(services: Services, sessions: Sessions, request: Request) -> Access:
    """The request's admin credentials, or 401 (403 when no token is configured: admin pages refuse)."""
    configured = services.settings.admin_token
    if not configured:
        log.info("admin refused %s: no KAOHE_ADMIN_TOKEN set", request.url.path)
        raise HTTPException(status_code=403, detail="未设置 KAOHE_ADMIN_TOKEN，管理功能未开放")
    header = request.headers.get("authorization")
    if header is not None:
        if token_matches(configured, header.removeprefix("Bearer ").strip()):
            return Access("bearer", "admin-token")
        log.info("admin refused %s: wrong bearer token", request.url.path)
        raise HTTPException(status_code=401, detail="管理员令牌不正确", headers={"WWW-Authenticate": "Bearer"})
    access = sessions.read(request.cookies.get(COOKIE))
    if access is None:
        log.info("admin refused %s: no token and no valid session", request.url.path)
        raise HTTPException(status_code=401, detail="需要管理员令牌或先登录", headers={"WWW-Authenticate": "Bearer"})
    return access


def check_csrf(sessions: Sessions, access: Access, request: Request, form_token: str | None = None) -> None:
    """A cookie session's POST must come from our own pages: same origin, and the session's CSRF token."""
    if access.via != "session":
        return  # a bearer header is never added by a browser on its own
    if not same_origin(request):
        log.info("admin refused %s: cross-origin post", request.url.path)
        raise HTTPException(status_code=403, detail="请求来源与本站不符")
    given = request.headers.get(CSRF_HEADER) or form_token or ""
    if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), sessions.csrf(access).encode()):
        log.info("admin refused %s: missing or wrong CSRF token", request.url.path)
        raise HTTPException(status_code=403, detail="页面已过期或来源不明，请刷新页面后再试")


def same_origin(request: Request) -> bool:
    """Origin (or, without it, Referer) names this host; a request with neither is a non-browser client."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return True
    if source == "null":
        return False
    return urlsplit(source).netloc == request.headers.get("host", "")
