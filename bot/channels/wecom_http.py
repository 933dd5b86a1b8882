"""A lean keep-alive JSON POST for WeCom's hot calls (message/send): one http.client connection per thread."""

# requests (under wechatpy) spends about 0.65 ms of CPU per message/send preparing, merging settings and
# parsing; plain http.client spends about 0.1 ms (benchmarks/reminders.py, a fan-out of 3,600 texts), and
# the CPU is what a fan-out waits for. Used only when no proxy applies (wecom_api falls back to requests).

from __future__ import annotations

import http.client
import json
import os
import select
import ssl
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

TransportFailure = (OSError, http.client.HTTPException)  # timeouts, refused, reset, hung up mid-answer


class JsonPoster:
    """POST a dict as JSON to `api_base + endpoint`; (HTTP status, body bytes). Thread-safe: each thread
    keeps its own connection, replaced when the server has closed it while idle."""

    def __init__(self, api_base: str, timeout: float) -> None:
        parts = urlsplit(api_base)
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname or "", parts.port or (443 if self.https else 80)
        self.path = parts.path if parts.path.endswith("/") else parts.path + "/"
        self.timeout = timeout
        self._local = threading.local()
        self._tls = _tls_context() if self.https else None

    def post(self, endpoint: str, params: dict[str, Any], body: dict[str, Any]) -> tuple[int, bytes]:
        """Raises one of TransportFailure when no complete answer came back (it may have been applied)."""
        target = f"{self.path}{endpoint}?{urlencode(params)}"
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        conn = self._connection()
        try:
            conn.request("POST", target, payload, {"Content-Type": "application/json; charset=utf-8"})
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            self._drop(conn)
            raise
        if response.will_close:
            self._drop(conn)
        return response.status, data

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and _closed_by_peer(conn):
            self._drop(conn)
            conn = None
        if conn is None:
            if self.https:
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._tls)
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None


def _closed_by_peer(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive socket that is readable has been closed (or sent junk): never reuse it, so a POST
    is not written into a connection the server already hung up (as urllib3's is_connection_dropped)."""
    if conn.sock is None:
        return False
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _tls_context() -> ssl.SSLContext:
    # The CA bundle (a file or a directory) requests would use, so a site's own CA works on this path too.
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)
