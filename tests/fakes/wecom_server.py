"""A fake WeCom API on a loopback ephemeral port: records calls, issues tokens, fails or stalls on demand, and
drops a message/send whose request JSON it accepted within the duplicate-check interval, as WeCom does."""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.channels.wecom_api import forget_tokens

PREFIX = "/cgi-bin/"
_ERRMSG = {
    0: "ok",
    -1: "system busy",
    40001: "invalid credential",
    40013: "invalid corpid",
    40014: "invalid access_token",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    42001: "access_token expired",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    40004: "invalid media type",
    40006: "invalid file size",
    40007: "invalid media_id",
    41005: "media data missing",
    47001: "data format error",
    81013: "user & party & tag all invalid",
    86001: "invalid chatid",
}


@dataclass(frozen=True)
class Call:
    path: str  # e.g. "/cgi-bin/message/send"
    params: dict[str, str]
    body: dict[str, Any] | None
    at: float  # time.monotonic() when received


@dataclass(frozen=True)
class Upload:
    kind: str  # file | image | voice | video
    filename: str
    data: bytes


@dataclass
class _Rule:
    suffix: str
    value: Any
    times: int


def _answer(errcode: int, **extra: Any) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": _ERRMSG.get(errcode, "error"), **extra}


class FakeWeCom:
    """Start on construction; use as a context manager or call close()."""

    def __init__(
        self,
        corp_id: str | None = None,
        secret: str | None = None,
        token_ttl: int = 7200,
        known_users: Iterable[str] | None = None,
        port: int = 0,
    ) -> None:
        """`known_users`: the address book; anyone else is answered as invaliduser (None: everyone is known).
        `port`: 0 for an ephemeral one; another number takes that one (a server started where one stopped)."""
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._expected = (corp_id, secret)
        self._token_ttl = token_ttl
        self._known_users = set(known_users) if known_users is not None else None
        self._token_seq, self._msg_seq, self._chat_seq = itertools.count(1), itertools.count(1), itertools.count(1)
        self._valid_tokens: set[str] = set()
        self._expired_tokens: set[str] = set()
        self._chats: dict[str, dict[str, Any]] = {}
        self._media_seq = itertools.count(1)
        self.media: dict[str, Upload] = {}  # media_id -> what was uploaded
        self._used_codes: set[str] = set()
        self.reset()
        self._server = _Server(("127.0.0.1", port), _handler_for(self))
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"
        # The client caches tokens by address; one cached from an earlier fake on this port (ports are reused
        # in a long run) is not this server's, and its first calls would be refused and made again.
        forget_tokens(self.base_url)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-wecom", daemon=True
        )
        self._thread.start()

    def __enter__(self) -> FakeWeCom:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._stopping.set()  # cuts short any delayed answer
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- test controls -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget calls, deliveries and pending failures or delays; tokens and chats stay valid."""
        with self._lock:
            self.calls: list[Call] = []
            self._deliveries: Counter[str] = Counter()
            self._messages: Counter[tuple[str, str]] = Counter()  # (userid, content) delivered
            self._chat_deliveries: Counter[str] = Counter()
            self._failures: list[_Rule] = []
            self._delays: list[_Rule] = []
            self._statuses: list[_Rule] = []
            self._drops: list[_Rule] = []
            self._hangups: list[_Rule] = []
            self.connections = 0  # TCP connections accepted (keep-alive reuse shows as few)
            self._plans: list[tuple[str, list[str]]] = []
            self._accepted: dict[str, float] = {}  # request JSON -> when first delivered (duplicate check)
            self.duplicates = 0  # sends dropped by the duplicate check
            self._skew = 0.0

    def fail_next(self, path_suffix: str, errcode: int, times: int = 1) -> None:
        with self._lock:
            self._failures.append(_Rule(path_suffix, errcode, times))

    def delay_next(self, path_suffix: str, seconds: float, times: int = 1) -> None:
        """The call takes effect at once; only its answer is late (a lost reply)."""
        with self._lock:
            self._delays.append(_Rule(path_suffix, seconds, times))

    def status_next(self, path_suffix: str, status: int, times: int = 1) -> None:
        """Answer with this HTTP status (500: a server error) without doing anything."""
        with self._lock:
            self._statuses.append(_Rule(path_suffix, status, times))

    def drop_next(self, path_suffix: str, times: int = 1, applied: bool = False) -> None:
        """Close the connection without an answer; with `applied`, after the call took effect."""
        with self._lock:
            self._drops.append(_Rule(path_suffix, applied, times))

    def hang_up_after_next(self, path_suffix: str, times: int = 1) -> None:
        """Answer, then close the connection without saying so (a server's keep-alive timeout)."""
        with self._lock:
            self._hangups.append(_Rule(path_suffix, True, times))

    @property
    def connections_closed(self) -> int:
        return self._server.closed

    def heal(self) -> None:
        """WeCom recovers: pending failures, delays, drops and plans are forgotten; calls and deliveries stay."""
        with self._lock:
            for rules in (self._failures, self._delays, self._statuses, self._drops, self._hangups):
                rules.clear()
            self._plans.clear()

    def plan_next(self, path_suffix: str, steps: list[str]) -> None:
        """The next calls misbehave in this order, one step each: an errcode ("45009"), "http500", "drop"
        (connection closed, nothing done), "drop-applied" (closed after the call took effect), "stall:10"
        (took effect, answered 10 s late), "ok"."""
        with self._lock:
            self._plans.append((path_suffix, list(steps)))

    def _planned(self, path: str) -> str | None:
        for suffix, steps in self._plans:
            if steps and path.endswith(suffix):
                return steps.pop(0)
        return None

    def advance(self, seconds: float) -> None:
        """Move the fake's clock on, so a duplicate-check interval can run out without waiting."""
        with self._lock:
            self._skew += seconds

    def expire_tokens(self) -> None:
        with self._lock:
            self._expired_tokens |= self._valid_tokens
            self._valid_tokens.clear()

    def calls_to(self, path_suffix: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.path.endswith(path_suffix)]

    def delivered_to(self, userid: str) -> int:
        with self._lock:
            return self._deliveries[userid]

    def messages(self) -> Counter[tuple[str, str]]:
        """How often each (userid, message body) was delivered: after the duplicate check, what people saw."""
        with self._lock:
            return Counter(self._messages)

    def delivered_to_chat(self, chat_id: str) -> int:
        with self._lock:
            return self._chat_deliveries[chat_id]

    # --- request handling (server threads) -----------------------------------------------------

    def _handle(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, dict | None, float]:
        """(HTTP status, answer or None to drop the connection, delay before answering)."""
        with self._lock:
            self.calls.append(Call(path, params, body if isinstance(body, dict) else None, time.monotonic()))
            step = self._planned(path)
            if step is not None:
                return self._play(step, method, path, params, body)
            delay = self._take(self._delays, path) or 0.0
            status = self._take(self._statuses, path)
            if status is not None:
                return status, {"error": "internal"}, delay
            drop = self._take(self._drops, path)
            if drop is False:
                return 0, None, delay
            errcode = self._take(self._failures, path)
            status, answer = (200, _answer(errcode)) if errcode is not None else self._route(method, path, params, body)
        return (0, None, delay) if drop else (status, answer, delay)

    def _play(self, step: str, method: str, path: str, params: dict, body: Any) -> tuple[int, dict | None, float]:
        if step.lstrip("-").isdigit():
            return 200, _answer(int(step)), 0.0
        if step == "http500":
            return 500, {"error": "internal"}, 0.0
        if step == "drop":
            return 0, None, 0.0
        status, answer = self._route(method, path, params, body)
        if step == "drop-applied":
            return 0, None, 0.0
        return status, answer, float(step.split(":")[1]) if step.startswith("stall:") else 0.0

    def _take(self, rules: list[_Rule], path: str) -> Any:
        for rule in rules:
            if rule.times > 0 and path.endswith(rule.suffix):
                rule.times -= 1
                return rule.value
        return None

    def _route(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, dict]:
        route = _ROUTES.get((method, path.removeprefix(PREFIX)))
        if route is None:
            return 404, _answer(404, errmsg=f"no such api: {method} {path}")
        if route is not FakeWeCom._gettoken:
            token_error = self._token_error(params.get("access_token"))
            if token_error:
                return 200, _answer(token_error)
        if method == "POST" and not isinstance(body, dict):
            return 200, _answer(47001)
        return 200, route(self, params, body)

    def _token_error(self, token: str | None) -> int:
        if not token:
            return 41001
        if token in self._valid_tokens:
            return 0
        return 42001 if token in self._expired_tokens else 40014

    def _gettoken(self, params: dict[str, str], _body: Any) -> dict:
        corp_id, secret = params.get("corpid"), params.get("corpsecret")
        if not corp_id or not secret:
            return _answer(41002 if not corp_id else 41004)
        if self._expected[0] not in (None, corp_id):
            return _answer(40013)
        if self._expected[1] not in (None, secret):
            return _answer(40001)
        token = f"tok-{next(self._token_seq)}"
        self._valid_tokens.add(token)
        return _answer(0, access_token=token, expires_in=self._token_ttl)

    def _media_error(self, body: dict) -> int:
        """A file message must name media this server handed out (media/upload)."""
        if body.get("msgtype") != "file":
            return 0
        media_id = (body.get("file") or {}).get("media_id")
        return 0 if media_id in self.media else 40007

    def _media_upload(self, params: dict[str, str], body: dict) -> dict:
        kind = params.get("type", "")
        if kind not in ("file", "image", "voice", "video"):
            return _answer(40004)
        part = next((p for p in body.get("_multipart", []) if p["name"] == "media" and p["filename"]), None)
        if part is None:
            return _answer(41005)
        if not 5 <= len(part["data"]) <= 20 * 2**20:
            return _answer(40006)
        media_id = f"media-{next(self._media_seq)}"
        self.media[media_id] = Upload(kind, part["filename"], part["data"])
        return _answer(0, type=kind, media_id=media_id, created_at=str(int(time.time())))

    def _message_send(self, _params: dict[str, str], body: dict) -> dict:
        if self._media_error(body):
            return _answer(self._media_error(body))
        if body.get("msgtype") == "template_card" and not _card_ok(body.get("template_card")):
            return _answer(47001, errmsg="template_card invalid")
        users = [user for user in str(body.get("touser", "")).split("|") if user]
        known = self._known_users
        invalid = [user for user in users if known is not None and user not in known]
        if not users or len(invalid) == len(users):
            return _answer(81013)
        # Returned userids are lower-cased (wecom.md §3.2).
        answer = _answer(0, invaliduser="|".join(u.lower() for u in invalid), msgid=f"m-{next(self._msg_seq)}")
        if self._is_duplicate(body):
            self.duplicates += 1
            return answer
        content = json.dumps(body.get(str(body.get("msgtype"))), sort_keys=True, ensure_ascii=False)
        for user in users:
            if user not in invalid:
                self._deliveries[user] += 1
                self._messages[user, content] += 1
        return answer

    def _is_duplicate(self, body: dict) -> bool:
        """enable_duplicate_check: the same request JSON within duplicate_check_interval (default 1800 s,
        at most 4 h) is not delivered again (wecom.md §3.2)."""
        if body.get("enable_duplicate_check") != 1:
            return False
        interval = min(int(body.get("duplicate_check_interval") or 1800), 4 * 3600)
        seen, now = json.dumps(body, sort_keys=True, ensure_ascii=False), time.monotonic() + self._skew
        first = self._accepted.get(seen)
        if first is not None and now - first < interval:
            return True
        self._accepted[seen] = now
        return False

    def _update_template_card(self, _params: dict[str, str], body: dict) -> dict:
        code = body.get("response_code")
        if not code:
            return _answer(40000, errmsg="response_code missing")
        if code in self._used_codes:  # each response code can be used once (wecom.md §3.3); routes run locked
            return _answer(40000, errmsg="response_code used")
        self._used_codes.add(code)
        return _answer(0, invaliduser=[])

    def _appchat_create(self, _params: dict[str, str], body: dict) -> dict:
        chat_id = body.get("chatid") or f"chat-{next(self._chat_seq)}"
        self._chats[chat_id] = {
            "chatid": chat_id,
            "name": body.get("name", ""),
            "owner": body.get("owner", ""),
            "userlist": list(body.get("userlist") or []),
        }
        return _answer(0, chatid=chat_id)

    def _appchat_send(self, _params: dict[str, str], body: dict) -> dict:
        chat_id = body.get("chatid", "")
        if chat_id not in self._chats:
            return _answer(86001)
        if self._media_error(body):
            return _answer(self._media_error(body))
        self._chat_deliveries[chat_id] += 1
        return _answer(0)

    def _appchat_get(self, params: dict[str, str], _body: Any) -> dict:
        chat = self._chats.get(params.get("chatid", ""))
        return _answer(0, chat_info=dict(chat)) if chat else _answer(86001)


def _card_ok(card: Any) -> bool:
    """What WeCom checks of an interactive card: a type, a task_id, and at most 20 vote options (§3.2)."""
    if not isinstance(card, dict) or not card.get("card_type") or not card.get("task_id"):
        return False
    options = (card.get("checkbox") or {}).get("option_list") or []
    return card["card_type"] != "vote_interaction" or 0 < len(options) <= 20


_ROUTES: dict[tuple[str, str], Callable[..., dict]] = {
    ("GET", "gettoken"): FakeWeCom._gettoken,
    ("POST", "message/send"): FakeWeCom._message_send,
    ("POST", "message/update_template_card"): FakeWeCom._update_template_card,
    ("POST", "appchat/create"): FakeWeCom._appchat_create,
    ("POST", "appchat/send"): FakeWeCom._appchat_send,
    ("GET", "appchat/get"): FakeWeCom._appchat_get,
    ("POST", "media/upload"): FakeWeCom._media_upload,
}


def _multipart(content_type: str, raw: bytes) -> list[dict]:
    """The parts of a multipart/form-data body: name, filename and bytes of each."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    if not message.is_multipart():
        return []
    return [
        {"name": part.get_param("name", header="content-disposition"), "filename": part.get_filename(),
         "data": part.get_payload(decode=True) or b""}
        for part in message.iter_parts()
    ]  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    closed = 0  # connections this server has closed
    _closing = threading.Lock()

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self._closing:
            self.closed += 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is not news
            super().handle_error(request, client_address)


def _handler_for(fake: FakeWeCom) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the benchmark reuses connections
        disable_nagle_algorithm = True  # else header and body writes stall on delayed ACKs

        def setup(self) -> None:
            super().setup()
            with fake._lock:
                fake.connections += 1

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            params = {key: values[-1] for key, values in parse_qs(url.query).items()}
            status, answer, delay = fake._handle(method, url.path, params, self._body())
            if (delay and fake._stopping.wait(delay)) or answer is None:
                self.close_connection = True
                return
            with fake._lock:  # decided before answering: the client may send again as soon as it has the answer
                hang_up = bool(fake._take(fake._hangups, url.path))
            self._reply(status, answer)
            self.close_connection = self.close_connection or hang_up

        def _body(self) -> Any:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
                return {"_multipart": _multipart(self.headers["Content-Type"], raw)}
            try:
                return json.loads(raw) if raw else None
            except ValueError:
                return raw

        def _reply(self, status: int, answer: dict) -> None:
            payload = json.dumps(answer, ensure_ascii=False).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
