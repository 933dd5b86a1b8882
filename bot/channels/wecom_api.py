"""WeCom API client and callback crypto for the rest of the bot: the only module importing wechatpy."""

# Callback crypto lives in `wecom_crypto` (plain `cryptography`, no wechatpy) and is re-exported here,
# so everything outside the channels imports from this module and sees only plain Python types.

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
from wechatpy.enterprise import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bot.channels.wecom_crypto import CallbackCrypto, CallbackRejected, parse_app_message
from bot.channels.wecom_http import JsonPoster, TransportFailure

__all__ = [
    "CallbackCrypto",
    "CallbackRejected",
    "WeComClient",
    "WeComError",
    "forget_tokens",
    "parse_app_message",
    "DEFAULT_API_BASE",
]

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"
ERR_TRANSPORT = -2  # timeout or connection failure: the request may or may not have been applied
ERR_RESPONSE = -3  # an HTTP error status or a body that is not a JSON object
MAX_RECIPIENTS = 1000  # touser limit of message/send (wecom.md §3.2)
MAX_DUPLICATE_CHECK_S = 4 * 3600  # duplicate_check_interval maximum (§3.2)
_TOKEN_ERRORS = {40014, 41001, 42001}  # invalid, missing, expired access_token (§3.2 error codes)
_RETRYABLE = {-1, 45009, 45033} | _TOKEN_ERRORS  # system busy, frequency and concurrency limits
# appchat/send accepts these only; template_card is not among them (wecom.md §3.4).
_APPCHAT_TYPES = {"text", "image", "voice", "video", "file", "textcard", "news", "mpnews", "markdown"}
_MEDIA_MIN = 5  # media/upload refuses anything shorter
_MEDIA_LIMITS = {"file": 20 * 2**20, "image": 10 * 2**20, "voice": 2 * 2**20, "video": 10 * 2**20}
_REFRESH_MARGIN_S = 60  # as wechatpy: refresh when fewer than 60 s remain (§4.4)


class WeComError(Exception):
    """A failed WeCom call; `.retryable` says whether trying again later can help."""

    def __init__(self, errcode: int, errmsg: str, retryable: bool | None = None) -> None:
        super().__init__(f"WeCom error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.retryable = errcode in _RETRYABLE if retryable is None else retryable


class _TokenSlot:
    """One app's access_token; its lock also makes concurrent refreshes fetch only once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: str | None = None
        self.expires_at = 0.0


_SLOTS: dict[tuple[str, str, str], _TokenSlot] = {}
_SLOTS_LOCK = threading.Lock()


def _slot_for(api_base: str, corp_id: str, secret: str) -> _TokenSlot:
    # One token per app (§3.1); the secret is hashed so it never sits in the cache in clear.
    key = (api_base, corp_id, hashlib.sha256(secret.encode("utf-8")).hexdigest())
    with _SLOTS_LOCK:
        return _SLOTS.setdefault(key, _TokenSlot())


def forget_tokens(api_base: str | None = None) -> None:
    """Drop the access_tokens cached for `api_base`, or every one (tests and key rotation)."""
    with _SLOTS_LOCK:
        if api_base is None:
            _SLOTS.clear()
        else:
            for key in [key for key in _SLOTS if key[0] == api_base]:
                del _SLOTS[key]


class _WxClient(WeChatClient):
    """wechatpy's client, with gettoken on our base URL and under the same timeout (wecom.md §4.3, §4.5)."""

    def __init__(self, api_base: str, corp_id: str, secret: str, timeout: float) -> None:
        super().__init__(corp_id, secret, timeout=timeout, auto_retry=False)  # its retry is unbounded
        self.API_BASE_URL = api_base
        # requests re-reads the proxy environment on every call (a third of a message/send's client
        # time in benchmarks/reminders.py); read it (and the CA bundle it would take) once here instead.
        self._http.proxies = requests.utils.get_environ_proxies(api_base)
        self._http.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._http.trust_env = False

    def fetch_access_token(self) -> dict[str, Any]:
        res = self._http.get(
            self.API_BASE_URL + "gettoken",
            timeout=self.timeout,
            params={"corpid": self.corp_id, "corpsecret": self.secret},
        )
        res.raise_for_status()
        return res.json()


@contextmanager
def _wecom_errors() -> Iterator[None]:
    """Translate requests/wechatpy failures; `from None` keeps URLs with secrets out of tracebacks."""
    try:
        yield
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise WeComError(ERR_TRANSPORT, type(exc).__name__, retryable=True) from None
    except requests.HTTPError as exc:
        raise _status_error(exc.response) from None
    except WeChatClientException as exc:
        if exc.errcode is None:  # wechatpy's wrapper around raise_for_status
            raise _status_error(exc.response) from None
        raise WeComError(int(exc.errcode), str(exc.errmsg)) from None
    except (requests.RequestException, ValueError) as exc:  # includes JSON decode errors
        raise WeComError(ERR_RESPONSE, type(exc).__name__, retryable=True) from None


def _status_error(response: requests.Response | None) -> WeComError:
    status = response.status_code if response is not None else 0
    return WeComError(ERR_RESPONSE, f"HTTP {status}", retryable=status >= 500 or status in (0, 429))


def _checked(result: Any) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise WeComError(ERR_RESPONSE, "response is not a JSON object", retryable=True)
    errcode = result.get("errcode", 0)
    if errcode != 0:
        raise WeComError(int(errcode) if isinstance(errcode, int) else ERR_RESPONSE, str(result.get("errmsg", "")))
    return result


class WeComClient:
    """A self-built app's API calls: bounded retries, a timeout on every request, dicts in and out."""

    def __init__(self, api_base: str, corp_id: str, secret: str, agent_id: int, timeout: float = 5.0) -> None:
        api_base = api_base if api_base.endswith("/") else api_base + "/"
        self.agent_id = int(agent_id)
        self._wx = _WxClient(api_base, corp_id, secret, timeout)
        self._slot = _slot_for(api_base, corp_id, secret)
        # JSON POSTs (message/send above all) skip requests, unless a proxy applies: then requests takes them.
        proxies = self._wx._http.proxies
        direct = not (proxies.get(urlsplit(api_base).scheme) or proxies.get("all"))
        self._poster = JsonPoster(api_base, timeout) if direct else None

    def send_message(self, touser: list[str], msg: dict[str, Any], *, duplicate_check_s: int = 0) -> dict[str, Any]:
        """message/send to up to 1000 userids; `msg` carries msgtype and its body (wecom.md §3.2)."""
        body = {**msg, "touser": _join_users(touser), "agentid": self.agent_id}
        if "msgtype" not in msg:
            raise ValueError("msg needs a msgtype")
        if not 0 <= duplicate_check_s <= MAX_DUPLICATE_CHECK_S:
            raise ValueError(f"duplicate_check_s must be 0..{MAX_DUPLICATE_CHECK_S}")
        if duplicate_check_s:
            body.update(enable_duplicate_check=1, duplicate_check_interval=int(duplicate_check_s))
        return self._call("post", "message/send", data=body)

    def upload_media(self, kind: str, filename: str, data: bytes) -> str:
        """media/upload (multipart field `media`): a temporary media_id valid for 3 days (wecom.md, 上传临时素材)."""
        if kind not in _MEDIA_LIMITS:
            raise ValueError(f"media type must be one of {', '.join(_MEDIA_LIMITS)}")
        if not _MEDIA_MIN <= len(data) <= _MEDIA_LIMITS[kind]:
            raise ValueError(f"{kind} must be {_MEDIA_MIN} bytes to {_MEDIA_LIMITS[kind]} bytes, not {len(data)}")
        files = {"media": (filename, data, "application/octet-stream")}
        result = self._call("post", "media/upload", params={"type": kind}, files=files)
        media_id = result.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise WeComError(ERR_RESPONSE, "media/upload answer without media_id", retryable=True)
        return media_id

    def update_template_card(self, payload: dict[str, Any]) -> dict[str, Any]:
        """message/update_template_card; `payload` has userids, response_code and button or card (§3.3)."""
        return self._call("post", "message/update_template_card", data={"agentid": self.agent_id, **payload})

    def appchat_create(self, chat_id: str, name: str, owner: str, userlist: list[str]) -> dict[str, Any]:
        """appchat/create; an empty chat_id lets WeCom choose one; the answer carries `chatid` (§3.4)."""
        body: dict[str, Any] = {"name": name, "owner": owner, "userlist": list(userlist)}
        if chat_id:
            body["chatid"] = chat_id
        return self._call("post", "appchat/create", data=body)

    def appchat_send(self, chat_id: str, msg: dict[str, Any]) -> dict[str, Any]:
        """appchat/send to a group this app created; no template_card there (§3.4)."""
        if msg.get("msgtype") not in _APPCHAT_TYPES:
            raise ValueError(f"appchat cannot send msgtype {msg.get('msgtype')!r}")
        return self._call("post", "appchat/send", data={**msg, "chatid": chat_id})

    def appchat_get(self, chat_id: str) -> dict[str, Any]:
        """appchat/get: the group's `chat_info` (name, owner, userlist)."""
        return self._call("get", "appchat/get", params={"chatid": chat_id})

    # --- internals -----------------------------------------------------------------------------

    def _call(self, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        """One call; on an invalid token, drop it, refetch once and retry once, never more (§4.5)."""
        token = self._token()
        try:
            return self._request(method, endpoint, token, **kwargs)
        except WeComError as exc:
            if exc.errcode not in _TOKEN_ERRORS:
                raise
            log.info("WeCom %s answered %s; refetching the access token once", endpoint, exc.errcode)
        self._drop_token(token)
        return self._request(method, endpoint, self._token(), **kwargs)

    def _request(self, method: str, endpoint: str, token: str, **kwargs: Any) -> dict[str, Any]:
        params = {**kwargs.pop("params", {}), "access_token": token}
        if self._poster is not None and method == "post" and list(kwargs) == ["data"]:
            return _checked(self._post(endpoint, params, kwargs["data"]))
        with _wecom_errors():
            return _checked(self._wx._request(method, endpoint, params=params, **kwargs))

    def _post(self, endpoint: str, params: dict[str, Any], data: dict[str, Any]) -> Any:
        """The lean path, failing as the requests path does (same codes, same retryability)."""
        try:
            status, raw = self._poster.post(endpoint, params, data)
        except TransportFailure as exc:
            raise WeComError(ERR_TRANSPORT, type(exc).__name__, retryable=True) from None
        if status >= 400:
            raise WeComError(ERR_RESPONSE, f"HTTP {status}", retryable=status >= 500 or status == 429)
        try:
            return json.loads(raw.decode("utf-8", "ignore"), strict=False)
        except ValueError:
            raise WeComError(ERR_RESPONSE, "response is not JSON", retryable=True) from None

    def _token(self) -> str:
        slot = self._slot
        with slot.lock:
            if slot.value and slot.expires_at - time.monotonic() > _REFRESH_MARGIN_S:
                return slot.value
            with _wecom_errors():
                result = _checked(self._wx.fetch_access_token())
            token, expires_in = result.get("access_token"), result.get("expires_in", 7200)
            if not isinstance(token, str) or not token or not isinstance(expires_in, int):
                raise WeComError(ERR_RESPONSE, "gettoken answer without access_token", retryable=True)
            slot.value, slot.expires_at = token, time.monotonic() + expires_in
            return token

    def _drop_token(self, token: str) -> None:
        # Only the token that failed: another thread may already have fetched a fresh one.
        with self._slot.lock:
            if self._slot.value == token:
                self._slot.value = None


def _join_users(touser: list[str]) -> str:
    users = list(touser)
    if not users:
        raise ValueError("touser is empty")
    if len(users) > MAX_RECIPIENTS:
        raise ValueError(f"touser has {len(users)} userids; message/send takes at most {MAX_RECIPIENTS}")
    if any(not user or "|" in user for user in users):
        raise ValueError("a userid is empty or contains '|'")
    return "|".join(users)
